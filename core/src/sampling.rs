//! [`SamplingStrategies`]: the capability of answering "how should service X sample", which
//! the `remote_sampling` extension offers (from a file or computed adaptively) and the
//! `jaeger` receiver serves on its gRPC port (14250) as Jaeger's collector does.
//!
//! The trait lives in core, in plain Rust types, so the receiver depends on core only and not
//! on the extension's crate; the Jaeger protobuf form (`jaeger.api_v2.SamplingStrategyResponse`)
//! and the `SamplingManager` gRPC service over this trait are in the Jaeger translator crate.
//! The model mirrors that response field for field, so nothing is lost either way.

use crate::capability::Capability;

/// Jaeger's `SamplingStrategyType`: which of the single-strategy fields a client reads when
/// it does not understand per-operation sampling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StrategyType {
    #[default]
    Probabilistic,
    RateLimiting,
}

/// One operation's probability in a per-operation strategy.
#[derive(Clone, Debug, PartialEq)]
pub struct OperationStrategy {
    pub operation: String,
    /// `None` when the strategy names the operation without a probability.
    pub probability: Option<f64>,
}

/// Jaeger's `PerOperationSamplingStrategies`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PerOperation {
    pub default_probability: f64,
    pub default_lower_bound_traces_per_second: f64,
    pub default_upper_bound_traces_per_second: f64,
    pub operations: Vec<OperationStrategy>,
}

/// The strategy for one service, as Jaeger's `SamplingStrategyResponse` carries it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SamplingStrategy {
    pub strategy_type: StrategyType,
    /// `probabilisticSampling.samplingRate`.
    pub probabilistic: Option<f64>,
    /// `rateLimitingSampling.maxTracesPerSecond`.
    pub rate_limiting: Option<i32>,
    /// `operationSampling`.
    pub per_operation: Option<PerOperation>,
}

/// Answers a service's sampling strategy; cheap enough to call per request (a client polls
/// about once a minute).
pub trait SamplingStrategies: Send + Sync {
    fn strategy_for(&self, service: &str) -> SamplingStrategy;
}

impl Capability for dyn SamplingStrategies {
    const WHAT: &'static str = "sampling strategies";
}
