//! The interface between the sending queue's workers and where queued batches live.

use std::time::Duration;

use async_trait::async_trait;

use crate::data::Traces;

/// Returned when the queue has no room; gives the batch back.
#[derive(Debug)]
pub struct QueueFull(pub Traces);

/// A bounded FIFO of batches shared by producers (the pipeline) and consumers (workers).
///
/// The contract an on-disk backend must keep: a batch handed out by `pop` stays owned by the
/// backend until `ack`, so a crash between `pop` and `ack` redelivers it on restart. The
/// in-memory backend has nothing to redeliver and ignores `ack`.
#[async_trait]
pub trait QueueBackend: Send + Sync {
    /// Adds a batch if there is room now.
    fn try_push(&self, batch: Traces) -> Result<(), QueueFull>;
    /// Adds a batch, waiting up to `wait` for room.
    async fn push_wait(&self, batch: Traces, wait: Duration) -> Result<(), QueueFull>;
    /// The next batch; `None` once the queue is closed and empty.
    async fn pop(&self) -> Option<(u64, Traces)>;
    /// The batch `id` from `pop` is done with (delivered or given up on).
    fn ack(&self, id: u64);
    /// Batches held: waiting, and handed out but not yet acknowledged.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// What the held batches amount to, in the queue's sizer unit (`tracegate_exporter_queue_size`).
    fn size(&self) -> u64;
    /// The most it holds, in the queue's sizer unit.
    fn capacity(&self) -> u64;
    /// Refuses further pushes; `pop` drains what is left, then returns `None`.
    fn close(&self);
    /// Whether batches left at shutdown are kept for the next start (so they are not lost and
    /// must not be counted as undelivered).
    fn is_persistent(&self) -> bool {
        false
    }
    /// Lets go of what keeps other instances off a persistent queue's files (its directory's
    /// lock) and closes it; what it holds stays on disk. Called once the queue is done with
    /// (after a shutdown's drain), so a new instance can open the same directory while this
    /// one is still referenced. Nothing for one in memory.
    fn release(&self) {}
    /// Deletes the files of a persistent queue that is closed and empty, for a queue that
    /// will not be opened again (its destination is gone); nothing for one in memory.
    fn remove_files(&self) -> std::io::Result<()> {
        Ok(())
    }
}
