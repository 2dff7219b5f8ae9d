//! `wait_for_result: true`: the sender of a request is answered only when every one of its
//! spans has been accepted (or refused) by the next component, not when the batch processor
//! holds them.
//!
//! Why: by default the batch processor answers at once, so spans in its buffer when the
//! process is killed are lost although the client was told they were accepted. With this
//! mode, "accepted" means what the next component says: a persistent queue has the batch on
//! disk, a store with `sync_on_write` has it synced. It is on by default (off in the
//! Collector): a request does not wait for its batch to fill or for `timeout`, because what
//! is held is sent at once while the next component is idle (`batcher::EARLY_SENDS`).
//!
//! The buffer keeps, beside the spans, a FIFO of which request owns how many of them. Cutting
//! a batch takes the same number of spans off the front of both, so each batch knows its
//! owners; when the batch is settled, each owner's remaining count drops and the request is
//! answered once it reaches zero, with the first error any of its batches met.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;
use tracegate_core::component::ConsumeError;

struct Waiter {
    remaining: usize,
    error: Option<ConsumeError>,
    answer: Option<oneshot::Sender<Result<(), ConsumeError>>>,
}

/// One request waiting for its spans to be settled.
#[derive(Clone)]
pub struct WaiterRef(Arc<Mutex<Waiter>>);

impl WaiterRef {
    pub fn new(spans: usize) -> (Self, oneshot::Receiver<Result<(), ConsumeError>>) {
        let (tx, rx) = oneshot::channel();
        (
            Self(Arc::new(Mutex::new(Waiter {
                remaining: spans,
                error: None,
                answer: Some(tx),
            }))),
            rx,
        )
    }

    fn settle(&self, spans: usize, outcome: &Result<(), ConsumeError>) {
        let mut w = self.0.lock().unwrap_or_else(|p| p.into_inner());
        w.remaining = w.remaining.saturating_sub(spans);
        if let (Err(e), None) = (outcome, &w.error) {
            w.error = Some(e.clone());
        }
        if w.remaining == 0 {
            let result = w.error.take().map_or(Ok(()), Err);
            if let Some(tx) = w.answer.take() {
                let _ = tx.send(result);
            }
        }
    }
}

/// Who owns the spans in the buffer, in buffer order.
#[derive(Default)]
pub struct Owners(VecDeque<(WaiterRef, usize)>);

impl Owners {
    pub fn push(&mut self, waiter: WaiterRef, spans: usize) {
        self.0.push_back((waiter, spans));
    }

    /// The owners of the first `n` spans, removed from the front.
    pub fn take(&mut self, mut n: usize) -> Vec<(WaiterRef, usize)> {
        let mut out = Vec::new();
        while n > 0 {
            let Some((w, spans)) = self.0.front_mut() else {
                break;
            };
            if *spans <= n {
                n -= *spans;
                if let Some(front) = self.0.pop_front() {
                    out.push(front);
                }
            } else {
                *spans -= n;
                out.push((w.clone(), n));
                n = 0;
            }
        }
        out
    }
}

/// Tells every owner of a batch how it went.
pub fn settle(owners: &[(WaiterRef, usize)], outcome: &Result<(), ConsumeError>) {
    for (w, spans) in owners {
        w.settle(*spans, outcome);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_request_is_answered_once_all_its_spans_are_settled_with_the_first_error() {
        let (a, mut ra) = WaiterRef::new(3);
        let (b, mut rb) = WaiterRef::new(2);
        let mut owners = Owners::default();
        owners.push(a, 3);
        owners.push(b, 2);
        let first = owners.take(2); // a:2
        let second = owners.take(2); // a:1, b:1
        let third = owners.take(5); // b:1 (only what is left)
        assert_eq!(first.iter().map(|(_, n)| n).sum::<usize>(), 2);
        assert_eq!(second.len(), 2);
        assert_eq!(third.iter().map(|(_, n)| n).sum::<usize>(), 1);

        settle(&first, &Ok(()));
        assert!(ra.try_recv().is_err(), "a still has a span in flight");
        settle(&second, &Err(ConsumeError::retryable("down")));
        assert_eq!(ra.try_recv().unwrap(), Err(ConsumeError::retryable("down")));
        assert!(rb.try_recv().is_err());
        settle(&third, &Ok(()));
        assert_eq!(
            rb.try_recv().unwrap(),
            Err(ConsumeError::retryable("down")),
            "b lost one span's batch"
        );
    }
}
