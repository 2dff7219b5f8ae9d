//! `bulk.flush_interval`: concurrent exports share `_bulk` requests.
//!
//! Jaeger's bulk processor queues documents and answers at once; here an export must report
//! its outcome (the engine's queue retries on failure), so an export joins a pending batch and
//! waits for it. The first export of a batch starts a flush task that sends the batch after
//! `flush_interval`, or as soon as it reaches `max_actions` / `max_bytes`, and hands the one
//! outcome to every export in it (a failed batch is retried by each export's own retry, which
//! re-sends only its own documents; ids make the overlap harmless). The task is spawned, so an
//! export cancelled by the engine's timeout does not strand the others.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{oneshot, Notify};
use tracegate_core::ConsumeError;

use crate::exporter::Item;

type Waiter = oneshot::Sender<Result<(), ConsumeError>>;

#[derive(Default)]
struct Pending {
    items: Vec<Item>,
    bytes: usize,
    waiters: Vec<Waiter>,
    flushing: bool,
}

#[derive(Default)]
pub struct Coalescer {
    pending: Mutex<Pending>,
    full: Notify,
}

impl Coalescer {
    /// Adds `items`; returns whether the caller must start a flush task, and the receiver of
    /// the outcome.
    pub fn join(&self, items: Vec<Item>, max_actions: usize, max_bytes: usize) -> (bool, oneshot::Receiver<Result<(), ConsumeError>>) {
        let (tx, rx) = oneshot::channel();
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        p.bytes += items.iter().map(Item::len).sum::<usize>();
        p.items.extend(items);
        p.waiters.push(tx);
        if p.items.len() >= max_actions || p.bytes >= max_bytes {
            self.full.notify_one();
        }
        let lead = !p.flushing;
        p.flushing = true;
        (lead, rx)
    }

    /// Waits for the interval (or a full batch) and takes the batch.
    pub async fn take_after(&self, interval: Duration) -> (Vec<Item>, Vec<Waiter>) {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = self.full.notified() => {}
        }
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let items = std::mem::take(&mut p.items);
        let waiters = std::mem::take(&mut p.waiters);
        p.bytes = 0;
        p.flushing = false;
        (items, waiters)
    }
}

pub fn answer(waiters: Vec<Waiter>, outcome: Result<(), ConsumeError>) {
    for w in waiters {
        // An export that gave up waiting (timeout) has dropped its receiver; nothing to tell it.
        let _ = w.send(outcome.clone());
    }
}

pub type Shared = Arc<Coalescer>;
