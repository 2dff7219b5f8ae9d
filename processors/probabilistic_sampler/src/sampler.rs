//! The per-span decision, step for step as the Collector's `commonShouldSampleLogic`:
//! randomness (hash, trace id or `rv`) -> consistency check -> the mode's threshold (or
//! fail open/closed on error) -> the `sampling.priority` override -> `threshold <= randomness`.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use tracegate_core::data::Span;

use crate::config::{ProbabilisticSamplerConfig, SamplerMode};
use crate::hash::{randomness_from_bytes, scaled_sample_rate, NUM_HASH_BUCKETS};
use crate::tracestate::{
    probability_to_threshold, threshold_probability, trace_id_randomness, Threshold, W3cTraceState,
    ALWAYS_SAMPLE, MAX_ADJUSTED_COUNT, MIN_SAMPLING_PROBABILITY, NEVER_SAMPLE,
};

/// Randomness for a span whose randomness is missing: passes every threshold but "never".
const ALL_PROBABILITIES_RANDOMNESS: u64 = MAX_ADJUSTED_COUNT - 1;

#[derive(Clone, Debug, PartialEq)]
pub enum Sampler {
    /// 0% (or a rate that rounds to no bucket): drops everything not forced by priority.
    Never { fail_closed: bool },
    HashSeed { seed: u32, threshold: Threshold, fail_closed: bool },
    Equalizing { threshold: Threshold, fail_closed: bool },
    Proportional { ratio: f64, precision: u8, fail_closed: bool },
}

/// What happens to one span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Keep,
    /// Keep, with this new tracestate.
    KeepWithTraceState(String),
    Drop,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Priority {
    Defer,
    Must,
    DoNot,
}

fn sampling_priority(span: &Span) -> Priority {
    let Some(v) = span.attributes.iter().find(|kv| kv.key == "sampling.priority").and_then(|kv| kv.value.as_ref()?.value.as_ref()) else {
        return Priority::Defer;
    };
    let n = match v {
        Value::IntValue(i) => *i as f64,
        Value::DoubleValue(d) => *d,
        Value::StringValue(s) => s.trim().parse::<f64>().unwrap_or(f64::NAN),
        _ => f64::NAN,
    };
    if n == 0.0 {
        Priority::DoNot
    } else if n > 0.0 {
        Priority::Must
    } else {
        Priority::Defer
    }
}

impl Sampler {
    pub fn from_config(cfg: &ProbabilisticSamplerConfig) -> Self {
        let fail_closed = cfg.fail_closed;
        let pct = cfg.sampling_percentage.min(100.0);
        if pct <= 0.0 || pct.is_nan() {
            return Sampler::Never { fail_closed };
        }
        let ratio = (f64::from(pct) / 100.0).max(MIN_SAMPLING_PROBABILITY);
        let precision = cfg.sampling_precision;
        match cfg.effective_mode() {
            SamplerMode::HashSeed => {
                let scaled = scaled_sample_rate(pct);
                if scaled == 0 {
                    tracing::warn!(percent = pct, "probabilistic_sampler: rate rounds to zero buckets; nothing will be kept");
                    return Sampler::Never { fail_closed };
                }
                let threshold = u64::from(NUM_HASH_BUCKETS - scaled) << 42;
                Sampler::HashSeed { seed: cfg.hash_seed, threshold, fail_closed }
            }
            SamplerMode::Equalizing => {
                let threshold = probability_to_threshold(ratio, precision).unwrap_or(ALWAYS_SAMPLE);
                Sampler::Equalizing { threshold, fail_closed }
            }
            SamplerMode::Proportional => Sampler::Proportional { ratio, precision, fail_closed },
        }
    }

    fn fail_closed(&self) -> bool {
        match self {
            Sampler::Never { fail_closed }
            | Sampler::HashSeed { fail_closed, .. }
            | Sampler::Equalizing { fail_closed, .. }
            | Sampler::Proportional { fail_closed, .. } => *fail_closed,
        }
    }

    /// Whether this sampler writes `ot=th:` into kept spans.
    fn writes_tracestate(&self) -> bool {
        !matches!(self, Sampler::HashSeed { .. })
    }

    /// Randomness and parsed tracestate, or why they cannot be had.
    fn randomness(&self, span: &Span) -> (Option<u64>, Option<W3cTraceState>, Option<String>) {
        let ts = match W3cTraceState::parse(&span.trace_state) {
            Ok(ts) => ts,
            Err(e) => return (None, None, Some(e.to_string())),
        };
        if let Sampler::HashSeed { seed, .. } = self {
            if trace_id_randomness(&span.trace_id).is_none() {
                return (None, Some(ts), Some("missing randomness".into()));
            }
            let rnd = randomness_from_bytes(&span.trace_id, *seed);
            // A tracestate that already carries consistent-sampling values must not be mixed
            // with the legacy hash; the Collector refuses it the same way.
            if ts.rvalue.is_some() {
                return (Some(rnd), Some(ts), Some("tracestate has an r-value; use proportional or equalizing mode".into()));
            }
            if ts.tvalue.is_some() {
                return (Some(rnd), Some(ts), Some("tracestate has a threshold; use proportional or equalizing mode".into()));
            }
            return (Some(rnd), Some(ts), None);
        }
        let rnd = ts.rvalue.as_ref().map(|(_, r)| *r).or_else(|| trace_id_randomness(&span.trace_id));
        let Some(rnd) = rnd else {
            return (None, Some(ts), Some("missing randomness".into()));
        };
        let mut ts = ts;
        if let Some(th) = ts.threshold() {
            if th > rnd {
                ts.clear_threshold();
                return (Some(rnd), Some(ts), Some("inconsistent arriving threshold".into()));
            }
        }
        (Some(rnd), Some(ts), None)
    }

    fn mode_threshold(&self, ts: &W3cTraceState) -> Threshold {
        match self {
            Sampler::Never { .. } => NEVER_SAMPLE,
            Sampler::HashSeed { threshold, .. } | Sampler::Equalizing { threshold, .. } => *threshold,
            Sampler::Proportional { ratio, precision, .. } => {
                let incoming = ts.threshold().map_or(1.0, threshold_probability);
                probability_to_threshold(incoming * ratio, *precision).unwrap_or(NEVER_SAMPLE)
            }
        }
    }

    pub fn decide(&self, span: &Span) -> Decision {
        let priority = sampling_priority(span);
        if priority == Priority::DoNot {
            return Decision::Drop;
        }
        // The never sampler decides before looking for randomness (no error, no log).
        let (rnd, ts, err) = if matches!(self, Sampler::Never { .. }) {
            (None, W3cTraceState::parse(&span.trace_state).ok(), None)
        } else {
            self.randomness(span)
        };
        let mut threshold = match (&err, &ts) {
            (Some(e), _) => {
                tracing::debug!(error = %e, "traces sampler");
                if self.fail_closed() { NEVER_SAMPLE } else { ALWAYS_SAMPLE }
            }
            (None, Some(ts)) => self.mode_threshold(ts),
            (None, None) => NEVER_SAMPLE,
        };
        if priority == Priority::Must {
            threshold = ALWAYS_SAMPLE;
        }
        let rnd = rnd.unwrap_or(ALL_PROBABILITIES_RANDOMNESS);
        if threshold > rnd {
            return Decision::Drop;
        }
        match ts {
            Some(mut ts) if self.writes_tracestate() => {
                if !ts.update_threshold(threshold) {
                    tracing::warn!("traces sampler: not raising the arriving sampling probability in tracestate");
                }
                let out = ts.serialize();
                if out == span.trace_state { Decision::Keep } else { Decision::KeepWithTraceState(out) }
            }
            _ => Decision::Keep,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::hash::hash_bucket;
    use crate::tracestate::threshold_tvalue;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};

    fn tid(hex: &str) -> Vec<u8> {
        (0..16).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect()
    }

    const DEFAULT_TID: &str = "fefefefefefefefefe80000000000000";

    fn span(trace_id: &str, ts: &str, priority: Option<Value>) -> Span {
        Span {
            trace_id: tid(trace_id),
            span_id: vec![0, 0, 0, 0, 0xfe, 0xfe, 0xfe, 0xfe],
            trace_state: ts.to_string(),
            attributes: priority
                .map(|v| vec![KeyValue { key: "sampling.priority".into(), value: Some(AnyValue { value: Some(v) }), ..Default::default() }])
                .unwrap_or_default(),
            ..Default::default()
        }
    }

    fn prop(pct: f64, precision: u8) -> Sampler {
        Sampler::Proportional { ratio: pct / 100.0, precision, fail_closed: false }
    }
    fn eq(pct: f64, precision: u8) -> Sampler {
        Sampler::Equalizing { threshold: probability_to_threshold(pct / 100.0, precision).unwrap(), fail_closed: false }
    }
    fn kept(ts: &str) -> Decision {
        Decision::KeepWithTraceState(ts.to_string())
    }

    /// Cases from the Collector's `Test_tracesamplerprocessor_TraceState` (both modes).
    #[test]
    fn consistent_modes_match_the_collectors_vectors() {
        for s in [prop(100.0, 0), eq(100.0, 0)] {
            assert_eq!(s.decide(&span(DEFAULT_TID, "", None)), kept("ot=th:0"));
        }
        for s in [prop(50.0, 0), eq(50.0, 0)] {
            assert_eq!(s.decide(&span(DEFAULT_TID, "", None)), kept("ot=th:8"));
        }
        for s in [prop(49.0, 0), eq(49.0, 0)] {
            assert_eq!(s.decide(&span(DEFAULT_TID, "", None)), Decision::Drop);
        }
        assert_eq!(prop(25.0, 0).decide(&span("ddddddddddddddddddc0000000000000", "", None)), kept("ot=th:c"));
        assert_eq!(prop(25.0, 0).decide(&span("ddddddddddddddddddb0000000000000", "", None)), Decision::Drop);
        let rv = "ot=rv:FD70A3D70A3D71";
        assert_eq!(prop(1.0, 0).decide(&span(DEFAULT_TID, rv, None)), kept("ot=rv:FD70A3D70A3D71;th:fd70a3d70a3d71"));
        assert_eq!(prop(1.0, 4).decide(&span(DEFAULT_TID, rv, None)), kept("ot=rv:FD70A3D70A3D71;th:fd70a"));
        assert_eq!(prop(1.0, 3).decide(&span(DEFAULT_TID, rv, None)), Decision::Drop);
        assert_eq!(prop(1.0, 0).decide(&span(DEFAULT_TID, "ot=rv:FD70A3D70A3D70", None)), Decision::Drop);
        assert_eq!(
            prop(1.0, 0).decide(&span(DEFAULT_TID, "ot=rv:fd70B000000000", None)),
            kept("ot=rv:fd70B000000000;th:fd70a3d70a3d71")
        );
        assert_eq!(prop(1.0, 4).decide(&span("a0a0a0a0a0a0a0a0a0fe000000000000", "", None)), kept("ot=th:fd70a"));
        assert_eq!(prop(1.0, 0).decide(&span(DEFAULT_TID, "", Some(Value::IntValue(2)))), kept("ot=th:0"));
        assert_eq!(prop(99.0, 0).decide(&span(DEFAULT_TID, "", Some(Value::IntValue(0)))), Decision::Drop);

        let ts = "ot=rv:90000000000000;th:80000000000000";
        assert_eq!(eq(50.0, 0).decide(&span(DEFAULT_TID, ts, None)), kept("ot=rv:90000000000000;th:8"));
        assert_eq!(prop(50.0, 0).decide(&span(DEFAULT_TID, ts, None)), Decision::Drop);
        assert_eq!(prop(25.0, 0).decide(&span(DEFAULT_TID, "ot=th:8", None)), Decision::Drop);
        let all = "ffffffffffffffffffffffffffffffff";
        assert_eq!(eq(25.0, 0).decide(&span(all, "ot=th:8", None)), kept("ot=th:c"));
        assert_eq!(prop(25.0, 0).decide(&span(all, "ot=th:8", None)), kept("ot=th:e"));
        let ts = "ot=rv:c0000000000000;th:8";
        assert_eq!(eq(50.0, 0).decide(&span(DEFAULT_TID, ts, None)), Decision::Keep);
        assert_eq!(prop(50.0, 0).decide(&span(DEFAULT_TID, ts, None)), kept("ot=rv:c0000000000000;th:c"));
        assert_eq!(prop(40.0, 3).decide(&span(DEFAULT_TID, "ot=rv:a0000000000000", None)), kept("ot=rv:a0000000000000;th:99a"));
        let t = "a0a0a0a0a0a0a0a0a0d0000000000000";
        assert_eq!(prop(40.0, 6).decide(&span(t, "ot=th:8", None)), kept("ot=th:cccccd"));
        assert_eq!(eq(40.0, 6).decide(&span(t, "ot=th:8", None)), kept("ot=th:99999a"));
        assert_eq!(prop(40.0, 3).decide(&span("a0a0a0a0a0a0a0a0a0b0000000000000", "ot=th:8", None)), Decision::Drop);
        assert_eq!(eq(40.0, 3).decide(&span("a0a0a0a0a0a0a0a0a0b0000000000000", "ot=th:8", None)), kept("ot=th:99a"));
    }

    #[test]
    fn inconsistent_or_missing_randomness_follows_fail_closed() {
        let ts = "ot=rv:40000000000000;th:8";
        assert_eq!(prop(100.0, 0).decide(&span(DEFAULT_TID, ts, None)), kept("ot=rv:40000000000000;th:0"));
        let closed = Sampler::Proportional { ratio: 0.01, precision: 4, fail_closed: true };
        assert_eq!(closed.decide(&span(DEFAULT_TID, ts, None)), Decision::Drop);
        let zero = "00000000000000000000000000000000";
        for (pct, fail_closed, keep) in [(62.0, true, false), (100.0, true, false), (62.0, false, true), (100.0, false, true)] {
            let cfg = ProbabilisticSamplerConfig { sampling_percentage: pct, hash_seed: 4312, fail_closed, ..Default::default() };
            let d = Sampler::from_config(&cfg).decide(&span(zero, "", None));
            assert_eq!(d == Decision::Keep, keep, "pct {pct} fail_closed {fail_closed}");
        }
        for bad in ["ot=rv:abababababababab", "ot=th:abababababababab", "ot=th:-1"] {
            let closed = Sampler::Proportional { ratio: 1.0, precision: 4, fail_closed: true };
            assert_eq!(closed.decide(&span(DEFAULT_TID, bad, None)), Decision::Drop, "{bad}");
        }
    }

    #[test]
    fn sampling_priority_overrides_in_every_type() {
        let never = Sampler::from_config(&ProbabilisticSamplerConfig { hash_seed: 4312, ..Default::default() });
        let all = Sampler::from_config(&ProbabilisticSamplerConfig { sampling_percentage: 100.0, hash_seed: 4312, ..Default::default() });
        for v in [Value::IntValue(2), Value::DoubleValue(1.0), Value::StringValue("1".into())] {
            assert_ne!(never.decide(&span(DEFAULT_TID, "", Some(v))), Decision::Drop);
        }
        for v in [Value::IntValue(0), Value::DoubleValue(0.0), Value::StringValue("0.0".into())] {
            assert_eq!(all.decide(&span(DEFAULT_TID, "", Some(v))), Decision::Drop);
        }
        // Negative, NaN or another type defers to the hash.
        for v in [Value::IntValue(-1), Value::StringValue("NaN".into()), Value::BoolValue(true)] {
            assert_eq!(all.decide(&span(DEFAULT_TID, "", Some(v.clone()))), Decision::Keep);
            assert_eq!(never.decide(&span(DEFAULT_TID, "", Some(v))), Decision::Drop);
        }
    }

    /// The hash_seed rule is the legacy `bucket < uint32(pct * 163.84)`, and its thresholds
    /// encode as the Collector's `Test_tracesamplerprocessor_HashSeedTraceState` expects.
    #[test]
    fn hash_seed_mode_is_the_legacy_bucket_rule() {
        for (pct, tv) in [(100.0f32, "0"), (75.0, "4"), (50.0, "8"), (25.0, "c"), (10.0, "e668"), (100.0 / 3.0, "aaac")] {
            let s = Sampler::from_config(&ProbabilisticSamplerConfig { sampling_percentage: pct, hash_seed: 4312, ..Default::default() });
            let Sampler::HashSeed { threshold, .. } = s else { panic!("hash_seed mode expected") };
            assert_eq!(threshold_tvalue(threshold), tv, "{pct}%");
            let scaled = scaled_sample_rate(pct);
            for i in 1u32..2000 {
                let mut t = [0u8; 16];
                t[..4].copy_from_slice(&i.wrapping_mul(2_654_435_761).to_be_bytes());
                t[12..].copy_from_slice(&i.to_le_bytes());
                let sp = Span { trace_id: t.to_vec(), ..Default::default() };
                let legacy = hash_bucket(&t, 4312) < scaled;
                assert_eq!(s.decide(&sp) == Decision::Keep, legacy, "{pct}% trace {i}");
            }
        }
    }
}
