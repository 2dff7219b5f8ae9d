//! The receiver's life: bind in `start`, serve on a [`ServerSet`], stop gracefully in
//! `shutdown` (new connections are refused at once; requests in flight get their answer
//! within the set's drain time).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tracegate_core::server::{RunningServers, ServerSet};
use tracegate_core::telemetry::Telemetry;
use tracegate_core::tenancy::layer::{guarded, stamping, Guard};
use tracegate_core::{ComponentError, ComponentId, Consumer, Host, Lifecycle, Receiver};

use crate::config::Config;
use crate::server::{self, ServerState};

pub struct ZipkinReceiver {
    id: ComponentId,
    config: Config,
    state: Arc<ServerState>,
    /// The tenancy check in front of the port, when `tenancy` is on.
    tenancy: Option<Guard>,
    /// Held across `start`'s bind so two concurrent starts cannot both bind.
    running: tokio::sync::Mutex<Option<RunningServers>>,
    /// Copied out of `running` so `local_addr` needs no async lock.
    addr: Mutex<Option<SocketAddr>>,
}

impl ZipkinReceiver {
    pub fn new(id: ComponentId, config: Config, next: Arc<dyn Consumer>, telemetry: &Telemetry) -> Self {
        let metrics = telemetry.metrics.receiver(&id.to_string(), "http");
        let tenancy = Guard::new(config.tenancy.as_ref(), &id.to_string(), telemetry);
        let next = stamping(next, tenancy.as_ref());
        let state = ServerState::new(next, metrics, config.parse_string_tags, config.max_body_bytes());
        Self {
            tenancy,
            id,
            config,
            state: Arc::new(state),
            running: tokio::sync::Mutex::new(None),
            addr: Mutex::new(None),
        }
    }

    /// The address the server listens on while started (useful with port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.addr.lock().map(|a| *a).unwrap_or_else(|p| *p.into_inner())
    }

    fn set_addr(&self, addr: Option<SocketAddr>) {
        match self.addr.lock() {
            Ok(mut a) => *a = addr,
            Err(p) => *p.into_inner() = addr,
        }
    }
}

#[async_trait]
impl Lifecycle for ZipkinReceiver {
    async fn start(&self, host: Arc<dyn Host>) -> Result<(), ComponentError> {
        let mut running = self.running.lock().await;
        if running.is_some() {
            return Err(ComponentError::other(format!("receiver {} is already started", self.id)));
        }
        let router = guarded(server::router(self.state.clone()), self.tenancy.as_ref());
        let mut servers = ServerSet::new(&self.id, host.status());
        servers
            .http("http", &self.config.endpoint, router)
            .limits(&self.config.limits)
            .tls(self.config.tls.as_ref())
            .cors(self.config.cors.as_ref())
            .auth(self.config.auth.as_ref(), &*host);
        let server = servers.start().await?;
        if let Some(url) = server.url("http") {
            tracing::info!(receiver = %self.id, %url, "Zipkin receiver listening (/api/v2/spans, /api/v1/spans)");
        }
        self.set_addr(server.local_addr("http"));
        *running = Some(server);
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ComponentError> {
        let Some(server) = self.running.lock().await.take() else {
            return Ok(());
        };
        server.stop().await;
        self.set_addr(None);
        Ok(())
    }
}

impl Receiver for ZipkinReceiver {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use tokio::net::TcpListener;
    use tracegate_core::config::Endpoint;

    use super::*;
    use crate::testutil::{local_config, start, RecordingConsumer};

    #[tokio::test]
    async fn shutdown_is_safe_without_start_and_twice() {
        let telemetry = Telemetry::new();
        let r = ZipkinReceiver::new(ComponentId::new("zipkin", None), local_config(), RecordingConsumer::ok(), &telemetry);
        r.shutdown().await.unwrap();
        r.shutdown().await.unwrap();
        assert_eq!(r.local_addr(), None);
    }

    #[tokio::test]
    async fn shutdown_releases_the_port_and_a_second_start_is_refused() {
        let run = start(local_config(), RecordingConsumer::ok()).await;
        let addr = run.addr();
        assert!(run.receiver.start(tracegate_core::testing::TestHost::new()).await.is_err());
        run.receiver.shutdown().await.unwrap();
        run.receiver.shutdown().await.unwrap();
        assert_eq!(run.receiver.local_addr(), None);
        drop(TcpListener::bind(addr).await.unwrap());
        assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "{addr} still accepts");
    }

    #[tokio::test]
    async fn a_taken_port_fails_start_with_bind() {
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = taken.local_addr().unwrap().port();
        let config = Config { endpoint: Endpoint::new("127.0.0.1", port), ..Default::default() };
        let telemetry = Telemetry::new();
        let r = ZipkinReceiver::new(ComponentId::new("zipkin", None), config, RecordingConsumer::ok(), &telemetry);
        match r.start(tracegate_core::testing::TestHost::new()).await {
            Err(ComponentError::Bind { endpoint, .. }) => assert_eq!(endpoint, format!("127.0.0.1:{port}")),
            other => panic!("expected a bind error, got {:?}", other.err()),
        }
        assert_eq!(r.local_addr(), None);
        r.shutdown().await.unwrap();
    }
}
