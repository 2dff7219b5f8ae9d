//! [`LoadBalancingExporter`]: routes each batch's spans to their backends' queues.
//!
//! An export cuts the batch by routing key ([`crate::route`]) and hands each piece to its
//! backend's queued `otlp` exporter; it succeeds when every piece was taken. A backend's queue
//! that refuses (full, or closing because the backend just left the ring) makes the export fail
//! retryably, so the sender sends the batch again. A full queue is seen before anything is
//! handed over ([`QueuedExporter::has_room_for`]), so then no backend takes a piece and the
//! retry sends nothing twice: while one backend is down and its queue full, the others are
//! not sent their share of every retried request again and again. Only a queue that fills
//! between that look and the push (or one that closes) leaves pieces taken by the others,
//! sent again with the retry (at least once, as the Collector's). A trace is never split over
//! two backends by a retry: the ring decides again and, unless the backends changed, decides
//! the same. The cutting and handing over is [`BackendSet::offer`], the one way in: a removed
//! backend's queue hands what it held over through it too.
//!
//! [`QueuedExporter::has_room_for`]: tracegate_core::queue::QueuedExporter::has_room_for

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracegate_core::telemetry::LogLimit;
use tracegate_core::{ComponentError, ComponentId, ConsumeError, Exporter, Host, Lifecycle, Traces};

use crate::backends::BackendSet;
use crate::metrics::LoadBalancerMetrics;
use crate::resolver::Resolver;

/// How long shutdown drains the backends' queues when the engine gave no deadline (the
/// default `service.shutdown_timeout`).
const DEFAULT_DRAIN: Duration = Duration::from_secs(30);

pub struct LoadBalancingExporter {
    id: ComponentId,
    resolver: Resolver,
    pub(crate) backends: Arc<BackendSet>,
    metrics: LoadBalancerMetrics,
    /// The DNS resolver's loop and the switch that stops it.
    watcher: Mutex<Option<(watch::Sender<bool>, JoinHandle<()>)>>,
    stopped: AtomicBool,
    resolve_log: Arc<LogLimit>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl LoadBalancingExporter {
    pub(crate) fn new(
        id: ComponentId,
        resolver: Resolver,
        backends: Arc<BackendSet>,
        metrics: LoadBalancerMetrics,
    ) -> Self {
        Self {
            id,
            resolver,
            backends,
            metrics,
            watcher: Mutex::new(None),
            stopped: AtomicBool::new(false),
            resolve_log: Arc::new(LogLimit::default()),
        }
    }

    /// The ring names of the backends routed to now.
    pub fn backends(&self) -> Vec<Arc<str>> {
        self.backends.routing().ring.backends().to_vec()
    }

    /// Resolves now and applies the answer; a failed lookup keeps the backends there are.
    async fn resolve_and_apply(
        resolver: &Resolver,
        backends: &BackendSet,
        metrics: &LoadBalancerMetrics,
        host: &Arc<dyn Host>,
        last: Option<&[Arc<str>]>,
        log: &LogLimit,
    ) -> Result<Option<Vec<Arc<str>>>, ComponentError> {
        let names = match resolver.resolve().await {
            Ok(names) => {
                metrics.resolved.inc();
                names
            }
            Err(e) => {
                metrics.resolve_failed.inc();
                if let Some(unlogged) = log.check() {
                    tracing::warn!(resolver = resolver.kind(), error = %e, unlogged, "cannot resolve the backends; keeping the ones there are");
                }
                return Ok(None);
            }
        };
        if last == Some(names.as_slice()) {
            return Ok(None);
        }
        metrics.updates.inc();
        tracing::info!(resolver = resolver.kind(), backends = ?names, "backends resolved");
        backends.update(&names, host).await?;
        Ok(Some(names))
    }

    fn watch(&self, host: Arc<dyn Host>, interval: Duration, mut last: Vec<Arc<str>>) {
        let (stop, mut stopped) = watch::channel(false);
        let (resolver, backends, metrics, log) =
            (self.resolver.clone(), self.backends.clone(), self.metrics.clone(), self.resolve_log.clone());
        let id = self.id.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = stopped.wait_for(|s| *s) => break,
                }
                match Self::resolve_and_apply(&resolver, &backends, &metrics, &host, Some(&last), &log).await {
                    Ok(Some(names)) => last = names,
                    Ok(None) => {}
                    Err(e) => tracing::error!(exporter = %id, error = %e, "some backends could not start; their keys go to the others"),
                }
            }
        });
        *lock(&self.watcher) = Some((stop, task));
    }
}

#[async_trait]
impl Lifecycle for LoadBalancingExporter {
    async fn start(&self, host: Arc<dyn Host>) -> Result<(), ComponentError> {
        // Before anything else: while an old instance holds the queues, this start fails and a
        // reload replaces that instance first (see `backends`).
        self.backends.lock_queue_root(&host)?;
        self.backends.started();
        let applied =
            Self::resolve_and_apply(&self.resolver, &self.backends, &self.metrics, &host, None, &self.resolve_log).await;
        let names = match (applied, &self.resolver) {
            (Ok(names), _) => names.unwrap_or_default(),
            // A static list that cannot start (a TLS file missing, ...) is a broken config.
            (Err(e), Resolver::Static(_)) => return Err(e),
            // DNS answers change; the backends that started are used, the others retried when
            // the answer changes.
            (Err(e), Resolver::Dns(_)) => {
                tracing::error!(exporter = %self.id, error = %e, "some backends could not start; their keys go to the others");
                self.backends()
            }
        };
        // Queues an earlier run left for backends this one does not route to.
        self.backends.adopt_left_queues(&host).await;
        if let Some(interval) = self.resolver.interval() {
            self.watch(host, interval, names);
        }
        Ok(())
    }

    /// Stops resolving, then drains every backend's queue until the engine's shutdown deadline.
    async fn shutdown(&self) -> Result<(), ComponentError> {
        if self.stopped.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let watcher = lock(&self.watcher).take();
        if let Some((stop, task)) = watcher {
            let _ = stop.send(true);
            if let Err(e) = task.await {
                tracing::warn!(exporter = %self.id, "resolver task: {e}");
            }
        }
        let deadline = tracegate_core::queue::shutdown_deadline().unwrap_or_else(|| Instant::now() + DEFAULT_DRAIN);
        self.backends.shutdown(deadline).await;
        Ok(())
    }
}

#[async_trait]
impl Exporter for LoadBalancingExporter {
    async fn export(&self, traces: Traces) -> Result<(), ConsumeError> {
        self.backends.offer(traces).await
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    /// Each backend has its own queue; the engine adds none in front (see the crate docs).
    fn queues_per_destination(&self) -> bool {
        true
    }
}
