//! The in-memory queue backend: a FIFO of batches bounded by a [`Budget`] in the queue's sizer
//! unit (bytes by default), so what it holds in memory is bounded whatever the batches' sizes.
//!
//! A batch keeps its share of the budget until `ack`, i.e. while a worker exports it too: the
//! bound covers everything the exporter stage holds, as the Collector's memory queue counts.
//! The FIFO gives its spare room back once drained, so a burst leaves no large buffer behind.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;

use super::backend::{QueueBackend, QueueFull};
use super::budget::{Budget, Share};
use super::Sizer;
use crate::data::Traces;
use crate::telemetry::{Held, PipelineMemory};

/// Slots the FIFO keeps allocated once empty; more are given back.
const KEEP_SLOTS: usize = 64;

pub struct MemoryQueue {
    sizer: Sizer,
    budget: Arc<Budget>,
    state: Mutex<State>,
    /// Signalled when a batch is added or the queue closes.
    arrived: Notify,
    /// Where the queued bytes are counted as held by the pipeline, if anywhere.
    memory: Option<PipelineMemory>,
}

/// What a batch holds while it is in the queue: its room, and its count in the pipeline's.
type Claim = (Share, Option<Held>);

struct State {
    waiting: VecDeque<(Traces, Claim)>,
    /// Handed out by `pop`, holding their claim until `ack`.
    in_flight: HashMap<u64, Claim>,
    next_id: u64,
    closed: bool,
}

impl MemoryQueue {
    /// A queue of at most `capacity` batches.
    pub fn new(capacity: usize) -> Self {
        Self::sized(Sizer::Requests, capacity as u64)
    }

    /// A queue of at most `capacity` in `sizer` units.
    pub fn sized(sizer: Sizer, capacity: u64) -> Self {
        Self {
            sizer,
            budget: Budget::new(capacity),
            state: Mutex::new(State {
                waiting: VecDeque::new(),
                in_flight: HashMap::new(),
                next_id: 0,
                closed: false,
            }),
            arrived: Notify::new(),
            memory: None,
        }
    }

    /// Counts the bytes of every batch in the queue (waiting or being exported) in `memory`.
    pub fn counting_in(mut self, memory: PipelineMemory) -> Self {
        self.memory = Some(memory);
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn enqueue(&self, batch: Traces, share: Share) -> Result<(), QueueFull> {
        let held = self.memory.as_ref().map(|m| m.hold(batch.encoded_len()));
        let mut state = self.lock();
        if state.closed {
            return Err(QueueFull(batch));
        }
        state.waiting.push_back((batch, (share, held)));
        drop(state);
        self.arrived.notify_one();
        Ok(())
    }
}

#[async_trait]
impl QueueBackend for MemoryQueue {
    fn try_push(&self, batch: Traces) -> Result<(), QueueFull> {
        match self.budget.try_take(self.sizer.size_of(&batch)) {
            Some(share) => self.enqueue(batch, share),
            None => Err(QueueFull(batch)),
        }
    }

    async fn push_wait(&self, batch: Traces, wait: Duration) -> Result<(), QueueFull> {
        let size = self.sizer.size_of(&batch);
        match self.budget.take_within(size, wait).await {
            Some(share) => self.enqueue(batch, share),
            None => Err(QueueFull(batch)),
        }
    }

    async fn pop(&self) -> Option<(u64, Traces)> {
        loop {
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            {
                let mut state = self.lock();
                if let Some((batch, claim)) = state.waiting.pop_front() {
                    let id = state.next_id;
                    state.next_id += 1;
                    state.in_flight.insert(id, claim);
                    let more = !state.waiting.is_empty();
                    if !more && state.waiting.capacity() > KEEP_SLOTS {
                        state.waiting.shrink_to(KEEP_SLOTS);
                    }
                    drop(state);
                    if more {
                        // Another batch may be waiting for a second worker.
                        self.arrived.notify_one();
                    }
                    return Some((id, batch));
                }
                if state.closed {
                    return None;
                }
            }
            arrived.await;
        }
    }

    fn ack(&self, id: u64) {
        let claim = self.lock().in_flight.remove(&id);
        drop(claim);
    }

    fn len(&self) -> usize {
        let state = self.lock();
        state.waiting.len() + state.in_flight.len()
    }

    fn size(&self) -> u64 {
        self.budget.used()
    }

    fn capacity(&self) -> u64 {
        self.budget.capacity()
    }

    fn close(&self) {
        self.lock().closed = true;
        self.budget.close();
        self.arrived.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::testing::blank_spans;

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

    #[tokio::test]
    async fn sized_in_spans_a_batch_holds_its_room_until_acknowledged() {
        let q = MemoryQueue::sized(Sizer::Items, 10);
        q.try_push(blank_spans(6)).unwrap();
        assert!(q.try_push(blank_spans(5)).is_err(), "6 + 5 spans > 10");
        q.try_push(blank_spans(4)).unwrap();
        assert_eq!((q.size(), q.capacity()), (10, 10));
        let (first, batch) = q.pop().await.unwrap();
        assert_eq!(batch.span_count(), 6);
        assert!(q.try_push(blank_spans(1)).is_err(), "still being exported: still counted");
        q.ack(first);
        assert_eq!(q.size(), 4);
        q.try_push(blank_spans(6)).unwrap();
    }

    #[tokio::test]
    async fn sized_in_bytes_by_the_protobuf_length() {
        let one = blank_spans(100);
        let len = one.encoded_len() as u64;
        let q = MemoryQueue::sized(Sizer::Bytes, 2 * len);
        q.try_push(one.clone()).unwrap();
        q.try_push(one.clone()).unwrap();
        assert!(q.try_push(blank_spans(1)).is_err());
        assert_eq!(q.size(), 2 * len);
    }

    #[tokio::test]
    async fn queued_bytes_count_as_held_by_the_pipeline_until_acknowledged() {
        let memory = crate::telemetry::Metrics::new().pipeline_memory();
        let q = MemoryQueue::sized(Sizer::Requests, 10).counting_in(memory.clone());
        let batch = blank_spans(50);
        q.try_push(batch.clone()).unwrap();
        assert_eq!(memory.bytes(), batch.encoded_len() as u64);
        let (id, _) = q.pop().await.unwrap();
        assert_eq!(memory.bytes(), batch.encoded_len() as u64, "still held while exported");
        q.ack(id);
        assert_eq!(memory.bytes(), 0);
    }
}
