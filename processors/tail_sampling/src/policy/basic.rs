//! Policies over the trace's shape: always, latency, status code, span count, probability
//! and rate.

use super::Decision;
use crate::held::TraceView;
use crate::policy_config::{LatencyConfig, ProbabilisticConfig, RateLimitingConfig, SpanCountConfig, StatusCodeConfig};

#[derive(Clone, Debug)]
pub struct Latency {
    threshold_ms: i64,
    upper_threshold_ms: i64,
}

impl Latency {
    pub fn new(c: &LatencyConfig) -> Self {
        Self { threshold_ms: c.threshold_ms, upper_threshold_ms: c.upper_threshold_ms }
    }

    /// The trace's duration is from its earliest start to its latest end, widened span by
    /// span; like the Collector, the first span at which it qualifies decides.
    pub fn evaluate(&self, trace: &TraceView<'_>) -> Decision {
        let (mut min, mut max) = (0u64, 0u64);
        for s in trace.spans() {
            if min == 0 || s.start_time_unix_nano < min {
                min = s.start_time_unix_nano;
            }
            if max == 0 || s.end_time_unix_nano > max {
                max = s.end_time_unix_nano;
            }
            let ms = (max as i128 - min as i128).div_euclid(1_000_000) as i64;
            let hit = if self.upper_threshold_ms == 0 {
                ms >= self.threshold_ms
            } else {
                self.threshold_ms < ms && ms <= self.upper_threshold_ms
            };
            if hit {
                return Decision::Sampled;
            }
        }
        Decision::NotSampled
    }
}

#[derive(Clone, Debug)]
pub struct StatusCode {
    /// OTLP status codes: 0 unset, 1 ok, 2 error.
    codes: Vec<i32>,
}

impl StatusCode {
    pub fn new(c: &StatusCodeConfig) -> Self {
        let codes = c
            .status_codes
            .iter()
            .filter_map(|s| match s.as_str() {
                "UNSET" => Some(0),
                "OK" => Some(1),
                "ERROR" => Some(2),
                _ => None,
            })
            .collect();
        Self { codes }
    }

    pub fn evaluate(&self, trace: &TraceView<'_>) -> Decision {
        if trace.spans().any(|s| self.codes.contains(&s.status.map_or(0, |st| st.code))) {
            Decision::Sampled
        } else {
            Decision::NotSampled
        }
    }
}

#[derive(Clone, Debug)]
pub struct SpanCount {
    min: i64,
    max: i64,
}

impl SpanCount {
    pub fn new(c: &SpanCountConfig) -> Self {
        Self { min: c.min_spans, max: c.max_spans }
    }

    pub fn evaluate(&self, trace: &TraceView<'_>) -> Decision {
        let n = trace.span_count() as i64;
        if self.min <= n && (self.max == 0 || n <= self.max) {
            Decision::Sampled
        } else {
            Decision::NotSampled
        }
    }
}

/// The Collector's tail `probabilistic` policy: FNV-1a 64 over the salt then the trace id,
/// kept when the hash is at most `ratio * (2^64 - 1)` (computed as Go's `big.Float` does).
/// This is not the `probabilistic_sampler` processor's hash; the two are separate in the
/// Collector too.
#[derive(Clone, Debug)]
pub struct Probabilistic {
    salt: Vec<u8>,
    threshold: u64,
}

const DEFAULT_HASH_SALT: &str = "default-hash-seed";

impl Probabilistic {
    pub fn new(c: &ProbabilisticConfig) -> Self {
        let salt = if c.hash_salt.is_empty() { DEFAULT_HASH_SALT } else { c.hash_salt.as_str() };
        Self { salt: salt.as_bytes().to_vec(), threshold: probabilistic_threshold(c.sampling_percentage / 100.0) }
    }

    pub fn evaluate(&self, trace_id: &[u8; 16]) -> Decision {
        if fnv1a64(&self.salt, trace_id) <= self.threshold {
            Decision::Sampled
        } else {
            Decision::NotSampled
        }
    }
}

pub(crate) fn fnv1a64(salt: &[u8], bytes: &[u8]) -> u64 {
    salt.iter().chain(bytes).fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// `calculateThreshold`: `(2^64 - 1) * ratio` with the product rounded to 64 significant bits
/// (nearest even, `big.Float`'s precision here), then truncated to an integer and clamped.
pub fn probabilistic_threshold(ratio: f64) -> u64 {
    if ratio.is_nan() || ratio <= 0.0 {
        return 0;
    }
    if ratio.is_infinite() {
        return u64::MAX;
    }
    let bits = ratio.to_bits();
    let exp_bits = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1 << 52) - 1);
    let (mant, exp) = if exp_bits == 0 { (frac, -1074) } else { (frac | (1 << 52), exp_bits - 1075) };
    let product = u128::from(u64::MAX) * u128::from(mant);
    let bit_len = 128 - product.leading_zeros() as i32;
    let (mut q, mut shift) = (product, 0i32);
    if bit_len > 64 {
        let s = bit_len - 64;
        let rem = product & ((1u128 << s) - 1);
        let half = 1u128 << (s - 1);
        q = product >> s;
        shift = s;
        if rem > half || (rem == half && q & 1 == 1) {
            q += 1;
            if q >> 64 != 0 {
                q >>= 1;
                shift += 1;
            }
        }
    }
    let e = shift + exp;
    if e >= 0 {
        if e >= 64 || (q << e) > u128::from(u64::MAX) {
            return u64::MAX;
        }
        (q << e) as u64
    } else if -e >= 128 {
        0
    } else {
        (q >> (-e)) as u64
    }
}

/// Spans per wall-clock second, as the Collector's classic `rate_limiting`: a trace is kept
/// while the second's count plus its spans stays below the limit.
#[derive(Clone, Debug)]
pub struct RateLimiting {
    spans_per_second: i64,
    current_second: i64,
    spans_in_second: i64,
}

impl RateLimiting {
    pub fn new(c: &RateLimitingConfig) -> Self {
        Self { spans_per_second: c.spans_per_second, current_second: i64::MIN, spans_in_second: 0 }
    }

    pub fn evaluate(&mut self, trace: &TraceView<'_>, now_second: i64) -> Decision {
        if self.current_second != now_second {
            self.current_second = now_second;
            self.spans_in_second = 0;
        }
        let if_sampled = self.spans_in_second + trace.span_count() as i64;
        if if_sampled < self.spans_per_second {
            self.spans_in_second = if_sampled;
            Decision::Sampled
        } else {
            Decision::NotSampled
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::super::test_support::*;
    use super::*;
    use opentelemetry_proto::tonic::trace::v1::Status;
    use tracegate_core::data::Span;

    fn timed(start_ms: u64, end_ms: u64) -> Span {
        Span { start_time_unix_nano: start_ms * 1_000_000, end_time_unix_nano: end_ms * 1_000_000, ..span(vec![]) }
    }

    #[test]
    fn latency_spans_the_whole_trace() {
        let mut p = policy("{name: l, type: latency, latency: {threshold_ms: 500}}");
        assert_eq!(eval(&mut p, &trace_with(vec![], vec![timed(1000, 1400)])), Decision::NotSampled);
        // Two short spans that together cover 600 ms.
        assert_eq!(eval(&mut p, &trace_with(vec![], vec![timed(1000, 1100), timed(1500, 1600)])), Decision::Sampled);
        assert_eq!(eval(&mut p, &trace_with(vec![], vec![timed(1000, 1500)])), Decision::Sampled, "threshold is inclusive");
        assert_eq!(eval(&mut p, &trace_with(vec![], vec![])), Decision::NotSampled, "empty trace");
        let mut band = policy("{name: l, type: latency, latency: {threshold_ms: 500, upper_threshold_ms: 1000}}");
        assert_eq!(eval(&mut band, &trace_with(vec![], vec![timed(1000, 1500)])), Decision::NotSampled, "lower bound exclusive");
        assert_eq!(eval(&mut band, &trace_with(vec![], vec![timed(1000, 2000)])), Decision::Sampled);
        assert_eq!(eval(&mut band, &trace_with(vec![], vec![timed(1000, 2001)])), Decision::NotSampled);
        // End before start (clock skew) never panics.
        assert_eq!(eval(&mut p, &trace_with(vec![], vec![timed(2000, 1000)])), Decision::NotSampled);
    }

    #[test]
    fn status_code_matches_any_span() {
        let mut p = policy("{name: s, type: status_code, status_code: {status_codes: [ERROR]}}");
        let err = Span { status: Some(Status { code: 2, message: String::new() }), ..span(vec![]) };
        assert_eq!(eval(&mut p, &trace_with(vec![], vec![span(vec![]), err])), Decision::Sampled);
        assert_eq!(eval(&mut p, &trace_with(vec![], vec![span(vec![])])), Decision::NotSampled);
        let mut unset = policy("{name: s, type: status_code, status_code: {status_codes: [UNSET]}}");
        assert_eq!(eval(&mut unset, &trace_with(vec![], vec![span(vec![])])), Decision::Sampled, "no status is UNSET");
    }

    #[test]
    fn span_count_bounds() {
        let mut p = policy("{name: c, type: span_count, span_count: {min_spans: 2, max_spans: 3}}");
        let n = |k| trace_with(vec![], (0..k).map(|_| span(vec![])).collect());
        assert_eq!(eval(&mut p, &n(1)), Decision::NotSampled);
        assert_eq!(eval(&mut p, &n(2)), Decision::Sampled);
        assert_eq!(eval(&mut p, &n(3)), Decision::Sampled);
        assert_eq!(eval(&mut p, &n(4)), Decision::NotSampled);
        let mut open = policy("{name: c, type: span_count, span_count: {min_spans: 2}}");
        assert_eq!(eval(&mut open, &n(1000)), Decision::Sampled);
    }

    #[test]
    fn probabilistic_threshold_is_go_big_float_exact() {
        assert_eq!(probabilistic_threshold(1.0), u64::MAX);
        assert_eq!(probabilistic_threshold(1.5), u64::MAX);
        assert_eq!(probabilistic_threshold(0.0), 0);
        assert_eq!(probabilistic_threshold(-0.5), 0);
        assert_eq!(probabilistic_threshold(0.5), (1 << 63) - 1);
        assert_eq!(probabilistic_threshold(0.25), (1 << 62) - 1);
        // 0.1 as f64 is 0x3FB999999999999A; (2^64-1) * that, rounded to 64 bits, truncated.
        let t = probabilistic_threshold(0.1);
        assert!((t as f64 / u64::MAX as f64 - 0.1).abs() < 1e-15, "{t}");
    }

    #[test]
    fn fnv1a64_matches_published_vectors() {
        assert_eq!(fnv1a64(b"", b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"foo", b"bar"), 0x8594_4171_f739_67e8); // FNV-1a 64 of "foobar"
    }

    #[test]
    fn probabilistic_keeps_about_the_share() {
        let mut p = policy("{name: p, type: probabilistic, probabilistic: {sampling_percentage: 25}}");
        let t = trace_with(vec![], vec![]);
        let mut kept = 0;
        for i in 0u64..100_000 {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
            id[8..].copy_from_slice(&(i ^ 0x5555).wrapping_mul(0xbf58_476d_1ce4_e5b9).to_be_bytes());
            if p.evaluate(&super::super::EvalContext { trace_id: &id, trace: &t.view(), now_second: 0 }) == Decision::Sampled {
                kept += 1;
            }
        }
        assert!((24_000..26_000).contains(&kept), "{kept}");
    }

    #[test]
    fn rate_limiting_counts_spans_per_second() {
        let mut p = policy("{name: r, type: rate_limiting, rate_limiting: {spans_per_second: 5}}");
        let two = trace_with(vec![], vec![span(vec![]), span(vec![])]);
        assert_eq!(eval_at(&mut p, &two, 10), Decision::Sampled); // 2
        assert_eq!(eval_at(&mut p, &two, 10), Decision::Sampled); // 4
        assert_eq!(eval_at(&mut p, &two, 10), Decision::NotSampled); // 6 would pass 5
        assert_eq!(eval_at(&mut p, &two, 11), Decision::Sampled, "a new second resets");
    }
}
