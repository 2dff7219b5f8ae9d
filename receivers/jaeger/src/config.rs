//! The `jaeger` receiver's config, in the Collector's `jaegerreceiver` shape:
//!
//! ```yaml
//! receivers:
//!   jaeger:
//!     protocols:
//!       thrift_compact: { endpoint: 0.0.0.0:6831, queue_size: 1000, max_packet_size: 65000, workers: 10, socket_buffer_size: 8388608 }
//!       thrift_binary: { endpoint: 0.0.0.0:6832 }
//!       thrift_http: { endpoint: 0.0.0.0:14268 }
//!       grpc: { endpoint: 0.0.0.0:14250 }
//! ```
//!
//! As in the Collector, naming a protocol enables it (`grpc:` with nothing after it means
//! "enabled with defaults"), a protocol that is not named is off, and naming none is an error.

use serde::{Deserialize, Deserializer, Serialize};
use tracegate_core::config::{
    validate_auth, validate_cors, validate_keepalive, validate_tls, AuthConfig, ConfigProblem, CorsConfig, Endpoint, GrpcKeepalive,
    TlsServerConfig,
};
use tracegate_core::factory::ComponentConfig;
use tracegate_core::server::ServerLimits;

const MIB: u64 = 1024 * 1024;
/// confighttp's default body limit, used when `max_request_body_size` is 0.
const DEFAULT_HTTP_MAX_BODY: u64 = 20 * MIB;
/// gRPC's own default receive limit, used when `max_recv_msg_size_mib` is 0.
const DEFAULT_GRPC_MAX_RECV_MIB: u64 = 4;
/// Thrift and protobuf messages cannot usefully exceed 2 GiB; a larger limit is a typo.
const MAX_MESSAGE_BYTES: u64 = 2 * 1024 * MIB - 1;
/// The UDP ports' default `SO_RCVBUF` request: 8 MiB absorbs a burst of ~130 full-size
/// datagrams, or ~8000 of 1 KiB, while the workers catch up. Linux caps it at
/// `net.core.rmem_max` (208 KiB on many distributions), and the receiver logs when it does.
pub const DEFAULT_SOCKET_BUFFER_SIZE: usize = 8 * 1024 * 1024;
/// The largest payload a UDP datagram can carry (65535 minus the IP and UDP headers).
pub const MAX_UDP_PAYLOAD: usize = 65_507;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub protocols: Protocols,
    /// Jaeger's tenancy (`enabled`, `header`, `tenants`) on thrift_http and grpc: a request
    /// must name an allowed tenant, and its spans are kept as that tenant's (see
    /// `tracegate_core::tenancy`). UDP carries no header, so it cannot be on with UDP ports.
    #[serde(deserialize_with = "tracegate_core::config::de::null_as_default", skip_serializing_if = "Option::is_none")]
    pub tenancy: Option<tracegate_core::tenancy::TenancyConfig>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Protocols {
    /// Agent `emitBatch` in compact Thrift over UDP (what most Jaeger clients send).
    #[serde(deserialize_with = "null_is_compact_default", skip_serializing_if = "Option::is_none")]
    pub thrift_compact: Option<UdpConfig>,
    /// Agent `emitBatch` in binary Thrift over UDP (Node.js and older clients).
    #[serde(deserialize_with = "null_is_binary_default", skip_serializing_if = "Option::is_none")]
    pub thrift_binary: Option<UdpConfig>,
    /// Collector `POST /api/traces` with a binary-Thrift `Batch`.
    #[serde(deserialize_with = "tracegate_core::config::de::null_as_default", skip_serializing_if = "Option::is_none")]
    pub thrift_http: Option<HttpConfig>,
    /// Collector `jaeger.api_v2.CollectorService/PostSpans`.
    #[serde(deserialize_with = "tracegate_core::config::de::null_as_default", skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcConfig>,
}

/// The two UDP protocols share one options type but not one default port, so a partial
/// mapping (`thrift_binary: { workers: 4 }`) must be filled in from the right default.
fn null_is_udp<'de, D: Deserializer<'de>>(d: D, port: u16) -> Result<Option<UdpConfig>, D::Error> {
    let partial = Option::<UdpConfigPartial>::deserialize(d)?.unwrap_or_default();
    Ok(Some(partial.fill(UdpConfig::with_port(port))))
}

fn null_is_compact_default<'de, D: Deserializer<'de>>(d: D) -> Result<Option<UdpConfig>, D::Error> {
    null_is_udp(d, 6831)
}

fn null_is_binary_default<'de, D: Deserializer<'de>>(d: D) -> Result<Option<UdpConfig>, D::Error> {
    null_is_udp(d, 6832)
}

/// `ServerConfigUDP` of the Collector's jaegerreceiver.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UdpConfig {
    pub endpoint: Endpoint,
    /// Datagrams waiting for a worker; when full, new ones are dropped and counted.
    pub queue_size: usize,
    /// Larger datagrams are dropped and counted (clients split batches to fit).
    pub max_packet_size: usize,
    /// Tasks decoding and forwarding datagrams in parallel.
    pub workers: usize,
    /// SO_RCVBUF in bytes (Jaeger agent's `--processor.*.server-socket-buffer-size`);
    /// 0 keeps the OS default. What the kernel still drops is counted as
    /// `tracegate_receiver_dropped_packets{reason="kernel_buffer_full"}`.
    pub socket_buffer_size: usize,
}

impl UdpConfig {
    pub fn with_port(port: u16) -> Self {
        Self {
            endpoint: Endpoint::new("0.0.0.0", port),
            queue_size: 1000,
            max_packet_size: 65_000,
            workers: 10,
            socket_buffer_size: DEFAULT_SOCKET_BUFFER_SIZE,
        }
    }
}

impl Default for UdpConfig {
    /// The compact protocol's defaults; the binary one differs only in its port.
    fn default() -> Self {
        Self::with_port(6831)
    }
}

/// What the user wrote for a UDP protocol, before the protocol's defaults fill the gaps.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct UdpConfigPartial {
    endpoint: Option<Endpoint>,
    #[serde(deserialize_with = "some_size")]
    queue_size: Option<usize>,
    #[serde(deserialize_with = "some_size")]
    max_packet_size: Option<usize>,
    #[serde(deserialize_with = "some_size")]
    workers: Option<usize>,
    #[serde(deserialize_with = "some_size")]
    socket_buffer_size: Option<usize>,
}

/// A count, also written Go-style with digit separators (`queue_size: 100_000`): the
/// Collector's own examples do, and its YAML parser reads them as numbers.
fn some_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Number(usize),
        Text(String),
    }
    match Size::deserialize(d)? {
        Size::Number(n) => Ok(Some(n)),
        Size::Text(s) => {
            let digits = s.replace('_', "");
            let valid = !digits.is_empty() && !s.starts_with('_') && !s.ends_with('_') && !s.contains("__");
            match digits.parse() {
                Ok(n) if valid => Ok(Some(n)),
                _ => Err(serde::de::Error::custom(format!("\"{s}\" is not a non-negative whole number"))),
            }
        }
    }
}

impl UdpConfigPartial {
    fn fill(self, d: UdpConfig) -> UdpConfig {
        UdpConfig {
            endpoint: self.endpoint.unwrap_or(d.endpoint),
            queue_size: self.queue_size.unwrap_or(d.queue_size),
            max_packet_size: self.max_packet_size.unwrap_or(d.max_packet_size),
            workers: self.workers.unwrap_or(d.workers),
            socket_buffer_size: self.socket_buffer_size.unwrap_or(d.socket_buffer_size),
        }
    }
}

/// The `confighttp.ServerConfig` subset that applies here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    pub endpoint: Endpoint,
    /// Largest accepted body in bytes, as sent and after gzip; 0 means 20 MiB.
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
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self { endpoint: Endpoint::new("0.0.0.0", 14268), max_request_body_size: DEFAULT_HTTP_MAX_BODY, tls: None, auth: None, cors: None, limits: ServerLimits::default() }
    }
}

impl HttpConfig {
    pub fn max_body_bytes(&self) -> usize {
        let n = if self.max_request_body_size == 0 { DEFAULT_HTTP_MAX_BODY } else { self.max_request_body_size };
        usize::try_from(n.min(MAX_MESSAGE_BYTES)).unwrap_or(usize::MAX)
    }
}

/// The `configgrpc.ServerConfig` subset that applies here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcConfig {
    pub endpoint: Endpoint,
    /// Only `tcp`; accepted so Collector configs that spell it out still load.
    pub transport: String,
    /// Largest accepted message in MiB; 0 means gRPC's default of 4.
    pub max_recv_msg_size_mib: u64,
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
    /// Connection cap, timeouts and bytes-in-flight bound of this port (see
    /// `tracegate_core::server::ServerLimits`).
    #[serde(flatten)]
    pub limits: ServerLimits,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        Self {
            endpoint: Endpoint::new("0.0.0.0", 14250),
            transport: "tcp".to_string(),
            max_recv_msg_size_mib: DEFAULT_GRPC_MAX_RECV_MIB,
            tls: None,
            auth: None,
            keepalive: None,
            limits: ServerLimits::default(),
        }
    }
}

impl GrpcConfig {
    pub fn max_recv_msg_bytes(&self) -> usize {
        let mib = if self.max_recv_msg_size_mib == 0 { DEFAULT_GRPC_MAX_RECV_MIB } else { self.max_recv_msg_size_mib };
        usize::try_from(mib.saturating_mul(MIB).min(MAX_MESSAGE_BYTES)).unwrap_or(usize::MAX)
    }
}

fn validate_udp(name: &str, udp: &UdpConfig, problems: &mut Vec<ConfigProblem>) {
    let path = |field: &str| format!("protocols::{name}::{field}");
    if udp.queue_size == 0 {
        problems.push(ConfigProblem::new(path("queue_size"), "must be at least 1 (datagrams waiting for a worker)"));
    }
    if udp.workers == 0 {
        problems.push(ConfigProblem::new(path("workers"), "must be at least 1"));
    }
    if udp.max_packet_size == 0 || udp.max_packet_size > MAX_UDP_PAYLOAD {
        problems.push(ConfigProblem::new(
            path("max_packet_size"),
            format!("must be from 1 to {MAX_UDP_PAYLOAD} (the largest UDP payload), got {}", udp.max_packet_size),
        ));
    }
    if i32::try_from(udp.socket_buffer_size).is_err() {
        problems.push(ConfigProblem::new(path("socket_buffer_size"), "must be below 2 GiB (it is in bytes)"));
    }
}

/// Two listeners of one socket type on one fixed endpoint would fail at bind; say so now.
fn same_endpoint(a: &Endpoint, b: &Endpoint) -> bool {
    a.port() != 0 && a == b
}

impl ComponentConfig for Config {
    type Validated = Self;

    fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = tracegate_core::tenancy::validate_tenancy(self.tenancy.as_ref(), "tenancy");
        let p = &self.protocols;
        if self.tenancy.as_ref().is_some_and(|t| t.enabled) {
            for (name, udp) in [("thrift_compact", &p.thrift_compact), ("thrift_binary", &p.thrift_binary)] {
                if udp.is_some() {
                    problems.push(ConfigProblem::new(
                        format!("protocols::{name}"),
                        "cannot be served with tenancy enabled: a UDP datagram carries no tenant header; remove this protocol or send over thrift_http or grpc",
                    ));
                }
            }
        }
        if p.thrift_compact.is_none() && p.thrift_binary.is_none() && p.thrift_http.is_none() && p.grpc.is_none() {
            problems.push(ConfigProblem::new(
                "protocols",
                "must specify at least one protocol (thrift_compact, thrift_binary, thrift_http or grpc)",
            ));
        }
        if let Some(h) = &p.thrift_http {
            problems.extend(validate_tls(h.tls.as_ref(), "protocols::thrift_http::tls"));
            problems.extend(validate_auth(h.auth.as_ref(), "protocols::thrift_http::auth"));
            problems.extend(validate_cors(h.cors.as_ref(), "protocols::thrift_http::cors"));
        }
        if let Some(g) = &p.grpc {
            problems.extend(validate_tls(g.tls.as_ref(), "protocols::grpc::tls"));
            problems.extend(validate_auth(g.auth.as_ref(), "protocols::grpc::auth"));
            problems.extend(validate_keepalive(g.keepalive.as_ref(), "protocols::grpc::keepalive"));
        }
        if let Some(u) = &p.thrift_compact {
            validate_udp("thrift_compact", u, &mut problems);
        }
        if let Some(u) = &p.thrift_binary {
            validate_udp("thrift_binary", u, &mut problems);
        }
        if let (Some(c), Some(b)) = (&p.thrift_compact, &p.thrift_binary) {
            if same_endpoint(&c.endpoint, &b.endpoint) {
                problems.push(ConfigProblem::new(
                    "protocols::thrift_binary::endpoint",
                    format!("{} is also the thrift_compact endpoint; give each UDP protocol its own port", b.endpoint),
                ));
            }
        }
        if let Some(h) = &p.thrift_http {
            if h.max_request_body_size > MAX_MESSAGE_BYTES {
                problems.push(ConfigProblem::new(
                    "protocols::thrift_http::max_request_body_size",
                    "must be below 2 GiB (it is in bytes)",
                ));
            } else {
                problems.extend(h.limits.validate(h.max_body_bytes() as u64, "max_request_body_size", "protocols::thrift_http"));
            }
        }
        if let Some(g) = &p.grpc {
            if g.transport != "tcp" {
                problems.push(ConfigProblem::new(
                    "protocols::grpc::transport",
                    format!("unsupported transport \"{}\" (only \"tcp\" is supported)", g.transport),
                ));
            }
            if g.max_recv_msg_size_mib.saturating_mul(MIB) > MAX_MESSAGE_BYTES {
                problems.push(ConfigProblem::new(
                    "protocols::grpc::max_recv_msg_size_mib",
                    "must be below 2048 (messages are limited to 2 GiB)",
                ));
            } else {
                problems.extend(g.limits.validate(g.max_recv_msg_bytes() as u64, "max_recv_msg_size_mib", "protocols::grpc"));
            }
        }
        if let (Some(h), Some(g)) = (&p.thrift_http, &p.grpc) {
            if same_endpoint(&h.endpoint, &g.endpoint) {
                problems.push(ConfigProblem::new(
                    "protocols::grpc::endpoint",
                    format!("{} is also the thrift_http endpoint; give each protocol its own port", g.endpoint),
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
    fn null_protocols_get_jaegers_default_ports() {
        let c = parse("protocols: { thrift_compact: , thrift_binary: , thrift_http: , grpc: }").unwrap();
        let p = c.protocols;
        let compact = p.thrift_compact.unwrap();
        assert_eq!(compact.endpoint.to_string(), "0.0.0.0:6831");
        assert_eq!(
            (compact.queue_size, compact.max_packet_size, compact.workers, compact.socket_buffer_size),
            (1000, 65_000, 10, DEFAULT_SOCKET_BUFFER_SIZE)
        );
        assert_eq!(p.thrift_binary.unwrap().endpoint.to_string(), "0.0.0.0:6832");
        assert_eq!(p.thrift_http.unwrap().endpoint.to_string(), "0.0.0.0:14268");
        assert_eq!(p.grpc.unwrap().endpoint.to_string(), "0.0.0.0:14250");
    }

    #[test]
    fn partial_udp_settings_keep_their_protocols_port() {
        let c = parse("protocols: { thrift_binary: { workers: 50, queue_size: 5000 } }").unwrap();
        let b = c.protocols.thrift_binary.unwrap();
        assert_eq!(b.endpoint.to_string(), "0.0.0.0:6832");
        assert_eq!((b.workers, b.queue_size, b.max_packet_size), (50, 5000, 65_000));
        assert_eq!(c.protocols.thrift_compact, None);
    }

    #[test]
    fn collector_example_is_read_as_written() {
        let c = parse(
            "protocols:\n  grpc: { endpoint: 'localhost:9876' }\n  thrift_http: { endpoint: ':3456' }\n  \
             thrift_compact: { endpoint: 0.0.0.0:456, queue_size: 100_000, max_packet_size: 65_000, workers: 100, socket_buffer_size: 65_536 }\n",
        )
        .unwrap();
        let u = c.protocols.thrift_compact.unwrap();
        assert_eq!((u.queue_size, u.workers, u.socket_buffer_size), (100_000, 100, 65_536));
        assert_eq!(c.protocols.thrift_http.unwrap().endpoint.bind_addr(), "0.0.0.0:3456");
        let problems = parse("protocols: { thrift_binary: { workers: ten } }").unwrap_err();
        assert_eq!(problems[0].path, "protocols::thrift_binary::workers");
        assert!(problems[0].message.contains("\"ten\" is not a non-negative whole number"), "{}", problems[0]);
        assert!(parse("protocols: { thrift_binary: { workers: -1 } }").is_err());
    }

    #[test]
    fn no_protocol_is_an_error() {
        for yaml in ["{}", "protocols: {}", "protocols:"] {
            let problems = parse(yaml).unwrap_err();
            assert_eq!(problems.len(), 1, "{yaml}");
            assert_eq!(problems[0].path, "protocols");
        }
    }

    #[test]
    fn bad_values_name_their_field() {
        let problems = parse(
            "protocols:\n  thrift_compact: { queue_size: 0, workers: 0, max_packet_size: 70000, endpoint: 0.0.0.0:9 }\n  \
             thrift_binary: { endpoint: 0.0.0.0:9 }\n  thrift_http: { endpoint: 0.0.0.0:8 }\n  grpc: { endpoint: 0.0.0.0:8, transport: unix }\n",
        )
        .unwrap_err();
        let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "protocols::thrift_compact::queue_size",
                "protocols::thrift_compact::workers",
                "protocols::thrift_compact::max_packet_size",
                "protocols::thrift_binary::endpoint",
                "protocols::grpc::transport",
                "protocols::grpc::endpoint",
            ]
        );
        let problems = parse("protocols: { thrift_compact: { endpoint: nope } }").unwrap_err();
        assert_eq!(problems[0].path, "protocols::thrift_compact::endpoint");
        let problems = parse("protocols: { thrift_binary: { max_packet: 1 } }").unwrap_err();
        assert!(problems[0].message.contains("unknown field"), "{}", problems[0]);
    }

    #[test]
    fn udp_and_tcp_may_share_a_port_number() {
        // 6831/udp and 6831/tcp are different sockets; only same-type clashes are errors.
        parse("protocols: { thrift_compact: { endpoint: 0.0.0.0:7000 }, grpc: { endpoint: 0.0.0.0:7000 } }").unwrap();
    }

    #[test]
    fn effective_config_lists_only_enabled_protocols() {
        let c = parse("protocols: { thrift_binary: }").unwrap();
        let rendered = serde_yaml_ng::to_string(&c).unwrap();
        assert!(!rendered.contains("grpc") && !rendered.contains("thrift_compact"), "{rendered}");
        assert!(rendered.contains("endpoint: 0.0.0.0:6832"), "{rendered}");
    }
}
