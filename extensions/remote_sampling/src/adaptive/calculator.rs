//! Jaeger's `PostAggregator`: from the last few throughput buckets, a weighted rate of sampled
//! traces per operation, and from it a new probability that moves the rate toward the target.
//!
//! For each operation seen in the kept buckets:
//! 1. rate = the weighted mean of its per-bucket rates (newest first, at most
//!    `calculation_buckets` of them, weights `i^4` normalised so the newest dominates);
//! 2. if the rate is within `delta_tolerance` of the target, or the operation's clients do not
//!    seem to use the probability served to them, the old probability stays;
//! 3. else new = old * target / rate, but an increase is capped at +100% per calculation
//!    (Jaeger's `PercentageIncreaseCappedCalculator(1.0)`: rise slowly, fall at once, both to
//!    defend against oversampling); a rate of 0 doubles the probability;
//! 4. the result is clamped to `[min_sampling_probability, 1]`.
//!
//! An operation absent from every kept bucket is forgotten (it is then served the initial
//! probability again), as in Jaeger.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use super::throughput::{float_equals, truncate_float, ServiceOperationThroughput, ServiceOperationValues};

/// Jaeger hard-codes the increase cap of its calculator at 100%.
pub const PERCENTAGE_INCREASE_CAP: f64 = 1.0;
/// Past calculations whose "uses adaptive sampling" verdicts are kept.
const SERVICE_CACHE_SIZE: usize = 25;

/// The options the calculation reads (a subset of the `adaptive` config).
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub target_samples_per_second: f64,
    pub delta_tolerance: f64,
    pub aggregation_buckets: usize,
    pub calculation_buckets: usize,
    pub initial_sampling_probability: f64,
    pub min_sampling_probability: f64,
}

/// One interval's throughput, all sources merged.
#[derive(Clone, Debug, Default)]
pub struct Bucket {
    pub throughput: ServiceOperationThroughput,
    pub interval: Duration,
}

#[derive(Clone, Copy, Debug)]
struct CacheEntry {
    probability: f64,
    using_adaptive: bool,
}

type SamplingCache = HashMap<(String, String), CacheEntry>;

/// Keeps the buckets and the last probabilities between calculations.
pub struct Calculator {
    opts: Options,
    /// Newest first; at most `aggregation_buckets`.
    buckets: VecDeque<Bucket>,
    probabilities: ServiceOperationValues,
    qps: ServiceOperationValues,
    /// Newest first.
    service_cache: VecDeque<SamplingCache>,
}

impl Calculator {
    pub fn new(opts: Options) -> Self {
        Self {
            opts,
            buckets: VecDeque::new(),
            probabilities: HashMap::new(),
            qps: HashMap::new(),
            service_cache: VecDeque::new(),
        }
    }

    pub fn probabilities(&self) -> &ServiceOperationValues {
        &self.probabilities
    }

    pub fn qps(&self) -> &ServiceOperationValues {
        &self.qps
    }

    pub fn prepend_bucket(&mut self, bucket: Bucket) {
        self.buckets.push_front(bucket);
        self.buckets.truncate(self.opts.aggregation_buckets.max(1));
    }

    /// Per operation, its rates in the kept buckets, newest first, at most
    /// `calculation_buckets` of them (Jaeger's `throughputToQPS`).
    fn operation_rates(&self) -> HashMap<String, HashMap<String, Vec<f64>>> {
        let mut out: HashMap<String, HashMap<String, Vec<f64>>> = HashMap::new();
        for bucket in &self.buckets {
            let seconds = bucket.interval.as_secs_f64();
            for (svc, ops) in &bucket.throughput {
                let svc_rates = out.entry(svc.clone()).or_default();
                for (op, t) in ops {
                    let rates = svc_rates.entry(op.clone()).or_default();
                    if rates.len() < self.opts.calculation_buckets {
                        // A zero-length interval cannot happen with a positive
                        // calculation_interval; count it as no traffic rather than infinity.
                        rates.push(if seconds > 0.0 { t.count as f64 / seconds } else { 0.0 });
                    }
                }
            }
        }
        out
    }

    /// Runs one calculation over the kept buckets and keeps its result.
    pub fn calculate(&mut self) {
        self.service_cache.push_front(SamplingCache::new());
        self.service_cache.truncate(SERVICE_CACHE_SIZE);
        let mut probabilities = ServiceOperationValues::new();
        let mut qps = ServiceOperationValues::new();
        for (svc, ops) in self.operation_rates() {
            for (op, rates) in ops {
                let rate = weighted_rate(&rates);
                let p = self.calculate_probability(&svc, &op, rate);
                qps.entry(svc.clone()).or_default().insert(op.clone(), rate);
                probabilities.entry(svc.clone()).or_default().insert(op, p);
            }
        }
        self.probabilities = probabilities;
        self.qps = qps;
    }

    /// The new probability of one operation, given its weighted rate.
    pub fn calculate_probability(&mut self, service: &str, operation: &str, rate: f64) -> f64 {
        let old = self
            .probabilities
            .get(service)
            .and_then(|ops| ops.get(operation))
            .copied()
            .unwrap_or(self.opts.initial_sampling_probability);
        let using_adaptive = self.is_using_adaptive_sampling(old, service, operation);
        if let Some(cache) = self.service_cache.front_mut() {
            cache.insert((service.to_string(), operation.to_string()), CacheEntry { probability: old, using_adaptive });
        }
        let target = self.opts.target_samples_per_second;
        if (rate - target).abs() / target < self.opts.delta_tolerance || !using_adaptive {
            return old;
        }
        let new = if float_equals(rate, 0.0) {
            // Force at least one probabilistic sample to measure from.
            old * 2.0
        } else {
            capped_increase(target, rate, old)
        };
        new.max(self.opts.min_sampling_probability).min(1.0)
    }

    /// Whether the operation's clients sample with the probability served to them: the
    /// initial probability always counts as yes (a first sighting); otherwise the newest
    /// bucket must show that probability, or, when the operation had no traffic in it, the
    /// previous calculation must have said yes with a non-initial probability.
    fn is_using_adaptive_sampling(&self, probability: f64, service: &str, operation: &str) -> bool {
        if float_equals(probability, self.opts.initial_sampling_probability) {
            return true;
        }
        let newest = self.buckets.front().and_then(|b| b.throughput.get(service)).and_then(|ops| ops.get(operation));
        if let Some(t) = newest {
            return t.probabilities.contains(&truncate_float(probability));
        }
        match self.service_cache.get(1).and_then(|c| c.get(&(service.to_string(), operation.to_string()))) {
            Some(e) => e.using_adaptive && !float_equals(e.probability, self.opts.initial_sampling_probability),
            None => false,
        }
    }
}

/// Jaeger's `PercentageIncreaseCappedCalculator` with its cap of 100%.
pub fn capped_increase(target: f64, rate: f64, old: f64) -> f64 {
    let factor = target / rate;
    let new = old * factor;
    if factor > 1.0 && (new - old) / old > PERCENTAGE_INCREASE_CAP {
        return old + old * PERCENTAGE_INCREASE_CAP;
    }
    new
}

/// Jaeger's `WeightVectorCache` weights: `i^4` for i = len..1, normalised.
pub fn weights(len: usize) -> Vec<f64> {
    let raw: Vec<f64> = (1..=len).rev().map(|i| (i as f64).powi(4)).collect();
    let sum: f64 = raw.iter().sum();
    raw.into_iter().map(|w| w / sum).collect()
}

/// The weighted mean of rates given newest first.
pub fn weighted_rate(rates: &[f64]) -> f64 {
    weights(rates.len()).iter().zip(rates).map(|(w, r)| w * r).sum()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::adaptive::throughput::Throughput;

    fn opts(delta_tolerance: f64, calculation_buckets: usize) -> Options {
        Options {
            target_samples_per_second: 1.0,
            delta_tolerance,
            aggregation_buckets: 10,
            calculation_buckets,
            initial_sampling_probability: 0.001,
            min_sampling_probability: 0.00001,
        }
    }

    fn bucket(entries: &[(&str, &str, i64, &[&str])]) -> Bucket {
        let mut throughput = ServiceOperationThroughput::new();
        for (svc, op, count, probs) in entries {
            throughput.entry(svc.to_string()).or_default().insert(
                op.to_string(),
                Throughput { count: *count, probabilities: probs.iter().map(|p| p.to_string()).collect() },
            );
        }
        Bucket { throughput, interval: Duration::from_secs(60) }
    }

    /// Jaeger's `testThroughputBuckets`, oldest pushed first so the newest ends up in front.
    fn jaeger_buckets(c: &mut Calculator) {
        c.prepend_bucket(bucket(&[("svcA", "GET", 30, &[]), ("svcB", "GET", 45, &[])]));
        c.prepend_bucket(bucket(&[("svcA", "GET", 45, &[]), ("svcA", "PUT", 60, &[]), ("svcB", "GET", 30, &[]), ("svcB", "PUT", 15, &[])]));
    }

    #[test]
    fn rates_per_bucket_newest_first_up_to_calculation_buckets() {
        // Jaeger's TestGenerateOperationQPS.
        let mut c = Calculator::new(opts(0.2, 10));
        jaeger_buckets(&mut c);
        let r = c.operation_rates();
        assert_eq!(r["svcA"]["GET"], [0.75, 0.5]);
        assert_eq!(r["svcA"]["PUT"], [1.0]);
        assert_eq!(r["svcB"]["GET"], [0.5, 0.75]);
        assert_eq!(r["svcB"]["PUT"], [0.25]);
        c.prepend_bucket(bucket(&[("svcA", "GET", 30, &[])]));
        assert_eq!(c.operation_rates()["svcA"]["GET"], [0.5, 0.75, 0.5]);

        // ... UseMostRecentBucketOnly.
        let mut c = Calculator::new(opts(0.2, 1));
        jaeger_buckets(&mut c);
        assert_eq!(c.operation_rates()["svcA"]["GET"], [0.75]);
        c.prepend_bucket(bucket(&[("svcA", "GET", 30, &[])]));
        let r = c.operation_rates();
        assert_eq!((r["svcA"]["GET"].as_slice(), r["svcA"]["PUT"].as_slice()), ([0.5].as_slice(), [1.0].as_slice()));
    }

    #[test]
    fn weights_favour_the_newest_bucket() {
        // Jaeger's TestCalculateWeightedQPS and weight vector tests.
        assert!((weighted_rate(&[0.8, 1.2, 1.0]) - 0.86735).abs() < 0.001);
        assert!((weighted_rate(&[1.0, 1.0, 0.0, 0.0]) - 0.95197).abs() < 0.001);
        assert_eq!(weighted_rate(&[]), 0.0);
        let w = weights(3);
        assert!((w[0] - 81.0 / 98.0).abs() < 1e-12 && (w[1] - 16.0 / 98.0).abs() < 1e-12 && (w[2] - 1.0 / 98.0).abs() < 1e-12);
    }

    #[test]
    fn increases_are_capped_at_double_and_decreases_are_not() {
        // The calculator's own doc examples: 0.1 wanting 0.5 gets 0.2 (cap 100%); 0.4 wanting 0.5 gets it.
        assert!((capped_increase(5.0, 1.0, 0.1) - 0.2).abs() < 1e-12);
        assert!((capped_increase(1.25, 1.0, 0.4) - 0.5).abs() < 1e-12);
        assert!((capped_increase(1.0, 4.0, 0.4) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn probability_cases_from_jaeger() {
        // Jaeger's TestCalculateProbability (its test calculator has no cap; the two cases it
        // raises are computed here with the real 100% cap).
        let mut c = Calculator::new(opts(0.2, 1));
        c.prepend_bucket(bucket(&[("svcA", "GET", 0, &["0.500000"])]));
        c.probabilities.entry("svcA".into()).or_default().insert("GET".into(), 0.5);
        c.service_cache.push_front(SamplingCache::new());
        let cases = [
            ("svcA", "GET", 2.0, 0.25, "modify existing probability"),
            ("svcA", "PUT", 2.0, 0.0005, "modify default probability"),
            ("svcB", "GET", 0.9, 0.001, "qps within the tolerance"),
            ("svcB", "PUT", 0.000001, 0.002, "a large increase is capped at double"),
            ("svcB", "DELETE", 1e9, 0.00001, "min probability"),
            ("svcB", "DELETE", 0.0, 0.002, "0 qps doubles"),
        ];
        for (svc, op, qps, want, why) in cases {
            let got = c.calculate_probability(svc, op, qps);
            assert!((got - want).abs() < 1e-9, "{why}: {got} != {want}");
        }
        c.probabilities.get_mut("svcA").unwrap().insert("GET".into(), 0.9);
        assert_eq!(c.calculate_probability("svcA", "GET", 1e-6), 0.9, "clients not using the served 0.9: unchanged");
    }

    #[test]
    fn probabilities_and_rates_from_jaeger() {
        // Jaeger's TestCalculateProbabilitiesAndQPS.
        let mut c = Calculator::new(opts(0.2, 10));
        jaeger_buckets(&mut c);
        c.probabilities.insert("svcB".into(), [("GET".to_string(), 0.16), ("PUT".to_string(), 0.03)].into());
        c.calculate();
        let p = c.probabilities();
        assert!((p["svcA"]["GET"] - 0.00136).abs() < 1e-5, "{p:?}");
        assert_eq!(p["svcA"]["PUT"], 0.001);
        assert_eq!((p["svcB"]["GET"], p["svcB"]["PUT"]), (0.16, 0.03), "svcB's clients report no probability: kept");
        let q = c.qps();
        assert!((q["svcA"]["GET"] - 0.7352941176470588).abs() < 1e-12);
        assert_eq!(q["svcA"]["PUT"], 1.0);
        assert!((q["svcB"]["GET"] - 0.5147058823529411).abs() < 1e-12);
        assert_eq!(q["svcB"]["PUT"], 0.25);
    }

    #[test]
    fn using_adaptive_sampling_cases_from_jaeger() {
        // Jaeger's TestUsingAdaptiveSampling.
        let mut c = Calculator::new(opts(0.2, 1));
        c.prepend_bucket(bucket(&[("svc", "op", 0, &["0.010000"])]));
        assert!(c.is_using_adaptive_sampling(0.01, "svc", "op"));
        assert!(c.is_using_adaptive_sampling(0.0099999384, "svc", "op"));
        assert!(!c.is_using_adaptive_sampling(0.01, "non-svc", "op"));
        assert!(!c.is_using_adaptive_sampling(0.01, "svc", "non-op"));
        assert!(!c.is_using_adaptive_sampling(0.02, "svc", "op"));
        assert!(c.is_using_adaptive_sampling(0.001, "svc", "op"), "the initial probability always counts");

        // No traffic in the newest bucket: the previous verdict decides.
        c.service_cache.push_front(SamplingCache::new());
        c.service_cache.push_front(SamplingCache::new());
        c.service_cache[1].insert(("svc".into(), "gone".into()), CacheEntry { probability: 0.01, using_adaptive: true });
        c.service_cache[1].insert(("svc".into(), "first".into()), CacheEntry { probability: 0.001, using_adaptive: true });
        assert!(c.is_using_adaptive_sampling(0.05, "svc", "gone"));
        assert!(!c.is_using_adaptive_sampling(0.05, "svc", "first"));
    }

    #[test]
    fn an_operation_converges_on_the_target_from_the_initial_probability() {
        // 100 root spans per second at probability p yield 100p samples per second; the
        // target is 1/s, so p should settle near 0.01: up by doubling, then within tolerance.
        let mut c = Calculator::new(Options { delta_tolerance: 0.1, ..opts(0.1, 1) });
        let mut p = 0.001;
        let mut history = Vec::new();
        for _ in 0..12 {
            let samples = (100.0 * 60.0 * p) as i64;
            let prob = truncate_float(p);
            c.prepend_bucket(bucket(&[("svc", "op", samples, &[prob.as_str()])]));
            c.calculate();
            p = c.probabilities()["svc"]["op"];
            history.push(p);
        }
        assert_eq!(&history[..3], [0.002, 0.004, 0.008], "doubling while far below the target");
        assert!((p - 0.01).abs() / 0.01 < 0.1, "settles within the tolerance of 0.01: {history:?}");
    }
}
