//! The `remote_sampling` config, in Jaeger v2's shape:
//!
//! ```yaml
//! extensions:
//!   remote_sampling:
//!     file: { path: ./strategies.json, reload_interval: 10s, default_sampling_probability: 0.001 }
//!     http: { endpoint: 0.0.0.0:5778 }
//!     grpc: { endpoint: 0.0.0.0:5779 }
//! ```
//!
//! Exactly one strategy source must be named, as in Jaeger: `file`, or `adaptive` (strategies
//! computed from the traffic the `adaptive_sampling` processor sees; see [`crate::adaptive`]):
//!
//! ```yaml
//! extensions:
//!   remote_sampling:
//!     adaptive: { target_samples_per_second: 1, calculation_interval: 1m }
//!     http: { endpoint: 0.0.0.0:5778 }
//! ```
//!
//! As with the `otlp` receiver's protocols, `http:` or `grpc:` with nothing after it (YAML null)
//! means "enabled with defaults" and a server that is not named is off. (Recent Jaeger v2
//! releases turn both on by default; tracegate keeps the Collector's explicit opt-in, which also
//! lets a config serve strategies only on the `jaeger` receiver's gRPC port.)
//!
//! `validate` is pure: the strategies file is read when the extension is created, and a missing
//! or malformed file is then a start-up error naming the path and the JSON problem.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tracegate_core::config::{validate_keepalive, validate_tls, ConfigProblem, Endpoint, GoDuration, GrpcKeepalive, TlsServerConfig};
use tracegate_core::factory::{ComponentConfig, FromConfig};
use tracegate_core::server::ServerLimits;

/// Jaeger's default probability for services (and operations) the file does not name.
pub const DEFAULT_SAMPLING_PROBABILITY: f64 = 0.001;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Strategies from a JSON file in Jaeger's format.
    #[serde(deserialize_with = "tracegate_core::config::de::null_as_default", skip_serializing_if = "Option::is_none")]
    pub file: Option<FileConfig>,
    /// Adaptive sampling (Jaeger's algorithm, computed in this process).
    #[serde(deserialize_with = "tracegate_core::config::de::null_as_default", skip_serializing_if = "Option::is_none")]
    pub adaptive: Option<AdaptiveConfig>,
    /// `GET /sampling?service=X` and the legacy `GET /?service=X`. `None` (absent): off.
    #[serde(deserialize_with = "tracegate_core::config::de::null_as_default", skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpConfig>,
    /// `jaeger.api_v2.SamplingManager`. `None` (absent): off.
    #[serde(deserialize_with = "tracegate_core::config::de::null_as_default", skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcConfig>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    /// The strategies file (required). Relative paths are relative to the working directory.
    pub path: PathBuf,
    /// How often to look for a changed file; 0 (the default) never reloads.
    pub reload_interval: GoDuration,
    /// The probability served when the file names no default strategy, and the default of
    /// per-operation strategies whose service is not probabilistic.
    pub default_sampling_probability: f64,
}

impl Default for FileConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::new(),
            reload_interval: GoDuration::default(),
            default_sampling_probability: DEFAULT_SAMPLING_PROBABILITY,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Defaults to `0.0.0.0:5778`, the Jaeger agent's sampling port.
    pub endpoint: Endpoint,
    /// TLS for this port (the Collector's `configtls` server settings); absent means plain.
    #[serde(deserialize_with = "tracegate_core::config::de::null_as_default", skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsServerConfig>,
    /// Connection cap, timeouts and bytes-in-flight bound of this port (see
    /// `tracegate_core::server::ServerLimits`).
    #[serde(flatten)]
    pub limits: ServerLimits,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self { endpoint: Endpoint::new("0.0.0.0", 5778), tls: None, limits: ServerLimits::default() }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcConfig {
    /// Defaults to `0.0.0.0:5779`, Jaeger v2's sampling gRPC port.
    pub endpoint: Endpoint,
    /// Only `tcp`; accepted so Collector-style configs that spell it out still load.
    pub transport: String,
    /// TLS for this port (the Collector's `configtls` server settings); absent means plain.
    #[serde(deserialize_with = "tracegate_core::config::de::null_as_default", skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsServerConfig>,
    /// gRPC keepalive, the Collector's `keepalive: { server_parameters: {...} }` (see
    /// `tracegate_core::config::GrpcKeepalive`; `enforcement_policy` is refused).
    #[serde(deserialize_with = "tracegate_core::config::de::null_as_default", skip_serializing_if = "Option::is_none")]
    pub keepalive: Option<GrpcKeepalive>,
    /// Connection cap, timeouts and bytes-in-flight bound of this port (see
    /// `tracegate_core::server::ServerLimits`).
    #[serde(flatten)]
    pub limits: ServerLimits,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        Self { endpoint: Endpoint::new("0.0.0.0", 5779), transport: "tcp".to_string(), tls: None, keepalive: None, limits: ServerLimits::default() }
    }
}

/// Jaeger's adaptive sampling options (`adaptive.Options`), with its names and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdaptiveConfig {
    /// Jaeger v2 names a `jaeger_storage` backend to share throughput and probabilities
    /// between collectors. tracegate computes them in this process and keeps them in memory,
    /// so the name is accepted (configs move over unchanged) and not used.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sampling_store: String,
    /// The sampled traces per second wanted for each service/operation.
    pub target_samples_per_second: f64,
    /// How far (as a ratio of the target) the observed rate may be from the target before
    /// the probability is changed.
    pub delta_tolerance: f64,
    /// How often probabilities are computed; each throughput bucket covers this long.
    pub calculation_interval: GoDuration,
    /// Throughput buckets kept in memory.
    pub aggregation_buckets: usize,
    /// How many of the newest buckets the weighted rate is computed from.
    #[serde(alias = "buckets_for_calculation")]
    pub calculation_buckets: usize,
    /// Computations only use throughput older than this, so clients (which poll every
    /// minute by default) have had time to pick up the previous probabilities.
    pub calculation_delay: GoDuration,
    /// The probability served for an operation before its rate is known.
    pub initial_sampling_probability: f64,
    /// The lowest probability ever served.
    pub min_sampling_probability: f64,
    /// Served as `defaultLowerBoundTracesPerSecond`: clients sample at least this many
    /// traces per second of each operation, however low its probability.
    pub min_samples_per_second: f64,
    /// Jaeger's leader election between collectors; a single process is always the leader,
    /// so these are accepted and not used.
    pub leader_lease_refresh_interval: GoDuration,
    pub follower_lease_refresh_interval: GoDuration,
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        Self {
            sampling_store: String::new(),
            target_samples_per_second: 1.0,
            delta_tolerance: 0.3,
            calculation_interval: GoDuration::from_secs(60),
            aggregation_buckets: 10,
            calculation_buckets: 1,
            calculation_delay: GoDuration::from_secs(120),
            initial_sampling_probability: 0.001,
            min_sampling_probability: 1e-5,
            min_samples_per_second: 1.0 / 60.0,
            leader_lease_refresh_interval: GoDuration::from_secs(5),
            follower_lease_refresh_interval: GoDuration::from_secs(60),
        }
    }
}

impl AdaptiveConfig {
    fn validate(&self, problems: &mut Vec<ConfigProblem>) {
        if !self.sampling_store.is_empty() {
            problems.push(ConfigProblem::warning(
                "adaptive::sampling_store",
                format!(
                    "\"{}\" is not used: this process computes the probabilities and keeps them in memory (they restart from initial_sampling_probability after a restart, and are not shared between collectors)",
                    self.sampling_store
                ),
            ));
        }
        let mut bad = |field: &str, message: String| problems.push(ConfigProblem::new(format!("adaptive::{field}"), message));
        // Jaeger's own checks (errNonZero, errBucketsForCalculation) first.
        if self.calculation_interval.is_zero() {
            bad("calculation_interval", "must be greater than 0".into());
        }
        if self.aggregation_buckets == 0 {
            bad("aggregation_buckets", "must be greater than 0".into());
        }
        if self.calculation_buckets < 1 {
            bad("calculation_buckets", "cannot be less than 1".into());
        }
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(self.target_samples_per_second) {
            bad("target_samples_per_second", format!("{} must be a number greater than 0", self.target_samples_per_second));
        }
        if !(self.delta_tolerance.is_finite() && self.delta_tolerance >= 0.0) {
            bad("delta_tolerance", format!("{} must be a ratio of 0 or more (0.3 is 30%)", self.delta_tolerance));
        }
        for (field, p) in [
            ("initial_sampling_probability", self.initial_sampling_probability),
            ("min_sampling_probability", self.min_sampling_probability),
        ] {
            if !(0.0..=1.0).contains(&p) {
                bad(field, format!("{p} is not a probability; use a value from 0 to 1"));
            }
        }
        if self.initial_sampling_probability == 0.0 {
            bad("initial_sampling_probability", "must be greater than 0: a probability of 0 never grows".into());
        }
        if !(self.min_samples_per_second.is_finite() && self.min_samples_per_second >= 0.0) {
            bad("min_samples_per_second", format!("{} must be 0 or more", self.min_samples_per_second));
        }
    }
}

/// Where strategies come from, once the config is valid.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    File(FileConfig),
    Adaptive(AdaptiveConfig),
}

impl Config {
    /// The configured source; `None` only for a config that fails `validate`.
    pub fn source(&self) -> Option<Source> {
        match (&self.file, &self.adaptive) {
            (Some(file), None) => Some(Source::File(file.clone())),
            (None, Some(adaptive)) => Some(Source::Adaptive(adaptive.clone())),
            _ => None,
        }
    }
}

/// What `create` is given: the config with its one source picked, so the extension never
/// meets a config without one.
#[derive(Clone, Debug)]
pub struct ValidatedConfig {
    pub config: Config,
    pub source: Source,
}

impl FromConfig<Config> for ValidatedConfig {
    fn from_config(config: &Config, problems: &mut Vec<ConfigProblem>) -> Option<Self> {
        let source = config.source();
        if source.is_none() {
            // `validate` refuses such a config first; this only keeps the two in step.
            problems.push(ConfigProblem::new("", "set exactly one sampling strategy provider, 'adaptive' or 'file'"));
        }
        source.map(|source| Self { config: config.clone(), source })
    }
}

impl ComponentConfig for Config {
    type Validated = ValidatedConfig;

    fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = validate_tls(self.http.as_ref().and_then(|h| h.tls.as_ref()), "http::tls");
        problems.extend(validate_tls(self.grpc.as_ref().and_then(|g| g.tls.as_ref()), "grpc::tls"));
        problems.extend(validate_keepalive(self.grpc.as_ref().and_then(|g| g.keepalive.as_ref()), "grpc::keepalive"));
        match (&self.file, &self.adaptive) {
            (None, None) => problems.push(ConfigProblem::new(
                "",
                "no sampling strategy provider specified, expecting 'adaptive' or 'file' (e.g. file: { path: ./strategies.json })",
            )),
            (Some(_), Some(_)) => problems.push(ConfigProblem::new(
                "adaptive",
                "only one sampling strategy provider can be specified, 'adaptive' or 'file'",
            )),
            (None, Some(adaptive)) => adaptive.validate(&mut problems),
            (Some(_), None) => {}
        }
        if let Some(file) = &self.file {
            if file.path.as_os_str().is_empty() {
                problems.push(ConfigProblem::new("file::path", "is required: the JSON file with the sampling strategies"));
            }
            let p = file.default_sampling_probability;
            if !(0.0..=1.0).contains(&p) {
                problems.push(ConfigProblem::new(
                    "file::default_sampling_probability",
                    format!("{p} is not a probability; use a value from 0 to 1"),
                ));
            }
        }
        if let Some(grpc) = &self.grpc {
            if grpc.transport != "tcp" {
                problems.push(ConfigProblem::new(
                    "grpc::transport",
                    format!("unsupported transport \"{}\" (only \"tcp\" is supported)", grpc.transport),
                ));
            }
        }
        if let (Some(h), Some(g)) = (&self.http, &self.grpc) {
            if h.endpoint.port() != 0 && h.endpoint == g.endpoint {
                problems.push(ConfigProblem::new(
                    "grpc::endpoint",
                    format!("{} is also the http endpoint; give each server its own port", g.endpoint),
                ));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;


    use super::*;

    fn parse(yaml: &str) -> Result<Config, Vec<String>> {
        tracegate_core::testing::parse_config_messages::<Config>(yaml)
    }

    #[test]
    fn jaeger_v2_config_is_read_as_written() {
        let c = parse(
            "file: { path: ./strategies.json, reload_interval: 10s, default_sampling_probability: 0.01 }\n\
             http: { endpoint: 0.0.0.0:5778 }\ngrpc: { endpoint: 0.0.0.0:5779 }\n",
        )
        .unwrap();
        let file = c.file.clone().unwrap();
        assert_eq!(file.path, PathBuf::from("./strategies.json"));
        assert_eq!(file.reload_interval.get(), Duration::from_secs(10));
        assert_eq!(file.default_sampling_probability, 0.01);
        assert_eq!(c.http.unwrap().endpoint.to_string(), "0.0.0.0:5778");
        assert_eq!(c.grpc.unwrap().endpoint.to_string(), "0.0.0.0:5779");
    }

    #[test]
    fn null_servers_use_defaults_and_absent_ones_are_off() {
        let c = parse("file: { path: s.json }\nhttp:\ngrpc:\n").unwrap();
        assert_eq!(c.http, Some(HttpConfig::default()));
        assert_eq!(c.grpc.as_ref().map(|g| g.endpoint.port()), Some(5779));
        let file = c.file.unwrap();
        assert_eq!((file.reload_interval.get(), file.default_sampling_probability), (Duration::ZERO, 0.001));

        let c = parse("file: { path: s.json }").unwrap();
        assert_eq!((c.http, c.grpc), (None, None));
        let rendered = serde_yaml_ng::to_string(&parse("file: { path: s.json }\nhttp:").unwrap()).unwrap();
        assert!(rendered.contains("5778") && !rendered.contains("grpc") && !rendered.contains("adaptive"), "{rendered}");
    }

    #[test]
    fn exactly_one_source_is_required() {
        assert_eq!(
            parse("{}").unwrap_err(),
            ["no sampling strategy provider specified, expecting 'adaptive' or 'file' (e.g. file: { path: ./strategies.json })"]
        );
        assert_eq!(parse("http:").unwrap_err().len(), 1);
        assert_eq!(
            parse("file: { path: s.json }\nadaptive:").unwrap_err(),
            ["adaptive: only one sampling strategy provider can be specified, 'adaptive' or 'file'"]
        );
    }

    #[test]
    fn adaptive_takes_jaeger_v2_names_and_defaults() {
        let c = parse("adaptive:\nhttp:").unwrap();
        let Some(Source::Adaptive(a)) = c.source() else { panic!("adaptive source") };
        assert_eq!(a, AdaptiveConfig::default());
        assert_eq!((a.target_samples_per_second, a.delta_tolerance, a.aggregation_buckets, a.calculation_buckets), (1.0, 0.3, 10, 1));
        assert_eq!((a.calculation_interval.get(), a.calculation_delay.get()), (Duration::from_secs(60), Duration::from_secs(120)));
        assert_eq!((a.initial_sampling_probability, a.min_sampling_probability, a.min_samples_per_second), (0.001, 1e-5, 1.0 / 60.0));

        let c = parse(
            "adaptive: { sampling_store: some_store, target_samples_per_second: 5, delta_tolerance: 0.1, \
             calculation_interval: 1s, aggregation_buckets: 3, calculation_buckets: 2, calculation_delay: 0s, \
             initial_sampling_probability: 0.01, min_sampling_probability: 0.0001, min_samples_per_second: 0.5, \
             leader_lease_refresh_interval: 1s, follower_lease_refresh_interval: 2s }",
        )
        .unwrap();
        let a = c.adaptive.unwrap();
        assert_eq!((a.sampling_store.as_str(), a.target_samples_per_second, a.calculation_buckets), ("some_store", 5.0, 2));
        let a = parse("adaptive: { buckets_for_calculation: 4, aggregation_buckets: 4 }").unwrap().adaptive.unwrap();
        assert_eq!(a.calculation_buckets, 4, "the Go field name works too");
    }

    #[test]
    fn bad_adaptive_values_name_their_field() {
        assert_eq!(
            parse("adaptive: { calculation_interval: 0s, aggregation_buckets: 0, calculation_buckets: 0 }").unwrap_err(),
            [
                "adaptive::calculation_interval: must be greater than 0",
                "adaptive::aggregation_buckets: must be greater than 0",
                "adaptive::calculation_buckets: cannot be less than 1",
            ]
        );
        assert_eq!(
            parse("adaptive: { target_samples_per_second: 0, min_sampling_probability: 2, initial_sampling_probability: 0 }").unwrap_err(),
            [
                "adaptive::target_samples_per_second: 0 must be a number greater than 0",
                "adaptive::min_sampling_probability: 2 is not a probability; use a value from 0 to 1",
                "adaptive::initial_sampling_probability: must be greater than 0: a probability of 0 never grows",
            ]
        );
        let err = parse("adaptive: { target_qps: 1 }").unwrap_err();
        assert!(err[0].starts_with("adaptive::target_qps: unknown field `target_qps`"), "{err:?}");
    }

    #[test]
    fn bad_values_name_their_field() {
        assert_eq!(parse("file:").unwrap_err(), ["file::path: is required: the JSON file with the sampling strategies"]);
        assert_eq!(
            parse("file: { path: s.json, default_sampling_probability: 1.5 }").unwrap_err(),
            ["file::default_sampling_probability: 1.5 is not a probability; use a value from 0 to 1"]
        );
        let err = parse("file: { path: s.json, reload_interval: -1s }").unwrap_err();
        assert!(err[0].starts_with("file::reload_interval: "), "{err:?}");
        let err = parse("file: { path: s.json }\nhttp: { endpoint: nope }").unwrap_err();
        assert!(err[0].starts_with("http::endpoint: "), "{err:?}");
        let err = parse("file: { path: s.json, url: http://x }").unwrap_err();
        assert!(err[0].contains("unknown field `url`"), "{err:?}");
        assert_eq!(
            parse("file: { path: s.json }\nhttp: { endpoint: ':7' }\ngrpc: { endpoint: ':7', transport: unix }").unwrap_err(),
            [
                "grpc::transport: unsupported transport \"unix\" (only \"tcp\" is supported)",
                "grpc::endpoint: :7 is also the http endpoint; give each server its own port"
            ]
        );
    }
}
