//! Start and stop over a real socket; start errors name the storage id.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracegate_core::config::Endpoint;
use tracegate_core::telemetry::ServiceStatus;
use tracegate_core::{ComponentError, ComponentId, Exporter, Extension, Host, Lifecycle};

use super::fixture::store;
use crate::{Config, HttpConfig, JaegerQueryExtension};

/// A host that knows the exporters a test gives it.
#[derive(Default)]
pub(super) struct ExportersHost {
    pub(super) exporters: HashMap<String, Arc<dyn Exporter>>,
    status: Arc<ServiceStatus>,
}

impl Host for ExportersHost {
    fn exporter(&self, id: &ComponentId) -> Option<Arc<dyn Exporter>> {
        self.exporters.get(&id.to_string()).cloned()
    }
    fn extension(&self, _id: &ComponentId) -> Option<Arc<dyn Extension>> {
        None
    }
    fn extensions(&self) -> Vec<(ComponentId, Arc<dyn Extension>)> {
        Vec::new()
    }
    fn status(&self) -> Arc<ServiceStatus> {
        self.status.clone()
    }
}

fn extension(storage: &str) -> JaegerQueryExtension {
    let config = Config {
        storage: storage.into(),
        http: HttpConfig { endpoint: Endpoint::new("127.0.0.1", 0), ..Default::default() },
        ..Default::default()
    };
    JaegerQueryExtension::new("jaeger_query".into(), config)
}

#[tokio::test]
async fn serves_over_a_real_socket_and_releases_the_port() {
    let (memory, _) = store().await;
    let mut host = ExportersHost::default();
    host.exporters.insert("memory/q".into(), Arc::new(memory));
    let ext = extension("memory/q");
    ext.shutdown().await.expect("shutdown without start");
    ext.start(Arc::new(host)).await.expect("start");
    let addr = ext.local_addr().await.expect("bound");

    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET /api/services HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.expect("read");
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(raw.ends_with("{\"data\":[\"backend\",\"frontend\"],\"total\":2,\"limit\":0,\"offset\":0,\"errors\":null}\n"), "{raw}");

    ext.shutdown().await.expect("shutdown");
    ext.shutdown().await.expect("second shutdown");
    drop(std::net::TcpListener::bind(addr).expect("port released by shutdown"));
}

#[tokio::test]
async fn a_missing_store_or_a_non_store_is_a_start_error_naming_it() {
    let err = extension("sled").start(Arc::new(ExportersHost::default())).await.expect_err("no exporter");
    assert!(matches!(err, ComponentError::Config(_)), "{err}");
    assert!(err.to_string().contains("storage: nothing named \"sled\" provides a trace store"), "{err}");

    let mut host = ExportersHost::default();
    host.exporters.insert("nop".into(), Arc::new(NotAStore));
    let err = extension("nop").start(Arc::new(host)).await.expect_err("not a store");
    assert!(err.to_string().contains("storage: exporter \"nop\" does not provide a trace store"), "{err}");
}

struct NotAStore;

impl Lifecycle for NotAStore {}

#[async_trait::async_trait]
impl Exporter for NotAStore {
    async fn export(&self, _traces: tracegate_core::Traces) -> Result<(), tracegate_core::ConsumeError> {
        Ok(())
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[test]
fn registered_as_a_builtin_extension() {
    let registry = tracegate_core::factory::Registry::builtin();
    let factory = registry.get(tracegate_core::Kind::Extension, "jaeger_query").map(|f| f.stability());
    assert_eq!(factory, Some(tracegate_core::Stability::Alpha));
}

#[tokio::test]
async fn the_configured_bounds_apply_over_a_real_socket() {
    let (memory, _) = store().await;
    let mut host = ExportersHost::default();
    host.exporters.insert("memory/q".into(), Arc::new(memory));
    let config = Config {
        storage: "memory/q".into(),
        http: HttpConfig { endpoint: Endpoint::new("127.0.0.1", 0), ..Default::default() },
        max_limit: 1,
        ..Default::default()
    };
    let ext = JaegerQueryExtension::new("jaeger_query".into(), config);
    ext.start(Arc::new(host)).await.expect("start");
    let addr = ext.local_addr().await.expect("bound");

    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET /api/traces?service=backend&limit=5 HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.expect("read");
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(raw.to_ascii_lowercase().contains("\r\nwarning: 299 - \"limit 5 is above this server's max_limit of 1:"), "{raw}");
    assert!(raw.contains("\"errors\":[{\"msg\":\"limit 5 is above this server's max_limit of 1:"), "{raw}");
    ext.shutdown().await.expect("shutdown");
}
