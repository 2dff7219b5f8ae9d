//! The collector's gRPC port: `jaeger.api_v2.CollectorService/PostSpans`, and, when a
//! `remote_sampling` extension runs, `jaeger.api_v2.SamplingManager/GetSamplingStrategy` on
//! the same port, as Jaeger's collector serves both on 14250.
//!
//! Refusals map as in the OTLP receiver, which is also what Jaeger's gRPC clients retry on:
//! retryable -> UNAVAILABLE, throttled -> RESOURCE_EXHAUSTED, permanent -> INVALID_ARGUMENT.
//!
//! A request tonic cannot hand to `post_spans` is the client's fault and resending it cannot
//! help, yet tonic answers INTERNAL for a body that is not a `PostSpansRequest` and
//! OUT_OF_RANGE or RESOURCE_EXHAUSTED for one over `max_recv_msg_size_mib`, codes clients
//! retry. [`DecodeRefusals`] turns those into INVALID_ARGUMENT and counts them in
//! `tracegate_receiver_dropped_packets{transport="grpc"}` (`malformed`, `too_large`), as the
//! OTLP receiver does.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::body::Body;
use tonic::codec::CompressionEncoding;
use tonic::codegen::{BoxFuture, Service};
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic::{Code, Request, Response, Status};
use tracegate_core::ConsumeError;
use tracegate_core::sampling::SamplingStrategies;
use tracegate_translator_jaeger::sampling::SamplingManagerService;
use tracegate_translator_jaeger::proto::collector_service_server::{CollectorService, CollectorServiceServer};
use tracegate_translator_jaeger::proto::{PostSpansRequest, PostSpansResponse};
use tracegate_translator_jaeger::proto_to_otlp;

use crate::config::GrpcConfig;
use crate::drops::{DropReason, Drops};
use crate::ingest::Ingest;

pub struct JaegerGrpcService {
    ingest: Ingest,
}

#[tonic::async_trait]
impl CollectorService for JaegerGrpcService {
    async fn post_spans(&self, request: Request<PostSpansRequest>) -> Result<Response<PostSpansResponse>, Status> {
        if let Some(Reached(reached)) = request.extensions().get::<Reached>() {
            reached.store(true, Ordering::Relaxed);
        }
        // A request without a batch carries no spans; Jaeger accepts it as empty.
        let Some(batch) = request.into_inner().batch else {
            return Ok(Response::new(PostSpansResponse {}));
        };
        match self.ingest.deliver(proto_to_otlp(batch)).await {
            Ok(()) => Ok(Response::new(PostSpansResponse {})),
            Err(e) => Err(to_status(&e)),
        }
    }
}

fn to_status(error: &ConsumeError) -> Status {
    let code = match error {
        ConsumeError::Retryable(_) => Code::Unavailable,
        ConsumeError::Throttled { .. } => Code::ResourceExhausted,
        ConsumeError::Permanent(_) => Code::InvalidArgument,
    };
    Status::new(code, error.to_string())
}

/// The gRPC services this port serves: the collector, plus the sampling manager over the
/// strategies of a running `remote_sampling` extension (found as a capability).
pub fn routes(config: &GrpcConfig, ingest: Ingest, drops: Arc<Drops>, sampling: Option<Arc<dyn SamplingStrategies>>) -> Routes {
    let limit = config.max_recv_msg_bytes();
    let collector = CollectorServiceServer::new(JaegerGrpcService { ingest })
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(limit);
    let routes = Routes::new(DecodeRefusals { inner: collector, drops, limit });
    match sampling {
        Some(strategies) => routes.add_service(SamplingManagerService::new(strategies).into_server()),
        None => routes,
    }
}

/// Set by `post_spans` through the request's extensions: a refusal without it was tonic's.
#[derive(Clone)]
struct Reached(Arc<AtomicBool>);

/// Wraps the generated collector service: what tonic refuses before `post_spans` runs
/// becomes INVALID_ARGUMENT and is counted (see the module docs).
#[derive(Clone)]
pub struct DecodeRefusals<S> {
    inner: S,
    drops: Arc<Drops>,
    limit: usize,
}

impl<S: NamedService> NamedService for DecodeRefusals<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<http::Request<Body>> for DecodeRefusals<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        let reached = Arc::new(AtomicBool::new(false));
        request.extensions_mut().insert(Reached(reached.clone()));
        let response = self.inner.call(request);
        let (drops, limit) = (self.drops.clone(), self.limit);
        Box::pin(async move {
            let response = response.await?;
            if reached.load(Ordering::Relaxed) {
                return Ok(response);
            }
            Ok(match Status::from_header_map(response.headers()) {
                Some(status) => match refused_before_the_handler(&status, &drops, limit) {
                    Some(replacement) => replacement.into_http(),
                    None => response,
                },
                None => response,
            })
        })
    }
}

/// The answer for a refusal tonic made while reading the request: INVALID_ARGUMENT for a body
/// that is not a `PostSpansRequest` (INTERNAL) or over the limit (OUT_OF_RANGE,
/// RESOURCE_EXHAUSTED), counted; `None` keeps tonic's answer (UNIMPLEMENTED, ...).
fn refused_before_the_handler(status: &Status, drops: &Drops, limit: usize) -> Option<Status> {
    let message = status.message();
    match status.code() {
        Code::Internal => {
            drops.drop_packet(DropReason::Malformed, || format!("cannot decode a PostSpansRequest: {message}"));
            Some(Status::invalid_argument(format!("cannot decode the body as a PostSpansRequest: {message}")))
        }
        Code::OutOfRange | Code::ResourceExhausted => {
            drops.drop_packet(DropReason::TooLarge, || format!("request over {limit} bytes: {message}"));
            Some(Status::invalid_argument(format!(
                "the message is larger than this receiver accepts ({limit} bytes after decompression, \
                 max_recv_msg_size_mib): {message}; send smaller batches"
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use tracegate_core::capability::Offers;
    use tracegate_core::sampling::SamplingStrategy;
    use tracegate_core::{ComponentId, Exporter, Extension, Host, Lifecycle};
    use tracegate_translator_jaeger::proto::sampling_manager_client::SamplingManagerClient;
    use tracegate_translator_jaeger::proto::SamplingStrategyParameters;
    use tracegate_translator_jaeger::proto::collector_service_client::CollectorServiceClient;
    use tracegate_translator_jaeger::proto::{Batch, Process, Span};

    use super::*;
    use crate::testutil::{local_config, start, start_with_host, RecordingConsumer};

    fn request(service: &str, names: &[&str]) -> PostSpansRequest {
        let spans = names
            .iter()
            .enumerate()
            .map(|(i, name)| Span {
                trace_id: vec![7; 16],
                span_id: (i as u64 + 1).to_be_bytes().to_vec(),
                operation_name: name.to_string(),
                start_time: Some(prost_types::Timestamp { seconds: 1_700_000_000, nanos: 0 }),
                duration: Some(prost_types::Duration { seconds: 0, nanos: 1_500_000 }),
                ..Default::default()
            })
            .collect();
        let process = Some(Process { service_name: service.into(), tags: vec![] });
        PostSpansRequest { batch: Some(Batch { spans, process }) }
    }

    #[tokio::test]
    async fn post_spans_arrive_as_otlp() {
        let run = start(local_config(), RecordingConsumer::ok()).await;
        let mut client = CollectorServiceClient::connect(run.grpc_url()).await.unwrap();
        client.post_spans(request("grpc-svc", &["g1", "g2"])).await.unwrap();
        // Empty requests are fine and reach nobody.
        client.post_spans(PostSpansRequest { batch: None }).await.unwrap();
        client.post_spans(request("grpc-svc", &[])).await.unwrap();
        assert_eq!(run.next.span_names(), ["g1", "g2"]);
        let batches = run.next.batches();
        let span = &batches[0].resource_spans()[0].scope_spans[0].spans[1];
        assert_eq!((span.trace_id.as_slice(), span.span_id.as_slice()), (&[7u8; 16][..], &2u64.to_be_bytes()[..]));
        assert_eq!(span.end_time_unix_nano - span.start_time_unix_nano, 1_500_000);
        assert_eq!(run.counts("grpc"), (2, 0));
        run.receiver.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn pipeline_refusals_become_grpc_codes() {
        let run = start(local_config(), RecordingConsumer::failing(ConsumeError::retryable("queue is full"))).await;
        let mut client = CollectorServiceClient::connect(run.grpc_url()).await.unwrap();
        let status = client.post_spans(request("svc", &["a"])).await.unwrap_err();
        assert_eq!((status.code(), status.message()), (Code::Unavailable, "queue is full"));
        assert_eq!(run.counts("grpc"), (0, 1));
        run.receiver.shutdown().await.unwrap();
    }

    /// A body that is not a `PostSpansRequest`, and one over the size limit: the client's
    /// fault, so INVALID_ARGUMENT (never retried), not INTERNAL or OUT_OF_RANGE, and counted.
    #[tokio::test]
    async fn garbage_and_oversized_requests_are_invalid_argument_and_counted() {
        let mut config = local_config();
        config.protocols.grpc.as_mut().unwrap().max_recv_msg_size_mib = 1;
        let run = start(config, RecordingConsumer::ok()).await;
        let channel = tonic::transport::Endpoint::from_shared(run.grpc_url()).unwrap().connect().await.unwrap();

        // Field 1 (`batch`) holding a Batch whose first field claims a length far past the end.
        // (prost encodes a `Vec<u8>` as google.protobuf.BytesValue: the bytes as field 1.)
        let garbage: Vec<u8> = vec![0x0a, 0xff, 0xff, 0xff, 0x0f];
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        grpc.ready().await.unwrap();
        let path = http::uri::PathAndQuery::from_static("/jaeger.api_v2.CollectorService/PostSpans");
        let codec = tonic_prost::ProstCodec::<Vec<u8>, PostSpansResponse>::default();
        let status = grpc.unary(Request::new(garbage), path, codec).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status}");
        assert!(status.message().starts_with("cannot decode the body as a PostSpansRequest"), "{}", status.message());

        let mut client = CollectorServiceClient::new(channel);
        let big = request("svc", &[&"x".repeat(2 * 1024 * 1024)]);
        let status = client.post_spans(big.clone()).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status}");
        assert!(status.message().contains("larger than this receiver accepts (1048576 bytes"), "{}", status.message());
        let status = client.send_compressed(CompressionEncoding::Gzip).post_spans(big).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "compressed: {status}");

        assert_eq!(run.dropped("grpc", DropReason::Malformed), 1);
        assert_eq!(run.dropped("grpc", DropReason::TooLarge), 2);
        assert!(run.next.batches().is_empty());
        assert_eq!(run.counts("grpc"), (0, 0));
        run.receiver.shutdown().await.unwrap();
    }

    /// A host whose only extension is the given one.
    struct HostWith(Arc<dyn Extension>);

    impl Host for HostWith {
        fn exporter(&self, _: &ComponentId) -> Option<Arc<dyn Exporter>> {
            None
        }
        fn extension(&self, _: &ComponentId) -> Option<Arc<dyn Extension>> {
            Some(self.0.clone())
        }
        fn extensions(&self) -> Vec<(ComponentId, Arc<dyn Extension>)> {
            vec![(ComponentId::new("remote_sampling", None), self.0.clone())]
        }
        fn status(&self) -> Arc<tracegate_core::telemetry::ServiceStatus> {
            Arc::default()
        }
    }

    async fn strategy_rate(url: String, service: &str) -> Result<f64, Status> {
        let mut client = SamplingManagerClient::connect(url).await.unwrap();
        let params = SamplingStrategyParameters { service_name: service.into() };
        let response = client.get_sampling_strategy(params).await?.into_inner();
        Ok(response.probabilistic_sampling.unwrap().sampling_rate)
    }

    /// An extension offering fixed strategies, as `remote_sampling` offers its file's (that
    /// crate's own tests and the e2e tests run the real one; this crate does not depend on it).
    struct Strategies;

    impl SamplingStrategies for Strategies {
        fn strategy_for(&self, service: &str) -> SamplingStrategy {
            let rate = if service == "checkout" { 1.0 } else { 0.25 };
            SamplingStrategy { probabilistic: Some(rate), ..Default::default() }
        }
    }

    impl Lifecycle for Strategies {}

    impl Extension for Strategies {
        fn offers(self: Arc<Self>) -> Offers {
            Offers::new().with::<dyn SamplingStrategies>(self)
        }
    }

    #[tokio::test]
    async fn a_running_remote_sampling_extension_is_served_on_the_grpc_port() {
        let extension = Arc::new(Strategies);
        let run = start_with_host(local_config(), RecordingConsumer::ok(), Arc::new(HostWith(extension))).await;
        assert_eq!(strategy_rate(run.grpc_url(), "checkout").await.unwrap(), 1.0);
        assert_eq!(strategy_rate(run.grpc_url(), "other").await.unwrap(), 0.25);
        // PostSpans still works beside it.
        let mut client = CollectorServiceClient::connect(run.grpc_url()).await.unwrap();
        client.post_spans(request("svc", &["a"])).await.unwrap();
        run.receiver.shutdown().await.unwrap();

        // Without the extension the method does not exist on this port.
        let run = start(local_config(), RecordingConsumer::ok()).await;
        assert_eq!(strategy_rate(run.grpc_url(), "checkout").await.unwrap_err().code(), Code::Unimplemented);
        run.receiver.shutdown().await.unwrap();
    }

    #[test]
    fn refusals_map_to_otlp_style_codes() {
        assert_eq!(to_status(&ConsumeError::retryable("full")).code(), Code::Unavailable);
        let throttled = ConsumeError::Throttled { retry_after: None, message: "slow".into() };
        assert_eq!(to_status(&throttled).code(), Code::ResourceExhausted);
        let s = to_status(&ConsumeError::permanent("bad"));
        assert_eq!((s.code(), s.message()), (Code::InvalidArgument, "bad"));
    }
}
