//! OTLP/gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export` on tonic.
//!
//! tonic does the framing, gzip/zstd decompression and the message size limit (which it
//! applies to the decompressed message, so a compressed bomb is refused with
//! RESOURCE_EXHAUSTED before it is decoded). The service itself is [`RawTraceService`], which
//! takes requests as bytes; this file builds the routes the receiver's `ServerSet` serves.

use tonic::service::Routes;

use crate::config::GrpcConfig;
use crate::grpc_service::RawTraceService;
use crate::ingest::Ingest;

/// The gRPC port's routes, for `ServerSet::grpc`: the trace service, and UNIMPLEMENTED for
/// every other method.
pub fn routes(config: &GrpcConfig, ingest: Ingest) -> axum::Router {
    let service = RawTraceService::new(ingest, config.max_recv_msg_bytes());
    Routes::new(service).prepare().into_axum_router()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    use prost::Message;
    use tonic::Code;
    use tracegate_core::{ConsumeError, Lifecycle};

    use bytes::Bytes;
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
    };
    use tonic::codec::CompressionEncoding;
    use tonic::Status;
    use tracegate_exporter_otlp::raw_codec::RawCodec;

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
    async fn oversized_messages_are_refused_as_permanent_and_counted_even_when_compressed() {
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
        // INVALID_ARGUMENT: a permanent error that no SDK retries (OUT_OF_RANGE is retried).
        assert_eq!(plain.code(), Code::InvalidArgument, "{plain}");
        assert!(
            plain.message().contains("larger than this receiver accepts (1048576 bytes"),
            "{}",
            plain.message()
        );
        // 2 MiB of one letter gzips to a few KiB: the limit must apply after decompression.
        let gz = client
            .send_compressed(CompressionEncoding::Gzip)
            .export(request(vec![big]))
            .await
            .unwrap_err();
        assert_eq!(gz.code(), Code::InvalidArgument, "{gz}");
        assert!(run.next.batches().is_empty());
        let m = run.telemetry.metrics.receiver("otlp", "grpc");
        assert_eq!(m.dropped_too_large.get(), 2, "both refusals are counted");
        run.receiver.shutdown().await.unwrap();
    }

    /// A client that sends any bytes as the request message, as a broken or hostile peer can.
    async fn send_bytes(url: String, body: Bytes) -> Result<ExportTraceServiceResponse, Status> {
        let channel = tonic::transport::Endpoint::from_shared(url)
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.unwrap();
        let path = http::uri::PathAndQuery::from_static(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        );
        grpc.unary(tonic::Request::new(body), path, RawCodec)
            .await
            .map(|r| r.into_inner())
    }

    #[tokio::test]
    async fn a_valid_request_travels_on_as_its_own_bytes() {
        let run = start(local_config(), RecordingConsumer::ok()).await;
        let req = request(vec![span("a"), span("b")]);
        let sent = Bytes::from(req.encode_to_vec());
        send_bytes(run.grpc_url(), sent.clone()).await.unwrap();
        let batches = run.next.batches();
        assert!(batches[0].is_encoded(), "not decoded");
        assert_eq!(batches[0].encode_request(), sent, "not re-encoded");
        assert_eq!(batches[0].span_count(), 2);
        assert_eq!(batches[0].resource_spans(), req.resource_spans.as_slice());
        run.receiver.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn a_body_that_is_not_a_request_is_invalid_argument_and_counted() {
        let run = start(local_config(), RecordingConsumer::ok()).await;
        let mut bytes = request(vec![span("NAME")]).encode_to_vec();
        let at = bytes.windows(4).position(|w| w == b"NAME").unwrap();
        bytes[at] = 0xff; // not UTF-8
        for body in [
            Bytes::from(bytes),
            Bytes::from_static(b"\x0a\xff\xff\xff\x0f"),
        ] {
            let status = send_bytes(run.grpc_url(), body).await.unwrap_err();
            assert_eq!(status.code(), Code::InvalidArgument);
            assert!(
                status
                    .message()
                    .starts_with("cannot decode the protobuf body"),
                "{}",
                status.message()
            );
        }
        let m = run.telemetry.metrics.receiver("otlp", "grpc");
        assert_eq!(m.dropped_malformed.get(), 2);
        assert!(run.next.batches().is_empty());
        // Unknown methods get the gRPC answer, not a hang or a 404 page.
        let mut client = tonic::client::Grpc::new(
            tonic::transport::Endpoint::from_shared(run.grpc_url())
                .unwrap()
                .connect()
                .await
                .unwrap(),
        );
        client.ready().await.unwrap();
        let path = http::uri::PathAndQuery::from_static(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Nope",
        );
        let status = client
            .unary(tonic::Request::new(Bytes::new()), path, RawCodec)
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unimplemented);
        run.receiver.shutdown().await.unwrap();
    }
}
