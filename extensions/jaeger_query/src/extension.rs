//! The extension's life: at `start` it finds the storage exporter it was told to read (a
//! missing exporter, or one that is not a store, is a start error naming the id), binds the
//! port and serves; `shutdown` stops serving gracefully.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Mutex};
use tokio::task::JoinHandle;
use tracegate_core::{ComponentError, ComponentId, Extension, Host, Lifecycle};

use crate::api::ApiState;
use crate::config::Config;
use crate::router::router;

/// How long `shutdown` waits for in-flight queries before dropping them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

struct Running {
    local_addr: SocketAddr,
    /// Kept to end the live tails at shutdown: they would otherwise hold the graceful stop.
    state: Arc<ApiState>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

pub struct JaegerQueryExtension {
    id: String,
    config: Config,
    running: Mutex<Option<Running>>,
}

impl JaegerQueryExtension {
    pub fn new(id: String, config: Config) -> Self {
        Self { id, config, running: Mutex::new(None) }
    }

    /// The address actually bound (useful with port 0); `None` when not running.
    pub async fn local_addr(&self) -> Option<SocketAddr> {
        self.running.lock().await.as_ref().map(|r| r.local_addr)
    }
}

#[async_trait]
impl Lifecycle for JaegerQueryExtension {
    async fn start(&self, host: Arc<dyn Host>) -> Result<(), ComponentError> {
        let mut running = self.running.lock().await;
        if running.is_some() {
            return Ok(());
        }
        let storage = &self.config.storage;
        let id = ComponentId::parse(storage)
            .map_err(|e| ComponentError::Config(format!("storage \"{storage}\" is not a component id: {e}")))?;
        let exporter = host.exporter(&id).ok_or_else(|| {
            ComponentError::Config(format!("storage exporter \"{storage}\" is not configured (add it under exporters:)"))
        })?;
        let reader = exporter.trace_reader().ok_or_else(|| {
            ComponentError::Config(format!(
                "exporter \"{storage}\" is not a trace store; name a storage exporter such as sled or memory"
            ))
        })?;
        let endpoint = &self.config.http.endpoint;
        let bind_err = |source| ComponentError::Bind { endpoint: endpoint.to_string(), source };
        let listener = TcpListener::bind(endpoint.bind_addr()).await.map_err(bind_err)?;
        let local_addr = listener.local_addr().map_err(bind_err)?;
        let state = Arc::new(ApiState {
            reader,
            max_clock_skew: self.config.max_clock_skew_adjustment.get(),
            live: Default::default(),
        });
        let app = router(state.clone(), self.config.base_path.prefix());
        let (stop, stopped) = oneshot::channel::<()>();
        let ext_id = self.id.clone();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(extension = %ext_id, "query server stopped: {e}");
                host.status().report_failure(&ext_id, &format!("query server stopped: {e}"));
            }
        });
        let base = self.config.base_path.prefix().unwrap_or_default();
        tracing::info!(extension = %self.id, storage = %storage, "Jaeger query API on http://{local_addr}{base}/");
        *running = Some(Running { local_addr, state, stop, task });
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ComponentError> {
        let Some(Running { state, stop, mut task, .. }) = self.running.lock().await.take() else {
            return Ok(());
        };
        state.live.close();
        let _ = stop.send(());
        if tokio::time::timeout(DRAIN_TIMEOUT, &mut task).await.is_err() {
            tracing::warn!(extension = %self.id, "queries did not finish in {DRAIN_TIMEOUT:?}; closing them");
            task.abort();
            let _ = task.await;
        }
        Ok(())
    }
}

impl Extension for JaegerQueryExtension {}
