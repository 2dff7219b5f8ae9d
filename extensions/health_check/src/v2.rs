//! `healthcheckv2`: the Collector's newer health check, in the shape Jaeger v2's configs use
//! (`healthcheckv2: { use_v2: true, http: }`), served by the same [`HealthCheckExtension`]:
//! `http.endpoint` (default `0.0.0.0:13133`, as `health_check`; the Collector's is
//! `localhost:13133`, which a container's probe cannot reach) answers on `http.status.path`
//! (default `/status`), 200 while the service is ready and 503 otherwise.
//!
//! What only the Collector's v2 has is accepted with a warning, since it affects diagnostics
//! only: the gRPC health service (`grpc:`), the config endpoint (`http.config`) and
//! `component_health`'s error policies. With `use_v2: false` the legacy keys (`endpoint`,
//! `path`) of `health_check` apply.

use serde::{Deserialize, Serialize};
use serde_yaml_ng::Value;
use tracegate_core::config::{validate_tls, ConfigProblem, Endpoint, TlsServerConfig};
use tracegate_core::factory::ComponentConfig;
use tracegate_core::server::ServerLimits;

use crate::config::Config as V1Config;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub use_v2: bool,
    /// The HTTP server; present (even empty: `http:`) means on with defaults.
    #[serde(deserialize_with = "tracegate_core::config::de::null_as_default", skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpConfig>,
    /// The Collector's gRPC health service: accepted, not served (warned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc: Option<Value>,
    /// The Collector's error policies for component statuses: accepted, not applied (warned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component_health: Option<Value>,
    /// Legacy (`use_v2: false`) settings, as `health_check`'s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<Endpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self { use_v2: true, http: None, grpc: None, component_health: None, endpoint: None, path: None }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    pub endpoint: Endpoint,
    pub status: PathSetting,
    /// The Collector's `/config` endpoint: accepted, not served (warned when enabled).
    pub config: PathSetting,
    #[serde(deserialize_with = "tracegate_core::config::de::null_as_default", skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsServerConfig>,
    #[serde(flatten)]
    pub limits: ServerLimits,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            endpoint: Endpoint::new("0.0.0.0", 13133),
            status: PathSetting { enabled: true, path: "/status".into() },
            config: PathSetting { enabled: false, path: "/config".into() },
            tls: None,
            limits: ServerLimits::default(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PathSetting {
    pub enabled: bool,
    pub path: String,
}

impl Config {
    /// The health check to run, in `health_check`'s terms; `None` when no HTTP server is on.
    pub fn served(&self) -> Option<V1Config> {
        if !self.use_v2 {
            let d = V1Config::default();
            return Some(V1Config {
                endpoint: self.endpoint.clone().unwrap_or(d.endpoint),
                path: self.path.clone().unwrap_or(d.path),
                ..d
            });
        }
        let http = self.http.as_ref().filter(|h| h.status.enabled)?;
        Some(V1Config { endpoint: http.endpoint.clone(), path: http.status.path.clone(), tls: http.tls.clone(), limits: http.limits.clone() })
    }
}

impl ComponentConfig for Config {
    type Validated = Self;

    fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let diagnostics = "it only affects diagnostics, so it is accepted and ignored";
        if self.grpc.is_some() {
            problems.push(ConfigProblem::warning("grpc", format!("the gRPC health service is not served (HTTP only); {diagnostics}")));
        }
        if self.component_health.is_some() {
            problems.push(ConfigProblem::warning(
                "component_health",
                format!("status follows the service as a whole (a failed component makes it 503); {diagnostics}"),
            ));
        }
        if self.use_v2 && (self.endpoint.is_some() || self.path.is_some()) {
            problems.push(ConfigProblem::new("endpoint", "endpoint and path are the use_v2: false settings; with use_v2: true write http: { endpoint, status: { path } }"));
        }
        if let Some(http) = &self.http {
            if http.config.enabled {
                problems.push(ConfigProblem::warning("http::config", format!("the /config endpoint is not served; {diagnostics}")));
            }
            problems.extend(validate_tls(http.tls.as_ref(), "http::tls"));
        }
        match self.served() {
            Some(v1) => problems.extend(v1.validate().into_iter().map(|p| {
                let path = if p.path == "path" { "http::status::path".to_string() } else { format!("http::{}", p.path) };
                ConfigProblem { path, ..p }
            })),
            None => problems.push(ConfigProblem::warning("http", "no HTTP server is configured (add http: to serve the health check); nothing is served")),
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
    fn jaegers_shape_serves_status_on_13133() {
        let c = parse("{ use_v2: true, http: }").expect("valid");
        let served = c.served().expect("http on");
        assert_eq!((served.endpoint.bind_addr().as_str(), served.path.as_str()), ("0.0.0.0:13133", "/status"));
        let c = parse("{ use_v2: true, http: { endpoint: 127.0.0.1:1, status: { enabled: true, path: /health } } }").expect("valid");
        assert_eq!(c.served().map(|s| s.path), Some("/health".into()));
        let legacy = parse("{ use_v2: false, endpoint: 127.0.0.1:2, path: /h }").expect("valid");
        assert_eq!(legacy.served().map(|s| (s.endpoint.bind_addr(), s.path)), Some(("127.0.0.1:2".into(), "/h".into())));
    }

    #[test]
    fn diagnostics_only_parts_warn_and_bad_paths_fail() {
        let raw: Value = serde_yaml_ng::from_str("{ use_v2: true, http: { config: { enabled: true } }, grpc: {} }").expect("yaml");
        let parsed = tracegate_core::factory::parse_typed::<Config>(Some(&raw)).ok().expect("valid with warnings");
        let paths: Vec<&str> = parsed.warnings.iter().map(|w| w.path.as_str()).collect();
        assert_eq!(paths, ["grpc", "http::config"]);
        let err = parse("{ use_v2: true, http: { status: { enabled: true, path: nope } } }").expect_err("relative path");
        assert!(err[0].starts_with("http::status::path: \"nope\" must start with '/'"), "{err:?}");
    }
}
