//! The extension's life: the strategies are loaded in `new` (so a bad file fails start-up with
//! its path and problem), the servers and the reload task run between `start` and `shutdown`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Mutex};
use tokio::task::JoinHandle;
use tracegate_core::config::{Endpoint, GoDuration};
use tracegate_core::{ComponentError, CreateContext, Extension, Host, Lifecycle};

use crate::config::{Config, Source};
use crate::grpc::SamplingService;
use crate::proto::sampling_manager_server::SamplingManagerServer;
use crate::proto::SamplingStrategyResponse;
use crate::provider::StrategyProvider;

/// How long `shutdown` waits for in-flight requests; sampling answers are immediate, so this
/// only bounds a stuck client.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

struct Server {
    local_addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct Running {
    http: Option<Server>,
    grpc: Option<Server>,
    reloader: Option<JoinHandle<()>>,
}

/// Serves Jaeger sampling strategies; see the crate docs.
pub struct RemoteSamplingExtension {
    id: String,
    provider: Arc<StrategyProvider>,
    reload_interval: GoDuration,
    http: Option<Endpoint>,
    grpc: Option<Endpoint>,
    running: Mutex<Option<Running>>,
}

impl RemoteSamplingExtension {
    /// Loads the strategies file; a missing or malformed file is an error naming the path.
    pub fn new(ctx: CreateContext, config: &Config) -> Result<Self, ComponentError> {
        Self::with_id(ctx.id.to_string(), config)
    }

    /// As [`new`](Self::new), without the engine's context (tests, embedding).
    pub fn with_id(id: String, config: &Config) -> Result<Self, ComponentError> {
        let Some(Source::File(file)) = config.source() else {
            return Err(ComponentError::Config("no sampling strategy provider specified, expecting 'file'".into()));
        };
        let provider = StrategyProvider::from_file(&file.path, file.default_sampling_probability)
            .map_err(|e| ComponentError::Config(e.to_string()))?;
        Ok(Self {
            id,
            provider: Arc::new(provider),
            reload_interval: file.reload_interval,
            http: config.http.as_ref().map(|h| h.endpoint.clone()),
            grpc: config.grpc.as_ref().map(|g| g.endpoint.clone()),
            running: Mutex::new(None),
        })
    }

    /// The `SamplingManager` gRPC service, for another server to mount (the `jaeger`
    /// receiver's port 14250). It answers from the same strategies, reloads included, and
    /// works whether or not this extension's own servers run.
    pub fn grpc_service(&self) -> SamplingManagerServer<SamplingService> {
        SamplingService::new(self.provider.clone()).into_server()
    }

    /// The strategy served for `service` right now.
    pub fn strategy_for(&self, service: &str) -> SamplingStrategyResponse {
        self.provider.strategy_for(service)
    }

    /// The strategies and their file.
    pub fn provider(&self) -> &Arc<StrategyProvider> {
        &self.provider
    }

    /// The HTTP server's bound address (useful with port 0); `None` when not serving HTTP.
    pub async fn http_addr(&self) -> Option<SocketAddr> {
        self.running.lock().await.as_ref().and_then(|r| r.http.as_ref().map(|s| s.local_addr))
    }

    /// The gRPC server's bound address; `None` when not serving gRPC.
    pub async fn grpc_addr(&self) -> Option<SocketAddr> {
        self.running.lock().await.as_ref().and_then(|r| r.grpc.as_ref().map(|s| s.local_addr))
    }

    async fn bind(&self, endpoint: &Endpoint) -> Result<(TcpListener, SocketAddr), ComponentError> {
        let bind_err = |source| ComponentError::Bind { endpoint: endpoint.to_string(), source };
        let listener = TcpListener::bind(endpoint.bind_addr()).await.map_err(bind_err)?;
        let addr = listener.local_addr().map_err(bind_err)?;
        Ok((listener, addr))
    }
}

#[async_trait]
impl Lifecycle for RemoteSamplingExtension {
    async fn start(&self, host: Arc<dyn Host>) -> Result<(), ComponentError> {
        let mut running = self.running.lock().await;
        if running.is_some() {
            return Ok(());
        }
        // Bind everything before serving anything, so a taken port leaves nothing behind.
        let http = match &self.http {
            Some(endpoint) => Some(self.bind(endpoint).await?),
            None => None,
        };
        let grpc = match &self.grpc {
            Some(endpoint) => Some(self.bind(endpoint).await?),
            None => None,
        };
        let mut state = Running::default();
        if let Some((listener, local_addr)) = http {
            let (stop, stopped) = oneshot::channel::<()>();
            let (provider, id, host) = (self.provider.clone(), self.id.clone(), host.clone());
            let task = tokio::spawn(async move {
                let shutdown = async move {
                    let _ = stopped.await;
                };
                if let Err(e) = crate::http::serve(listener, provider, shutdown).await {
                    tracing::error!(extension = %id, "sampling HTTP server stopped: {e}");
                    host.status().report_failure(&id, &format!("sampling HTTP server stopped: {e}"));
                }
            });
            tracing::info!(extension = %self.id, "sampling strategies over HTTP on http://{local_addr}/sampling");
            state.http = Some(Server { local_addr, stop, task });
        }
        if let Some((listener, local_addr)) = grpc {
            let (stop, stopped) = oneshot::channel::<()>();
            let (service, id, host) = (SamplingService::new(self.provider.clone()), self.id.clone(), host.clone());
            let task = tokio::spawn(async move {
                let shutdown = async move {
                    let _ = stopped.await;
                };
                if let Err(e) = crate::grpc::serve(listener, service, shutdown).await {
                    tracing::error!(extension = %id, "sampling gRPC server stopped: {e}");
                    host.status().report_failure(&id, &format!("sampling gRPC server stopped: {e}"));
                }
            });
            tracing::info!(extension = %self.id, "sampling strategies over gRPC on {local_addr}");
            state.grpc = Some(Server { local_addr, stop, task });
        }
        if !self.reload_interval.is_zero() {
            state.reloader = Some(self.provider.spawn_reloader(self.reload_interval.get(), self.id.clone()));
        }
        *running = Some(state);
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ComponentError> {
        let Some(state) = self.running.lock().await.take() else {
            return Ok(());
        };
        if let Some(reloader) = state.reloader {
            reloader.abort();
            let _ = reloader.await;
        }
        for (what, server) in [("HTTP", state.http), ("gRPC", state.grpc)] {
            let Some(Server { stop, mut task, .. }) = server else { continue };
            let _ = stop.send(());
            if tokio::time::timeout(DRAIN_TIMEOUT, &mut task).await.is_err() {
                tracing::warn!(extension = %self.id, "sampling {what} clients did not finish in {DRAIN_TIMEOUT:?}; closing them");
                task.abort();
                // Wait for the abort so the port is free when shutdown returns.
                let _ = task.await;
            }
        }
        Ok(())
    }
}

impl Extension for RemoteSamplingExtension {
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}
