//! The in-memory queue backend: a bounded tokio channel shared by the workers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, Mutex};

use super::backend::{QueueBackend, QueueFull};
use crate::data::Traces;

pub struct MemoryQueue {
    // `None` once closed: dropping the last sender is what lets `recv` return `None` after the
    // remaining batches are drained.
    tx: RwLock<Option<mpsc::Sender<Traces>>>,
    // Workers take turns holding the receiver; one waits in `recv` while the rest wait for the
    // lock, the same wake-up order a multi-consumer channel would give.
    rx: Mutex<mpsc::Receiver<Traces>>,
    next_id: AtomicU64,
    capacity: usize,
}

impl MemoryQueue {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let (tx, rx) = mpsc::channel(capacity);
        Self {
            tx: RwLock::new(Some(tx)),
            rx: Mutex::new(rx),
            next_id: AtomicU64::new(0),
            capacity,
        }
    }

    fn sender(&self) -> Option<mpsc::Sender<Traces>> {
        self.tx.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[async_trait]
impl QueueBackend for MemoryQueue {
    fn try_push(&self, batch: Traces) -> Result<(), QueueFull> {
        let guard = self.tx.read().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref() {
            Some(tx) => tx.try_send(batch).map_err(|e| QueueFull(e.into_inner())),
            None => Err(QueueFull(batch)),
        }
    }

    async fn push_wait(&self, batch: Traces, wait: Duration) -> Result<(), QueueFull> {
        match self.sender() {
            Some(tx) => tx
                .send_timeout(batch, wait)
                .await
                .map_err(|e| QueueFull(e.into_inner())),
            None => Err(QueueFull(batch)),
        }
    }

    async fn pop(&self) -> Option<(u64, Traces)> {
        let batch = self.rx.lock().await.recv().await?;
        Some((self.next_id.fetch_add(1, Ordering::Relaxed), batch))
    }

    fn ack(&self, _id: u64) {}

    fn len(&self) -> usize {
        match self.sender() {
            Some(tx) => self.capacity - tx.capacity(),
            None => self.rx.try_lock().map(|rx| rx.len()).unwrap_or(0),
        }
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    fn close(&self) {
        self.tx.write().unwrap_or_else(|p| p.into_inner()).take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bounded_fifo_that_drains_after_close() {
        let q = MemoryQueue::new(2);
        q.try_push(Traces::default()).unwrap();
        q.try_push(Traces::default()).unwrap();
        assert!(
            q.try_push(Traces::default()).is_err(),
            "third push must not fit"
        );
        assert!(q
            .push_wait(Traces::default(), Duration::from_millis(10))
            .await
            .is_err());
        assert_eq!(q.len(), 2);
        q.close();
        assert!(
            q.try_push(Traces::default()).is_err(),
            "closed queue refuses"
        );
        assert!(q.pop().await.is_some());
        assert!(q.pop().await.is_some());
        assert!(q.pop().await.is_none(), "closed and drained");
    }
}
