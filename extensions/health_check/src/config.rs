//! Settings of the health check, as the Collector's `health_check` extension: `endpoint`
//! (default `0.0.0.0:13133`), `path` (default `/`) and `tls`. The Collector's `response_body`
//! and deprecated `check_collector_pipeline` settings are not supported.

use serde::{Deserialize, Serialize};
use tracegate_core::config::{validate_tls, ConfigProblem, Endpoint, TlsServerConfig};
use tracegate_core::factory::ComponentConfig;
use tracegate_core::server::ServerLimits;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub endpoint: Endpoint,
    /// The URL path that answers; every other path is 404.
    pub path: String,
    /// TLS for this port (the Collector's `configtls` server settings); absent means plain.
    #[serde(deserialize_with = "tracegate_core::config::de::null_as_default", skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsServerConfig>,
    /// Connection cap, timeouts and bytes-in-flight bound of this port (see
    /// `tracegate_core::server::ServerLimits`).
    #[serde(flatten)]
    pub limits: ServerLimits,
}

impl Default for Config {
    fn default() -> Self {
        Self { endpoint: Endpoint::new("0.0.0.0", 13133), path: "/".to_string(), tls: None, limits: ServerLimits::default() }
    }
}

impl ComponentConfig for Config {
    type Validated = Self;

    fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = validate_tls(self.tls.as_ref(), "tls");
        if !self.path.starts_with('/') {
            problems.push(ConfigProblem::new("path", format!("\"{}\" must start with '/', e.g. \"/health\"", self.path)));
        } else if self.path.contains(['?', '#', '{', '}', '*']) {
            problems.push(ConfigProblem::new(
                "path",
                format!("\"{}\" must be a plain URL path, without query, fragment or route patterns", self.path),
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    fn parse(yaml: &str) -> Result<Config, Vec<String>> {
        tracegate_core::testing::parse_config_messages::<Config>(yaml)
    }

    #[test]
    fn defaults_match_the_collector() {
        let config = parse("{}").expect("defaults are valid");
        assert_eq!(config.endpoint.bind_addr(), "0.0.0.0:13133");
        assert_eq!(config.path, "/");
        let config = parse("{endpoint: 'localhost:13134', path: /health/status}").expect("valid");
        assert_eq!((config.endpoint.port(), config.path.as_str()), (13134, "/health/status"));
    }

    #[test]
    fn bad_values_are_reported_with_their_key() {
        let err = parse("path: health").expect_err("relative path");
        assert_eq!(err, ["path: \"health\" must start with '/', e.g. \"/health\""]);
        let err = parse("path: '/h?x=1'").expect_err("query in path");
        assert!(err[0].starts_with("path: \"/h?x=1\" must be a plain URL path"), "{err:?}");
        let err = parse("endpoint: 13133").expect_err("no host");
        assert!(err[0].starts_with("endpoint: "), "{err:?}");
        let err = parse("response_body: {healthy: ok}").expect_err("unsupported key");
        assert!(err[0].contains("unknown field `response_body`"), "{err:?}");
    }
}
