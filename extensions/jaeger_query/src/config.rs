//! Settings of the query service, in Jaeger v2's `jaeger_query` shape: `storage` (the id of
//! the storage exporter to read, required), `http.endpoint` (default `0.0.0.0:16686`),
//! `base_path` (default `/`, for serving behind a reverse proxy under a prefix) and
//! `max_clock_skew_adjustment` (default `0s`: off).

use serde::{Deserialize, Serialize};
use tracegate_core::config::{ConfigProblem, Endpoint, GoDuration};
use tracegate_core::factory::ComponentConfig;
use tracegate_core::ComponentId;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    pub endpoint: Endpoint,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self { endpoint: Endpoint::new("0.0.0.0", 16686) }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Id of the storage exporter to read (`sled`, `memory/test`, ...).
    pub storage: String,
    pub http: HttpConfig,
    pub base_path: BasePath,
    /// Largest shift the clock-skew adjuster applies to a span; zero turns it off.
    pub max_clock_skew_adjustment: GoDuration,
}

/// A URL prefix; `/` means none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BasePath(pub String);

impl Default for BasePath {
    fn default() -> Self {
        Self("/".to_string())
    }
}

impl BasePath {
    /// The prefix routes are nested under, without a trailing slash; `None` for `/`.
    pub fn prefix(&self) -> Option<&str> {
        let p = self.0.trim_end_matches('/');
        (!p.is_empty()).then_some(p)
    }
}

impl ComponentConfig for Config {
    fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if self.storage.is_empty() {
            problems.push(ConfigProblem::new("storage", "required: the id of the storage exporter to read, e.g. \"sled\""));
        } else if let Err(e) = ComponentId::parse(&self.storage) {
            problems.push(ConfigProblem::new("storage", format!("\"{}\" is not a component id: {e}", self.storage)));
        }
        let base = &self.base_path.0;
        if !base.starts_with('/') {
            problems.push(ConfigProblem::new("base_path", format!("\"{base}\" must start with '/', e.g. \"/jaeger\"")));
        } else if base.contains(['?', '#', '{', '}', '*', ' ']) {
            problems.push(ConfigProblem::new("base_path", format!("\"{base}\" must be a plain URL path")));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;


    use super::*;

    fn parse(yaml: &str) -> Result<Config, Vec<String>> {
        tracegate_core::testing::parse_config_messages::<Config>(yaml)
    }

    #[test]
    fn defaults_and_jaeger_v2_shape() {
        let c = parse("storage: sled").expect("valid");
        assert_eq!(c.http.endpoint.bind_addr(), "0.0.0.0:16686");
        assert_eq!((c.base_path.prefix(), c.max_clock_skew_adjustment.get()), (None, Duration::ZERO));
        let c = parse("{storage: memory/x, http: {endpoint: 'localhost:1'}, base_path: /jaeger/, max_clock_skew_adjustment: 1s}")
            .expect("valid");
        assert_eq!((c.base_path.prefix(), c.max_clock_skew_adjustment.get()), (Some("/jaeger"), Duration::from_secs(1)));
    }

    #[test]
    fn problems_name_their_key() {
        assert_eq!(parse("{}").expect_err("no storage"), ["storage: required: the id of the storage exporter to read, e.g. \"sled\""]);
        assert_eq!(parse("{storage: s, base_path: x}").expect_err("relative"), ["base_path: \"x\" must start with '/', e.g. \"/jaeger\""]);
        let err = parse("{storage: s, grpc: {}}").expect_err("unknown key");
        assert!(err[0].contains("unknown field `grpc`"), "{err:?}");
    }
}
