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
//! Exactly one strategy source must be named: `file` today; `adaptive` (strategies computed
//! from observed traffic) is recognised so that its error says "not supported yet" instead of
//! "unknown field", and will become a second variant of [`Source`].
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
use tracegate_core::config::{ConfigProblem, Endpoint, GoDuration};
use tracegate_core::factory::ComponentConfig;

/// Jaeger's default probability for services (and operations) the file does not name.
pub const DEFAULT_SAMPLING_PROBABILITY: f64 = 0.001;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Strategies from a JSON file in Jaeger's format.
    #[serde(deserialize_with = "tracegate_core::config::de::null_as_default", skip_serializing_if = "Option::is_none")]
    pub file: Option<FileConfig>,
    /// Adaptive sampling: accepted by the parser only so validation can say it is not
    /// supported yet.
    #[serde(deserialize_with = "tracegate_core::config::de::null_as_default", skip_serializing_if = "Option::is_none")]
    pub adaptive: Option<serde_json::Value>,
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
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self { endpoint: Endpoint::new("0.0.0.0", 5778) }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcConfig {
    /// Defaults to `0.0.0.0:5779`, Jaeger v2's sampling gRPC port.
    pub endpoint: Endpoint,
    /// Only `tcp`; accepted so Collector-style configs that spell it out still load.
    pub transport: String,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        Self { endpoint: Endpoint::new("0.0.0.0", 5779), transport: "tcp".to_string() }
    }
}

/// Where strategies come from, once the config is valid.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    File(FileConfig),
}

impl Config {
    /// The configured source; `None` only for a config that fails `validate`.
    pub fn source(&self) -> Option<Source> {
        self.file.clone().map(Source::File)
    }
}

impl ComponentConfig for Config {
    fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        match (&self.file, &self.adaptive) {
            (None, None) => problems.push(ConfigProblem::new(
                "",
                "no sampling strategy provider specified, expecting 'file' (e.g. file: { path: ./strategies.json })",
            )),
            (Some(_), Some(_)) => problems.push(ConfigProblem::new(
                "adaptive",
                "only one sampling strategy provider can be specified, 'adaptive' or 'file'",
            )),
            (None, Some(_)) => problems.push(ConfigProblem::new(
                "adaptive",
                "adaptive sampling is not supported yet; use 'file' with a strategies file",
            )),
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
    fn a_source_is_required_and_only_file_is_supported() {
        assert_eq!(
            parse("{}").unwrap_err(),
            ["no sampling strategy provider specified, expecting 'file' (e.g. file: { path: ./strategies.json })"]
        );
        assert_eq!(parse("http:").unwrap_err().len(), 1);
        assert_eq!(
            parse("adaptive: { sampling_store: x }").unwrap_err(),
            ["adaptive: adaptive sampling is not supported yet; use 'file' with a strategies file"]
        );
        assert_eq!(
            parse("file: { path: s.json }\nadaptive:").unwrap_err(),
            ["adaptive: only one sampling strategy provider can be specified, 'adaptive' or 'file'"]
        );
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
