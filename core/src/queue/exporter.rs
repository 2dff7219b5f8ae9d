//! [`QueuedExporter`]: the consumer the graph puts in front of every exporter.
//!
//! # Acknowledged = stored, for a durable exporter
//!
//! An in-memory queue answers its sender as soon as it holds the batch, so everything queued
//! is lost when the process is killed although the client was told it was accepted. For an
//! exporter whose success means "durable" ([`Exporter::durable_on_success`]: a store that
//! synced the batch), an in-memory queue would break the very promise the store makes. So in
//! front of such an exporter `sending_queue` (in memory) does not queue: each batch is
//! exported in its sender's task, at most `num_consumers` at a time, one attempt within
//! `timeout`, and the outcome is the answer. `queue_size` still bounds what waits for a turn
//! or is being exported (in the sizer's unit, bytes by default), and `when_full` says what
//! happens to a batch that does not fit, as for a queue.
//! A failure goes back to the client as a retryable refusal (it retries; nothing accepted is
//! dropped) instead of being retried here while the client believes it stored. The store's
//! group commit (many concurrent batches share one sync) and the batch processor's early send
//! (`batch` sends what it holds when the store is idle) keep this fast. A persistent queue
//! (`storage:`) still queues: a batch in its files survives a kill, and is acknowledged in
//! the queue only once the durable export succeeded.
//!
//! # Backpressure
//!
//! A batch that does not fit is refused with a retryable error (`when_full: refuse`, the
//! default, or `block` after `block_timeout`), which the receivers answer with gRPC
//! UNAVAILABLE and `RetryInfo` / HTTP 503 with `Retry-After`: the client backs off and sends
//! it again. It is counted in `tracegate_exporter_enqueue_failed_spans`. Only an explicit
//! `when_full: drop_newest` answers OK for a batch it then drops.
//!
//! This file holds the configuration, start, intake and shutdown; the queue's send loop is in
//! `send.rs`, the in-sender exports of a durable exporter in `direct.rs`, retirement in
//! `retire.rs`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

use super::budget::Budget;
use super::{DiskQueue, ExporterSettings, MemoryQueue, QueueBackend, QueueStorage, WhenFull};
use crate::component::{ComponentError, ConsumeError, Consumer, Exporter, Host};
use crate::data::Traces;
use crate::id::ComponentId;
use crate::telemetry::{ExporterMetrics, LogLimit, Telemetry};

tokio::task_local! {
    /// The deadline of the exporter shutdown running in this task (see [`shutdown_deadline`]).
    static SHUTDOWN_DEADLINE: Instant;
}

/// The deadline the engine gave the shutdown of the exporter being shut down now, for an
/// exporter that drains queues of its own behind `export` (the `loadbalancing` exporter keeps
/// one per backend): it stops trying at the same moment the engine's own queue does. `None`
/// outside such a shutdown (a test calling `shutdown` directly).
pub fn shutdown_deadline() -> Option<Instant> {
    SHUTDOWN_DEADLINE.try_with(|d| *d).ok()
}

/// A gauge's value for a size in sizer units (saturating: a gauge is an `i64`).
fn gauge_value(size: u64) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

pub struct QueuedExporter {
    id: ComponentId,
    exporter: Arc<dyn Exporter>,
    settings: ExporterSettings,
    /// Set at creation for the memory queue, at `start` for a disk queue (it needs the
    /// `file_storage` extension, which only the running host can hand out). Never set when
    /// the queue is disabled.
    queue: OnceLock<Arc<dyn QueueBackend>>,
    /// Instead of a memory queue, for a durable exporter: export in the sender's task (see
    /// the module docs). Set at creation, or at `start` for an exporter that learns its store
    /// there (`jaeger_storage_exporter` finds its backend through the host).
    direct: OnceLock<Direct>,
    metrics: ExporterMetrics,
    /// Set at the shutdown deadline: workers stop retrying and count what is left as failed.
    abandon: watch::Sender<bool>,
    /// Set by [`QueuedExporter::retire`]: workers take no more batches, and one whose attempt
    /// fails is handed back (into `handed_back`) instead of being retried.
    retiring: watch::Sender<bool>,
    handed_back: Mutex<Vec<(u64, Traces)>>,
    /// An earlier deadline for a running [`QueuedExporter::retire`] (its owner shuts down).
    retire_cut: watch::Sender<Option<Instant>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    undelivered: AtomicU64,
    /// Serialises reading the queue's length and setting the gauge, so that concurrent
    /// workers cannot leave an older reading in it after a newer one.
    gauge: Mutex<()>,
    /// One line per interval for failed exports (retried, or refused to the sender) and for
    /// dropped batches: under overload or a dead backend each batch is the same news, and
    /// the metrics count every one.
    failure_log: LogLimit,
    drop_log: LogLimit,
}

impl QueuedExporter {
    /// Wraps `exporter` with its queue (when enabled: in memory, or on disk when
    /// `sending_queue.storage` is set, opened at `start`), retry and timeout.
    pub fn new(
        id: ComponentId,
        exporter: Arc<dyn Exporter>,
        settings: ExporterSettings,
        telemetry: &Telemetry,
    ) -> Arc<Self> {
        let q = &settings.sending_queue;
        let in_memory = q.enabled && q.storage.is_none();
        // A durable exporter's answer must wait for the store; an exporter with queues of its
        // own answers from them (`Exporter::queues_per_destination`).
        if in_memory && (exporter.durable_on_success() || exporter.queues_per_destination()) {
            let this = Self::build(id, exporter, settings, None, telemetry);
            this.go_direct();
            return Arc::new(this);
        }
        let queue: Option<Arc<dyn QueueBackend>> = in_memory.then(|| {
            let memory = telemetry.metrics.pipeline_memory();
            Arc::new(MemoryQueue::sized(q.sizer, q.queue_size).counting_in(memory))
                as Arc<dyn QueueBackend>
        });
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
        Arc::new(Self::build(id, exporter, settings, queue, telemetry))
    }

    fn build(
        id: ComponentId,
        exporter: Arc<dyn Exporter>,
        settings: ExporterSettings,
        queue: Option<Arc<dyn QueueBackend>>,
        telemetry: &Telemetry,
    ) -> Self {
        let metrics = telemetry.metrics.exporter(&id.to_string());
        let cell = OnceLock::new();
        if let Some(q) = queue {
            metrics.queue_capacity.set(gauge_value(q.capacity()));
            let _ = cell.set(q);
        }
        Self {
            id,
            exporter,
            settings,
            queue: cell,
            direct: OnceLock::new(),
            metrics,
            abandon: watch::channel(false).0,
            retiring: watch::channel(false).0,
            handed_back: Mutex::new(Vec::new()),
            retire_cut: watch::channel(None).0,
            workers: Mutex::new(Vec::new()),
            undelivered: AtomicU64::new(0),
            gauge: Mutex::new(()),
            failure_log: LogLimit::default(),
            drop_log: LogLimit::default(),
        }
    }

    pub fn id(&self) -> &ComponentId {
        &self.id
    }

    pub fn exporter(&self) -> &Arc<dyn Exporter> {
        &self.exporter
    }

    /// Sets `tracegate_exporter_queue_size` to what the queue holds now, in its sizer's unit.
    /// A batch counts until it is acknowledged (a disk queue keeps it on disk until then, a
    /// memory queue keeps its room), so this runs after every push, pop and ack: the gauge
    /// returns to 0 once everything is delivered.
    fn update_queue_size(&self, queue: &dyn QueueBackend) {
        let _serial = self.gauge.lock().unwrap_or_else(|p| p.into_inner());
        self.metrics.queue_size.set(gauge_value(queue.size()));
    }

    /// Spans given up on during the last shutdown because the deadline passed.
    pub fn undelivered_at_shutdown(&self) -> u64 {
        self.undelivered.load(Ordering::Relaxed)
    }

    /// Exports in the senders' tasks from now on, bounded by `num_consumers` and `queue_size`
    /// (see the module docs); the memory queue, if one was made, stays empty.
    fn go_direct(&self) {
        let q = &self.settings.sending_queue;
        let direct = Direct { turns: Semaphore::new(q.num_consumers.max(1)), budget: Budget::new(q.queue_size) };
        self.metrics.queue_capacity.set(gauge_value(direct.budget.capacity()));
        let _ = self.direct.set(direct);
    }

    /// Starts the exporter, opens a disk queue, then starts the queue workers.
    pub async fn start(self: &Arc<Self>, host: Arc<dyn Host>) -> Result<(), ComponentError> {
        if let Some(storage) = &self.settings.sending_queue.storage {
            if self.queue.get().is_none() {
                let queue = self.open_disk_queue(&*host, storage).await?;
                self.metrics.queue_capacity.set(gauge_value(queue.capacity()));
                self.update_queue_size(&*queue);
                let _ = self.queue.set(queue);
            }
        }
        self.exporter.start(host).await?;
        let q = &self.settings.sending_queue;
        if q.enabled && q.storage.is_none() && self.exporter.durable_on_success() {
            // Durable only once it found its store (`jaeger_storage_exporter`): nothing was
            // queued before the start (receivers start last), so switching now is safe.
            if self.direct.get().is_none() {
                self.go_direct();
            }
            return Ok(());
        }
        let Some(queue) = self.queue.get().cloned() else {
            return Ok(());
        };
        let mut workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        for _ in 0..self.settings.sending_queue.num_consumers {
            let this = self.clone();
            let queue = queue.clone();
            workers.push(tokio::spawn(async move { this.work(queue).await }));
        }
        Ok(())
    }

    async fn open_disk_queue(
        &self,
        host: &dyn Host,
        storage: &str,
    ) -> Result<Arc<dyn QueueBackend>, ComponentError> {
        let files = host.capability::<dyn QueueStorage>(storage).map_err(|e| {
            ComponentError::other(format!("sending_queue.storage: {e}; name a file_storage extension"))
        })?;
        let q = &self.settings.sending_queue;
        let (dir, fsync, sizer, capacity) = (
            files.queue_directory(&self.id),
            files.fsync(),
            q.sizer,
            q.queue_size,
        );
        // Reopening scans the segments: file I/O, off the async workers.
        let queue =
            tokio::task::spawn_blocking(move || DiskQueue::open_sized(&dir, sizer, capacity, fsync))
            .await
            .map_err(ComponentError::other)?
            .map_err(ComponentError::other)?;
        Ok(Arc::new(queue))
    }

    /// Whether `batch` would be taken now rather than refused: false only when `when_full` is
    /// `refuse` and the batch does not fit in what is free (a batch larger than the whole
    /// queue fits an empty one). For a caller that hands the pieces of one batch to several
    /// exporters and would rather refuse the batch than have some pieces taken and the rest
    /// sent again with the sender's retry (the `loadbalancing` exporter). A hint: room may be
    /// taken or freed before the push.
    pub fn has_room_for(&self, batch: &Traces) -> bool {
        let q = &self.settings.sending_queue;
        if q.when_full != WhenFull::Refuse {
            return true;
        }
        let capacity = match (self.direct.get(), self.queue.get()) {
            (Some(direct), _) => direct.budget.capacity(),
            (None, Some(queue)) => queue.capacity(),
            (None, None) => return true,
        };
        let held = self.held_now();
        held == 0 || held.saturating_add(q.sizer.size_of(batch)) <= capacity
    }

    /// What the exporter stage holds now, in the sizer's unit.
    fn held_now(&self) -> u64 {
        if let Some(direct) = self.direct.get() {
            return direct.budget.used();
        }
        self.queue.get().map_or(0, |q| q.size())
    }

    /// Stops taking batches, lets the workers drain the queue until `deadline`, then gives up on
    /// the rest (counted and logged), and shuts the exporter down. A persistent queue keeps
    /// what is left and lets go of its directory. Within [`QueuedExporter::hand_over`], a
    /// persistent queue is not drained: the new instance delivers it.
    pub async fn shutdown(&self, deadline: Instant) -> Result<(), ComponentError> {
        if let Some(queue) = self.queue.get() {
            queue.close();
            let handing_over = queue.is_persistent() && handover::in_progress();
            if handing_over {
                // Workers take nothing more; a batch being sent finishes its attempt, and one
                // that fails stays on disk unacknowledged (see `handover`).
                self.retiring.send_replace(true);
            }
            let workers: Vec<_> =
                std::mem::take(&mut *self.workers.lock().unwrap_or_else(|p| p.into_inner()));
            let mut all = futures::future::join_all(workers);
            let remaining = deadline.saturating_duration_since(Instant::now());
            if tokio::time::timeout(remaining, &mut all).await.is_err() {
                let _ = self.abandon.send(true);
                all.await;
            }
            // What is left in a persistent queue waits on disk for the next start.
            while !queue.is_persistent() {
                let Ok(Some((id, batch))) = tokio::time::timeout(Duration::ZERO, queue.pop()).await
                else {
                    break;
                };
                self.give_up_at_shutdown(batch.span_count() as u64, false);
                queue.ack(id);
            }
            if queue.is_persistent() && !queue.is_empty() {
                let next = if handing_over { "the new instance" } else { "the next start" };
                tracing::info!(exporter = %self.id, batches = queue.len(), "batches not yet delivered stay in the persistent queue for {next}");
            }
            self.handed_back.lock().unwrap_or_else(|p| p.into_inner()).clear();
            queue.release();
            self.metrics.queue_size.set(0);
        }
        let lost = self.undelivered_at_shutdown();
        if lost > 0 {
            tracing::error!(exporter = %self.id, spans = lost, "spans could not be delivered before the shutdown timeout");
        }
        SHUTDOWN_DEADLINE.scope(deadline, self.exporter.shutdown()).await
    }
}

#[async_trait]
impl Consumer for QueuedExporter {
    async fn consume(&self, traces: Traces) -> Result<(), ConsumeError> {
        if let Some(direct) = self.direct.get() {
            return self.export_for_sender(direct, traces).await;
        }
        let Some(queue) = self.queue.get() else {
            if self.settings.sending_queue.enabled {
                return Err(ConsumeError::retryable(format!(
                    "exporter {} has not started",
                    self.id
                )));
            }
            return self.send(traces, false).await.map_err(Sent::into_error);
        };
        let spans = traces.span_count() as u64;
        let pushed = match self.settings.sending_queue.when_full {
            WhenFull::Refuse | WhenFull::DropNewest => queue.try_push(traces),
            WhenFull::Block => {
                queue
                    .push_wait(traces, self.settings.sending_queue.block_timeout.get())
                    .await
            }
        };
        let outcome = match pushed {
            Ok(()) => Ok(()),
            Err(_) => self.refuse_or_drop(spans),
        };
        self.update_queue_size(&**queue);
        outcome
    }
}

#[path = "direct.rs"]
mod direct;
#[path = "retire.rs"]
mod retire;
#[path = "send.rs"]
mod send;
use direct::Direct;
use send::Sent;
pub use retire::Retired;

#[path = "handover.rs"]
mod handover;

#[cfg(test)]
#[path = "exporter_tests.rs"]
mod tests;
