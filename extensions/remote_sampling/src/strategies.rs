//! Jaeger's sampling strategies file and how Jaeger turns it into per-service answers.
//!
//! The format and every rule here follow Jaeger's file provider
//! (`internal/sampling/samplingstrategy/file`), so a strategies file moved from Jaeger gives
//! SDKs the same answers:
//!
//! ```json
//! {
//!   "default_strategy": { "type": "probabilistic", "param": 0.5,
//!                         "operation_strategies": [ { "operation": "/health", "type": "probabilistic", "param": 0.0 } ] },
//!   "service_strategies": [
//!     { "service": "foo", "type": "probabilistic", "param": 0.8,
//!       "operation_strategies": [ { "operation": "op1", "type": "probabilistic", "param": 0.2 } ] },
//!     { "service": "bar", "type": "ratelimiting", "param": 5 }
//!   ]
//! }
//! ```
//!
//! - Without `default_strategy`, the default is probabilistic at `default_sampling_probability`.
//! - `type` is `probabilistic` (`param` = probability) or `ratelimiting` (`param` = traces per
//!   second, truncated to an integer); anything else falls back to the default probabilistic
//!   strategy, with a warning.
//! - A strategy with `operation_strategies` also answers `operationSampling`, whose
//!   `defaultSamplingProbability` is the strategy's own probability when it is probabilistic,
//!   else `default_sampling_probability`. Operations only support `probabilistic`; a
//!   `ratelimiting` operation is left out, with a warning.
//! - When the default strategy has operation strategies, every service inherits them: a
//!   service without its own gets a copy (with its own probability as the default when it is
//!   probabilistic); a service with its own gets the default's operations it does not name
//!   appended after its own.
//! - A later entry for the same service replaces an earlier one; unknown services get the
//!   default strategy.
//!
//! As with Go's `encoding/json`, unknown keys are ignored and `null` counts as absent; unlike
//! it, key names must match in case and a JSON value of the wrong type is an error.

use std::collections::HashMap;

use serde::Deserialize;

use crate::proto::{
    OperationSamplingStrategy, PerOperationSamplingStrategies, ProbabilisticSamplingStrategy,
    RateLimitingSamplingStrategy, SamplingStrategyResponse, SamplingStrategyType,
};

const PROBABILISTIC: &str = "probabilistic";
const RATE_LIMITING: &str = "ratelimiting";

/// One strategy as written in the file.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
struct StrategySpec {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    param: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
struct OperationSpec {
    #[serde(default)]
    operation: Option<String>,
    #[serde(flatten)]
    strategy: StrategySpec,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
struct ServiceSpec {
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    operation_strategies: Option<Vec<OperationSpec>>,
    #[serde(flatten)]
    strategy: StrategySpec,
}

/// The whole file.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
struct StrategiesSpec {
    #[serde(default)]
    default_strategy: Option<ServiceSpec>,
    #[serde(default)]
    service_strategies: Option<Vec<ServiceSpec>>,
}

/// Why a strategies file could not be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid JSON at line {line} column {column}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// The answers for every service, resolved once per load so requests only look them up.
#[derive(Clone, Debug, PartialEq)]
pub struct Strategies {
    pub default: SamplingStrategyResponse,
    pub services: HashMap<String, SamplingStrategyResponse>,
}

/// Strategies plus what was suspicious in the file, for the loader to log once.
#[derive(Clone, Debug, PartialEq)]
pub struct Parsed {
    pub strategies: Strategies,
    pub warnings: Vec<String>,
}

impl Strategies {
    /// What is served without a file: the default probability for everyone.
    pub fn defaults(default_probability: f64) -> Self {
        Self { default: probabilistic(default_probability), services: HashMap::new() }
    }

    /// The answer for `service`; unknown services get the default.
    pub fn strategy_for(&self, service: &str) -> &SamplingStrategyResponse {
        self.services.get(service).unwrap_or(&self.default)
    }

    /// Parses a strategies file and applies Jaeger's rules. A file holding just `null`
    /// means "no strategies": everyone gets the default.
    pub fn parse(json: &[u8], default_probability: f64) -> Result<Parsed, ParseError> {
        let spec: Option<StrategiesSpec> = serde_json::from_slice(json).map_err(|e| ParseError {
            line: e.line(),
            column: e.column(),
            message: strip_position(&e.to_string()),
        })?;
        let mut resolver = Resolver { default_probability, warnings: Vec::new() };
        let strategies = resolver.resolve(spec.unwrap_or_default());
        Ok(Parsed { strategies, warnings: resolver.warnings })
    }
}

/// serde_json appends " at line L column C"; the error carries them as fields instead.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

struct Resolver {
    default_probability: f64,
    warnings: Vec<String>,
}

impl Resolver {
    fn resolve(&mut self, spec: StrategiesSpec) -> Strategies {
        let mut out = Strategies::defaults(self.default_probability);
        if let Some(default) = &spec.default_strategy {
            out.default = self.service_response(default);
        }
        for service in spec.service_strategies.unwrap_or_default() {
            let mut response = self.service_response(&service);
            if let Some(default_ops) = &out.default.operation_sampling {
                inherit_operations(&mut response, default_ops);
            }
            out.services.insert(service.service.unwrap_or_default(), response);
        }
        out
    }

    fn service_response(&mut self, spec: &ServiceSpec) -> SamplingStrategyResponse {
        let mut response = self.strategy_response(&spec.strategy, spec.service.as_deref());
        let operations = spec.operation_strategies.as_deref().unwrap_or_default();
        if operations.is_empty() {
            return response;
        }
        let default_sampling_probability = match &response.probabilistic_sampling {
            Some(p) if response.strategy_type == SamplingStrategyType::Probabilistic as i32 => p.sampling_rate,
            _ => self.default_probability,
        };
        let mut per_operation = PerOperationSamplingStrategies {
            default_sampling_probability,
            ..Default::default()
        };
        for op in operations {
            let name = op.operation.clone().unwrap_or_default();
            let parsed = self.strategy_response(&op.strategy, spec.service.as_deref());
            match parsed.probabilistic_sampling {
                Some(p) if parsed.strategy_type == SamplingStrategyType::Probabilistic as i32 => {
                    per_operation.per_operation_strategies.push(OperationSamplingStrategy {
                        operation: name,
                        probabilistic_sampling: Some(p),
                    });
                }
                _ => self.warnings.push(format!(
                    "operation \"{name}\"{}: operation strategies only support probabilistic sampling; \
                     it is left out and the operation is sampled with probability {default_sampling_probability}",
                    service_suffix(spec.service.as_deref()),
                )),
            }
        }
        response.operation_sampling = Some(per_operation);
        response
    }

    fn strategy_response(&mut self, spec: &StrategySpec, service: Option<&str>) -> SamplingStrategyResponse {
        let param = spec.param.unwrap_or_default();
        match spec.kind.as_deref() {
            Some(PROBABILISTIC) => probabilistic(param),
            // Go's int32(float64) truncates toward zero; Rust's cast does too (and saturates
            // where Go's result is undefined).
            Some(RATE_LIMITING) => rate_limiting(param as i32),
            other => {
                self.warnings.push(format!(
                    "unknown sampling strategy type {}{}: expected \"probabilistic\" or \"ratelimiting\"; \
                     using probabilistic sampling with probability {}",
                    other.map_or_else(|| "(none)".to_string(), |t| format!("\"{t}\"")),
                    service_suffix(service),
                    self.default_probability,
                ));
                probabilistic(self.default_probability)
            }
        }
    }
}

fn service_suffix(service: Option<&str>) -> String {
    service.map(|s| format!(" of service \"{s}\"")).unwrap_or_default()
}

/// Jaeger's rule for services when the default strategy has per-operation strategies.
fn inherit_operations(response: &mut SamplingStrategyResponse, default_ops: &PerOperationSamplingStrategies) {
    match &mut response.operation_sampling {
        None => {
            let mut copy = default_ops.clone();
            if let Some(p) = &response.probabilistic_sampling {
                copy.default_sampling_probability = p.sampling_rate;
            }
            response.operation_sampling = Some(copy);
        }
        Some(own) => {
            let missing: Vec<OperationSamplingStrategy> = default_ops
                .per_operation_strategies
                .iter()
                .filter(|d| !own.per_operation_strategies.iter().any(|o| o.operation == d.operation))
                .cloned()
                .collect();
            own.per_operation_strategies.extend(missing);
        }
    }
}

pub fn probabilistic(sampling_rate: f64) -> SamplingStrategyResponse {
    SamplingStrategyResponse {
        strategy_type: SamplingStrategyType::Probabilistic as i32,
        probabilistic_sampling: Some(ProbabilisticSamplingStrategy { sampling_rate }),
        ..Default::default()
    }
}

pub fn rate_limiting(max_traces_per_second: i32) -> SamplingStrategyResponse {
    SamplingStrategyResponse {
        strategy_type: SamplingStrategyType::RateLimiting as i32,
        rate_limiting_sampling: Some(RateLimitingSamplingStrategy { max_traces_per_second }),
        ..Default::default()
    }
}
