//! The `otlp` receiver's config, in the Collector's shape:
//!
//! ```yaml
//! receivers:
//!   otlp:
//!     protocols:
//!       grpc: { endpoint: 0.0.0.0:4317, max_recv_msg_size_mib: 4 }
//!       http: { endpoint: 0.0.0.0:4318, traces_url_path: /v1/traces, max_request_body_size: 20971520 }
//! ```
//!
//! As in the Collector, a protocol is enabled by naming it: `grpc:` with nothing after it
//! (YAML null) means "enabled with defaults", and a protocol that is not named is off.
//! Key names are the Collector's (`configgrpc.ServerConfig`, `confighttp.ServerConfig`): the
//! HTTP body limit is `max_request_body_size` in bytes, while gRPC's is `max_recv_msg_size_mib`.

use serde::{Deserialize, Serialize};
use tracegate_core::config::{
    validate_auth, validate_cors, validate_keepalive, validate_tls, AuthConfig, ConfigProblem, CorsConfig, Endpoint, GrpcKeepalive,
    TlsServerConfig,
};
use tracegate_core::factory::ComponentConfig;
use tracegate_core::server::ServerLimits;
use tracegate_core::tenancy::{validate_tenancy, TenancyConfig};

const MIB: usize = 1024 * 1024;
/// gRPC's own default receive limit, used when `max_recv_msg_size_mib` is 0, as in grpc-go.
const DEFAULT_GRPC_MAX_RECV_MIB: u64 = 4;
/// confighttp's default body limit, used when `max_request_body_size` is 0.
const DEFAULT_HTTP_MAX_BODY: u64 = 20 * MIB as u64;
/// Protobuf messages cannot exceed 2 GiB, so a larger limit is a typo.
const MAX_MESSAGE_BYTES: u64 = 2 * 1024 * MIB as u64 - 1;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub protocols: Protocols,
    /// Jaeger's tenancy (`enabled`, `header`, `tenants`) on both ports: a request must name
    /// an allowed tenant, and its spans are kept as that tenant's (see
    /// `tracegate_core::tenancy`); absent or off means one untenanted store.
    #[serde(deserialize_with = "tracegate_core::config::de::null_as_default", skip_serializing_if = "Option::is_none")]
    pub tenancy: Option<TenancyConfig>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Protocols {
    /// OTLP/gRPC. `None` (key absent) disables it.
    #[serde(
        deserialize_with = "tracegate_core::config::de::null_as_default",
        skip_serializing_if = "Option::is_none"
    )]
    pub grpc: Option<GrpcConfig>,
    /// OTLP/HTTP. `None` (key absent) disables it.
    #[serde(
        deserialize_with = "tracegate_core::config::de::null_as_default",
        skip_serializing_if = "Option::is_none"
    )]
    pub http: Option<HttpConfig>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcConfig {
    /// Defaults to `0.0.0.0:4317`. The Collector now defaults to `localhost`, but tracegate is
    /// also a drop-in Jaeger, whose users expect the collector ports open on every interface.
    pub endpoint: Endpoint,
    /// Only `tcp` is supported; accepted so Collector configs that spell it out still load.
    pub transport: String,
    /// Largest accepted (decompressed) message, in MiB; 0 means gRPC's default of 4.
    pub max_recv_msg_size_mib: u64,
    /// HTTP/2 streams per connection; 0 means no limit.
    pub max_concurrent_streams: u32,
    /// TLS for this port (the Collector's `configtls` server settings); absent means plain.
    #[serde(deserialize_with = "tracegate_core::config::de::null_as_default", skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsServerConfig>,
    /// Who may call this port: an authenticator extension by id (the Collector's
    /// `configauth`); absent means open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthConfig>,
    /// gRPC keepalive, the Collector's `keepalive: { server_parameters: {...} }` (see
    /// `tracegate_core::config::GrpcKeepalive`; `enforcement_policy` is refused).
    #[serde(deserialize_with = "tracegate_core::config::de::null_as_default", skip_serializing_if = "Option::is_none")]
    pub keepalive: Option<GrpcKeepalive>,
    /// Connection cap, timeouts and bytes-in-flight bound of this port (`read_timeout`,
    /// `read_header_timeout`, `idle_timeout`, `max_connections`, `max_request_bytes_in_flight`).
    #[serde(flatten)]
    pub limits: ServerLimits,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        Self {
            endpoint: Endpoint::new("0.0.0.0", 4317),
            transport: "tcp".to_string(),
            max_recv_msg_size_mib: DEFAULT_GRPC_MAX_RECV_MIB,
            max_concurrent_streams: 0,
            tls: None,
            auth: None,
            keepalive: None,
            limits: ServerLimits::default(),
        }
    }
}

impl GrpcConfig {
    /// The effective receive limit in bytes.
    pub fn max_recv_msg_bytes(&self) -> usize {
        let mib = if self.max_recv_msg_size_mib == 0 {
            DEFAULT_GRPC_MAX_RECV_MIB
        } else {
            self.max_recv_msg_size_mib
        };
        clamp_bytes(mib.saturating_mul(MIB as u64))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Defaults to `0.0.0.0:4318`; see [`GrpcConfig::endpoint`] for why not `localhost`.
    pub endpoint: Endpoint,
    /// Where OTLP/HTTP trace exports are POSTed. A missing leading `/` is added, as the
    /// Collector does.
    pub traces_url_path: String,
    /// Largest accepted body in bytes, both as sent and after decompression; 0 means 20 MiB.
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
    /// Connection cap, timeouts and bytes-in-flight bound of this port (`read_timeout`,
    /// `read_header_timeout`, `idle_timeout`, `max_connections`, `max_request_bytes_in_flight`).
    #[serde(flatten)]
    pub limits: ServerLimits,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            endpoint: Endpoint::new("0.0.0.0", 4318),
            traces_url_path: "/v1/traces".to_string(),
            max_request_body_size: DEFAULT_HTTP_MAX_BODY,
            tls: None,
            auth: None,
            cors: None,
            limits: ServerLimits::default(),
        }
    }
}

impl HttpConfig {
    pub fn max_body_bytes(&self) -> usize {
        let n = if self.max_request_body_size == 0 {
            DEFAULT_HTTP_MAX_BODY
        } else {
            self.max_request_body_size
        };
        clamp_bytes(n)
    }

    /// The route path, with the leading `/` the router needs.
    pub fn traces_path(&self) -> String {
        if self.traces_url_path.starts_with('/') {
            self.traces_url_path.clone()
        } else {
            format!("/{}", self.traces_url_path)
        }
    }
}

fn clamp_bytes(n: u64) -> usize {
    usize::try_from(n.min(MAX_MESSAGE_BYTES)).unwrap_or(usize::MAX)
}

impl ComponentConfig for Config {
    type Validated = Self;

    fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = validate_tenancy(self.tenancy.as_ref(), "tenancy");
        let (grpc, http) = (&self.protocols.grpc, &self.protocols.http);
        if grpc.is_none() && http.is_none() {
            problems.push(ConfigProblem::new(
                "protocols",
                "must specify at least one protocol (grpc or http)",
            ));
        }
        if let Some(g) = grpc {
            problems.extend(validate_tls(g.tls.as_ref(), "protocols::grpc::tls"));
            problems.extend(validate_auth(g.auth.as_ref(), "protocols::grpc::auth"));
            problems.extend(validate_keepalive(g.keepalive.as_ref(), "protocols::grpc::keepalive"));
            if g.transport != "tcp" {
                problems.push(ConfigProblem::new(
                    "protocols::grpc::transport",
                    format!(
                        "unsupported transport \"{}\" (only \"tcp\" is supported)",
                        g.transport
                    ),
                ));
            }
            if g.max_recv_msg_size_mib.saturating_mul(MIB as u64) > MAX_MESSAGE_BYTES {
                problems.push(ConfigProblem::new(
                    "protocols::grpc::max_recv_msg_size_mib",
                    "must be below 2048 (protobuf messages are limited to 2 GiB)",
                ));
            } else {
                problems.extend(g.limits.validate(g.max_recv_msg_bytes() as u64, "max_recv_msg_size_mib", "protocols::grpc"));
            }
        }
        if let Some(h) = http {
            problems.extend(validate_tls(h.tls.as_ref(), "protocols::http::tls"));
            problems.extend(validate_auth(h.auth.as_ref(), "protocols::http::auth"));
            problems.extend(validate_cors(h.cors.as_ref(), "protocols::http::cors"));
            if h.max_request_body_size > MAX_MESSAGE_BYTES {
                problems.push(ConfigProblem::new(
                    "protocols::http::max_request_body_size",
                    "must be below 2 GiB (it is in bytes; protobuf messages are limited to 2 GiB)",
                ));
            } else {
                problems.extend(h.limits.validate(h.max_body_bytes() as u64, "max_request_body_size", "protocols::http"));
            }
            if h.traces_url_path.contains(['?', '#', ' ']) {
                problems.push(ConfigProblem::new(
                    "protocols::http::traces_url_path",
                    format!("\"{}\" is not a URL path", h.traces_url_path),
                ));
            }
        }
        if let (Some(g), Some(h)) = (grpc, http) {
            if g.endpoint.port() != 0 && g.endpoint == h.endpoint {
                problems.push(ConfigProblem::new(
                    "protocols::http::endpoint",
                    format!(
                        "{} is also the grpc endpoint; give each protocol its own port",
                        h.endpoint
                    ),
                ));
            }
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
    fn null_protocol_means_enabled_with_defaults() {
        let c = parse("protocols:\n  grpc:\n").unwrap();
        assert_eq!(c.protocols.grpc, Some(GrpcConfig::default()));
        assert_eq!(c.protocols.http, None);
        assert_eq!(
            c.protocols.grpc.unwrap().endpoint.to_string(),
            "0.0.0.0:4317"
        );
        let c = parse("protocols: { http: }").unwrap();
        assert_eq!(
            c.protocols.http.unwrap().endpoint.to_string(),
            "0.0.0.0:4318"
        );
    }

    #[test]
    fn collector_config_is_read_as_written() {
        let c = parse(
            "protocols:\n  grpc: { endpoint: 127.0.0.1:5317, max_recv_msg_size_mib: 16 }\n  \
             http: { endpoint: ':5318', traces_url_path: custom/traces, max_request_body_size: 1024 }\n",
        )
        .unwrap();
        let g = c.protocols.grpc.unwrap();
        assert_eq!(g.endpoint.bind_addr(), "127.0.0.1:5317");
        assert_eq!(g.max_recv_msg_bytes(), 16 * MIB);
        let h = c.protocols.http.unwrap();
        assert_eq!(h.traces_path(), "/custom/traces");
        assert_eq!(h.max_body_bytes(), 1024);
        // Unset keys keep their defaults.
        assert_eq!(g.transport, "tcp");
    }

    #[test]
    fn zero_limits_mean_collector_defaults() {
        let g = GrpcConfig {
            max_recv_msg_size_mib: 0,
            ..Default::default()
        };
        assert_eq!(g.max_recv_msg_bytes(), 4 * MIB);
        let h = HttpConfig {
            max_request_body_size: 0,
            ..Default::default()
        };
        assert_eq!(h.max_body_bytes(), 20 * MIB);
    }

    #[test]
    fn no_protocol_is_an_error() {
        for yaml in ["{}", "protocols: {}", "protocols:"] {
            let problems = parse(yaml).unwrap_err();
            assert_eq!(problems.len(), 1, "{yaml}");
            assert_eq!(
                problems[0].to_string(),
                "protocols: must specify at least one protocol (grpc or http)"
            );
        }
    }

    #[test]
    fn bad_values_name_their_field() {
        let problems = parse(
            "protocols:\n  grpc: { endpoint: 0.0.0.0:9, transport: unix, max_recv_msg_size_mib: 4096 }\n  \
             http: { endpoint: 0.0.0.0:9 }\n",
        )
        .unwrap_err();
        let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "protocols::grpc::transport",
                "protocols::grpc::max_recv_msg_size_mib",
                "protocols::http::endpoint"
            ]
        );
        let problems = parse("protocols: { grpc: { endpoint: nope } }").unwrap_err();
        assert_eq!(problems[0].path, "protocols::grpc::endpoint");
        let problems = parse("protocols: { http: { max_request_body_size_mib: 1 } }").unwrap_err();
        assert!(
            problems[0].message.contains("unknown field"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn listener_limits_sit_next_to_the_endpoint() {
        let c = parse("protocols: { http: { read_timeout: 5s, idle_timeout: 1m, max_connections: 10 }, grpc: { max_request_bytes_in_flight: 8388608 } }").unwrap();
        let http = c.protocols.http.unwrap();
        assert_eq!(http.limits.read_timeout(), std::time::Duration::from_secs(5));
        assert_eq!(http.limits.idle_timeout(), std::time::Duration::from_secs(60));
        assert_eq!(http.limits.max_connections(), 10);
        assert_eq!(c.protocols.grpc.unwrap().limits.max_request_bytes_in_flight(), 8 << 20);
        // A bound below one largest message would refuse that message every time.
        let problems = parse("protocols: { grpc: { max_recv_msg_size_mib: 16, max_request_bytes_in_flight: 1048576 } }").unwrap_err();
        assert_eq!(problems[0].path, "protocols::grpc::max_request_bytes_in_flight");
        let problems = parse("protocols: { http: { read_timeout: soon } }").unwrap_err();
        assert!(problems[0].message.contains("soon"), "{}", problems[0]);
    }

    #[test]
    fn effective_config_lists_only_enabled_protocols() {
        let c = parse("protocols: { http: }").unwrap();
        let rendered = serde_yaml_ng::to_string(&c).unwrap();
        assert!(!rendered.contains("grpc"), "{rendered}");
        assert!(
            rendered.contains("traces_url_path: /v1/traces"),
            "{rendered}"
        );
    }
}
