//! `exporters: { loadbalancing: ... }`, in the Collector's loadbalancingexporter shape:
//!
//! ```yaml
//! loadbalancing:
//!   routing_key: traceID            # or service
//!   protocol:
//!     otlp:                         # the otlp exporter's settings, endpoint excepted
//!       tls: { insecure: true }
//!       sending_queue: { sizer: bytes, queue_size: 67108864 }
//!       retry_on_failure: { max_elapsed_time: 5m }
//!   resolver:
//!     static: { hostnames: [sampler-1:4317, sampler-2:4317] }
//!     # or dns: { hostname: samplers.internal, port: 4317, interval: 5s, timeout: 1s }
//! ```
//!
//! `protocol.otlp` is a template: each backend gets an `otlp` exporter built from it with the
//! backend's endpoint, and its own `sending_queue`, `retry_on_failure` and `timeout` (the
//! engine's settings, the same keys as on any exporter). Those keys live in the same mapping
//! as the exporter's, as the Collector writes them, so [`OtlpTemplate`] splits the mapping in
//! two when it is read.

use std::time::Duration;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_yaml_ng::{Mapping, Value};
use tracegate_core::config::{ConfigProblem, GoDuration};
use tracegate_core::factory::{ComponentConfig, FromConfig};
use tracegate_core::queue::ExporterSettings;
use tracegate_exporter_otlp::{GrpcConfig, GrpcSettings};

/// The port a backend without one is dialled on, as in the Collector: OTLP/gRPC's.
pub const DEFAULT_PORT: u16 = 4317;

/// What decides a span's backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoutingKey {
    /// The trace id: every span of a trace reaches one backend (tail sampling).
    #[default]
    #[serde(rename = "traceID", alias = "")]
    TraceId,
    /// The resource's `service.name`: every span of a service reaches one backend (span
    /// metrics, per-service rate limits).
    #[serde(rename = "service")]
    Service,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoadBalancingConfig {
    pub routing_key: RoutingKey,
    pub protocol: Protocol,
    pub resolver: ResolverConfig,
}

/// `protocol:`; OTLP over gRPC is the only one, as in the Collector.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Protocol {
    pub otlp: OtlpTemplate,
}

/// `protocol.otlp`: the `otlp` exporter's config (its `endpoint` is filled in per backend) and
/// the engine's settings each backend's queue runs with.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OtlpTemplate {
    pub exporter: GrpcConfig,
    pub settings: ExporterSettings,
}

impl OtlpTemplate {
    /// The `otlp` exporter's config for the backend at `endpoint` (`host:port`).
    pub fn for_endpoint(&self, endpoint: &str) -> GrpcConfig {
        GrpcConfig {
            endpoint: endpoint.to_string(),
            ..self.exporter.clone()
        }
    }

    /// The `otlp` exporter's settings for the backend at `endpoint`, as its own validation
    /// makes them; `None` when `problems` got an error. Backends appear at run time (a DNS
    /// answer), so each is resolved when it appears; `validate` does it for the configured
    /// names to find mistakes first.
    pub fn settings_for(&self, endpoint: &str, problems: &mut Vec<ConfigProblem>) -> Option<GrpcSettings> {
        GrpcSettings::from_config(&self.for_endpoint(endpoint), problems)
    }
}

impl<'de> Deserialize<'de> for OtlpTemplate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut exporter = match Value::deserialize(deserializer)? {
            Value::Null => Mapping::new(),
            Value::Mapping(m) => m,
            _ => return Err(D::Error::custom("expected a mapping of otlp exporter settings")),
        };
        let mut engine = Mapping::new();
        for key in ExporterSettings::KEYS {
            if let Some(v) = exporter.remove(key) {
                engine.insert(Value::String(key.to_string()), v);
            }
        }
        // serde_path_to_error names the key inside this mapping that was wrong; the outer
        // path (`protocol::otlp`) is added by the engine's own parse.
        let part = |e: serde_path_to_error::Error<serde_yaml_ng::Error>| {
            let path = e.path().to_string().replace('.', "::");
            D::Error::custom(format!("{path}: {}", e.into_inner()))
        };
        Ok(Self {
            exporter: serde_path_to_error::deserialize(Value::Mapping(exporter)).map_err(part)?,
            settings: serde_path_to_error::deserialize(Value::Mapping(engine)).map_err(part)?,
        })
    }
}

impl Serialize for OtlpTemplate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let mapping = |v: Result<Value, serde_yaml_ng::Error>| match v {
            Ok(Value::Mapping(m)) => Ok(m),
            Ok(_) => Err(S::Error::custom("expected a mapping")),
            Err(e) => Err(S::Error::custom(e)),
        };
        let mut all = mapping(serde_yaml_ng::to_value(&self.exporter))?;
        // The endpoint is the resolver's to fill; an empty one is noise in print-config.
        if self.exporter.endpoint.is_empty() {
            all.remove("endpoint");
        }
        all.extend(mapping(serde_yaml_ng::to_value(&self.settings))?);
        all.serialize(serializer)
    }
}

/// `resolver:`: where the backends come from. Exactly one of `static` and `dns`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResolverConfig {
    #[serde(rename = "static", skip_serializing_if = "Option::is_none")]
    pub static_list: Option<StaticResolverConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsResolverConfig>,
}

/// `resolver.static`: a fixed list of backends.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StaticResolverConfig {
    /// `host:port` each (`host` alone means port 4317).
    pub hostnames: Vec<String>,
}

/// `resolver.dns`: every address `hostname` resolves to, looked up again every `interval`
/// (a Kubernetes headless service, say).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsResolverConfig {
    pub hostname: String,
    /// The port each address is dialled on (4317 when unset). The Collector writes it as a
    /// string; a number is taken too.
    #[serde(deserialize_with = "port_number_or_string", skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    pub interval: GoDuration,
    /// Limit on one lookup.
    pub timeout: GoDuration,
}

impl Default for DnsResolverConfig {
    fn default() -> Self {
        Self {
            hostname: String::new(),
            port: None,
            // The Collector's defaults.
            interval: GoDuration(Duration::from_secs(5)),
            timeout: GoDuration(Duration::from_secs(1)),
        }
    }
}

fn port_number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Port {
        Number(u16),
        Text(String),
    }
    match Option::<Port>::deserialize(d)? {
        None => Ok(None),
        Some(Port::Number(p)) => Ok(Some(p)),
        Some(Port::Text(t)) if t.trim().is_empty() => Ok(None),
        Some(Port::Text(t)) => t
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| D::Error::custom(format!("port \"{t}\" is not a number from 1 to 65535"))),
    }
}

/// `host` with `:4317` appended when it names no port, as the Collector completes a backend.
pub fn endpoint_with_port(host: &str) -> String {
    if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:{DEFAULT_PORT}")
    }
}

/// What `create` is given: the config and its resolver, made once when the config is
/// validated.
#[derive(Clone, Debug)]
pub struct LoadBalancing {
    pub config: LoadBalancingConfig,
    pub resolver: crate::resolver::Resolver,
}

impl FromConfig<LoadBalancingConfig> for LoadBalancing {
    fn from_config(config: &LoadBalancingConfig, problems: &mut Vec<ConfigProblem>) -> Option<Self> {
        match crate::resolver::Resolver::from_config(&config.resolver) {
            Ok(resolver) => Some(Self { config: config.clone(), resolver }),
            Err(e) => {
                problems.push(ConfigProblem::new("resolver", e.to_string()));
                None
            }
        }
    }
}

impl ComponentConfig for LoadBalancingConfig {
    type Validated = LoadBalancing;

    fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let template = &self.protocol.otlp;
        if !template.exporter.endpoint.trim().is_empty() {
            problems.push(ConfigProblem::new(
                "protocol::otlp::endpoint",
                "must not be set: each backend's endpoint comes from the resolver",
            ));
        }
        problems.extend(template.settings.validate().into_iter().map(|p| p.under("protocol::otlp")));
        // The backends' endpoints to check the template with: the exporter's own validation
        // judges TLS, headers and the endpoint together.
        let mut endpoints: Vec<(String, String)> = Vec::new();
        match (&self.resolver.static_list, &self.resolver.dns) {
            (Some(_), Some(_)) => problems.push(ConfigProblem::new(
                "resolver",
                "set one resolver: static or dns, not both",
            )),
            (None, None) => problems.push(ConfigProblem::new(
                "resolver",
                "a resolver is required: static: { hostnames: [host:4317, ...] } or dns: { hostname: ..., port: 4317 }",
            )),
            (Some(list), None) => {
                if list.hostnames.is_empty() {
                    problems.push(ConfigProblem::new(
                        "resolver::static::hostnames",
                        "list at least one backend (host:port)",
                    ));
                }
                for (i, host) in list.hostnames.iter().enumerate() {
                    let path = format!("resolver::static::hostnames::{i}");
                    if host.trim().is_empty() {
                        problems.push(ConfigProblem::new(path, "must not be empty"));
                    } else if list.hostnames[..i].contains(host) {
                        problems.push(ConfigProblem::new(path, format!("\"{host}\" is listed twice")));
                    } else {
                        endpoints.push((path, endpoint_with_port(host.trim())));
                    }
                }
            }
            (None, Some(dns)) => {
                if dns.hostname.trim().is_empty() {
                    problems.push(ConfigProblem::new(
                        "resolver::dns::hostname",
                        "a hostname to resolve is required",
                    ));
                } else {
                    let port = dns.port.unwrap_or(DEFAULT_PORT);
                    endpoints.push(("resolver::dns::hostname".into(), format!("{}:{port}", dns.hostname.trim())));
                }
                if dns.port == Some(0) {
                    problems.push(ConfigProblem::new("resolver::dns::port", "must be from 1 to 65535"));
                }
                if dns.interval.is_zero() {
                    problems.push(ConfigProblem::new("resolver::dns::interval", "must be greater than 0"));
                }
                if dns.timeout.is_zero() {
                    problems.push(ConfigProblem::new("resolver::dns::timeout", "must be greater than 0"));
                }
            }
        }
        // Endpoint problems belong to the hostname that caused them; the rest (tls, headers,
        // auth) to the template, once.
        let mut template_checked = false;
        for (path, endpoint) in endpoints {
            let mut found = Vec::new();
            template.settings_for(&endpoint, &mut found);
            for problem in found {
                if problem.path == "endpoint" {
                    problems.push(ConfigProblem { path: path.clone(), ..problem });
                } else if !template_checked {
                    problems.push(problem.under("protocol::otlp"));
                }
            }
            template_checked = true;
        }
        problems
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
