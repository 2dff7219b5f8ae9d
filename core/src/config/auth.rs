//! `auth:` next to a listen endpoint or in an exporter: the Collector's `configauth.Config`,
//! which names an authenticator extension by id, so a Collector config carries over.
//!
//! ```yaml
//! receivers:
//!   otlp:
//!     protocols:
//!       http: { endpoint: 0.0.0.0:4318, auth: { authenticator: basicauth/ingest } }
//! exporters:
//!   otlp: { endpoint: upstream:4317, auth: { authenticator: bearertokenauth/upstream } }
//! ```
//!
//! A component only checks the id's form here; that it names a configured, enabled
//! authenticator is checked over the whole config (`crate::auth::check_references`), and the
//! component finds the running extension at start (`crate::auth::server_authenticator`).

use serde::{Deserialize, Serialize};

use super::ConfigProblem;
use crate::id::ComponentId;

/// A reference to an authenticator extension.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// The extension's id (`basicauth`, `bearertokenauth/upstream`, `oidc`, ...).
    pub authenticator: String,
}

impl AuthConfig {
    /// Problems of the reference itself, relative to the `auth` key.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        if self.authenticator.is_empty() {
            return vec![ConfigProblem::new(
                "authenticator",
                "must name an authenticator extension (e.g. basicauth)",
            )];
        }
        match ComponentId::parse(&self.authenticator) {
            Ok(_) => Vec::new(),
            Err(e) => vec![ConfigProblem::new("authenticator", e.to_string())],
        }
    }
}

/// Validates an optional `auth` section found at `path` (e.g. `protocols::grpc::auth`).
pub fn validate_auth(auth: Option<&AuthConfig>, path: &str) -> Vec<ConfigProblem> {
    auth.map(|a| a.validate().into_iter().map(|p| p.under(path)).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_or_malformed_id_is_named_with_its_path() {
        let empty = AuthConfig::default();
        let problems = validate_auth(Some(&empty), "protocols::http::auth");
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].path, "protocols::http::auth::authenticator");
        let bad = AuthConfig { authenticator: "basic auth/".into() };
        assert_eq!(validate_auth(Some(&bad), "auth").len(), 1);
        let good = AuthConfig { authenticator: "basicauth/ui".into() };
        assert!(validate_auth(Some(&good), "auth").is_empty());
        assert!(validate_auth(None, "auth").is_empty());
    }
}
