//! OTLP/gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export` on tonic.
//!
//! tonic does the framing, gzip/zstd decompression and the message size limit (which it
//! applies to the decompressed message, so a compressed bomb is refused with
//! RESOURCE_EXHAUSTED before it is decoded). This file only plugs [`Ingest`] in and turns a
//! refusal into a gRPC status with `google.rpc` details.

use std::future::Future;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tokio::net::TcpListener;
use tonic::codec::CompressionEncoding;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use crate::config::GrpcConfig;
use crate::ingest::Ingest;

pub struct OtlpGrpcService {
    ingest: Ingest,
}

#[tonic::async_trait]
impl TraceService for OtlpGrpcService {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        match self.ingest.export(request.into_inner()).await {
            Ok(response) => Ok(Response::new(response)),
            Err(refusal) => Err(refusal.to_grpc()),
        }
    }
}

/// Serves OTLP/gRPC on `listener` until `shutdown` resolves, then stops accepting and lets
/// in-flight calls finish (HTTP/2 GOAWAY) before returning.
pub async fn serve(
    listener: TcpListener,
    config: &GrpcConfig,
    ingest: Ingest,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    let service = TraceServiceServer::new(OtlpGrpcService { ingest })
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        // Responses are compressed only for clients that advertise support.
        .send_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Zstd)
        .max_decoding_message_size(config.max_recv_msg_bytes());
    let streams = match config.max_concurrent_streams {
        0 => None,
        n => Some(n),
    };
    tonic::transport::Server::builder()
        .max_concurrent_streams(streams)
        .add_service(service)
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    use prost::Message;
    use tonic::Code;
    use tracegate_core::{ConsumeError, Lifecycle};

    use super::*;
    use crate::status::{RetryInfo, RpcStatus};
    use crate::testutil::{local_config, request, span, start, RecordingConsumer};

    #[tokio::test]
    async fn exports_plain_gzip_and_zstd() {
        let run = start(local_config(), RecordingConsumer::ok()).await;
        let plain = TraceServiceClient::connect(run.grpc_url()).await.unwrap();
        for client in [
            plain.clone(),
            plain.clone().send_compressed(CompressionEncoding::Gzip),
            plain.send_compressed(CompressionEncoding::Zstd),
        ] {
            let resp = client
                .clone()
                .export(request(vec![span("a"), span("b")]))
                .await
                .unwrap();
            assert_eq!(resp.into_inner().partial_success, None);
        }
        let batches = run.next.batches();
        assert_eq!(batches.len(), 3);
        assert_eq!(
            batches[2].resource_spans()[0].scope_spans[0].spans[1].name,
            "b"
        );
        assert_eq!(run.counts("grpc"), (6, 0));
        assert_eq!(run.counts("http"), (0, 0));
        run.receiver.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn partial_success_reports_rejected_spans() {
        let run = start(local_config(), RecordingConsumer::ok()).await;
        let mut client = TraceServiceClient::connect(run.grpc_url()).await.unwrap();
        let mut bad = span("bad");
        bad.trace_id = vec![7; 15];
        let resp = client
            .export(request(vec![span("good"), bad]))
            .await
            .unwrap()
            .into_inner();
        let ps = resp.partial_success.unwrap();
        assert_eq!(ps.rejected_spans, 1);
        assert!(
            ps.error_message
                .contains("trace_id must be 16 bytes, got 15"),
            "{}",
            ps.error_message
        );
        assert_eq!(run.next.batches()[0].span_count(), 1);
        assert_eq!(run.counts("grpc"), (1, 1));
        // An empty export is fine and reaches nobody.
        client
            .export(ExportTraceServiceRequest::default())
            .await
            .unwrap();
        assert_eq!(run.next.batches().len(), 1);
        run.receiver.shutdown().await.unwrap();
    }

    async fn refusal_for(error: ConsumeError) -> Status {
        let run = start(local_config(), RecordingConsumer::failing(error)).await;
        let mut client = TraceServiceClient::connect(run.grpc_url()).await.unwrap();
        let status = client.export(request(vec![span("a")])).await.unwrap_err();
        assert_eq!(run.counts("grpc"), (0, 1));
        run.receiver.shutdown().await.unwrap();
        status
    }

    #[tokio::test]
    async fn pipeline_errors_map_to_otlp_codes() {
        let s = refusal_for(ConsumeError::retryable("queue is full")).await;
        assert_eq!(
            (s.code(), s.message()),
            (Code::Unavailable, "queue is full")
        );

        let s = refusal_for(ConsumeError::permanent("rejected by backend")).await;
        assert_eq!(
            (s.code(), s.message()),
            (Code::InvalidArgument, "rejected by backend")
        );

        let s = refusal_for(ConsumeError::Throttled {
            retry_after: Some(Duration::from_secs(7)),
            message: "slow down".into(),
        })
        .await;
        assert_eq!(
            (s.code(), s.message()),
            (Code::ResourceExhausted, "slow down")
        );
        // The RetryInfo detail survives the trip through grpc-status-details-bin.
        let details = RpcStatus::decode(s.details()).unwrap();
        let info = RetryInfo::decode(details.details[0].value.as_slice()).unwrap();
        assert_eq!(info.retry_delay.unwrap().seconds, 7);
    }

    #[tokio::test]
    async fn oversized_messages_are_refused_even_when_compressed() {
        let mut config = local_config();
        config
            .protocols
            .grpc
            .as_mut()
            .unwrap()
            .max_recv_msg_size_mib = 1;
        let run = start(config, RecordingConsumer::ok()).await;
        let mut big = span("big");
        big.name = "x".repeat(2 * 1024 * 1024);
        let client = TraceServiceClient::connect(run.grpc_url()).await.unwrap();
        let plain = client
            .clone()
            .export(request(vec![big.clone()]))
            .await
            .unwrap_err();
        assert_eq!(plain.code(), Code::OutOfRange, "{plain}");
        // 2 MiB of one letter gzips to a few KiB: the limit must apply after decompression.
        let gz = client
            .send_compressed(CompressionEncoding::Gzip)
            .export(request(vec![big]))
            .await;
        assert_eq!(gz.unwrap_err().code(), Code::ResourceExhausted);
        assert!(run.next.batches().is_empty());
        run.receiver.shutdown().await.unwrap();
    }
}
