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
#[derive(Debug, Default, Deserialize)]
struct StrategiesSpec {
    #[serde(default)]
    default_strategy: Option<ServiceSpec>,
    #[serde(default)]
    service_strategies: Option<Vec<ServiceSpec>>,
    /// Unknown keys, ignored as Go does. Being a flattened map also makes serde refuse a JSON
    /// array here, which Jaeger refuses too.
    #[serde(flatten)]
    _unknown: HashMap<String, serde::de::IgnoredAny>,
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

/// serde_json appends " at line L column C" (kept as fields instead) and names the Rust
/// types it expected; say what the file should hold instead.
fn strip_position(message: &str) -> String {
    let message = match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    message
        .replace("struct ServiceSpec", "a strategy object like {\"type\": \"probabilistic\", \"param\": 0.5}")
        .replace("struct OperationSpec", "an operation strategy object like {\"operation\": \"op\", \"type\": \"probabilistic\", \"param\": 0.5}")
        .replace("struct StrategiesSpec", "an object with \"default_strategy\" and \"service_strategies\"")
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const DEFAULT_P: f64 = 0.001;

    fn parse(json: &str) -> Parsed {
        Strategies::parse(json.as_bytes(), DEFAULT_P).unwrap()
    }

    fn ops(response: &SamplingStrategyResponse) -> (f64, Vec<(&str, f64)>) {
        let ops = response.operation_sampling.as_ref().expect("operationSampling");
        let list = ops
            .per_operation_strategies
            .iter()
            .map(|o| (o.operation.as_str(), o.probabilistic_sampling.as_ref().unwrap().sampling_rate))
            .collect();
        (ops.default_sampling_probability, list)
    }

    #[test]
    fn without_strategies_everyone_gets_the_default_probability() {
        for json in ["null", "{}", r#"{"default_strategy": null, "service_strategies": null}"#] {
            let parsed = parse(json);
            assert_eq!(parsed.strategies, Strategies::defaults(DEFAULT_P), "{json}");
            assert_eq!(*parsed.strategies.strategy_for("anything"), probabilistic(0.001));
            assert!(parsed.warnings.is_empty());
        }
        let parsed = Strategies::parse(b"{}", 0.25).unwrap();
        assert_eq!(*parsed.strategies.strategy_for("x"), probabilistic(0.25));
    }

    /// Jaeger's `fixtures/strategies.json`.
    #[test]
    fn services_and_the_default_as_jaeger_answers_them() {
        let parsed = parse(
            r#"{"default_strategy": {"type": "probabilistic", "param": 0.5},
                "service_strategies": [
                  {"service": "foo", "type": "probabilistic", "param": 0.8},
                  {"service": "bar", "type": "ratelimiting", "param": 5}]}"#,
        );
        let s = &parsed.strategies;
        assert_eq!(*s.strategy_for("foo"), probabilistic(0.8));
        assert_eq!(*s.strategy_for("bar"), rate_limiting(5));
        assert_eq!(*s.strategy_for("default"), probabilistic(0.5));
        assert_eq!(*s.strategy_for(""), probabilistic(0.5));
        assert!(parsed.warnings.is_empty());
    }

    /// Jaeger's `fixtures/operation_strategies.json` and the answers its provider test expects.
    #[test]
    fn per_operation_strategies_merge_with_the_defaults_like_jaeger() {
        let parsed = parse(
            r#"{"default_strategy": {"type": "probabilistic", "param": 0.5, "operation_strategies": [
                  {"operation": "op0", "type": "probabilistic", "param": 0.2},
                  {"operation": "op6", "type": "probabilistic", "param": 0},
                  {"operation": "spam", "type": "ratelimiting", "param": 1},
                  {"operation": "op7", "type": "probabilistic", "param": 1}]},
                "service_strategies": [
                  {"service": "foo", "type": "probabilistic", "param": 0.8, "operation_strategies": [
                    {"operation": "op6", "type": "probabilistic", "param": 0.5},
                    {"operation": "op1", "type": "probabilistic", "param": 0.2},
                    {"operation": "op2", "type": "ratelimiting", "param": 10}]},
                  {"service": "bar", "type": "ratelimiting", "param": 5, "operation_strategies": [
                    {"operation": "op3", "type": "probabilistic", "param": 0.3},
                    {"operation": "op4", "type": "ratelimiting", "param": 100},
                    {"operation": "op5", "type": "probabilistic", "param": 0.4}]}]}"#,
        );
        let s = &parsed.strategies;

        let foo = s.strategy_for("foo");
        assert_eq!(foo.probabilistic_sampling, probabilistic(0.8).probabilistic_sampling);
        assert_eq!(ops(foo), (0.8, vec![("op6", 0.5), ("op1", 0.2), ("op0", 0.2), ("op7", 1.0)]));

        let bar = s.strategy_for("bar");
        assert_eq!(bar.rate_limiting_sampling, rate_limiting(5).rate_limiting_sampling);
        assert_eq!(bar.strategy_type, SamplingStrategyType::RateLimiting as i32);
        assert_eq!(
            ops(bar),
            (0.001, vec![("op3", 0.3), ("op5", 0.4), ("op0", 0.2), ("op6", 0.0), ("op7", 1.0)])
        );

        let default = s.strategy_for("default");
        assert_eq!(default.probabilistic_sampling, probabilistic(0.5).probabilistic_sampling);
        assert_eq!(ops(default), (0.5, vec![("op0", 0.2), ("op6", 0.0), ("op7", 1.0)]));
        assert_eq!(default.operation_sampling.as_ref().unwrap().default_lower_bound_traces_per_second, 0.0);

        // The rate-limited operations are left out, and said so once each.
        assert_eq!(parsed.warnings.len(), 3, "{:?}", parsed.warnings);
        for (op, p) in [("spam", "0.5"), ("op2", "0.8"), ("op4", "0.001")] {
            assert!(
                parsed.warnings.iter().any(|w| w.starts_with(&format!("operation \"{op}\"")) && w.ends_with(p)),
                "{op}: {:?}",
                parsed.warnings
            );
        }
    }

    /// The example of Jaeger's documentation ("Sampling" > "File-based sampling configuration").
    #[test]
    fn the_documented_example() {
        let parsed = parse(
            r#"{"service_strategies": [
                  {"service": "foo", "type": "probabilistic", "param": 0.8, "operation_strategies": [
                    {"operation": "op1", "type": "probabilistic", "param": 0.2},
                    {"operation": "op2", "type": "probabilistic", "param": 0.4}]},
                  {"service": "bar", "type": "ratelimiting", "param": 5}],
                "default_strategy": {"type": "probabilistic", "param": 0.5, "operation_strategies": [
                  {"operation": "/health", "type": "probabilistic", "param": 0.0},
                  {"operation": "/metrics", "type": "probabilistic", "param": 0.0}]}}"#,
        );
        let s = &parsed.strategies;
        assert_eq!(ops(s.strategy_for("foo")), (0.8, vec![("op1", 0.2), ("op2", 0.4), ("/health", 0.0), ("/metrics", 0.0)]));
        // A service without operation strategies inherits the default's, keeping its own type.
        let bar = s.strategy_for("bar");
        assert_eq!(bar.rate_limiting_sampling, rate_limiting(5).rate_limiting_sampling);
        assert_eq!(ops(bar), (0.5, vec![("/health", 0.0), ("/metrics", 0.0)]));
        assert_eq!(ops(s.strategy_for("other")), (0.5, vec![("/health", 0.0), ("/metrics", 0.0)]));
    }

    /// Jaeger's `TestServiceNoPerOperationStrategies`: a probabilistic service takes its own
    /// probability as the inherited default; a rate-limited one keeps the default's.
    #[test]
    fn inherited_operations_take_a_probabilistic_services_own_rate() {
        let parsed = parse(
            r#"{"default_strategy": {"type": "probabilistic", "param": 0.2, "operation_strategies": [
                  {"operation": "/health", "type": "probabilistic", "param": 0.1}]},
                "service_strategies": [
                  {"service": "ServiceA", "type": "probabilistic", "param": 1.0},
                  {"service": "ServiceB", "type": "ratelimiting", "param": 3}]}"#,
        );
        let s = &parsed.strategies;
        assert_eq!(ops(s.strategy_for("ServiceA")), (1.0, vec![("/health", 0.1)]));
        assert_eq!(ops(s.strategy_for("ServiceB")), (0.2, vec![("/health", 0.1)]));
        assert_eq!(s.strategy_for("ServiceB").rate_limiting_sampling, rate_limiting(3).rate_limiting_sampling);
    }

    #[test]
    fn types_params_and_duplicates_follow_jaeger() {
        let parsed = parse(
            r#"{"service_strategies": [
                  {"service": "a", "type": "ratelimiting", "param": 3.5},
                  {"service": "b", "type": "blah", "param": 3.5},
                  {"service": "c"},
                  {"service": "d", "type": "probabilistic"},
                  {"service": "e", "type": "probabilistic", "param": 0.1, "operation_strategies": []},
                  {"service": "a", "type": "probabilistic", "param": 0.3, "unknown": true}],
                "extra": 1}"#,
        );
        let s = &parsed.strategies;
        assert_eq!(*s.strategy_for("b"), probabilistic(0.001));
        assert_eq!(*s.strategy_for("c"), probabilistic(0.001));
        assert_eq!(*s.strategy_for("d"), probabilistic(0.0));
        assert_eq!(*s.strategy_for("e"), probabilistic(0.1));
        assert_eq!(*s.strategy_for("a"), probabilistic(0.3), "a later entry replaces an earlier one");
        assert_eq!(parsed.warnings.len(), 2, "{:?}", parsed.warnings);
        assert!(parsed.warnings[0].starts_with("unknown sampling strategy type \"blah\" of service \"b\""));
        assert!(parsed.warnings[1].starts_with("unknown sampling strategy type (none) of service \"c\""));

        let truncated = parse(r#"{"default_strategy": {"type": "ratelimiting", "param": 3.9}}"#);
        assert_eq!(truncated.strategies.default, rate_limiting(3));
    }

    #[test]
    fn malformed_files_say_where_and_what() {
        let err = Strategies::parse(b"\"bad value\"", DEFAULT_P).unwrap_err();
        assert_eq!((err.line, err.column), (1, 11));
        assert!(err.message.starts_with("invalid type: string \"bad value\""), "{err}");

        let err = Strategies::parse(b"{\n  \"service_strategies\": [{\"service\": \"x\", \"param\": \"high\"}]\n}", DEFAULT_P)
            .unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.to_string().starts_with("invalid JSON at line 2 column"), "{err}");
        assert!(err.message.contains("invalid type: string \"high\", expected f64"), "{err}");

        let err = Strategies::parse(br#"{"default_strategy": 5}"#, DEFAULT_P).unwrap_err();
        assert_eq!(err.message, r#"invalid type: integer `5`, expected a strategy object like {"type": "probabilistic", "param": 0.5}"#);
        let err = Strategies::parse(b"[]", DEFAULT_P).unwrap_err();
        assert_eq!(err.message, r#"invalid type: sequence, expected an object with "default_strategy" and "service_strategies""#);

        for bad in ["", "{", "[]", r#"{"service_strategies": {}}"#, r#"{"service_strategies": [null]}"#] {
            assert!(Strategies::parse(bad.as_bytes(), DEFAULT_P).is_err(), "{bad}");
        }
    }
}
