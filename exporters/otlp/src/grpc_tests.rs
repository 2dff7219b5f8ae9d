//! Against a real tonic TraceService on 127.0.0.1.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::codec::CompressionEncoding;
use tonic::metadata::MetadataMap;
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};
use tracegate_core::{ConsumeError, ExporterFactory};

use crate::test_support::{ctx, sample_traces};
use crate::{GrpcConfig, OtlpGrpcExporterFactory};

/// Whether an export error is what the backend's answer should produce.
type Check = fn(&ConsumeError) -> bool;

type Reply = Box<dyn Fn() -> Result<ExportTraceServiceResponse, Status> + Send + Sync>;

/// What the backend saw, and what it answers.
struct Backend {
    seen: Mutex<Vec<(MetadataMap, ExportTraceServiceRequest)>>,
    reply: Reply,
}

#[derive(Clone)]
struct Service(Arc<Backend>);

#[tonic::async_trait]
impl TraceService for Service {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let (metadata, _, message) = request.into_parts();
        self.0.seen.lock().unwrap().push((metadata, message));
        (self.0.reply)().map(Response::new)
    }
}

struct TestServer {
    addr: SocketAddr,
    backend: Arc<Backend>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl TestServer {
    async fn start(reply: Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let backend = Arc::new(Backend {
            seen: Mutex::default(),
            reply,
        });
        let service = TraceServiceServer::new(Service(backend.clone()))
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd);
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(
            Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
                    stopped.await.ok();
                }),
        );
        Self {
            addr,
            backend,
            stop,
            task,
        }
    }

    fn seen(&self) -> Vec<(MetadataMap, ExportTraceServiceRequest)> {
        self.backend.seen.lock().unwrap().clone()
    }

    async fn stop(self) {
        self.stop.send(()).ok();
        self.task.await.unwrap().unwrap();
    }
}

fn ok() -> Reply {
    Box::new(|| Ok(ExportTraceServiceResponse::default()))
}

fn exporter(yaml: &str) -> Arc<dyn tracegate_core::Exporter> {
    let config: GrpcConfig = serde_yaml_ng::from_str(yaml).unwrap();
    OtlpGrpcExporterFactory
        .create(ctx("otlp/test"), tracegate_core::testing::validated(&config))
        .unwrap()
}

#[tokio::test]
async fn batch_headers_and_compression_arrive() {
    for compression in ["gzip", "zstd", "none"] {
        let server = TestServer::start(ok()).await;
        let exporter = exporter(&format!(
            "{{ endpoint: '{}', tls: {{ insecure: true }}, compression: {compression}, headers: {{ x-tenant: acme }} }}",
            server.addr
        ));
        exporter.export(sample_traces()).await.unwrap();
        exporter.shutdown().await.unwrap();

        let seen = server.seen();
        assert_eq!(seen.len(), 1);
        let (metadata, request) = &seen[0];
        assert_eq!(*request, sample_traces().into_request(), "{compression}");
        assert_eq!(metadata.get("x-tenant").unwrap(), "acme");
        let encoding = metadata
            .get("grpc-encoding")
            .map(|v| v.to_str().unwrap().to_owned());
        let expected = (compression != "none").then(|| compression.to_owned());
        assert_eq!(encoding, expected);
        assert!(metadata
            .get("user-agent")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("tracegate/"));
        server.stop().await;
    }
}

#[tokio::test]
async fn a_batch_still_in_received_bytes_arrives_unchanged() {
    use prost::Message;
    let server = TestServer::start(ok()).await;
    let exporter = exporter(&format!(
        "{{ endpoint: '{}', tls: {{ insecure: true }} }}",
        server.addr
    ));
    let bytes = sample_traces().to_request().encode_to_vec();
    let lazy = tracegate_core::Traces::from_protobuf(bytes.into()).unwrap();
    exporter.export(lazy.clone()).await.unwrap();
    assert!(lazy.is_encoded() && server.seen()[0].1 == sample_traces().into_request());
    exporter.shutdown().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn errors_are_classified_like_the_collector() {
    let cases: Vec<(Reply, Check)> = vec![
        (
            Box::new(|| Err(Status::unavailable("restarting"))),
            |e| matches!(e, ConsumeError::Retryable(m) if m.contains("restarting")),
        ),
        (
            Box::new(|| Err(Status::invalid_argument("bad span"))),
            |e| matches!(e, ConsumeError::Permanent(m) if m.contains("bad span")),
        ),
        (
            Box::new(|| {
                let details = ErrorDetails::with_retry_info(Some(Duration::from_secs(4)));
                Err(Status::with_error_details(
                    Code::ResourceExhausted,
                    "slow down",
                    details,
                ))
            }),
            |e| e.retry_after() == Some(Duration::from_secs(4)),
        ),
        (
            Box::new(|| Err(Status::resource_exhausted("over quota"))),
            ConsumeError::is_permanent,
        ),
    ];
    for (reply, check) in cases {
        let server = TestServer::start(reply).await;
        let exporter = exporter(&format!("{{ endpoint: 'http://{}' }}", server.addr));
        let err = exporter.export(sample_traces()).await.unwrap_err();
        assert!(check(&err), "{err:?}");
        server.stop().await;
    }
}

#[tokio::test]
async fn partial_success_counts_as_sent() {
    let server = TestServer::start(Box::new(|| {
        Ok(ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 2,
                error_message: "too old".into(),
            }),
        })
    }))
    .await;
    let exporter = exporter(&format!("{{ endpoint: 'http://{}' }}", server.addr));
    exporter.export(sample_traces()).await.unwrap();
    assert_eq!(server.seen().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_dead_backend_is_retryable_and_not_a_start_failure() {
    // Take a free port and release it, so nothing listens there.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let exporter = exporter(&format!(
        "{{ endpoint: '{addr}', tls: {{ insecure: true }} }}"
    ));
    let err = exporter.export(sample_traces()).await.unwrap_err();
    assert!(
        matches!(&err, ConsumeError::Retryable(m) if m.contains(&addr.to_string()) && m.contains("refused")),
        "{err:?}"
    );
    exporter.shutdown().await.unwrap();
    exporter.shutdown().await.unwrap();
}

#[test]
fn create_needs_no_runtime() {
    let exporter = exporter("{ endpoint: 'http://127.0.0.1:1' }");
    assert!(exporter
        .as_any()
        .downcast_ref::<crate::OtlpGrpcExporter>()
        .is_some());
}
