//! The HTTP server: bound in `start`, stopped gracefully in `shutdown`.
//!
//! The handler holds the `Host` it was started with and reads the service status on every
//! request, so the answer follows the engine's state changes (starting -> ready -> stopping)
//! without the engine knowing this extension exists.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use tokio::sync::Mutex;
use tracegate_core::config::{Endpoint, TlsServerConfig};
use tracegate_core::server::{RunningServers, ServerSet};
use tracegate_core::{ComponentError, Extension, Host, Lifecycle};

use crate::config::Config;
use crate::response::health;

pub struct HealthCheckExtension {
    id: String,
    endpoint: Endpoint,
    path: String,
    tls: Option<TlsServerConfig>,
    limits: tracegate_core::server::ServerLimits,
    running: Mutex<Option<RunningServers>>,
}

impl HealthCheckExtension {
    pub fn new(id: String, config: &Config) -> Self {
        Self {
            id,
            endpoint: config.endpoint.clone(),
            path: config.path.clone(),
            tls: config.tls.clone(),
            limits: config.limits.clone(),
            running: Mutex::new(None),
        }
    }

    /// The address actually bound (useful with port 0); `None` when not running.
    pub async fn local_addr(&self) -> Option<SocketAddr> {
        self.running.lock().await.as_ref().and_then(|s| s.local_addr("http"))
    }
}

/// The health route alone; every other path is 404.
pub fn router(path: &str, host: Arc<dyn Host>) -> Router {
    Router::new().route(path, get(health_handler)).with_state(host)
}

async fn health_handler(State(host): State<Arc<dyn Host>>) -> impl IntoResponse {
    let (healthy, body) = health(&host.status(), SystemTime::now());
    let code = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(body))
}

#[async_trait]
impl Lifecycle for HealthCheckExtension {
    async fn start(&self, host: Arc<dyn Host>) -> Result<(), ComponentError> {
        let mut running = self.running.lock().await;
        if running.is_some() {
            return Ok(());
        }
        let app = router(&self.path, host.clone());
        let mut servers = ServerSet::new(&self.id, host.status());
        servers.http("http", &self.endpoint, app).limits(&self.limits).tls(self.tls.as_ref());
        let server = servers.start().await?;
        if let Some(url) = server.url("http") {
            tracing::info!(extension = %self.id, "health check listening on {url}{}", self.path);
        }
        *running = Some(server);
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ComponentError> {
        if let Some(server) = self.running.lock().await.take() {
            server.stop().await;
        }
        Ok(())
    }
}

impl Extension for HealthCheckExtension {}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tracegate_core::telemetry::{ServiceState, ServiceStatus};
    use tracegate_core::testing::TestHost;

    use super::*;

    fn extension(path: &str) -> HealthCheckExtension {
        let config = Config { endpoint: Endpoint::new("127.0.0.1", 0), path: path.to_string(), ..Default::default() };
        HealthCheckExtension::new("health_check".into(), &config)
    }

    /// One HTTP/1.1 GET over a fresh connection: (status code, JSON body or Null).
    async fn get(addr: SocketAddr, path: &str) -> (u16, serde_json::Value) {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("send");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("read");
        let text = String::from_utf8(raw).expect("utf-8");
        let code = text.split(' ').nth(1).and_then(|c| c.parse().ok()).expect("status line");
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
        (code, serde_json::from_str(body).unwrap_or(serde_json::Value::Null))
    }

    #[tokio::test]
    async fn follows_the_service_state_and_releases_the_port() {
        let status = Arc::new(ServiceStatus::default());
        let ext = extension("/healthz");
        ext.start(Arc::new(TestHost { status: status.clone() })).await.expect("start");
        let addr = ext.local_addr().await.expect("bound");

        let (code, body) = get(addr, "/healthz").await;
        assert_eq!((code, body["status"].as_str()), (503, Some("Server not available")));

        status.set_state(ServiceState::Ready);
        let (code, body) = get(addr, "/healthz").await;
        assert_eq!((code, body["status"].as_str()), (200, Some("Server available")));
        let up_since = body["upSince"].as_str().expect("upSince");
        assert!(up_since.len() >= 20 && up_since.ends_with('Z') && up_since.as_bytes()[10] == b'T', "{up_since}");
        assert!(body["uptime"].as_str().is_some_and(|u| u.ends_with('s')), "{body}");
        assert!(body.get("failures").is_none(), "{body}");
        assert_eq!(get(addr, "/").await.0, 404);

        status.set_state(ServiceState::Stopping);
        assert_eq!(get(addr, "/healthz").await.0, 503);

        ext.shutdown().await.expect("shutdown");
        assert!(ext.local_addr().await.is_none());
        let rebound = std::net::TcpListener::bind(addr).expect("port released by shutdown");
        drop(rebound);
        ext.shutdown().await.expect("second shutdown");
    }

    #[tokio::test]
    async fn failures_are_listed_with_503() {
        let status = Arc::new(ServiceStatus::default());
        status.set_state(ServiceState::Ready);
        let ext = extension("/");
        ext.start(Arc::new(TestHost { status: status.clone() })).await.expect("start");
        let addr = ext.local_addr().await.expect("bound");
        assert_eq!(get(addr, "/").await.0, 200);

        status.report_failure("receiver/otlp", "grpc listener died");
        let (code, body) = get(addr, "/").await;
        assert_eq!(code, 503);
        assert_eq!(body["failures"], serde_json::json!([{"component": "receiver/otlp", "error": "grpc listener died"}]));
        ext.shutdown().await.expect("shutdown");
    }

    #[tokio::test]
    async fn a_taken_port_is_a_bind_error_and_shutdown_needs_no_start() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = taken.local_addr().expect("addr").port();
        let config = Config { endpoint: Endpoint::new("127.0.0.1", port), path: "/".into(), ..Default::default() };
        let ext = HealthCheckExtension::new("health_check".into(), &config);
        ext.shutdown().await.expect("shutdown without start");
        let err = ext.start(Arc::new(TestHost::default())).await.expect_err("port in use");
        assert!(matches!(err, ComponentError::Bind { .. }), "{err}");
        assert!(err.to_string().contains(&format!("127.0.0.1:{port}")), "{err}");
        ext.shutdown().await.expect("shutdown after failed start");
    }
}
