//! Paces batches for `--rate`: a token bucket in its GCRA form (one timestamp instead of a
//! token count). Each sender reserves the next send slot and sleeps until it; a bucket of
//! `burst` batches lets senders catch up after a slow response without exceeding the
//! average rate.

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Pacer {
    interval: Duration,
    /// How far ahead of schedule a send may go: (burst - 1) intervals.
    tolerance: Duration,
    /// The theoretical arrival time of the next batch.
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    /// `batches_per_sec` must be positive; `burst` of at least 1.
    pub fn new(batches_per_sec: f64, burst: u32) -> Self {
        let interval = Duration::from_secs_f64(1.0 / batches_per_sec.max(1e-6));
        Self { interval, tolerance: interval * burst.saturating_sub(1), next: Mutex::new(None) }
    }

    /// When the caller may send its next batch.
    pub fn reserve(&self) -> Instant {
        self.reserve_at(Instant::now())
    }

    fn reserve_at(&self, now: Instant) -> Instant {
        // A poisoned lock only means another sender panicked mid-update; the timestamp is
        // still a valid schedule.
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let tat = next.map_or(now, |t| t.max(now));
        *next = Some(tat + self.interval);
        // Up to `tolerance` ahead of schedule is what the bucket's spare tokens allow.
        tat.checked_sub(self.tolerance).map_or(now, |t| t.max(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_are_spaced_by_the_interval() {
        let pacer = Pacer::new(10.0, 1);
        let t0 = Instant::now();
        let slots: Vec<Duration> = (0..5).map(|_| pacer.reserve_at(t0) - t0).collect();
        let ms: Vec<u128> = slots.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [0, 100, 200, 300, 400]);
    }

    #[test]
    fn an_idle_pacer_allows_only_a_bounded_burst() {
        let pacer = Pacer::new(10.0, 3);
        let t0 = Instant::now();
        pacer.reserve_at(t0);
        // Ten seconds idle: the bucket holds 3 batches, not 100.
        let later = t0 + Duration::from_secs(10);
        let slots: Vec<u128> = (0..5).map(|_| (pacer.reserve_at(later) - t0).as_millis()).collect();
        assert_eq!(slots, [10_000, 10_000, 10_000, 10_100, 10_200]);
    }
}
