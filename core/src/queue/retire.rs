//! Retiring a sending queue whose destination is no longer wanted, for an exporter that routes
//! between several destinations of its own: the `loadbalancing` exporter, when a backend
//! leaves its ring. What the queue holds was acknowledged to a sender, so it must not be
//! dropped, and its old destination may be gone for good (a DNS answer without it, a
//! reloaded static list): waiting for it, as a shutdown does, would hold the spans until
//! the retries give up, and a persistent queue would keep them on disk for a start that
//! never comes.
//!
//! The rule: the queue takes no more batches; each batch being sent finishes its attempt
//! (delivered if the old destination answers, within `timeout`), without a second try;
//! everything else, the failed attempts and what still waits, is handed to `reroute`, the
//! caller's routing as it is now, oldest first, and acknowledged in the queue once taken.
//! A refusal there (a full queue) is tried again until the deadline; past it, what is left
//! is counted as lost, or, in a persistent queue, kept on disk. A persistent queue that
//! ends empty has its files removed.
//!
//! The owner may shut down while a retire runs (the `loadbalancing` exporter stopping while
//! a removed backend hands its spans over): [`QueuedExporter::cut_retire_short`] brings the
//! deadline forward to the shutdown's, and the retire ends there the same way, counting
//! what it could not hand over, instead of being cut off with nothing counted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::{QueuedExporter, SHUTDOWN_DEADLINE};
use crate::component::{ComponentError, ConsumeError, Consumer};
use crate::data::Traces;
use crate::queue::QueueBackend;

/// What retiring a queue did with what it held.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retired {
    /// Spans handed to the new routing.
    pub rerouted_spans: u64,
    /// Spans neither delivered nor rerouted before the deadline, given up on (memory queue).
    pub lost_spans: u64,
    /// Batches left on disk (persistent queue) because the deadline passed first.
    pub kept_batches: u64,
    /// Whether a persistent queue's files were removed (it ended empty).
    pub files_removed: bool,
}

/// The first pause before a refused handover is tried again; it doubles up to a second.
const FIRST_PAUSE: Duration = Duration::from_millis(20);

impl QueuedExporter {
    /// Retires this queue (see the module docs): what it holds goes to `reroute` by
    /// `deadline`, then the exporter is shut down. Instead of [`QueuedExporter::shutdown`],
    /// not after it.
    pub async fn retire(&self, reroute: &dyn Consumer, deadline: Instant) -> Result<Retired, ComponentError> {
        let mut deadline = Deadline { given: deadline, cut: self.retire_cut.subscribe() };
        let Some(queue) = self.queue.get().cloned() else {
            // Without a queue nothing is held here: each sender waits for its own outcome.
            self.shutdown(deadline.at()).await?;
            return Ok(Retired::default());
        };
        queue.close();
        // Stored even when no worker listens now (`send` would drop it then).
        self.retiring.send_replace(true);
        let workers: Vec<_> = std::mem::take(&mut *self.workers.lock().unwrap_or_else(|p| p.into_inner()));
        let mut all = futures::future::join_all(workers);
        tokio::select! {
            _ = &mut all => {}
            () = deadline.passed() => {
                self.abandon.send_replace(true);
                all.await;
            }
        }
        // Popped first, so older than what still waits.
        let mut held = std::mem::take(&mut *self.handed_back.lock().unwrap_or_else(|p| p.into_inner()));
        held.sort_by_key(|(id, _)| *id);
        while let Ok(Some(item)) = tokio::time::timeout(Duration::ZERO, queue.pop()).await {
            held.push(item);
        }
        let mut out = Retired::default();
        for (id, batch) in held {
            let spans = batch.span_count() as u64;
            match hand_over(reroute, batch, &mut deadline).await {
                Ok(()) => {
                    queue.ack(id);
                    out.rerouted_spans += spans;
                }
                Err(e) if queue.is_persistent() => {
                    out.kept_batches += 1;
                    tracing::warn!(exporter = %self.id, spans, error = %e, "retired queue: a batch could not be rerouted; it stays on disk");
                }
                Err(e) => {
                    queue.ack(id);
                    self.metrics.send_failed.inc_by(spans);
                    self.undelivered.fetch_add(spans, std::sync::atomic::Ordering::Relaxed);
                    out.lost_spans += spans;
                    tracing::error!(exporter = %self.id, spans, error = %e, "retired queue: a batch could not be rerouted before the deadline; spans lost");
                }
            }
        }
        out.files_removed = remove_files_if_empty(&queue, &self.id.to_string());
        queue.release();
        self.metrics.queue_size.set(0);
        SHUTDOWN_DEADLINE.scope(deadline.at(), self.exporter.shutdown()).await?;
        Ok(out)
    }

    /// Brings the deadline of a retire running now (or started later) forward to `deadline`
    /// when that is earlier: what it has not handed over by then is counted as lost (kept on
    /// disk in a persistent queue), as at its own deadline.
    pub fn cut_retire_short(&self, deadline: Instant) {
        self.retire_cut.send_modify(|cut| *cut = Some(cut.map_or(deadline, |c| c.min(deadline))));
    }
}

/// A retire's deadline: the one it was given, or an earlier one set while it runs.
struct Deadline {
    given: Instant,
    cut: watch::Receiver<Option<Instant>>,
}

impl Deadline {
    fn at(&self) -> Instant {
        self.cut.borrow().map_or(self.given, |c| c.min(self.given))
    }

    /// Returns once the deadline, as it is by then, has passed.
    async fn passed(&mut self) {
        loop {
            let at = self.at();
            tokio::select! {
                () = tokio::time::sleep_until(at.into()) => return,
                changed = self.cut.changed() => {
                    if changed.is_err() {
                        // Nobody can cut it any more: the one there is stands.
                        tokio::time::sleep_until(self.at().into()).await;
                        return;
                    }
                }
            }
        }
    }
}

/// Offers `batch` to `reroute` until it is taken, refused for good, or `deadline` passes.
async fn hand_over(reroute: &dyn Consumer, batch: Traces, deadline: &mut Deadline) -> Result<(), ConsumeError> {
    let mut pause = FIRST_PAUSE;
    loop {
        let err = match reroute.consume(batch.clone()).await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_permanent() => return Err(e),
            Err(e) => e,
        };
        let wait = err.retry_after().unwrap_or(pause).min(Duration::from_secs(1));
        if Instant::now() + wait > deadline.at() {
            return Err(err);
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = deadline.passed() => return Err(err),
        }
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

fn remove_files_if_empty(queue: &Arc<dyn QueueBackend>, exporter: &str) -> bool {
    if !queue.is_persistent() || !queue.is_empty() {
        return false;
    }
    match queue.remove_files() {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(exporter, error = %e, "retired queue: cannot remove its files");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::atomic::{AtomicBool, Ordering};

    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    use super::*;
    use crate::id::ComponentId;
    use crate::queue::{DiskQueue, ExporterSettings, MemoryQueue};
    use crate::telemetry::Telemetry;
    use crate::testing::{RecordingConsumer, TestHost};

    /// A destination that is down (refuses every attempt) or up, counting what it got.
    type Destination = crate::queue::exporter::tests::Store;

    fn down() -> Arc<Destination> {
        Arc::new(Destination { fail: AtomicBool::new(true), ..Default::default() })
    }

    fn spans(n: usize) -> Traces {
        let rs = ResourceSpans {
            scope_spans: vec![ScopeSpans { spans: vec![Span { trace_id: vec![1; 16], span_id: vec![2; 8], ..Default::default() }; n], ..Default::default() }],
            ..Default::default()
        };
        Traces::new(vec![rs])
    }

    /// Retries that would go on for a minute, one worker.
    fn settings() -> ExporterSettings {
        serde_yaml_ng::from_str("{sending_queue: {sizer: requests, queue_size: 100, num_consumers: 1}, retry_on_failure: {initial_interval: 10ms, max_elapsed_time: 60s}}").unwrap()
    }

    async fn started(destination: &Arc<Destination>, queue: Arc<dyn QueueBackend>) -> Arc<QueuedExporter> {
        let queued = QueuedExporter::with_backend(ComponentId::new("backend", None), destination.clone(), settings(), Some(queue), &Telemetry::new());
        queued.start(TestHost::new()).await.unwrap();
        queued
    }

    async fn until(mut done: impl FnMut() -> bool) {
        let start = Instant::now();
        while !done() {
            assert!(start.elapsed() < Duration::from_secs(20), "gave up waiting");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn what_a_dead_destination_holds_is_rerouted_at_once_not_retried_until_the_deadline() {
        let destination = down();
        let queued = started(&destination, Arc::new(MemoryQueue::new(100))).await;
        for n in [1, 2, 3] {
            queued.consume(spans(n)).await.unwrap();
        }
        // The first batch is being retried; the others wait.
        until(|| destination.attempts.load(Ordering::Relaxed) >= 2).await;
        let elsewhere = RecordingConsumer::ok();
        let began = Instant::now();
        let retired = queued.retire(elsewhere.as_ref(), Instant::now() + Duration::from_secs(60)).await.unwrap();
        assert!(began.elapsed() < Duration::from_secs(10), "retire waited for the retries ({:?})", began.elapsed());
        assert_eq!(retired.rerouted_spans, 6);
        assert_eq!(retired.lost_spans, 0);
        let sizes: Vec<usize> = elsewhere.batches().iter().map(Traces::span_count).collect();
        assert_eq!(sizes, [1, 2, 3], "every batch once, oldest first");
        assert_eq!(queued.metrics.send_failed.get(), 0, "nothing counted as failed");
    }

    #[tokio::test]
    async fn a_live_destination_finishes_what_it_is_sending_and_the_rest_goes_elsewhere() {
        let destination = Arc::new(Destination::default());
        let queued = started(&destination, Arc::new(MemoryQueue::new(100))).await;
        queued.consume(spans(4)).await.unwrap();
        until(|| destination.stored.load(Ordering::Relaxed) == 4).await;
        let elsewhere = RecordingConsumer::ok();
        let retired = queued.retire(elsewhere.as_ref(), Instant::now() + Duration::from_secs(60)).await.unwrap();
        assert_eq!(retired, Retired::default(), "nothing was left to reroute");
        assert!(elsewhere.batches().is_empty());
        assert!(queued.consume(spans(1)).await.is_err(), "a retired queue takes nothing");
    }

    #[tokio::test]
    async fn a_persistent_queue_reroutes_its_batches_and_its_files_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exporter_backend_traces");
        let destination = down();
        let queue = Arc::new(DiskQueue::open(&path, 100, false).unwrap());
        let queued = started(&destination, queue).await;
        queued.consume(spans(2)).await.unwrap();
        queued.consume(spans(5)).await.unwrap();
        assert!(path.exists());
        let elsewhere = RecordingConsumer::ok();
        let retired = queued.retire(elsewhere.as_ref(), Instant::now() + Duration::from_secs(60)).await.unwrap();
        assert_eq!((retired.rerouted_spans, retired.files_removed), (7, true));
        assert_eq!(elsewhere.batches().iter().map(Traces::span_count).sum::<usize>(), 7);
        assert!(!path.exists(), "the queue's files are left behind");
    }

    #[tokio::test]
    async fn past_the_deadline_a_memory_queue_counts_the_rest_lost_and_a_persistent_one_keeps_it() {
        let refusing = RecordingConsumer::failing(ConsumeError::retryable("full"));
        let destination = down();
        let queued = started(&destination, Arc::new(MemoryQueue::new(100))).await;
        queued.consume(spans(3)).await.unwrap();
        let retired = queued.retire(refusing.as_ref(), Instant::now() + Duration::from_millis(200)).await.unwrap();
        assert_eq!((retired.rerouted_spans, retired.lost_spans), (0, 3));
        assert_eq!(queued.metrics.send_failed.get(), 3);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q");
        let queued = started(&destination, Arc::new(DiskQueue::open(&path, 100, false).unwrap())).await;
        queued.consume(spans(3)).await.unwrap();
        let retired = queued.retire(refusing.as_ref(), Instant::now() + Duration::from_millis(200)).await.unwrap();
        assert_eq!((retired.kept_batches, retired.files_removed), (1, false));
        let reopened = DiskQueue::open(&path, 100, false).unwrap();
        assert_eq!(reopened.len(), 1, "the batch waits on disk");
    }
}
