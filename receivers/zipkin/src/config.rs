//! The `zipkin` receiver's config, in the Collector's shape:
//!
//! ```yaml
//! receivers:
//!   zipkin:
//!     endpoint: 0.0.0.0:9411
//!     parse_string_tags: false
//! ```
//!
//! `parse_string_tags` types string tag values that look like ints, doubles or booleans, as
//! the Collector does. `max_request_body_size` is the Collector's `confighttp` key (bytes,
//! counted after decompression too, so a small gzip bomb cannot expand unbounded).

use serde::{Deserialize, Serialize};
use tracegate_core::config::{validate_auth, validate_cors, validate_tls, AuthConfig, ConfigProblem, CorsConfig, Endpoint, TlsServerConfig};
use tracegate_core::factory::ComponentConfig;
use tracegate_core::server::ServerLimits;

const MIB: u64 = 1024 * 1024;
/// confighttp's default body limit, used when `max_request_body_size` is 0.
const DEFAULT_MAX_BODY: u64 = 20 * MIB;
/// Bodies are held in memory whole; past 2 GiB a value is a typo.
const MAX_BODY: u64 = 2 * 1024 * MIB - 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Defaults to `0.0.0.0:9411`: Zipkin reporters expect the collector port on every
    /// interface, as a Zipkin server or Jaeger collector offers it.
    pub endpoint: Endpoint,
    /// Type string tags that look like ints, doubles or booleans.
    pub parse_string_tags: bool,
    /// Largest accepted body in bytes, as sent and after decompression; 0 means 20 MiB.
    pub max_request_body_size: u64,
    /// TLS for this port (the Collector's `configtls` server settings); absent means plain.
    #[serde(deserialize_with = "tracegate_core::config::de::null_as_default", skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsServerConfig>,
    /// Who may call this port: an authenticator extension by id (the Collector's
    /// `configauth`); absent means open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthConfig>,
    /// Cross-origin requests browsers may make (the Collector's `cors:`: `allowed_origins`,
    /// `allowed_headers`, `max_age`); absent or without origins means CORS off.
    #[serde(deserialize_with = "tracegate_core::config::de::null_as_default", skip_serializing_if = "Option::is_none")]
    pub cors: Option<CorsConfig>,
    /// Connection cap, timeouts and bytes-in-flight bound of this port (see
    /// `tracegate_core::server::ServerLimits`).
    #[serde(flatten)]
    pub limits: ServerLimits,
    /// Jaeger's tenancy (`enabled`, `header`, `tenants`): a request must name an allowed
    /// tenant, and its spans are kept as that tenant's (see `tracegate_core::tenancy`).
    #[serde(deserialize_with = "tracegate_core::config::de::null_as_default", skip_serializing_if = "Option::is_none")]
    pub tenancy: Option<tracegate_core::tenancy::TenancyConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            endpoint: Endpoint::new("0.0.0.0", 9411),
            parse_string_tags: false,
            max_request_body_size: DEFAULT_MAX_BODY,
            tls: None,
            auth: None,
            cors: None,
            limits: ServerLimits::default(),
            tenancy: None,
        }
    }
}

impl Config {
    pub fn max_body_bytes(&self) -> usize {
        let n = match self.max_request_body_size {
            0 => DEFAULT_MAX_BODY,
            n => n.min(MAX_BODY),
        };
        usize::try_from(n).unwrap_or(usize::MAX)
    }
}

impl ComponentConfig for Config {
    type Validated = Self;

    fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = validate_tls(self.tls.as_ref(), "tls");
        problems.extend(validate_auth(self.auth.as_ref(), "auth"));
        problems.extend(validate_cors(self.cors.as_ref(), "cors"));
        problems.extend(tracegate_core::tenancy::validate_tenancy(self.tenancy.as_ref(), "tenancy"));
        if self.max_request_body_size > MAX_BODY {
            problems.push(ConfigProblem::new(
                "max_request_body_size",
                "must be below 2 GiB (it is in bytes)",
            ));
        } else {
            problems.extend(self.limits.validate(self.max_body_bytes() as u64, "max_request_body_size", ""));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(yaml: &str) -> Result<Config, Vec<ConfigProblem>> {
        tracegate_core::testing::parse_config::<Config>(yaml)
    }

    #[test]
    fn defaults_are_the_collectors() {
        let c = parse("{}").unwrap();
        assert_eq!(c.endpoint.to_string(), "0.0.0.0:9411");
        assert!(!c.parse_string_tags);
        assert_eq!(c.max_body_bytes(), 20 * 1024 * 1024);
        // `zipkin:` with nothing after it.
        let parsed = tracegate_core::factory::parse_typed::<Config>(None).unwrap();
        assert_eq!(parsed.typed.downcast_ref::<Config>(), Some(&Config::default()));
    }

    #[test]
    fn collector_config_is_read_as_written() {
        let c = parse("endpoint: localhost:9412\nparse_string_tags: true\nmax_request_body_size: 0").unwrap();
        assert_eq!(c.endpoint.bind_addr(), "localhost:9412");
        assert!(c.parse_string_tags);
        assert_eq!(c.max_body_bytes(), 20 * 1024 * 1024);
    }

    #[test]
    fn bad_values_name_their_field() {
        let p = parse("endpoint: nope").unwrap_err();
        assert_eq!(p[0].path, "endpoint");
        let p = parse("parse_string_tag: true").unwrap_err();
        assert!(p[0].message.contains("unknown field"), "{}", p[0]);
        let p = parse("max_request_body_size: 4294967296").unwrap_err();
        assert_eq!(p[0].to_string(), "max_request_body_size: must be below 2 GiB (it is in bytes)");
    }
}
