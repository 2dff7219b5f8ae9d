//! The queue's send loop ([`QueuedExporter`]'s workers): take a batch from the queue, export
//! it with retry and timeout until it is delivered, refused for good, handed back (the queue
//! is being retired) or abandoned at the shutdown deadline, and acknowledge it in the queue
//! accordingly.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::super::{Backoff, QueueBackend};
use super::QueuedExporter;
use crate::component::ConsumeError;
use crate::data::Traces;

/// Why a batch was not delivered.
pub(super) enum Sent {
    Failed(ConsumeError),
    /// The shutdown deadline passed first.
    Abandoned,
    /// The queue is being retired ([`QueuedExporter::retire`]): the batch goes elsewhere.
    HandedBack,
}

impl Sent {
    pub(super) fn into_error(self) -> ConsumeError {
        match self {
            Sent::Failed(e) => e,
            Sent::Abandoned | Sent::HandedBack => ConsumeError::retryable("shutting down"),
        }
    }
}

impl QueuedExporter {
    pub(super) async fn work(&self, queue: Arc<dyn QueueBackend>) {
        let mut abandon = self.abandon.subscribe();
        let mut retiring = self.retiring.subscribe();
        loop {
            let next = tokio::select! {
                biased;
                _ = abandon.wait_for(|a| *a) => None,
                _ = retiring.wait_for(|r| *r) => None,
                item = queue.pop() => item,
            };
            let Some((id, batch)) = next else { break };
            self.update_queue_size(&*queue);
            match self.send(batch.clone(), queue.is_persistent()).await {
                // Not acknowledged: `retire` acknowledges it once it went elsewhere.
                Err(Sent::HandedBack) => {
                    self.handed_back.lock().unwrap_or_else(|p| p.into_inner()).push((id, batch));
                }
                // A persistent queue keeps an abandoned batch for the next start.
                Err(Sent::Abandoned) if queue.is_persistent() => {}
                _ => {
                    queue.ack(id);
                    self.update_queue_size(&*queue);
                }
            }
        }
    }

    /// What a send that must stop now ends as: handed back while retiring, else given up.
    fn stop_sending(&self, spans: u64, kept: bool) -> Sent {
        if *self.retiring.borrow() {
            Sent::HandedBack
        } else {
            self.give_up_at_shutdown(spans, kept)
        }
    }

    /// Sends one batch with retry and timeout. Counts the outcome. `kept`: the batch stays in a
    /// persistent queue if abandoned at shutdown, so it is not counted as lost.
    pub(super) async fn send(&self, batch: Traces, kept: bool) -> Result<(), Sent> {
        let spans = batch.span_count() as u64;
        let retry = &self.settings.retry_on_failure;
        let started = Instant::now();
        let mut backoff = Backoff::new(retry);
        let mut abandon = self.abandon.subscribe();
        let mut retiring = self.retiring.subscribe();
        loop {
            let attempt = tokio::select! {
                r = tokio::time::timeout(self.settings.timeout.get(), self.exporter.export_reporting(batch.clone())) => {
                    r.unwrap_or_else(|_| Err(ConsumeError::retryable(format!("export timed out after {}", self.settings.timeout))))
                }
                _ = abandon.wait_for(|a| *a) => return Err(self.stop_sending(spans, kept)),
            };
            let err = match attempt {
                Ok(report) => {
                    self.count_delivered(&report, spans);
                    return Ok(());
                }
                Err(e) => e,
            };
            // Retiring: a destination that does not take the batch now gets no second try.
            if !err.is_permanent() && *self.retiring.borrow() {
                return Err(Sent::HandedBack);
            }
            if err.is_permanent() || !retry.enabled {
                self.metrics.send_failed.inc_by(spans);
                if let Some(unlogged) = self.drop_log.check() {
                    tracing::error!(exporter = %self.id, spans, error = %err, unlogged, "dropping batch: {}", if err.is_permanent() { "permanent error" } else { "retries disabled" });
                }
                return Err(Sent::Failed(err));
            }
            let wait = backoff.next_wait(err.retry_after());
            let limit = retry.max_elapsed_time.get();
            if !limit.is_zero() && started.elapsed() + wait > limit {
                self.metrics.send_failed.inc_by(spans);
                if let Some(unlogged) = self.drop_log.check() {
                    tracing::error!(exporter = %self.id, spans, error = %err, unlogged, "dropping batch: no success after {:?}", started.elapsed());
                }
                return Err(Sent::Failed(err));
            }
            if let Some(unlogged) = self.failure_log.check() {
                tracing::warn!(exporter = %self.id, spans, error = %err, unlogged, "export failed; retrying in {wait:?}");
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = abandon.wait_for(|a| *a) => return Err(self.stop_sending(spans, kept)),
                _ = retiring.wait_for(|r| *r) => return Err(Sent::HandedBack),
            }
        }
    }

    pub(super) fn count_delivered(&self, report: &crate::component::ExportReport, spans: u64) {
        // Spans the exporter dropped on purpose were not delivered: not "sent".
        for (reason, n) in &report.dropped {
            self.metrics.dropped.reason(reason).inc_by(*n);
        }
        self.metrics
            .sent
            .inc_by(spans.saturating_sub(report.dropped_spans()));
    }

    pub(super) fn give_up_at_shutdown(&self, spans: u64, kept: bool) -> Sent {
        if !kept {
            self.metrics.send_failed.inc_by(spans);
            self.undelivered.fetch_add(spans, Ordering::Relaxed);
        }
        Sent::Abandoned
    }
}
