//! Tenancy over real sockets: two tenants' spans in one memory store; each request is answered
//! from its tenant's spans only, on the HTTP API and the gRPC port, and one naming no allowed
//! tenant is refused as Jaeger refuses it.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::transport::Channel;
use tracegate_core::config::Endpoint;
use tracegate_core::storage::TraceReader;
use tracegate_core::tenancy::TenancyConfig;
use tracegate_core::{Exporter, Lifecycle};
use tracegate_exporter_memory::MemoryStore;
use tracegate_translator_jaeger::proto as v2;

use super::fixture::{backend, base_nanos, batch, resource, span, TRACE_A_HEX};
use super::lifecycle::ExportersHost;
use crate::{Config, GrpcConfig, HttpConfig, JaegerQueryExtension};

async fn get(addr: std::net::SocketAddr, path: &str, tenant: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let header = tenant.map(|t| format!("x-tenant: {t}\r\n")).unwrap_or_default();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{header}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.expect("read");
    let status = raw.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn each_tenant_is_answered_from_its_own_spans_only() {
    let memory = MemoryStore::new(1000);
    let t = base_nanos();
    memory.export(batch(t).with_tenant(Some(Arc::from("acme")))).await.unwrap();
    let other = tracegate_core::Traces::new(vec![resource(backend(), vec![span([9; 16], 1, 0, "globex-op", 2, t, 1000)])]);
    memory.export(other.with_tenant(Some(Arc::from("globex")))).await.unwrap();

    let mut host = ExportersHost::default();
    host.exporters.insert("memory".into(), Arc::new(memory));
    let config = Config {
        storage: "memory".into(),
        http: HttpConfig { endpoint: Endpoint::new("127.0.0.1", 0), ..Default::default() },
        grpc: Some(GrpcConfig { endpoint: Endpoint::new("127.0.0.1", 0), ..Default::default() }),
        tenancy: Some(TenancyConfig { enabled: true, tenants: vec!["acme".into(), "globex".into()], ..Default::default() }),
        ..Default::default()
    };
    let ext = JaegerQueryExtension::new("jaeger_query".into(), config);
    ext.start(Arc::new(host)).await.expect("start");
    let addr = ext.local_addr().await.unwrap();

    let (status, body) = get(addr, "/api/services", Some("acme")).await;
    assert_eq!(status, 200);
    assert!(body.starts_with("{\"data\":[\"backend\",\"frontend\"]"), "{body}");
    let (_, body) = get(addr, "/api/services", Some("globex")).await;
    assert!(body.starts_with("{\"data\":[\"backend\"]"), "{body}");
    assert_eq!(get(addr, &format!("/api/traces/{TRACE_A_HEX}"), Some("acme")).await.0, 200);
    assert_eq!(get(addr, &format!("/api/traces/{TRACE_A_HEX}"), Some("globex")).await.0, 404);
    assert_eq!(get(addr, &format!("/api/v3/traces/{TRACE_A_HEX}"), Some("globex")).await.0, 404);
    assert_eq!(get(addr, "/api/services", None).await, (401, "missing tenant header".into()));
    assert_eq!(get(addr, "/api/services", Some("initech")).await, (401, "unknown tenant".into()));
    let (status, body) = get(addr, "/api/tenancy", None).await;
    assert_eq!((status, body.as_str()), (200, "{\"enabled\":true,\"header\":\"x-tenant\",\"tenants\":[\"acme\",\"globex\"]}"));
    assert_eq!(get(addr, "/", None).await.0, 200, "the page loads without a tenant");

    let grpc = ext.grpc_addr().await.unwrap();
    let channel = Channel::from_shared(format!("http://{grpc}")).unwrap().connect().await.unwrap();
    let mut client = v2::query_service_client::QueryServiceClient::new(channel);
    let ask = |tenant: Option<&str>| {
        let mut r = tonic::Request::new(v2::GetServicesRequest {});
        if let Some(t) = tenant {
            r.metadata_mut().insert("x-tenant", t.parse().unwrap());
        }
        r
    };
    assert_eq!(client.get_services(ask(Some("globex"))).await.unwrap().into_inner().services, ["backend"]);
    assert_eq!(client.get_services(ask(None)).await.unwrap_err().code(), tonic::Code::Unauthenticated);
    assert_eq!(client.get_services(ask(Some("initech"))).await.unwrap_err().code(), tonic::Code::PermissionDenied);
    ext.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_store_that_does_not_keep_tenants_apart_is_a_start_error() {
    struct Plain(MemoryStore);
    #[async_trait::async_trait]
    impl TraceReader for Plain {
        async fn get_trace(&self, id: [u8; 16]) -> Result<Option<tracegate_core::Traces>, tracegate_core::storage::StorageError> {
            self.0.get_trace(id).await
        }
        async fn services(&self) -> Result<Vec<String>, tracegate_core::storage::StorageError> {
            self.0.services().await
        }
        async fn operations(&self, s: &str, k: Option<&str>) -> Result<Vec<tracegate_core::storage::Operation>, tracegate_core::storage::StorageError> {
            self.0.operations(s, k).await
        }
        async fn find_trace_ids(&self, q: &tracegate_core::storage::TraceQuery) -> Result<Vec<[u8; 16]>, tracegate_core::storage::StorageError> {
            self.0.find_trace_ids(q).await
        }
        async fn dependencies(&self, e: std::time::SystemTime, l: std::time::Duration) -> Result<Vec<tracegate_core::storage::DependencyLink>, tracegate_core::storage::StorageError> {
            self.0.dependencies(e, l).await
        }
    }
    struct PlainStore(MemoryStore);
    impl Lifecycle for PlainStore {}
    #[async_trait::async_trait]
    impl Exporter for PlainStore {
        async fn export(&self, t: tracegate_core::Traces) -> Result<(), tracegate_core::ConsumeError> {
            self.0.export(t).await
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
        fn offers(self: Arc<Self>) -> tracegate_core::capability::Offers {
            let reader = Arc::new(Plain(self.0.clone()));
            let store = tracegate_core::storage::ExporterStore::new(self, reader);
            tracegate_core::capability::Offers::new().with::<dyn tracegate_core::storage::TraceStore>(Arc::new(store))
        }
    }
    let mut host = ExportersHost::default();
    host.exporters.insert("plain".into(), Arc::new(PlainStore(MemoryStore::new(10))));
    let config = Config {
        storage: "plain".into(),
        http: HttpConfig { endpoint: Endpoint::new("127.0.0.1", 0), ..Default::default() },
        tenancy: Some(TenancyConfig { enabled: true, tenants: vec!["acme".into()], ..Default::default() }),
        ..Default::default()
    };
    let err = JaegerQueryExtension::new("jaeger_query".into(), config).start(Arc::new(host)).await.unwrap_err();
    assert!(err.to_string().contains("does not keep tenants apart"), "{err}");
}
