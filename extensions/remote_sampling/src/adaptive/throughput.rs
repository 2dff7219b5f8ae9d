//! Throughput: how many sampled root spans each service/operation produced in one interval,
//! and at which probabilities, as Jaeger's aggregator records them.

use std::collections::{BTreeSet, HashMap};

/// Jaeger keeps at most this many distinct probabilities per operation and interval.
const MAX_PROBABILITIES: usize = 10;

/// The `sampler.type` tag Jaeger clients put on the root span of a sampled trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SamplerType {
    Probabilistic,
    /// Sampled by the per-operation lower-bound rate limiter, not by the probability.
    LowerBound,
    RateLimiting,
    Const,
}

impl SamplerType {
    /// Jaeger's names; anything else is "unrecognized" and the span is not counted.
    pub fn parse(tag: &str) -> Option<Self> {
        match tag {
            "probabilistic" => Some(Self::Probabilistic),
            "lowerbound" => Some(Self::LowerBound),
            "ratelimiting" => Some(Self::RateLimiting),
            "const" => Some(Self::Const),
            _ => None,
        }
    }
}

/// One operation's throughput in one interval.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Throughput {
    /// Root spans sampled by the probabilistic sampler.
    pub count: i64,
    /// The probabilities clients reported (as [`truncate_float`] strings): tells whether the
    /// operation follows the probability served to it.
    pub probabilities: BTreeSet<String>,
}

/// service -> operation -> throughput.
pub type ServiceOperationThroughput = HashMap<String, HashMap<String, Throughput>>;

/// service -> operation -> value (probabilities or rates).
pub type ServiceOperationValues = HashMap<String, HashMap<String, f64>>;

/// Jaeger's `TruncateFloat`: six decimals, as a string key.
pub fn truncate_float(v: f64) -> String {
    format!("{v:.6}")
}

/// Jaeger's `FloatEquals`: equal to 10 decimals.
pub fn float_equals(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-10
}

/// Jaeger's `RecordThroughput`: every recognised root span makes its operation known (so a
/// lower-bound-only operation still gets a probability), but only probabilistic samples count.
pub fn record(
    into: &mut ServiceOperationThroughput,
    service: &str,
    operation: &str,
    sampler: SamplerType,
    probability: f64,
) {
    let ops = match into.get_mut(service) {
        Some(ops) => ops,
        None => into.entry(service.to_string()).or_default(),
    };
    let t = match ops.get_mut(operation) {
        Some(t) => t,
        None => ops.entry(operation.to_string()).or_default(),
    };
    if t.probabilities.len() != MAX_PROBABILITIES {
        t.probabilities.insert(truncate_float(probability));
    }
    if sampler == SamplerType::Probabilistic {
        t.count += 1;
    }
}

/// Jaeger's `aggregateThroughput` for one more source: counts add, probability sets merge.
pub fn merge(into: &mut ServiceOperationThroughput, from: &ServiceOperationThroughput) {
    for (service, ops) in from {
        let into_ops = into.entry(service.clone()).or_default();
        for (op, t) in ops {
            let into_t = into_ops.entry(op.clone()).or_default();
            into_t.count += t.count;
            into_t.probabilities.extend(t.probabilities.iter().cloned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_probabilistic_samples_count_but_every_type_makes_the_operation_known() {
        let mut t = ServiceOperationThroughput::new();
        record(&mut t, "svc", "GET", SamplerType::Probabilistic, 0.001);
        record(&mut t, "svc", "GET", SamplerType::Probabilistic, 0.001);
        record(&mut t, "svc", "GET", SamplerType::LowerBound, 0.002);
        record(&mut t, "svc", "PUT", SamplerType::LowerBound, 0.001);
        let get = &t["svc"]["GET"];
        assert_eq!(get.count, 2);
        assert_eq!(get.probabilities.iter().cloned().collect::<Vec<_>>(), ["0.001000", "0.002000"]);
        assert_eq!(t["svc"]["PUT"].count, 0);
    }

    #[test]
    fn at_most_ten_probabilities_are_kept() {
        let mut t = ServiceOperationThroughput::new();
        for i in 0..20 {
            record(&mut t, "svc", "op", SamplerType::Probabilistic, f64::from(i) / 100.0);
        }
        assert_eq!(t["svc"]["op"].probabilities.len(), 10);
        assert_eq!(t["svc"]["op"].count, 20);
    }

    #[test]
    fn merging_adds_counts_and_unites_probabilities() {
        let mut a = ServiceOperationThroughput::new();
        record(&mut a, "svc", "op", SamplerType::Probabilistic, 0.1);
        let mut b = ServiceOperationThroughput::new();
        record(&mut b, "svc", "op", SamplerType::Probabilistic, 0.2);
        record(&mut b, "other", "op", SamplerType::Probabilistic, 0.2);
        merge(&mut a, &b);
        assert_eq!(a["svc"]["op"].count, 2);
        assert_eq!(a["svc"]["op"].probabilities.len(), 2);
        assert_eq!(a["other"]["op"].count, 1);
        assert_eq!(truncate_float(1e-7), "0.000000");
        assert!(float_equals(0.1 + 0.2, 0.3));
    }
}
