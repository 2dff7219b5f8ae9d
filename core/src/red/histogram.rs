//! A latency histogram with fixed log-scale buckets, so that histograms of different spans,
//! minutes, operations and processes merge by adding counts, and a quantile over any window
//! comes from the merged counts (percentiles themselves do not merge).
//!
//! Buckets are over microseconds: 0..8 us exactly, then 8 linear sub-buckets per power of two
//! (an HDR-histogram layout with 3 bits of precision), so a bucket is at most 1/8 = 12.5% of
//! its lower bound wide. A quantile is interpolated linearly inside its bucket, as Prometheus'
//! `histogram_quantile` does, so its **error is at most one bucket: 12.5% of the true value**
//! (and 1 us below 8 us). 496 buckets cover every `u64` of microseconds; a histogram is kept
//! sparse (the buckets it has counts in), since a real operation fills a few dozen.
//! The index is computed from the leading-zero count: no floating point on the write path.

/// Buckets below this are one microsecond wide.
const LINEAR: u64 = 8;
/// Sub-buckets per power of two (3 bits).
const SUB_BITS: u32 = 3;
/// Number of buckets: 8 exact ones, then 8 per power of two from 2^3 to 2^63.
pub const BUCKETS: usize = (LINEAR as usize) + (64 - SUB_BITS as usize) * (1 << SUB_BITS);

/// The bucket of a duration of `micros` microseconds.
pub fn bucket_of(micros: u64) -> u16 {
    if micros < LINEAR {
        return micros as u16;
    }
    let exp = 63 - micros.leading_zeros(); // >= 3
    let sub = (micros >> (exp - SUB_BITS)) & ((1 << SUB_BITS) - 1);
    (LINEAR + u64::from(exp - SUB_BITS) * (1 << SUB_BITS) + sub) as u16
}

/// The `[lower, upper)` bounds of bucket `index`, in microseconds (as f64: the last bucket's
/// upper bound is 2^64).
pub fn bounds_of(index: u16) -> (f64, f64) {
    let i = u64::from(index);
    if i < LINEAR {
        return (i as f64, (i + 1) as f64);
    }
    let exp = (i - LINEAR) / (1 << SUB_BITS) + u64::from(SUB_BITS);
    let sub = (i - LINEAR) % (1 << SUB_BITS);
    let unit = 2f64.powi((exp - u64::from(SUB_BITS)) as i32);
    (((1 << SUB_BITS) + sub) as f64 * unit, ((1 << SUB_BITS) + sub + 1) as f64 * unit)
}

/// A sparse histogram: (bucket, count) pairs sorted by bucket.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Histogram {
    pub buckets: Vec<(u16, u64)>,
}

impl Histogram {
    /// Counts one observation of `micros`.
    pub fn observe(&mut self, micros: u64) {
        self.add_bucket(bucket_of(micros), 1);
    }

    pub fn add_bucket(&mut self, bucket: u16, count: u64) {
        match self.buckets.binary_search_by_key(&bucket, |(b, _)| *b) {
            Ok(i) => {
                if let Some(slot) = self.buckets.get_mut(i) {
                    slot.1 = slot.1.saturating_add(count);
                }
            }
            Err(i) => self.buckets.insert(i, (bucket, count)),
        }
    }

    pub fn merge(&mut self, other: &Histogram) {
        if self.buckets.is_empty() {
            self.buckets.clone_from(&other.buckets);
            return;
        }
        for &(b, c) in &other.buckets {
            self.add_bucket(b, c);
        }
    }

    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|(_, c)| *c).sum()
    }
}

/// Counts of every bucket, for windows that slide: minutes are added as they enter a window
/// and subtracted as they leave it.
pub struct DenseHistogram {
    counts: Vec<u64>,
    total: u64,
}

impl Default for DenseHistogram {
    fn default() -> Self {
        Self { counts: vec![0; BUCKETS], total: 0 }
    }
}

impl DenseHistogram {
    pub fn add(&mut self, h: &Histogram) {
        for &(b, c) in &h.buckets {
            if let Some(slot) = self.counts.get_mut(b as usize) {
                *slot = slot.saturating_add(c);
                self.total = self.total.saturating_add(c);
            }
        }
    }

    pub fn subtract(&mut self, h: &Histogram) {
        for &(b, c) in &h.buckets {
            if let Some(slot) = self.counts.get_mut(b as usize) {
                let c = c.min(*slot);
                *slot -= c;
                self.total -= c;
            }
        }
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// The `q` quantile (0..=1) in microseconds, interpolated inside its bucket; `None` when
    /// empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * self.total as f64;
        let mut below = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            if (below + c) as f64 >= rank {
                let (lo, hi) = bounds_of(i as u16);
                let inside = ((rank - below as f64) / c as f64).clamp(0.0, 1.0);
                return Some(lo + (hi - lo) * inside);
            }
            below += c;
        }
        // Rounding left the rank past the last count: the top of the highest bucket.
        self.counts.iter().rposition(|c| *c > 0).map(|i| bounds_of(i as u16).1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_duration_falls_in_a_bucket_that_holds_it_and_is_at_most_an_eighth_wide() {
        let mut samples: Vec<u64> = (0..5000).collect();
        samples.extend((0..64).map(|e| 1u64 << e));
        samples.extend((3..64).map(|e| (1u64 << e) - 1));
        samples.extend([u64::MAX, 123_456_789, 999_999, 1_000_001]);
        for d in samples {
            let b = bucket_of(d);
            assert!((b as usize) < BUCKETS, "{d} -> {b}");
            let (lo, hi) = bounds_of(b);
            // Past 2^53 an f64 no longer holds every integer: bounds are checked below that.
            assert!(d > 1 << 53 || lo <= d as f64 && (d as f64) < hi, "{d} not in [{lo}, {hi}) of bucket {b}");
            if d >= LINEAR {
                assert!((hi - lo) / lo <= 0.125 + 1e-12, "bucket {b} is {} wide", (hi - lo) / lo);
            }
        }
    }

    #[test]
    fn buckets_rise_with_the_duration() {
        let mut last = 0;
        for d in (0..2_000_000u64).step_by(7) {
            let b = bucket_of(d);
            assert!(b >= last);
            last = b;
        }
    }

    #[test]
    fn quantiles_of_known_durations_are_within_an_eighth() {
        // 1..=1000 ms, one span each: p50 is 500 ms, p95 950, p99 990.
        let mut h = Histogram::default();
        for ms in 1..=1000u64 {
            h.observe(ms * 1000);
        }
        let mut dense = DenseHistogram::default();
        dense.add(&h);
        assert_eq!(dense.total(), 1000);
        for (q, want) in [(0.5, 500_000.0), (0.75, 750_000.0), (0.95, 950_000.0), (0.99, 990_000.0)] {
            let got = dense.quantile(q).unwrap_or(0.0);
            assert!((got - want).abs() / want <= 0.125, "p{q}: {got} against {want}");
        }
        dense.subtract(&h);
        assert_eq!(dense.quantile(0.5), None);
    }

    #[test]
    fn merging_adds_counts() {
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        a.observe(10);
        a.observe(5000);
        b.observe(5001);
        b.observe(1);
        a.merge(&b);
        assert_eq!(a.count(), 4);
        assert_eq!(a.buckets.iter().find(|(k, _)| *k == bucket_of(5000)).map(|x| x.1), Some(2));
    }
}
