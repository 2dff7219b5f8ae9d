//! [`QueuedExporter`]: the consumer the graph puts in front of every exporter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Backoff, ExporterSettings, MemoryQueue, QueueBackend, WhenFull};
use crate::component::{ComponentError, ConsumeError, Consumer, Exporter, Host};
use crate::data::Traces;
use crate::id::ComponentId;
use crate::telemetry::{ExporterMetrics, Telemetry};

pub struct QueuedExporter {
    id: ComponentId,
    exporter: Arc<dyn Exporter>,
    settings: ExporterSettings,
    queue: Option<Arc<dyn QueueBackend>>,
    metrics: ExporterMetrics,
    /// Set at the shutdown deadline: workers stop retrying and count what is left as failed.
    abandon: watch::Sender<bool>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    undelivered: AtomicU64,
}

impl QueuedExporter {
    /// Wraps `exporter` with an in-memory queue (when enabled), retry and timeout.
    pub fn new(
        id: ComponentId,
        exporter: Arc<dyn Exporter>,
        settings: ExporterSettings,
        telemetry: &Telemetry,
    ) -> Arc<Self> {
        let queue: Option<Arc<dyn QueueBackend>> = settings
            .sending_queue
            .enabled
            .then(|| Arc::new(MemoryQueue::new(settings.sending_queue.queue_size)) as Arc<dyn QueueBackend>);
        Self::with_backend(id, exporter, settings, queue, telemetry)
    }

    /// Wraps `exporter` with a given queue backend (`None`: export in the caller's task).
    pub fn with_backend(
        id: ComponentId,
        exporter: Arc<dyn Exporter>,
        settings: ExporterSettings,
        queue: Option<Arc<dyn QueueBackend>>,
        telemetry: &Telemetry,
    ) -> Arc<Self> {
        let metrics = telemetry.metrics.exporter(&id.to_string());
        if let Some(q) = &queue {
            metrics.queue_capacity.set(q.capacity() as i64);
        }
        Arc::new(Self {
            id,
            exporter,
            settings,
            queue,
            metrics,
            abandon: watch::channel(false).0,
            workers: Mutex::new(Vec::new()),
            undelivered: AtomicU64::new(0),
        })
    }

    pub fn id(&self) -> &ComponentId {
        &self.id
    }

    pub fn exporter(&self) -> &Arc<dyn Exporter> {
        &self.exporter
    }

    /// Spans given up on during the last shutdown because the deadline passed.
    pub fn undelivered_at_shutdown(&self) -> u64 {
        self.undelivered.load(Ordering::Relaxed)
    }

    /// Starts the exporter, then the queue workers.
    pub async fn start(self: &Arc<Self>, host: Arc<dyn Host>) -> Result<(), ComponentError> {
        self.exporter.start(host).await?;
        let Some(queue) = self.queue.clone() else { return Ok(()) };
        let mut workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        for _ in 0..self.settings.sending_queue.num_consumers {
            let this = self.clone();
            let queue = queue.clone();
            workers.push(tokio::spawn(async move { this.work(queue).await }));
        }
        Ok(())
    }

    async fn work(&self, queue: Arc<dyn QueueBackend>) {
        let mut abandon = self.abandon.subscribe();
        loop {
            let next = tokio::select! {
                item = queue.pop() => item,
                _ = abandon.wait_for(|a| *a) => None,
            };
            let Some((id, batch)) = next else { break };
            self.metrics.queue_size.set(queue.len() as i64);
            let _ = self.send(batch).await;
            queue.ack(id);
        }
    }

    /// Sends one batch with retry and timeout. Counts the outcome.
    async fn send(&self, batch: Traces) -> Result<(), ConsumeError> {
        let spans = batch.span_count() as u64;
        let retry = &self.settings.retry_on_failure;
        let started = Instant::now();
        let mut backoff = Backoff::new(retry);
        let mut abandon = self.abandon.subscribe();
        loop {
            let attempt = tokio::select! {
                r = tokio::time::timeout(self.settings.timeout.get(), self.exporter.export(batch.clone())) => {
                    r.unwrap_or_else(|_| Err(ConsumeError::retryable(format!("export timed out after {}", self.settings.timeout))))
                }
                _ = abandon.wait_for(|a| *a) => return Err(self.give_up_at_shutdown(spans)),
            };
            let err = match attempt {
                Ok(()) => {
                    self.metrics.sent.inc_by(spans);
                    return Ok(());
                }
                Err(e) => e,
            };
            if err.is_permanent() || !retry.enabled {
                self.metrics.send_failed.inc_by(spans);
                tracing::error!(exporter = %self.id, spans, error = %err, "dropping batch: {}", if err.is_permanent() { "permanent error" } else { "retries disabled" });
                return Err(err);
            }
            let wait = backoff.next_wait(err.retry_after());
            let limit = retry.max_elapsed_time.get();
            if !limit.is_zero() && started.elapsed() + wait > limit {
                self.metrics.send_failed.inc_by(spans);
                tracing::error!(exporter = %self.id, spans, error = %err, "dropping batch: no success after {:?}", started.elapsed());
                return Err(err);
            }
            tracing::warn!(exporter = %self.id, spans, error = %err, "export failed; retrying in {wait:?}");
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = abandon.wait_for(|a| *a) => return Err(self.give_up_at_shutdown(spans)),
            }
        }
    }

    fn give_up_at_shutdown(&self, spans: u64) -> ConsumeError {
        self.metrics.send_failed.inc_by(spans);
        self.undelivered.fetch_add(spans, Ordering::Relaxed);
        ConsumeError::retryable("shutting down")
    }

    /// Stops taking batches, lets the workers drain the queue until `deadline`, then gives up on
    /// the rest (counted and logged), and shuts the exporter down.
    pub async fn shutdown(&self, deadline: Instant) -> Result<(), ComponentError> {
        if let Some(queue) = &self.queue {
            queue.close();
            let workers: Vec<_> = std::mem::take(&mut *self.workers.lock().unwrap_or_else(|p| p.into_inner()));
            let mut all = futures::future::join_all(workers);
            let remaining = deadline.saturating_duration_since(Instant::now());
            if tokio::time::timeout(remaining, &mut all).await.is_err() {
                let _ = self.abandon.send(true);
                all.await;
            }
            while let Ok(Some((id, batch))) = tokio::time::timeout(Duration::ZERO, queue.pop()).await {
                self.give_up_at_shutdown(batch.span_count() as u64);
                queue.ack(id);
            }
            self.metrics.queue_size.set(0);
        }
        let lost = self.undelivered_at_shutdown();
        if lost > 0 {
            tracing::error!(exporter = %self.id, spans = lost, "spans could not be delivered before the shutdown timeout");
        }
        self.exporter.shutdown().await
    }
}

#[async_trait]
impl Consumer for QueuedExporter {
    async fn consume(&self, traces: Traces) -> Result<(), ConsumeError> {
        let Some(queue) = &self.queue else { return self.send(traces).await };
        let spans = traces.span_count() as u64;
        let outcome = match self.settings.sending_queue.when_full {
            WhenFull::DropNewest => match queue.try_push(traces) {
                Ok(()) => Ok(()),
                Err(_) => {
                    self.metrics.enqueue_failed.inc_by(spans);
                    tracing::warn!(exporter = %self.id, spans, "sending queue is full; dropping the newest batch");
                    Ok(())
                }
            },
            WhenFull::Block => match queue.push_wait(traces, self.settings.sending_queue.block_timeout.get()).await {
                Ok(()) => Ok(()),
                Err(_) => {
                    self.metrics.enqueue_failed.inc_by(spans);
                    Err(ConsumeError::retryable(format!("sending queue of exporter {} is full", self.id)))
                }
            },
        };
        self.metrics.queue_size.set(queue.len() as i64);
        outcome
    }
}
