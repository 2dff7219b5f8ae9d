//! Settings of the query service, in Jaeger v2's `jaeger_query` shape: `storage` (the trace
//! store to read, required: `{ traces: <name> }` or the name alone, a `jaeger_storage` backend
//! or a storage exporter's id; see [`Storage`]), `http.endpoint` (default `0.0.0.0:16686`),
//! `base_path` (default `/`, for serving behind a reverse proxy under a prefix) and
//! `max_clock_skew_adjustment` (default `0s`: off), and `grpc` (the gRPC QueryService, api_v2 and
//! api_v3; enabled by naming it, `grpc:` alone meaning `0.0.0.0:16685` as in Jaeger, with its own
//! `tls` and `auth`). It is off when absent so that a config written before it existed does
//! not start binding a second port; the shipped all-in-one config turns it on.
//!
//! The bounds on query answers (issue 15; what they do is in [`crate::bounds`]), flat beside
//! them as Jaeger v2 keeps its `max_trace_size`:
//!
//! | key | default | |
//! | --- | --- | --- |
//! | `max_limit` | `1500` | largest `limit` / `query.search_depth` served (Jaeger UI's own maximum) |
//! | `max_response_bytes` | `64MiB` | byte budget of one search or trace answer |
//! | `query_timeout` | `30s` | time budget of one expensive query, from the moment it has a slot |
//! | `max_concurrent_queries` | `4` | expensive queries (search, trace, dependencies) running at once |
//! | `max_queued_queries` | `16` | expensive queries waiting for a slot; more are refused (503) |
//! | `max_queue_wait` | `5s` | how long one waits for a slot before it is refused (503) |

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tracegate_core::config::{
    validate_auth, validate_cors, validate_keepalive, validate_tls, AuthConfig, ConfigProblem, CorsConfig, Endpoint, GoDuration, GrpcKeepalive,
    TlsServerConfig,
};
use tracegate_core::server::ServerLimits;
use tracegate_core::factory::ComponentConfig;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    pub endpoint: Endpoint,
    /// TLS for this port (the Collector's `configtls` server settings); absent means plain.
    #[serde(deserialize_with = "tracegate_core::config::de::null_as_default", skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsServerConfig>,
    /// Who may use the UI and API (a browser is asked for basic credentials): an authenticator extension by id (the Collector's
    /// `configauth`); absent means open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthConfig>,
    /// Cross-origin requests browsers may make to the API (the Collector's `cors:`); absent
    /// or without origins means CORS off.
    #[serde(deserialize_with = "tracegate_core::config::de::null_as_default", skip_serializing_if = "Option::is_none")]
    pub cors: Option<CorsConfig>,
    /// Who may show the UI in a frame: the sources of the page policy's `frame-ancestors`
    /// (`'none'`, `'self'`, `https://grafana.example.com`, ...). See [`crate::csp`].
    pub frame_ancestors: Vec<String>,
    /// Connection cap, timeouts and bytes-in-flight bound of this port (see
    /// `tracegate_core::server::ServerLimits`).
    #[serde(flatten)]
    pub limits: ServerLimits,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            endpoint: Endpoint::new("0.0.0.0", 16686),
            tls: None,
            auth: None,
            cors: None,
            frame_ancestors: crate::csp::default_frame_ancestors(),
            limits: ServerLimits::default(),
        }
    }
}

/// The gRPC query port: Jaeger's `jaeger.api_v2.QueryService` and `jaeger.api_v3.QueryService`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcConfig {
    pub endpoint: Endpoint,
    /// TLS for this port (the Collector's `configtls` server settings); absent means plain.
    #[serde(deserialize_with = "tracegate_core::config::de::null_as_default", skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsServerConfig>,
    /// Who may call this port: an authenticator extension by id; absent means open.
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
        Self { endpoint: Endpoint::new("0.0.0.0", 16685), tls: None, auth: None, keepalive: None, limits: ServerLimits::default() }
    }
}

pub const DEFAULT_MAX_LIMIT: usize = 1500;
pub const DEFAULT_MAX_RESPONSE_BYTES: ByteSize = ByteSize(64 << 20);
pub const DEFAULT_QUERY_TIMEOUT: GoDuration = GoDuration::from_secs(30);
pub const DEFAULT_MAX_CONCURRENT_QUERIES: usize = 4;
pub const DEFAULT_MAX_QUEUED_QUERIES: usize = 16;
pub const DEFAULT_MAX_QUEUE_WAIT: GoDuration = GoDuration::from_secs(5);
/// The smallest `max_response_bytes` accepted: less cannot hold an ordinary trace.
const MIN_RESPONSE_BYTES: u64 = 64 << 10;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The trace store to read: a name `host.capability::<dyn TraceStore>` resolves (a
    /// backend of the `jaeger_storage` extension, or a storage exporter's id such as `sled`).
    /// Written as a name (`storage: sled`) or in Jaeger v2's shape (`storage: { traces: name }`).
    pub storage: Storage,
    pub http: HttpConfig,
    /// The gRPC QueryService port; `None` (key absent) leaves it off.
    #[serde(deserialize_with = "tracegate_core::config::de::null_as_default", skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcConfig>,
    pub base_path: BasePath,
    /// Largest shift the clock-skew adjuster applies to a span; zero turns it off. Jaeger v2
    /// spells it `max_clock_skew_adjust`.
    #[serde(alias = "max_clock_skew_adjust")]
    pub max_clock_skew_adjustment: GoDuration,
    /// Largest number of traces one search returns; a larger `limit` is clamped (with a note).
    pub max_limit: usize,
    /// Byte budget of one answer (search, trace by id, api_v3 alike).
    pub max_response_bytes: ByteSize,
    /// Time budget of one expensive query once it runs; past it the answer is 504.
    pub query_timeout: GoDuration,
    /// Expensive queries (search, trace by id, dependencies) running at once.
    pub max_concurrent_queries: usize,
    /// Expensive queries allowed to wait for a slot; 0 refuses at once when all are taken.
    pub max_queued_queries: usize,
    /// How long a query waits for a slot before it is refused with 503.
    pub max_queue_wait: GoDuration,
    /// Jaeger's `ai:` block: `ai: { mcp: {} }` serves the MCP tools for AI agents (see `crate::mcp`).
    #[serde(deserialize_with = "tracegate_core::config::de::null_as_default", skip_serializing_if = "Option::is_none")]
    pub ai: Option<crate::mcp::AiConfig>,
    /// Jaeger's tenancy (`enabled`, `header`, `tenants`): each request is answered from its
    /// tenant's store only, and one without an allowed tenant is refused (see `crate::tenancy`).
    /// Jaeger v2 spells it `multi_tenancy`.
    #[serde(alias = "multi_tenancy")]
    #[serde(deserialize_with = "tracegate_core::config::de::null_as_default", skip_serializing_if = "Option::is_none")]
    pub tenancy: Option<tracegate_core::tenancy::TenancyConfig>,
    /// Jaeger's `ui: { config_file, assets_path, log_access }`: accepted with a warning, since
    /// tracegate serves its own UI (see [`JaegerUi`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ui: Option<JaegerUi>,
    /// Jaeger's `otlp_proxy: { target }` (the UI posting OTLP through the query port): not
    /// served; accepted with a warning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp_proxy: Option<serde_yaml_ng::Value>,
    /// Jaeger's `enable_tracing` (the query service tracing itself): not available; warned when on.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub enable_tracing: bool,
}

/// Jaeger's `jaeger_query.ui`. Its `config_file` customises Jaeger's own UI (menu links, the
/// dependencies and tracking settings) and `assets_path` replaces that UI's files; tracegate
/// serves a UI of its own, so neither applies, and a config carrying them starts with a
/// warning. `log_access` (request logs) is accepted alike.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JaegerUi {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub config_file: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub assets_path: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub log_access: bool,
}

impl JaegerUi {
    fn warnings(&self) -> Vec<ConfigProblem> {
        let mut out = Vec::new();
        if !self.config_file.is_empty() {
            out.push(ConfigProblem::warning(
                "ui::config_file",
                format!("{} customises Jaeger's own UI and is not applied: tracegate serves its own UI (its search, trace, compare, dependencies and monitor pages need no config)", self.config_file),
            ));
        }
        if !self.assets_path.is_empty() {
            out.push(ConfigProblem::warning("ui::assets_path", "Jaeger's UI files are not served: tracegate serves its own UI"));
        }
        if self.log_access {
            out.push(ConfigProblem::warning("ui::log_access", "per-request access logs are not written (the query service counts its requests in its metrics)"));
        }
        out
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            storage: Storage::default(),
            http: HttpConfig::default(),
            grpc: None,
            base_path: BasePath::default(),
            max_clock_skew_adjustment: GoDuration::default(),
            max_limit: DEFAULT_MAX_LIMIT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            query_timeout: DEFAULT_QUERY_TIMEOUT,
            max_concurrent_queries: DEFAULT_MAX_CONCURRENT_QUERIES,
            max_queued_queries: DEFAULT_MAX_QUEUED_QUERIES,
            max_queue_wait: DEFAULT_MAX_QUEUE_WAIT,
            ai: None,
            tenancy: None,
            ui: None,
            otlp_proxy: None,
            enable_tracing: false,
        }
    }
}

/// `storage:` — which store the query service reads. Jaeger v2 writes `storage: { traces:
/// name, traces_archive: name, metrics: name }`; tracegate's earlier configs wrote the name
/// alone (`storage: sled`), which stays valid and means `{ traces: sled }`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Storage {
    /// The trace store's name: a `jaeger_storage` backend or a storage exporter's id.
    pub traces: String,
    /// Jaeger's archive store (the UI's "archive" button): accepted, not served yet (the
    /// archive endpoints answer as Jaeger does without one); a warning says so.
    pub traces_archive: Option<String>,
    /// Jaeger's metrics backend for the Monitor tab. The Monitor tab is answered from the trace
    /// store's own RED metrics (`TraceReader::metrics`), so this must name the trace store or
    /// be absent; a separate metrics backend (Prometheus) is refused with that advice.
    pub metrics: Option<String>,
}

impl From<&str> for Storage {
    fn from(traces: &str) -> Self {
        Self { traces: traces.to_string(), ..Self::default() }
    }
}

impl fmt::Display for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.traces)
    }
}

/// Jaeger v2's form of [`Storage`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StorageMap {
    #[serde(default)]
    traces: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    traces_archive: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metrics: Option<String>,
}

impl Storage {
    fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if self.traces.is_empty() {
            problems.push(ConfigProblem::new(
                "storage",
                "required: the trace store to read, a jaeger_storage backend (storage: { traces: some_store }) or a storage exporter's id (storage: sled)",
            ));
        }
        if let Some(archive) = &self.traces_archive {
            problems.push(ConfigProblem::warning(
                "storage::traces_archive",
                format!("archive storage \"{archive}\" is not served yet: the UI's archive button answers that no archive storage is configured"),
            ));
        }
        match &self.metrics {
            Some(metrics) if *metrics != self.traces => problems.push(ConfigProblem::new(
                "storage::metrics",
                format!(
                    "\"{metrics}\": a metrics backend other than the trace store is not available; the Monitor tab reads the trace store's own RED metrics (sled and memory keep them), so remove storage::metrics or set it to \"{}\"",
                    self.traces
                ),
            )),
            _ => {}
        }
        problems
    }
}

impl Serialize for Storage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.traces_archive.is_none() && self.metrics.is_none() {
            return s.serialize_str(&self.traces);
        }
        StorageMap { traces: self.traces.clone(), traces_archive: self.traces_archive.clone(), metrics: self.metrics.clone() }.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Storage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Name(String),
            Map(StorageMap),
        }
        match Raw::deserialize(d) {
            Ok(Raw::Name(traces)) => Ok(Self { traces, ..Self::default() }),
            Ok(Raw::Map(m)) => Ok(Self { traces: m.traces, traces_archive: m.traces_archive, metrics: m.metrics }),
            Err(_) => Err(serde::de::Error::custom(
                "expected the name of a trace store (storage: sled) or Jaeger's map (storage: { traces: some_store, traces_archive: ..., metrics: ... })",
            )),
        }
    }
}

/// A size in bytes, written as a plain integer (bytes) or with a unit: `B`, `KiB`, `MiB`,
/// `GiB` (powers of 1024) or `KB`, `MB`, `GB` (powers of 1000), e.g. `64MiB`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub fn get(self) -> u64 {
        self.0
    }

    /// The size as `usize`, saturating on 32-bit targets.
    pub fn as_usize(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (number, unit) = (&t[..split], t[split..].trim());
        let scale: u64 = match unit {
            "" | "B" => 1,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            "KB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            _ => 0,
        };
        let bad = || format!("invalid size \"{text}\": write a number of bytes, or a whole number with B, KiB, MiB, GiB, KB, MB or GB (e.g. 64MiB)");
        let n: u64 = number.parse().map_err(|_| bad())?;
        if scale == 0 {
            return Err(bad());
        }
        n.checked_mul(scale).map(ByteSize).ok_or_else(|| format!("invalid size \"{text}\": too large"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            n if n >= 1 << 30 && n % (1 << 30) == 0 => write!(f, "{}GiB", n >> 30),
            n if n >= 1 << 20 && n % (1 << 20) == 0 => write!(f, "{}MiB", n >> 20),
            n if n >= 1 << 10 && n % (1 << 10) == 0 => write!(f, "{}KiB", n >> 10),
            n => write!(f, "{n}B"),
        }
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(d) {
            Ok(Raw::Number(n)) => Ok(ByteSize(n)),
            Ok(Raw::Text(t)) => ByteSize::parse(&t).map_err(serde::de::Error::custom),
            Err(_) => Err(serde::de::Error::custom("expected a size such as 64MiB or a number of bytes")),
        }
    }
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
    type Validated = Self;

    /// The trace store, by name (`storage::traces`, or `storage` when written as a name).
    fn references(&self) -> Vec<tracegate_core::config::NameReference> {
        vec![tracegate_core::config::NameReference::new("storage", self.storage.traces.clone(), "a trace store")]
    }

    fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = validate_tls(self.http.tls.as_ref(), "http::tls");
        problems.extend(tracegate_core::tenancy::validate_tenancy(self.tenancy.as_ref(), "tenancy"));
        problems.extend(validate_auth(self.http.auth.as_ref(), "http::auth"));
        problems.extend(validate_cors(self.http.cors.as_ref(), "http::cors"));
        problems.extend(crate::csp::validate_frame_ancestors(&self.http.frame_ancestors, "http::frame_ancestors"));
        if let Some(grpc) = &self.grpc {
            problems.extend(validate_tls(grpc.tls.as_ref(), "grpc::tls"));
            problems.extend(validate_auth(grpc.auth.as_ref(), "grpc::auth"));
            problems.extend(validate_keepalive(grpc.keepalive.as_ref(), "grpc::keepalive"));
        }
        problems.extend(self.storage.validate());
        let base = &self.base_path.0;
        if !base.starts_with('/') {
            problems.push(ConfigProblem::new("base_path", format!("\"{base}\" must start with '/', e.g. \"/jaeger\"")));
        } else if base.contains(['?', '#', '{', '}', '*', ' ']) {
            problems.push(ConfigProblem::new("base_path", format!("\"{base}\" must be a plain URL path")));
        }
        if self.max_limit == 0 {
            problems.push(ConfigProblem::new(
                "max_limit",
                format!("must be at least 1: it is the most traces one search returns (default {DEFAULT_MAX_LIMIT}, the Jaeger UI's own maximum)"),
            ));
        }
        if self.max_response_bytes.get() < MIN_RESPONSE_BYTES {
            problems.push(ConfigProblem::new(
                "max_response_bytes",
                format!("{} is too small to hold an ordinary trace: use at least 64KiB (default {DEFAULT_MAX_RESPONSE_BYTES})", self.max_response_bytes),
            ));
        }
        if self.query_timeout.is_zero() {
            problems.push(ConfigProblem::new("query_timeout", format!("must be more than 0s (default {DEFAULT_QUERY_TIMEOUT})")));
        }
        if self.max_concurrent_queries == 0 {
            problems.push(ConfigProblem::new(
                "max_concurrent_queries",
                format!("must be at least 1, or no search would ever run (default {DEFAULT_MAX_CONCURRENT_QUERIES})"),
            ));
        }
        if self.max_queued_queries > 0 && self.max_queue_wait.is_zero() {
            problems.push(ConfigProblem::new(
                "max_queue_wait",
                format!("must be more than 0s while max_queued_queries is above 0 (default {DEFAULT_MAX_QUEUE_WAIT}); set max_queued_queries: 0 to refuse at once when every slot is taken"),
            ));
        }
        problems.extend(self.ai.iter().flat_map(crate::mcp::AiConfig::validate));
        problems.extend(self.ui.iter().flat_map(JaegerUi::warnings));
        if self.otlp_proxy.is_some() {
            problems.push(ConfigProblem::warning(
                "otlp_proxy",
                "the UI's OTLP proxy is not served; send spans to the otlp receiver's own port",
            ));
        }
        if self.enable_tracing {
            problems.push(ConfigProblem::warning("enable_tracing", "the query service does not trace itself; its metrics are on service::telemetry"));
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
    fn storage_is_a_name_or_jaegers_map() {
        assert_eq!(parse("storage: sled").expect("name").storage, Storage::from("sled"));
        let c = parse("storage: { traces: some_store }").expect("map");
        assert_eq!(c.storage, Storage::from("some_store"));
        // Written back the short way when only the trace store is named (print-config).
        assert_eq!(serde_yaml_ng::to_string(&c.storage).expect("renders").trim(), "some_store");
        let c = parse("storage: { traces: a, metrics: a }").expect("metrics from the trace store");
        assert_eq!(c.storage.metrics.as_deref(), Some("a"));
        let err = parse("storage: { traces: a, metrics: prom }").expect_err("separate metrics backend");
        assert!(err[0].starts_with("storage::metrics: \"prom\": a metrics backend other than the trace store is not available"), "{err:?}");
        let err = parse("storage: { trace: a }").expect_err("misspelt key");
        assert!(err[0].contains("expected the name of a trace store"), "{err:?}");
    }

    #[test]
    fn an_archive_store_is_accepted_with_a_warning() {
        let raw: serde_yaml_ng::Value = serde_yaml_ng::from_str("storage: { traces: a, traces_archive: b }").expect("yaml");
        let parsed = tracegate_core::factory::parse_typed::<Config>(Some(&raw)).ok().expect("valid");
        let warnings: Vec<String> = parsed.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("storage::traces_archive: archive storage \"b\" is not served yet"), "{warnings:?}");
    }

    #[test]
    fn jaeger_v2_keys_are_read_or_warned() {
        let yaml = "{storage: {traces: s}, max_clock_skew_adjust: 2s, multi_tenancy: {enabled: false}, ui: {config_file: ./config-ui.json}, otlp_proxy: {target: 'http://127.0.0.1:4318'}}";
        let raw: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).expect("yaml");
        let parsed = tracegate_core::factory::parse_typed::<Config>(Some(&raw)).ok().expect("valid");
        let c = parsed.typed.downcast_ref::<Config>().expect("config");
        assert_eq!(c.max_clock_skew_adjustment.get(), Duration::from_secs(2));
        assert!(c.tenancy.is_some());
        let paths: Vec<&str> = parsed.warnings.iter().map(|w| w.path.as_str()).collect();
        assert_eq!(paths, ["ui::config_file", "otlp_proxy"]);
    }

    #[test]
    fn problems_name_their_key() {
        assert_eq!(
            parse("{}").expect_err("no storage"),
            ["storage: required: the trace store to read, a jaeger_storage backend (storage: { traces: some_store }) or a storage exporter's id (storage: sled)"]
        );
        assert_eq!(parse("{storage: s, base_path: x}").expect_err("relative"), ["base_path: \"x\" must start with '/', e.g. \"/jaeger\""]);
        let err = parse("{storage: s, grpcs: {}}").expect_err("unknown key");
        assert!(err[0].contains("unknown field `grpcs`"), "{err:?}");
    }

    #[test]
    fn grpc_port_is_off_unless_named_and_defaults_to_jaegers_16685() {
        assert_eq!(parse("storage: s").expect("valid").grpc, None);
        for yaml in ["{storage: s, grpc: }", "{storage: s, grpc: {}}"] {
            let c = parse(yaml).expect(yaml);
            assert_eq!(c.grpc.map(|g| g.endpoint.bind_addr()), Some("0.0.0.0:16685".to_string()), "{yaml}");
        }
        let c = parse("{storage: s, grpc: {endpoint: '127.0.0.1:0'}}").expect("valid");
        assert_eq!(c.grpc.map(|g| g.endpoint.bind_addr()), Some("127.0.0.1:0".to_string()));
        let err = parse("{storage: s, grpc: {port: 1}}").expect_err("unknown key");
        assert!(err[0].contains("unknown field `port`"), "{err:?}");
    }

    #[test]
    fn query_bounds_have_defaults_and_take_sizes_with_units() {
        let c = parse("storage: sled").expect("valid");
        assert_eq!((c.max_limit, c.max_response_bytes, c.query_timeout.get()), (1500, ByteSize(64 << 20), Duration::from_secs(30)));
        assert_eq!((c.max_concurrent_queries, c.max_queued_queries, c.max_queue_wait.get()), (4, 16, Duration::from_secs(5)));
        let c = parse("{storage: s, max_limit: 20, max_response_bytes: 1MiB, query_timeout: 2s, max_concurrent_queries: 1, max_queued_queries: 0, max_queue_wait: 0s}")
            .expect("valid");
        assert_eq!((c.max_limit, c.max_response_bytes.get(), c.query_timeout.get()), (20, 1 << 20, Duration::from_secs(2)));
        assert_eq!((c.max_concurrent_queries, c.max_queued_queries), (1, 0));
        for (text, bytes) in [("100000", 100_000), ("65536B", 65_536), ("512KiB", 512 << 10), ("2GiB", 2 << 30), ("1MB", 1_000_000)] {
            let c = parse(&format!("{{storage: s, max_response_bytes: {text}}}")).expect(text);
            assert_eq!(c.max_response_bytes.get(), bytes, "{text}");
        }
        assert_eq!(ByteSize(64 << 20).to_string(), "64MiB");
        assert_eq!(ByteSize(100_000).to_string(), "100000B");
    }

    #[test]
    fn query_bounds_are_validated_with_reasons() {
        let err = parse("{storage: s, max_limit: 0, max_response_bytes: 1KiB, query_timeout: 0s, max_concurrent_queries: 0, max_queue_wait: 0s}")
            .expect_err("all wrong");
        assert_eq!(
            err,
            [
                "max_limit: must be at least 1: it is the most traces one search returns (default 1500, the Jaeger UI's own maximum)",
                "max_response_bytes: 1KiB is too small to hold an ordinary trace: use at least 64KiB (default 64MiB)",
                "query_timeout: must be more than 0s (default 30s)",
                "max_concurrent_queries: must be at least 1, or no search would ever run (default 4)",
                "max_queue_wait: must be more than 0s while max_queued_queries is above 0 (default 5s); set max_queued_queries: 0 to refuse at once when every slot is taken",
            ]
        );
        let err = parse("{storage: s, max_response_bytes: 64 megs}").expect_err("bad unit");
        assert!(err[0].contains("invalid size \"64 megs\": write a number of bytes"), "{err:?}");
        let err = parse("{storage: s, max_response_bytes: [1]}").expect_err("not a size");
        assert!(err[0].contains("expected a size such as 64MiB"), "{err:?}");
    }
}
