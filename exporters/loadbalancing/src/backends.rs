//! The running backends: one `otlp` exporter per backend, each behind the engine's own
//! [`QueuedExporter`], so every backend has the sending queue, retries and timeout of any
//! exporter (`protocol.otlp.sending_queue` / `retry_on_failure` / `timeout`) and its own
//! `tracegate_exporter_*` metrics, labelled `loadbalancing[/name]/<backend>`.
//!
//! A backend that appears is created and started before the ring that routes to it is put in
//! place; a backend that leaves is taken out of the ring first, then drained and stopped in the
//! background, so a batch it already accepted is still delivered (retried as its settings say)
//! and nothing waits for it. An export that raced with the change and reached a backend already
//! closing is refused there, and its sender retries against the new ring.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tracegate_core::queue::QueuedExporter;
use tracegate_core::telemetry::Telemetry;
use tracegate_core::{ComponentError, ComponentId, CreateContext, ExporterFactory, Host};
use tracegate_exporter_otlp::OtlpGrpcExporterFactory;

use crate::config::{endpoint_with_port, OtlpTemplate};
use crate::metrics::LoadBalancerMetrics;
use crate::ring::Ring;

/// What an export routes with: a ring and, at the same indexes as `ring.backends()`, the
/// backends' exporters. Swapped whole, so an export never sees a ring without its exporters.
#[derive(Default)]
pub struct Routing {
    pub ring: Ring,
    pub backends: Vec<Arc<QueuedExporter>>,
}

pub struct BackendSet {
    id: ComponentId,
    template: OtlpTemplate,
    telemetry: Arc<Telemetry>,
    metrics: LoadBalancerMetrics,
    current: RwLock<Arc<Routing>>,
    /// The running backends by ring name.
    live: Mutex<BTreeMap<Arc<str>, Arc<QueuedExporter>>>,
    /// Backends that left, draining.
    leaving: Mutex<Vec<JoinHandle<()>>>,
    /// One change at a time (the resolver's task, start and shutdown may overlap).
    changing: tokio::sync::Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl BackendSet {
    pub fn new(id: ComponentId, template: OtlpTemplate, telemetry: Arc<Telemetry>, metrics: LoadBalancerMetrics) -> Self {
        Self {
            id,
            template,
            telemetry,
            metrics,
            current: RwLock::new(Arc::default()),
            live: Mutex::new(BTreeMap::new()),
            leaving: Mutex::new(Vec::new()),
            changing: tokio::sync::Mutex::new(()),
        }
    }

    /// The ring and exporters to route one batch with.
    pub fn routing(&self) -> Arc<Routing> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The id a backend's exporter is known by in metrics, logs and a disk queue's directory:
    /// `loadbalancing/<backend>` or `loadbalancing/<name>_<backend>`.
    fn backend_id(&self, name: &str) -> ComponentId {
        let label = match self.id.name() {
            Some(lb) => format!("{lb}_{name}"),
            None => name.to_string(),
        };
        ComponentId::new(self.id.type_name(), Some(label))
    }

    fn create(&self, name: &str) -> Result<Arc<QueuedExporter>, ComponentError> {
        let id = self.backend_id(name);
        let config = self.template.for_endpoint(&endpoint_with_port(name));
        let exporter = OtlpGrpcExporterFactory.create(CreateContext::new(id.clone(), self.telemetry.clone()), config)?;
        Ok(QueuedExporter::new(id, exporter, self.template.settings.clone(), &self.telemetry))
    }

    /// Makes `names` the backends: starts the new ones, routes to exactly `names`, and drains
    /// the ones that left. A new backend that cannot be built or started is left out of the
    /// ring (its keys go to the others) and its error returned, after the rest took effect.
    pub async fn update(&self, names: &[Arc<str>], host: &Arc<dyn Host>) -> Result<(), ComponentError> {
        let _one_at_a_time = self.changing.lock().await;
        let mut failed = Vec::new();
        let existing: BTreeMap<Arc<str>, Arc<QueuedExporter>> = lock(&self.live).clone();
        let mut next: BTreeMap<Arc<str>, Arc<QueuedExporter>> = BTreeMap::new();
        for name in names {
            if let Some(running) = existing.get(name) {
                next.insert(name.clone(), running.clone());
                continue;
            }
            let started = match self.create(name) {
                Ok(backend) => backend.start(host.clone()).await.map(|()| backend),
                Err(e) => Err(e),
            };
            match started {
                Ok(backend) => {
                    tracing::info!(exporter = %self.id, backend = %name, "backend added");
                    next.insert(name.clone(), backend);
                }
                Err(e) => {
                    tracing::error!(exporter = %self.id, backend = %name, error = %e, "backend left out: it could not start");
                    failed.push(format!("backend {name}: {e}"));
                }
            }
        }
        let leaving: Vec<(Arc<str>, Arc<QueuedExporter>)> =
            existing.into_iter().filter(|(name, _)| !next.contains_key(name)).collect();
        let routing = Routing {
            ring: Ring::new(next.keys().cloned()),
            backends: next.values().cloned().collect(),
        };
        self.metrics.backends.set(i64::try_from(routing.backends.len()).unwrap_or(i64::MAX));
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(routing);
        *lock(&self.live) = next;
        for (name, backend) in leaving {
            tracing::info!(exporter = %self.id, backend = %name, "backend removed; draining what it holds");
            let deadline = Instant::now() + self.drain_time();
            lock(&self.leaving).push(tokio::spawn(async move {
                if let Err(e) = backend.shutdown(deadline).await {
                    tracing::warn!(backend = %name, error = %e, "backend shutdown: {e}");
                }
            }));
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(ComponentError::other(failed.join("; ")))
        }
    }

    /// How long a backend that left keeps trying to deliver what it holds: as long as its
    /// retries would have (`max_elapsed_time`), at least one `timeout`.
    fn drain_time(&self) -> Duration {
        let s = &self.template.settings;
        let retries = if s.retry_on_failure.enabled { s.retry_on_failure.max_elapsed_time.get() } else { Duration::ZERO };
        // 0 means "retry forever"; a backend that is gone would hold its batches forever.
        let retries = if retries.is_zero() && s.retry_on_failure.enabled { Duration::from_secs(300) } else { retries };
        retries.max(s.timeout.get())
    }

    /// Drains and stops every backend until `deadline`; safe to call again.
    pub async fn shutdown(&self, deadline: Instant) {
        let _one_at_a_time = self.changing.lock().await;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::default();
        self.metrics.backends.set(0);
        let live: Vec<(Arc<str>, Arc<QueuedExporter>)> = std::mem::take(&mut *lock(&self.live)).into_iter().collect();
        let stops = live.iter().map(|(name, backend)| async move {
            if let Err(e) = backend.shutdown(deadline).await {
                tracing::warn!(exporter = %self.id, backend = %name, "shutdown: {e}");
            }
        });
        futures::future::join_all(stops).await;
        let leaving: Vec<JoinHandle<()>> = std::mem::take(&mut *lock(&self.leaving));
        for handle in leaving {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let abort = handle.abort_handle();
            if tokio::time::timeout(remaining, handle).await.is_err() {
                tracing::warn!(exporter = %self.id, "a removed backend was still draining at shutdown; what it held is lost");
                abort.abort();
            }
        }
    }
}
