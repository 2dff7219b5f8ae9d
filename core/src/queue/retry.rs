//! Exponential backoff with jitter, as the Collector's (cenkalti/backoff) retry sender.

use std::time::Duration;

use rand::Rng;

use super::RetrySettings;

/// The sequence of waits for one batch.
pub struct Backoff {
    current: Duration,
    settings: RetrySettings,
}

impl Backoff {
    pub fn new(settings: &RetrySettings) -> Self {
        Self {
            current: settings.initial_interval.get(),
            settings: settings.clone(),
        }
    }

    /// The next wait: the current interval randomized by ±`randomization_factor`, at least
    /// the server's `retry_after`; the interval then grows by `multiplier` up to `max_interval`.
    pub fn next_wait(&mut self, retry_after: Option<Duration>) -> Duration {
        let base = self.current.as_secs_f64();
        let delta = self.settings.randomization_factor * base;
        let jittered = if delta > 0.0 {
            rand::rng().random_range((base - delta)..=(base + delta))
        } else {
            base
        };
        let grown =
            (base * self.settings.multiplier).min(self.settings.max_interval.get().as_secs_f64());
        self.current = Duration::from_secs_f64(grown);
        let wait = Duration::from_secs_f64(jittered.max(0.0));
        retry_after.map_or(wait, |ra| wait.max(ra))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GoDuration;

    fn settings() -> RetrySettings {
        RetrySettings {
            initial_interval: GoDuration::from_millis(100),
            max_interval: GoDuration::from_millis(400),
            multiplier: 2.0,
            randomization_factor: 0.5,
            ..RetrySettings::default()
        }
    }

    #[test]
    fn grows_within_jitter_bounds_and_caps() {
        let mut b = Backoff::new(&settings());
        for expected_ms in [100.0, 200.0, 400.0, 400.0] {
            let w = b.next_wait(None).as_secs_f64() * 1000.0;
            assert!(
                w >= expected_ms * 0.5 - 1e-6 && w <= expected_ms * 1.5 + 1e-6,
                "{w} vs {expected_ms}"
            );
        }
    }

    #[test]
    fn honours_retry_after() {
        let mut b = Backoff::new(&settings());
        assert!(b.next_wait(Some(Duration::from_secs(7))) >= Duration::from_secs(7));
    }
}
