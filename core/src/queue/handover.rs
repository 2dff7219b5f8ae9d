//! Handing a persistent queue over to a new instance of its exporter, for a config reload.
//!
//! A queue directory serves one instance at a time (`disk::lock`), so a reload cannot start a
//! changed exporter with a persistent queue beside its old instance: it stops the old one
//! behind its closed gate, then opens the new one on the same directory (`graph::reload`).
//! Batches wait at the gate meanwhile, so the old one must not drain its backlog there, as a
//! shutdown does (a backend that is down would hold every sender for `shutdown_timeout`):
//! what waits on disk is the new instance's to deliver. Handed over, the old instance takes
//! no more batches; each batch being sent finishes its attempt (within `timeout`), without a
//! second try; one that fails stays on disk unacknowledged, and so does everything not yet
//! popped. Then the queue lets go of its directory. Nothing is counted as lost: all of it is
//! delivered by the new instance (at least once: a batch whose attempt timed out may have
//! reached the backend and is sent again).
//!
//! An exporter with queues of its own (`loadbalancing`, one per backend) hands over each of
//! them the same way: its shutdown runs within the hand-over, and the queues' shutdowns with
//! it, as the engine's shutdown deadline reaches them ([`super::shutdown_deadline`]).

use std::time::Instant;

use super::QueuedExporter;
use crate::component::ComponentError;

tokio::task_local! {
    /// Set while a hand-over runs in this task.
    static HANDING_OVER: ();
}

/// Whether the shutdown running in this task hands its persistent queues over.
pub(super) fn in_progress() -> bool {
    HANDING_OVER.try_with(|()| ()).is_ok()
}

impl QueuedExporter {
    /// Stops this instance for a new one that opens the same persistent queue (see the module
    /// docs): its own queue, and those of the exporter's destinations, stop after the attempts
    /// being made (until `deadline` at most) and keep the rest on disk. With a queue in memory,
    /// the same as [`QueuedExporter::shutdown`].
    pub async fn hand_over(&self, deadline: Instant) -> Result<(), ComponentError> {
        HANDING_OVER.scope((), self.shutdown(deadline)).await
    }
}
