//! Adaptive sampling in one process, following Jaeger's `adaptive` strategy provider.
//!
//! Jaeger splits the work between the `adaptive_sampling` processor (an aggregator counting
//! root spans), a sampling store shared by collectors, a leader that computes probabilities and
//! followers that read them. tracegate is one process, so the pieces live together in
//! [`AdaptiveSampling`], owned by the `remote_sampling` extension:
//!
//! - the [`processor`](crate::processor) records each root span through
//!   [`AdaptiveSampling::record`] into the current interval's [`throughput`];
//! - every `calculation_interval` the extension's task calls [`AdaptiveSampling::tick`], which
//!   closes the interval (Jaeger's `saveThroughput`), takes the intervals that ended at least
//!   `calculation_delay` ago as one new bucket, and runs the [`calculator`];
//! - strategies are rebuilt from the new probabilities and swapped in, so requests on the
//!   HTTP and gRPC endpoints read a snapshot and never wait for a calculation.
//!
//! A service's answer is Jaeger's: `PROBABILISTIC` with `operationSampling` whose default
//! probability is `initial_sampling_probability`, whose lower bound is
//! `min_samples_per_second`, and with one entry per operation that has a probability.

pub mod calculator;
pub mod throughput;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::config::AdaptiveConfig;
use crate::proto::{
    OperationSamplingStrategy, PerOperationSamplingStrategies, ProbabilisticSamplingStrategy, SamplingStrategyResponse,
    SamplingStrategyType,
};
use crate::provider::StrategySource;
use calculator::{Bucket, Calculator, Options};
use throughput::{SamplerType, ServiceOperationThroughput, ServiceOperationValues};

/// One root span as the aggregator sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct RootSpan<'a> {
    pub service: &'a str,
    pub operation: &'a str,
    pub sampler: SamplerType,
    pub probability: f64,
}

struct Calculation {
    calculator: Calculator,
    /// Closed intervals not yet taken into a bucket, with the time they were closed (Jaeger's
    /// sampling store, kept in memory).
    closed: VecDeque<(Instant, ServiceOperationThroughput)>,
    /// The end of the last bucket (Jaeger's `lastCheckedTime`).
    last_checked: Instant,
}

/// What requests read.
struct Served {
    probabilities: ServiceOperationValues,
    services: HashMap<String, SamplingStrategyResponse>,
}

pub struct AdaptiveSampling {
    config: AdaptiveConfig,
    current: Mutex<ServiceOperationThroughput>,
    calculation: Mutex<Calculation>,
    served: RwLock<Arc<Served>>,
    default_response: SamplingStrategyResponse,
}

/// Offered by the `remote_sampling` extension in adaptive mode (a capability of this crate's
/// own, see `tracegate_core::capability`), found by the `adaptive_sampling` processor.
impl tracegate_core::capability::Capability for AdaptiveSampling {
    const WHAT: &'static str = "adaptive sampling";
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves whole values behind (maps that were
    // being filled); carrying on with them beats taking sampling down.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AdaptiveSampling {
    pub fn new(config: AdaptiveConfig, now: Instant) -> Self {
        let options = Options {
            target_samples_per_second: config.target_samples_per_second,
            delta_tolerance: config.delta_tolerance,
            aggregation_buckets: config.aggregation_buckets,
            calculation_buckets: config.calculation_buckets,
            initial_sampling_probability: config.initial_sampling_probability,
            min_sampling_probability: config.min_sampling_probability,
        };
        let default_response = service_response(&config, Vec::new());
        Self {
            current: Mutex::new(ServiceOperationThroughput::new()),
            calculation: Mutex::new(Calculation {
                calculator: Calculator::new(options),
                closed: VecDeque::new(),
                last_checked: now.checked_sub(config.calculation_delay.get()).unwrap_or(now),
            }),
            served: RwLock::new(Arc::new(Served { probabilities: HashMap::new(), services: HashMap::new() })),
            default_response,
            config,
        }
    }

    pub fn config(&self) -> &AdaptiveConfig {
        &self.config
    }

    /// Counts root spans into the current interval (one lock for the whole batch).
    pub fn record<'a>(&self, spans: impl IntoIterator<Item = RootSpan<'a>>) {
        let mut current = lock(&self.current);
        for s in spans {
            throughput::record(&mut current, s.service, s.operation, s.sampler, s.probability);
        }
    }

    /// The current interval's counts so far (for tests and diagnostics).
    pub fn current_throughput(&self) -> ServiceOperationThroughput {
        lock(&self.current).clone()
    }

    /// The probability served to `operation` of `service` right now.
    pub fn probability_for(&self, service: &str, operation: &str) -> f64 {
        self.served()
            .probabilities
            .get(service)
            .and_then(|ops| ops.get(operation))
            .copied()
            .unwrap_or(self.config.initial_sampling_probability)
    }

    fn served(&self) -> Arc<Served> {
        self.served.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Closes the current interval at `now` and recalculates from the intervals that ended by
    /// `now - calculation_delay` (Jaeger's aggregation loop tick plus `runCalculation`).
    pub fn tick(&self, now: Instant) {
        let finished = std::mem::take(&mut *lock(&self.current));
        let mut calc = lock(&self.calculation);
        calc.closed.push_back((now, finished));
        let end = now.checked_sub(self.config.calculation_delay.get()).unwrap_or(now);
        if end <= calc.last_checked {
            return;
        }
        let mut merged = ServiceOperationThroughput::new();
        while calc.closed.front().is_some_and(|(at, _)| *at <= end) {
            if let Some((_, t)) = calc.closed.pop_front() {
                throughput::merge(&mut merged, &t);
            }
        }
        let interval = end.duration_since(calc.last_checked);
        calc.last_checked = end;
        calc.calculator.prepend_bucket(Bucket { throughput: merged, interval });
        calc.calculator.calculate();
        let probabilities = calc.calculator.probabilities().clone();
        drop(calc);
        self.publish(probabilities);
    }

    fn publish(&self, probabilities: ServiceOperationValues) {
        let services = probabilities
            .iter()
            .map(|(svc, ops)| {
                let mut per_op: Vec<_> = ops
                    .iter()
                    .map(|(op, p)| OperationSamplingStrategy {
                        operation: op.clone(),
                        probabilistic_sampling: Some(ProbabilisticSamplingStrategy { sampling_rate: *p }),
                    })
                    .collect();
                // Stable answers (Jaeger's come in map order); clients do not care.
                per_op.sort_by(|a, b| a.operation.cmp(&b.operation));
                (svc.clone(), service_response(&self.config, per_op))
            })
            .collect();
        *self.served.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(Served { probabilities, services });
    }

    /// Ticks every `calculation_interval` until the task is aborted.
    pub fn spawn(self: &Arc<Self>, id: String) -> JoinHandle<()> {
        let me = self.clone();
        let every = self.config.calculation_interval.get().max(Duration::from_millis(1));
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                me.tick(Instant::now());
                tracing::debug!(extension = %id, "adaptive sampling probabilities recalculated");
            }
        })
    }
}

fn service_response(config: &AdaptiveConfig, per_operation_strategies: Vec<OperationSamplingStrategy>) -> SamplingStrategyResponse {
    SamplingStrategyResponse {
        strategy_type: SamplingStrategyType::Probabilistic as i32,
        probabilistic_sampling: None,
        rate_limiting_sampling: None,
        operation_sampling: Some(PerOperationSamplingStrategies {
            default_sampling_probability: config.initial_sampling_probability,
            default_lower_bound_traces_per_second: config.min_samples_per_second,
            per_operation_strategies,
            default_upper_bound_traces_per_second: 0.0,
        }),
    }
}

impl StrategySource for AdaptiveSampling {
    fn strategy_for(&self, service: &str) -> SamplingStrategyResponse {
        self.served().services.get(service).cloned().unwrap_or_else(|| self.default_response.clone())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tracegate_core::config::GoDuration;

    fn config(delay_secs: u64) -> AdaptiveConfig {
        AdaptiveConfig {
            calculation_interval: GoDuration::from_secs(1),
            calculation_delay: GoDuration::from_secs(delay_secs),
            delta_tolerance: 0.1,
            ..AdaptiveConfig::default()
        }
    }

    fn root(op: &str, p: f64) -> RootSpan<'_> {
        RootSpan { service: "svc", operation: op, sampler: SamplerType::Probabilistic, probability: p }
    }

    fn per_op(r: &SamplingStrategyResponse) -> Vec<(String, f64)> {
        let ops = r.operation_sampling.as_ref().unwrap();
        ops.per_operation_strategies.iter().map(|o| (o.operation.clone(), o.probabilistic_sampling.unwrap().sampling_rate)).collect()
    }

    #[test]
    fn serves_jaegers_default_until_a_calculation_and_per_operation_probabilities_after() {
        let t0 = Instant::now();
        let a = AdaptiveSampling::new(config(0), t0);
        let first = a.strategy_for("svc");
        assert_eq!(first.strategy_type, SamplingStrategyType::Probabilistic as i32);
        assert_eq!(first.probabilistic_sampling, None);
        let ops = first.operation_sampling.clone().unwrap();
        assert_eq!((ops.default_sampling_probability, ops.default_lower_bound_traces_per_second), (0.001, 1.0 / 60.0));
        assert!(ops.per_operation_strategies.is_empty());

        // 1 sample in a second at the initial probability: rate 1 = target; "GET" keeps 0.001.
        // 0 probabilistic samples for "PUT" (only a lower-bound one): it doubles.
        a.record([root("GET", 0.001), RootSpan { sampler: SamplerType::LowerBound, ..root("PUT", 0.001) }]);
        a.tick(t0 + Duration::from_secs(1));
        assert_eq!(per_op(&a.strategy_for("svc")), [("GET".to_string(), 0.001), ("PUT".to_string(), 0.002)]);
        assert_eq!(a.probability_for("svc", "PUT"), 0.002);
        assert_eq!(a.probability_for("svc", "other"), 0.001);
        assert!(per_op(&a.strategy_for("unknown")).is_empty(), "other services get the default");

        // Ten samples of GET in the next second: 10x the target, so a tenth of the probability.
        a.record((0..10).map(|_| root("GET", 0.001)));
        a.tick(t0 + Duration::from_secs(2));
        let got = per_op(&a.strategy_for("svc"));
        assert_eq!(got[0].0, "GET");
        assert!((got[0].1 - 0.0001).abs() < 1e-12, "{got:?}");
    }

    #[test]
    fn calculations_only_use_intervals_older_than_the_delay() {
        let t0 = Instant::now();
        let a = AdaptiveSampling::new(config(2), t0);
        a.record((0..10).map(|_| root("GET", 0.001)));
        a.tick(t0 + Duration::from_secs(1));
        // The interval closed at t0+1s is younger than 2s; the bucket [t0-2s, t0-1s] is empty.
        assert_eq!(a.probability_for("svc", "GET"), 0.001);
        a.tick(t0 + Duration::from_secs(2));
        assert_eq!(a.probability_for("svc", "GET"), 0.001);
        a.tick(t0 + Duration::from_secs(3));
        // Now [t0, t0+1s] is in: 10/s against a target of 1.
        assert!((a.probability_for("svc", "GET") - 0.0001).abs() < 1e-12);
    }
}
