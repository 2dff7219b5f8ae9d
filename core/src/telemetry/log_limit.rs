//! [`LogLimit`]: at most one log line per interval for an event that repeats per batch.
//!
//! Why: under overload every refused or failed batch is the same news. A line per batch made
//! thousands of identical WARN lines a minute (the metrics already count every batch), which
//! buried the first one and cost the log pipeline more than the refusal itself. A component
//! keeps one `LogLimit` per kind of event: the first occurrence is logged at once, later ones
//! within the interval are only counted, and the next line that gets through says how many
//! were not logged.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a repeated event is logged by default.
pub const DEFAULT_LOG_INTERVAL: Duration = Duration::from_secs(10);

pub struct LogLimit {
    interval: Duration,
    state: Mutex<State>,
}

struct State {
    last: Option<Instant>,
    /// Occurrences since the last line logged.
    unlogged: u64,
}

impl LogLimit {
    pub const fn new(interval: Duration) -> Self {
        Self {
            interval,
            state: Mutex::new(State {
                last: None,
                unlogged: 0,
            }),
        }
    }

    /// Records one occurrence. `Some(n)` when it should be logged now, `n` being how many
    /// occurrences since the previous line were not logged; `None` when it is only counted.
    pub fn check(&self) -> Option<u64> {
        self.check_at(Instant::now())
    }

    fn check_at(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let due = state
            .last
            .is_none_or(|last| now.saturating_duration_since(last) >= self.interval);
        if due {
            state.last = Some(now);
            Some(std::mem::take(&mut state.unlogged))
        } else {
            state.unlogged += 1;
            None
        }
    }
}

impl Default for LogLimit {
    fn default() -> Self {
        Self::new(DEFAULT_LOG_INTERVAL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_occurrence_is_logged_and_the_rest_of_the_interval_only_counted() {
        let limit = LogLimit::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(limit.check_at(t0), Some(0));
        for s in 1..=5 {
            assert_eq!(limit.check_at(t0 + Duration::from_secs(s)), None);
        }
        assert_eq!(
            limit.check_at(t0 + Duration::from_secs(10)),
            Some(5),
            "the next line says how many were not logged"
        );
        assert_eq!(limit.check_at(t0 + Duration::from_secs(11)), None);
        assert_eq!(limit.check_at(t0 + Duration::from_secs(25)), Some(1));
    }
}
