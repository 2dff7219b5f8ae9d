//! Both exporters with `auth: { authenticator: <id> }` against a listener guarded the way
//! every tracegate receiver is (core's `ServerSet` with the same extensions): bearer and basic
//! credentials get batches in; an exporter without them is refused and delivers nothing.

use std::net::SocketAddr;
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
use tracegate_core::config::{AuthConfig, Endpoint};
use tracegate_core::server::{RunningServers, ServerSet};
use tracegate_core::telemetry::ServiceStatus;
use tracegate_core::testing::ExtensionsHost;
use tracegate_core::{Exporter, ExporterFactory, Extension, ExtensionFactory, Host};
use tracegate_extension_auth::{BasicAuthFactory, BearerTokenAuthFactory};

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

fn extension<F: ExtensionFactory>(factory: F, id: &str, yaml: &str) -> Arc<dyn Extension> {
    let config: F::Config = tracegate_core::testing::parse_config(yaml).unwrap();
    let context = tracegate_core::CreateContext::new(
        tracegate_core::ComponentId::parse(id).unwrap(),
        tracegate_core::telemetry::Telemetry::new(),
    );
    factory.create(context, tracegate_core::testing::validated(&config)).unwrap()
}

/// Both kinds of authenticator, each side: what the backend checks and what exporters send.
fn host() -> Arc<dyn Host> {
    let host = ExtensionsHost::default()
        .with("bearertokenauth", extension(BearerTokenAuthFactory, "bearertokenauth", "token: t0ken"))
        .with("bearertokenauth/wrong", extension(BearerTokenAuthFactory, "bearertokenauth/wrong", "token: other"))
        // `htpasswd -nbs gateway pa55`.
        .with("basicauth/server", extension(BasicAuthFactory, "basicauth/server", "htpasswd: { inline: 'gateway:{SHA}3jlYfsnWMi7F2C1+fdQaJ5Rr39M=' }"))
        .with("basicauth/client", extension(BasicAuthFactory, "basicauth/client", "client_auth: { username: gateway, password: pa55 }"));
    Arc::new(host)
}

struct Backend {
    running: RunningServers,
    grpc: SocketAddr,
    http: SocketAddr,
    received: Counter,
}

impl Backend {
    async fn start(host: &Arc<dyn Host>, authenticator: &str) -> Self {
        let received = Counter::default();
        let counter = received.clone();
        let http_app = Router::new().route(
            "/v1/traces",
            post(move || async move {
                counter.0.fetch_add(1, Ordering::SeqCst);
                ([("content-type", "application/x-protobuf")], Vec::<u8>::new())
            }),
        );
        let service = TraceServiceServer::new(received.clone()).accept_compressed(CompressionEncoding::Gzip);
        let grpc_app = Routes::new(service).into_axum_router();
        let auth = AuthConfig { authenticator: authenticator.into() };
        let mut set = ServerSet::new("otlp", Arc::new(ServiceStatus::default()));
        let endpoint = Endpoint::new("127.0.0.1", 0);
        set.grpc("grpc", &endpoint, grpc_app).auth(Some(&auth), &**host);
        set.http("http", &endpoint, http_app).auth(Some(&auth), &**host);
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

fn auth_yaml(authenticator: Option<&str>) -> String {
    authenticator.map(|a| format!(", auth: {{ authenticator: {a} }}")).unwrap_or_default()
}

async fn exporters(backend: &Backend, host: &Arc<dyn Host>, authenticator: Option<&str>) -> [Arc<dyn Exporter>; 2] {
    let auth = auth_yaml(authenticator);
    let grpc: GrpcConfig = serde_yaml_ng::from_str(&format!("{{ endpoint: 'http://{}'{auth} }}", backend.grpc)).unwrap();
    let http: HttpConfig = serde_yaml_ng::from_str(&format!("{{ endpoint: 'http://{}', compression: none{auth} }}", backend.http)).unwrap();
    let exporters = [
        OtlpGrpcExporterFactory.create(ctx("otlp/out"), tracegate_core::testing::validated(&grpc)).unwrap(),
        OtlpHttpExporterFactory.create(ctx("otlphttp/out"), tracegate_core::testing::validated(&http)).unwrap(),
    ];
    for exporter in &exporters {
        exporter.start(host.clone()).await.unwrap();
    }
    exporters
}

#[tokio::test]
async fn bearer_and_basic_credentials_get_batches_in_over_grpc_and_http() {
    let host = host();
    for (server, client) in [("bearertokenauth", "bearertokenauth"), ("basicauth/server", "basicauth/client")] {
        let backend = Backend::start(&host, server).await;
        for exporter in exporters(&backend, &host, Some(client)).await {
            exporter.export(sample_traces()).await.unwrap();
        }
        assert_eq!(backend.received(), 2, "{client}");
        backend.running.stop().await;
    }
}

#[tokio::test]
async fn without_the_right_credentials_nothing_is_delivered_and_nothing_is_retried() {
    let host = host();
    let backend = Backend::start(&host, "bearertokenauth").await;
    for authenticator in [None, Some("bearertokenauth/wrong")] {
        for exporter in exporters(&backend, &host, authenticator).await {
            let error = exporter.export(sample_traces()).await.unwrap_err();
            // Retrying cannot make bad credentials good.
            assert!(error.is_permanent(), "{authenticator:?}: {error}");
        }
    }
    assert_eq!(backend.received(), 0);
    backend.running.stop().await;
}

#[tokio::test]
async fn an_authenticator_that_is_not_running_fails_start() {
    let host = host();
    let grpc: GrpcConfig = serde_yaml_ng::from_str("{ endpoint: 'http://127.0.0.1:9', auth: { authenticator: oidc } }").unwrap();
    let exporter = OtlpGrpcExporterFactory.create(ctx("otlp/out"), tracegate_core::testing::validated(&grpc)).unwrap();
    let error = exporter.start(host.clone()).await.unwrap_err().to_string();
    assert!(error.contains("\"oidc\" is not running"), "{error}");
    // A server-only basicauth has nothing to send.
    let http: HttpConfig = serde_yaml_ng::from_str("{ endpoint: 'http://127.0.0.1:9', auth: { authenticator: basicauth/server } }").unwrap();
    let exporter = OtlpHttpExporterFactory.create(ctx("otlphttp/out"), tracegate_core::testing::validated(&http)).unwrap();
    let error = exporter.start(host).await.unwrap_err().to_string();
    assert!(error.contains("has no client credentials"), "{error}");
}
