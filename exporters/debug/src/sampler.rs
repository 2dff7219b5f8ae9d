//! Log sampling as the Collector's debug exporter does it (zap's sampler with a one-second
//! tick): in each one-second window the first `initial` batches are logged, then every
//! `thereafter`-th. It keeps a busy pipeline from drowning the log while still showing that
//! data flows; batches it skips are still exported successfully.

use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct LogSampler {
    initial: u64,
    thereafter: u64,
    /// Start of the current window and batches seen in it.
    window: Mutex<Option<(Instant, u64)>>,
}

impl LogSampler {
    pub fn new(initial: u32, thereafter: u32) -> Self {
        Self { initial: initial.into(), thereafter: thereafter.into(), window: Mutex::new(None) }
    }

    /// Whether the batch arriving at `now` should be logged.
    pub fn admit(&self, now: Instant) -> bool {
        // A poisoned lock only means another export panicked mid-count; the count is still usable.
        let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let seen = match &mut *window {
            Some((start, seen)) if now.saturating_duration_since(*start) < WINDOW => {
                *seen += 1;
                *seen
            }
            _ => {
                *window = Some((now, 1));
                1
            }
        };
        // checked_rem is None for thereafter == 0: nothing past the initial ones.
        seen <= self.initial || (seen - self.initial).checked_rem(self.thereafter) == Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted(sampler: &LogSampler, at: Instant, n: usize) -> Vec<bool> {
        (0..n).map(|_| sampler.admit(at)).collect()
    }

    #[test]
    fn defaults_log_everything() {
        let s = LogSampler::new(2, 1);
        assert!(admitted(&s, Instant::now(), 10).into_iter().all(|a| a));
    }

    #[test]
    fn after_the_initial_ones_every_nth_is_logged_and_the_window_resets() {
        let s = LogSampler::new(2, 3);
        let t0 = Instant::now();
        assert_eq!(admitted(&s, t0, 8), [true, true, false, false, true, false, false, true]);
        let next_second = t0 + Duration::from_millis(1001);
        assert_eq!(admitted(&s, next_second, 3), [true, true, false]);
    }

    #[test]
    fn thereafter_zero_logs_only_the_initial_ones() {
        let s = LogSampler::new(1, 0);
        assert_eq!(admitted(&s, Instant::now(), 4), [true, false, false, false]);
    }
}
