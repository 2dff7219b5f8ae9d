//! In the sender's task, for a durable exporter (see [`QueuedExporter`]'s module docs): one
//! export attempt per batch, within `num_consumers` turns and the `queue_size` budget, and
//! the outcome is the sender's answer.

use std::sync::Arc;

use tokio::sync::Semaphore;

use super::super::budget::Budget;
use super::super::WhenFull;
use super::{gauge_value, QueuedExporter};
use crate::component::ConsumeError;
use crate::data::Traces;

/// What bounds the in-caller exports of a durable exporter.
pub(super) struct Direct {
    /// `num_consumers` turns to export.
    pub(super) turns: Semaphore,
    /// `queue_size`: what may wait for a turn or be exported.
    pub(super) budget: Arc<Budget>,
}

impl QueuedExporter {
    /// One export attempt in the sender's task, for a durable exporter (see the module docs):
    /// takes the batch's room in `queue_size` as `when_full` says, waits for one of
    /// `num_consumers` turns, then answers with the export's outcome.
    pub(super) async fn export_for_sender(&self, direct: &Direct, batch: Traces) -> Result<(), ConsumeError> {
        let spans = batch.span_count() as u64;
        let q = &self.settings.sending_queue;
        let size = q.sizer.size_of(&batch);
        let share = match q.when_full {
            WhenFull::Refuse | WhenFull::DropNewest => direct.budget.try_take(size),
            WhenFull::Block => direct.budget.take_within(size, q.block_timeout.get()).await,
        };
        let Some(share) = share else {
            return self.refuse_or_drop(spans);
        };
        self.metrics.queue_size.set(gauge_value(direct.budget.used()));
        let outcome = self.export_with_turn(direct, batch, spans).await;
        drop(share);
        self.metrics.queue_size.set(gauge_value(direct.budget.used()));
        outcome
    }

    async fn export_with_turn(&self, direct: &Direct, batch: Traces, spans: u64) -> Result<(), ConsumeError> {
        let Ok(_turn) = direct.turns.acquire().await else {
            return Err(ConsumeError::retryable(format!("exporter {} is shutting down", self.id)));
        };
        let limit = self.settings.timeout;
        let attempt = tokio::time::timeout(limit.get(), self.exporter.export_reporting(batch))
            .await
            .unwrap_or_else(|_| {
                Err(ConsumeError::retryable(format!(
                    "export timed out after {limit}"
                )))
            });
        match attempt {
            Ok(report) => {
                self.count_delivered(&report, spans);
                Ok(())
            }
            Err(err) => {
                self.metrics.send_failed.inc_by(spans);
                if let Some(unlogged) = self.failure_log.check() {
                    tracing::warn!(exporter = %self.id, spans, error = %err, unlogged, "export failed; the sender is refused and retries");
                }
                Err(err)
            }
        }
    }

    /// A batch that does not fit: counted, then refused for the client to send again, or, with
    /// the explicit `when_full: drop_newest`, dropped and answered OK.
    pub(super) fn refuse_or_drop(&self, spans: u64) -> Result<(), ConsumeError> {
        self.metrics.enqueue_failed.inc_by(spans);
        let q = &self.settings.sending_queue;
        if q.when_full == WhenFull::DropNewest {
            if let Some(unlogged) = self.drop_log.check() {
                tracing::warn!(exporter = %self.id, spans, unlogged, "sending queue is full; dropping the newest batch (when_full: drop_newest)");
            }
            return Ok(());
        }
        tracing::debug!(exporter = %self.id, spans, "sending queue is full; refusing the batch for the client to retry");
        Err(ConsumeError::retryable(format!(
            "sending queue of exporter {} is full ({} of {} {}); try again later",
            self.id,
            self.held_now(),
            q.queue_size,
            q.sizer.unit()
        )))
    }
}
