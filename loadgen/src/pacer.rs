//! Paces sends for `--rate`: a token bucket in its GCRA form (one timestamp instead of a
//! token count), weighted by spans, because UDP datagrams carry different numbers of spans.
//! Each sender reserves a send slot for its batch and sleeps until it; letting sends go up to
//! `burst` spans ahead of schedule lets senders catch up after a slow response without
//! exceeding the average rate.

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Pacer {
    spans_per_sec: f64,
    /// How far ahead of schedule a send may go.
    tolerance: Duration,
    /// The theoretical arrival time of the next span.
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    /// `spans_per_sec` must be positive; sends may run up to `burst` spans ahead of schedule.
    pub fn new(spans_per_sec: f64, burst: f64) -> Self {
        let spans_per_sec = spans_per_sec.max(1e-6);
        let tolerance =
            Duration::try_from_secs_f64(burst.max(0.0) / spans_per_sec).unwrap_or(Duration::MAX);
        Self {
            spans_per_sec,
            tolerance,
            next: Mutex::new(None),
        }
    }

    /// When the caller may send a batch of `spans` spans.
    pub fn reserve(&self, spans: u64) -> Instant {
        self.reserve_at(Instant::now(), spans)
    }

    fn reserve_at(&self, now: Instant, spans: u64) -> Instant {
        let cost =
            Duration::try_from_secs_f64(spans as f64 / self.spans_per_sec).unwrap_or(Duration::MAX);
        // A poisoned lock only means another sender panicked mid-update; the timestamp is
        // still a valid schedule.
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let tat = next.map_or(now, |t| t.max(now));
        *next = Some(tat.checked_add(cost).unwrap_or(tat));
        // Up to `tolerance` ahead of schedule is what the bucket's spare tokens allow.
        tat.checked_sub(self.tolerance).map_or(now, |t| t.max(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_are_spaced_by_the_interval() {
        let pacer = Pacer::new(1000.0, 0.0);
        let t0 = Instant::now();
        let slots: Vec<Duration> = (0..5).map(|_| pacer.reserve_at(t0, 100) - t0).collect();
        let ms: Vec<u128> = slots.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [0, 100, 200, 300, 400]);
    }

    #[test]
    fn an_idle_pacer_allows_only_a_bounded_burst() {
        let pacer = Pacer::new(1000.0, 200.0);
        let t0 = Instant::now();
        pacer.reserve_at(t0, 100);
        // Ten seconds idle: the bucket holds 3 batches of 100, not 100 batches.
        let later = t0 + Duration::from_secs(10);
        let slots: Vec<u128> = (0..5)
            .map(|_| (pacer.reserve_at(later, 100) - t0).as_millis())
            .collect();
        assert_eq!(slots, [10_000, 10_000, 10_000, 10_100, 10_200]);
    }

    #[test]
    fn bigger_batches_wait_longer() {
        let pacer = Pacer::new(1000.0, 0.0);
        let t0 = Instant::now();
        let slots: Vec<u128> = [50, 150, 100, 10]
            .iter()
            .map(|&n| (pacer.reserve_at(t0, n) - t0).as_millis())
            .collect();
        assert_eq!(slots, [0, 50, 200, 300]);
    }
}
