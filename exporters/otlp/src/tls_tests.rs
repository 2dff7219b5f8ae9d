//! Both exporters over TLS and mTLS to a real TLS server (core's `ServerSet` listener, the one
//! every tracegate receiver uses), with certificates made by the test: a trusted server, a
//! server the exporter must refuse, client certificates, and `server_name_override`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::service::Routes;
use tonic::{Request, Response, Status};
use tracegate_core::config::{Endpoint, TlsServerConfig};
use tracegate_core::server::{RunningServers, ServerSet};
use tracegate_core::telemetry::ServiceStatus;
use tracegate_core::testing::pki::{CertAndKey, TestCa};
use tracegate_core::{Exporter, ExporterFactory};

use crate::test_support::{ctx, sample_traces};
use crate::{GrpcConfig, HttpConfig, OtlpGrpcExporterFactory, OtlpHttpExporterFactory};

#[derive(Clone, Default)]
struct Counter(Arc<AtomicUsize>);

#[tonic::async_trait]
impl TraceService for Counter {
    async fn export(
        &self,
        _request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

/// An OTLP gRPC and an OTLP HTTP listener under TLS; counts the batches received.
struct TlsBackend {
    running: RunningServers,
    grpc: SocketAddr,
    http: SocketAddr,
    received: Counter,
}

impl TlsBackend {
    async fn start(dir: &Path, server: &CertAndKey, client_ca: Option<&TestCa>) -> Self {
        let (cert, key) = server.write(dir, "server");
        let tls = TlsServerConfig {
            cert_file: cert.display().to_string(),
            key_file: key.display().to_string(),
            client_ca_file: client_ca
                .map(|ca| ca.write(dir, "client-ca").display().to_string())
                .unwrap_or_default(),
            ..Default::default()
        };
        let received = Counter::default();
        let counter = received.clone();
        let http_app = Router::new().route(
            "/v1/traces",
            post(move || async move {
                counter.0.fetch_add(1, Ordering::SeqCst);
                ([("content-type", "application/x-protobuf")], Vec::<u8>::new())
            }),
        );
        let grpc_app = Routes::new(
            TraceServiceServer::new(received.clone()).accept_compressed(CompressionEncoding::Gzip),
        )
        .into_axum_router();
        let mut set = ServerSet::new("otlp/tls-backend", Arc::new(ServiceStatus::default()));
        let endpoint = Endpoint::new("127.0.0.1", 0);
        set.grpc("grpc", &endpoint, grpc_app).tls(Some(&tls));
        set.http("http", &endpoint, http_app).tls(Some(&tls));
        let running = set.start().await.unwrap();
        Self {
            grpc: running.local_addr("grpc").unwrap(),
            http: running.local_addr("http").unwrap(),
            running,
            received,
        }
    }

    fn received(&self) -> usize {
        self.received.0.load(Ordering::SeqCst)
    }
}

/// `tls:` as YAML for a CA (and a client certificate) written into `dir`.
fn tls_yaml(dir: &Path, ca: &TestCa, client: Option<&CertAndKey>, extra: &str) -> String {
    let ca_file = ca.write(dir, "trusted-ca");
    let mut yaml = format!("ca_file: '{}'", ca_file.display());
    if let Some(client) = client {
        let (cert, key) = client.write(dir, "client");
        yaml += &format!(", cert_file: '{}', key_file: '{}'", cert.display(), key.display());
    }
    if !extra.is_empty() {
        yaml += &format!(", {extra}");
    }
    format!("{{ {yaml} }}")
}

fn grpc_exporter(addr: SocketAddr, tls: &str) -> Arc<dyn Exporter> {
    let yaml = format!("{{ endpoint: '{addr}', tls: {tls} }}");
    let config: GrpcConfig = serde_yaml_ng::from_str(&yaml).unwrap();
    OtlpGrpcExporterFactory.create(ctx("otlp/tls"), tracegate_core::testing::validated(&config)).unwrap()
}

fn http_exporter(addr: SocketAddr, tls: &str) -> Arc<dyn Exporter> {
    let yaml = format!("{{ endpoint: 'https://{addr}', compression: none, tls: {tls} }}");
    let config: HttpConfig = serde_yaml_ng::from_str(&yaml).unwrap();
    OtlpHttpExporterFactory.create(ctx("otlphttp/tls"), tracegate_core::testing::validated(&config)).unwrap()
}

#[tokio::test]
async fn both_exporters_send_over_tls_to_a_server_they_trust() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("server CA");
    let backend = TlsBackend::start(dir.path(), &ca.server_cert(), None).await;
    let tls = tls_yaml(dir.path(), &ca, None, "");
    grpc_exporter(backend.grpc, &tls).export(sample_traces()).await.unwrap();
    http_exporter(backend.http, &tls).export(sample_traces()).await.unwrap();
    assert_eq!(backend.received(), 2);
    backend.running.stop().await;
}

#[tokio::test]
async fn an_untrusted_server_gets_nothing_unless_verification_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let server_ca = TestCa::new("server CA");
    let backend = TlsBackend::start(dir.path(), &server_ca.server_cert(), None).await;
    let stranger = TestCa::new("some other CA");
    let tls = tls_yaml(dir.path(), &stranger, None, "");
    assert!(grpc_exporter(backend.grpc, &tls).export(sample_traces()).await.is_err());
    assert!(http_exporter(backend.http, &tls).export(sample_traces()).await.is_err());
    // The system roots do not know the test CA either.
    assert!(grpc_exporter(backend.grpc, "{}").export(sample_traces()).await.is_err());
    assert_eq!(backend.received(), 0, "nothing may reach a server the exporter does not trust");

    let skip = "{ insecure_skip_verify: true }";
    grpc_exporter(backend.grpc, skip).export(sample_traces()).await.unwrap();
    http_exporter(backend.http, skip).export(sample_traces()).await.unwrap();
    assert_eq!(backend.received(), 2);
    backend.running.stop().await;
}

#[tokio::test]
async fn mtls_needs_the_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("one CA for both sides");
    let backend = TlsBackend::start(dir.path(), &ca.server_cert(), Some(&ca)).await;
    let without = tls_yaml(dir.path(), &ca, None, "");
    assert!(grpc_exporter(backend.grpc, &without).export(sample_traces()).await.is_err());
    assert!(http_exporter(backend.http, &without).export(sample_traces()).await.is_err());
    assert_eq!(backend.received(), 0);

    let with = tls_yaml(dir.path(), &ca, Some(&ca.client_cert("exporter")), "");
    grpc_exporter(backend.grpc, &with).export(sample_traces()).await.unwrap();
    http_exporter(backend.http, &with).export(sample_traces()).await.unwrap();
    assert_eq!(backend.received(), 2);
    backend.running.stop().await;
}

#[tokio::test]
async fn server_name_override_checks_the_name_in_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("server CA");
    // The certificate names only otlp.internal, not the 127.0.0.1 the exporter dials.
    let backend = TlsBackend::start(dir.path(), &ca.server_cert_for(&["otlp.internal"]), None).await;
    let plain = tls_yaml(dir.path(), &ca, None, "");
    assert!(grpc_exporter(backend.grpc, &plain).export(sample_traces()).await.is_err());
    let wrong = tls_yaml(dir.path(), &ca, None, "server_name_override: other.internal");
    assert!(http_exporter(backend.http, &wrong).export(sample_traces()).await.is_err());
    assert_eq!(backend.received(), 0);

    let right = tls_yaml(dir.path(), &ca, None, "server_name_override: otlp.internal");
    grpc_exporter(backend.grpc, &right).export(sample_traces()).await.unwrap();
    http_exporter(backend.http, &right).export(sample_traces()).await.unwrap();
    assert_eq!(backend.received(), 2);
    backend.running.stop().await;
}

#[tokio::test]
async fn a_missing_ca_file_fails_create_with_its_path() {
    let config: GrpcConfig =
        serde_yaml_ng::from_str("{ endpoint: '127.0.0.1:1', tls: { ca_file: /nonexistent/ca.crt } }").unwrap();
    let error = OtlpGrpcExporterFactory.create(ctx("otlp/tls"), tracegate_core::testing::validated(&config)).err().unwrap();
    assert!(error.to_string().contains("/nonexistent/ca.crt"), "{error}");
}
