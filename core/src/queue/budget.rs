//! [`Budget`]: how much of a sending queue's `queue_size` is taken.
//!
//! A batch takes its size (in the queue's sizer unit) when it is admitted and gives it back
//! when its export is over, not when a worker picks it up: what bounds memory is everything
//! the exporter stage holds, waiting or being sent, as the Collector's memory queue counts it.
//! The in-memory queue and the in-caller export of a durable store (see `exporter`) share it.
//!
//! A batch larger than the whole budget is admitted when nothing else is held, so that a
//! small `queue_size` slows such batches down instead of refusing them for ever: the bound
//! is then `queue_size` or one batch, whichever is larger.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

pub struct Budget {
    capacity: u64,
    state: Mutex<State>,
    /// Signalled when a share is given back or the budget closes.
    room: Notify,
}

struct State {
    used: u64,
    closed: bool,
}

/// A part of the budget held by one batch; given back when dropped.
pub struct Share {
    budget: Arc<Budget>,
    size: u64,
}

impl Drop for Share {
    fn drop(&mut self) {
        let mut state = self.budget.lock();
        state.used = state.used.saturating_sub(self.size);
        drop(state);
        // Batches of different sizes may be waiting: let each check whether it fits now.
        self.budget.room.notify_waiters();
    }
}

impl Budget {
    pub fn new(capacity: u64) -> Arc<Self> {
        Arc::new(Self {
            capacity: capacity.max(1),
            state: Mutex::new(State {
                used: 0,
                closed: false,
            }),
            room: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes `size` if it fits now.
    pub fn try_take(self: &Arc<Self>, size: u64) -> Option<Share> {
        let mut state = self.lock();
        let fits = state.used == 0 || state.used.saturating_add(size) <= self.capacity;
        if state.closed || !fits {
            return None;
        }
        state.used += size;
        Some(Share {
            budget: self.clone(),
            size,
        })
    }

    /// Takes `size`, waiting up to `wait` for room; `None` if there was none by then or the
    /// budget closed.
    pub async fn take_within(self: &Arc<Self>, size: u64, wait: Duration) -> Option<Share> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            if let Some(share) = self.try_take(size) {
                return Some(share);
            }
            if self.lock().closed || tokio::time::timeout_at(deadline, room).await.is_err() {
                return None;
            }
        }
    }

    /// What is taken now.
    pub fn used(&self) -> u64 {
        self.lock().used
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Admits nothing more; those waiting are refused at once.
    pub fn close(&self) {
        self.lock().closed = true;
        self.room.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shares_are_admitted_up_to_the_capacity_and_given_back_when_dropped() {
        let b = Budget::new(10);
        let six = b.try_take(6).expect("fits");
        assert!(b.try_take(5).is_none(), "6 + 5 > 10");
        let four = b.try_take(4).expect("6 + 4 = 10 fits");
        assert_eq!(b.used(), 10);
        drop(six);
        assert_eq!(b.used(), 4);
        assert!(b.try_take(6).is_some());
        drop(four);
    }

    #[tokio::test]
    async fn a_batch_larger_than_the_whole_budget_gets_in_alone() {
        let b = Budget::new(10);
        let big = b.try_take(25).expect("nothing else is held");
        assert!(b.try_take(1).is_none(), "the big one fills it");
        drop(big);
        assert_eq!(b.used(), 0);
    }

    #[tokio::test]
    async fn a_waiting_batch_gets_in_when_room_is_given_back_and_not_after_close() {
        let b = Budget::new(10);
        let held = b.try_take(8).expect("fits");
        let waiter = {
            let b = b.clone();
            tokio::spawn(async move { b.take_within(5, Duration::from_secs(60)).await.is_some() })
        };
        tokio::task::yield_now().await;
        drop(held);
        assert!(waiter.await.expect("joins"), "admitted once the 8 were given back");

        let held = b.try_take(8).expect("fits");
        let waiter = {
            let b = b.clone();
            tokio::spawn(async move { b.take_within(5, Duration::from_secs(60)).await.is_some() })
        };
        tokio::task::yield_now().await;
        b.close();
        assert!(!waiter.await.expect("joins"), "refused when the queue closes");
        assert!(b.take_within(1, Duration::ZERO).await.is_none());
        drop(held);
    }

    #[tokio::test(start_paused = true)]
    async fn take_within_gives_up_after_the_wait() {
        let b = Budget::new(10);
        let _held = b.try_take(10).expect("fits");
        assert!(b.take_within(1, Duration::from_millis(100)).await.is_none());
    }
}
