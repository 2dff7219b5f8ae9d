//! The `jaeger_storage` settings in Jaeger v2's shape:
//!
//! ```yaml
//! jaeger_storage:
//!   backends:                 # Jaeger's key (`trace_backends`, from its design notes, too)
//!     some_store: { sled: { path: ./data, retention: 72h } }
//!     mem: { memory: { max_traces: 100000 } }
//!     es: { elasticsearch: { server_urls: [http://localhost:9200] } }
//!   metric_backends:          # accepted when it is a trace backend itself (see below)
//!     es: { elasticsearch: {...} }
//! ```
//!
//! Each backend names exactly one kind, whose settings are the same-named exporter's
//! (`sled`, `memory`, `elasticsearch`; `opensearch` is the elasticsearch store, whose
//! requests OpenSearch answers alike). Jaeger's other kinds are refused one line each, naming
//! the nearest thing tracegate has: `badger` -> `sled`; `cassandra`, `clickhouse` and `grpc`
//! (remote storage) are not available.
//!
//! Jaeger's `metric_backends` feed the Monitor tab from Prometheus (span metrics) or from the
//! spans in Elasticsearch. Here the Monitor tab is answered from the RED metrics a trace store
//! keeps as it writes (sled and memory do; see `core::red`), so a metric backend that is one of
//! the trace backends is accepted with a warning saying so, and a Prometheus one is refused
//! with that advice.

use std::fmt;

use indexmap::IndexMap;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_yaml_ng::Value;
use tracegate_core::config::ConfigProblem;
use tracegate_core::factory::ComponentConfig;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    #[serde(alias = "trace_backends")]
    pub backends: IndexMap<String, Backend>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub metric_backends: IndexMap<String, Value>,
}

/// One trace backend: the kind and its settings.
#[derive(Clone, Debug, PartialEq)]
pub enum Backend {
    Sled(tracegate_exporter_sled::Config),
    Memory(tracegate_exporter_memory::Config),
    Elasticsearch(tracegate_exporter_elasticsearch::Config),
    /// OpenSearch answers the requests the elasticsearch store makes alike.
    Opensearch(tracegate_exporter_elasticsearch::Config),
    /// A kind tracegate does not have (`validate` says what to use instead).
    Unsupported(String),
    /// Several kinds in one backend, or none.
    NotOne(Vec<String>),
}

impl Backend {
    /// The kind as the config writes it.
    pub fn kind(&self) -> &str {
        match self {
            Backend::Sled(_) => "sled",
            Backend::Memory(_) => "memory",
            Backend::Elasticsearch(_) => "elasticsearch",
            Backend::Opensearch(_) => "opensearch",
            Backend::Unsupported(kind) => kind,
            Backend::NotOne(_) => "",
        }
    }
}

/// What to say about a Jaeger storage kind tracegate does not have.
fn unsupported(kind: &str) -> String {
    match kind {
        "badger" => "badger is not available; use sled, tracegate's embedded store: sled: { path: <directory>, retention: <ttl.spans> } (Jaeger's directories.keys/values become one path)".into(),
        "cassandra" => "cassandra is not available; use elasticsearch or opensearch for a shared store, or sled for a single node".into(),
        "clickhouse" => "clickhouse is not available; use elasticsearch or opensearch for a shared store, or sled for a single node".into(),
        "grpc" => "grpc (a remote storage server) is not available; run the store in this process instead (sled, memory, elasticsearch or opensearch), or forward spans with the otlp exporter to the process that owns it".into(),
        other => format!("unknown storage kind \"{other}\"; use sled, memory, elasticsearch or opensearch"),
    }
}

fn typed<T: for<'de> Deserialize<'de> + Default>(kind: &str, value: Value) -> Result<T, String> {
    if value.is_null() {
        return Ok(T::default());
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            format!("{kind}: {inner}")
        } else {
            format!("{kind}::{}: {inner}", path.replace('.', "::"))
        }
    })
}

impl<'de> Deserialize<'de> for Backend {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = IndexMap::<String, Value>::deserialize(d)
            .map_err(|_| D::Error::custom("a backend is a mapping of one storage kind to its settings, e.g. sled: { path: ./data }"))?;
        if map.len() != 1 {
            return Ok(Backend::NotOne(map.keys().cloned().collect()));
        }
        let Some((kind, value)) = map.into_iter().next() else {
            return Ok(Backend::NotOne(Vec::new()));
        };
        match kind.as_str() {
            "sled" => typed(&kind, value).map(Backend::Sled),
            "memory" => typed(&kind, value).map(Backend::Memory),
            "elasticsearch" => typed(&kind, value).map(Backend::Elasticsearch),
            "opensearch" => typed(&kind, value).map(Backend::Opensearch),
            _ => Ok(Backend::Unsupported(kind)),
        }
        .map_err(D::Error::custom)
    }
}

impl Serialize for Backend {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(1))?;
        match self {
            Backend::Sled(c) => map.serialize_entry("sled", c)?,
            Backend::Memory(c) => map.serialize_entry("memory", c)?,
            Backend::Elasticsearch(c) => map.serialize_entry("elasticsearch", c)?,
            Backend::Opensearch(c) => map.serialize_entry("opensearch", c)?,
            Backend::Unsupported(kind) => map.serialize_entry(kind, &Value::Null)?,
            Backend::NotOne(kinds) => map.serialize_entry("kinds", kinds)?,
        }
        map.end()
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind())
    }
}

impl ComponentConfig for Config {
    type Validated = Self;

    /// Each backend is offered under its name.
    fn offered_names(&self) -> Vec<String> {
        self.backends.keys().cloned().collect()
    }

    fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if self.backends.is_empty() {
            problems.push(ConfigProblem::new(
                "backends",
                "at least one storage backend is required, e.g. backends: { some_store: { sled: { path: ./tracegate-data } } }",
            ));
        }
        let mut sled_paths: Vec<(&str, &std::path::Path)> = Vec::new();
        for (name, backend) in &self.backends {
            let path = format!("backends::{name}");
            let under = |kind: &str, ps: Vec<ConfigProblem>| ps.into_iter().map(|p| p.under(&format!("{path}::{kind}"))).collect::<Vec<_>>();
            match backend {
                Backend::Sled(c) => {
                    problems.extend(under("sled", c.validate()));
                    if let Some((other, _)) = sled_paths.iter().find(|(_, p)| *p == c.path.as_path()) {
                        problems.push(ConfigProblem::new(
                            format!("{path}::sled::path"),
                            format!("{} is already the path of backend \"{other}\"; one sled database per path (give each its own)", c.path.display()),
                        ));
                    }
                    sled_paths.push((name, &c.path));
                }
                Backend::Memory(c) => problems.extend(under("memory", c.validate())),
                Backend::Elasticsearch(c) => problems.extend(under("elasticsearch", c.validate())),
                Backend::Opensearch(c) => problems.extend(under("opensearch", c.validate())),
                Backend::Unsupported(kind) => problems.push(ConfigProblem::new(format!("{path}::{kind}"), unsupported(kind))),
                Backend::NotOne(kinds) if kinds.is_empty() => {
                    problems.push(ConfigProblem::new(&path, "empty: name one storage kind (sled, memory, elasticsearch or opensearch)"))
                }
                Backend::NotOne(kinds) => problems.push(ConfigProblem::new(
                    &path,
                    format!("multiple storage kinds ({}); a backend is exactly one of sled, memory, elasticsearch or opensearch", kinds.join(", ")),
                )),
            }
        }
        problems.extend(self.metric_backends.iter().filter_map(|(name, raw)| self.metric_backend_problem(name, raw)));
        problems
    }
}

impl Config {
    /// A `metric_backends` entry: a warning when it is a trace backend (the Monitor tab reads
    /// that store's own RED metrics), an error otherwise; nothing more when the trace backend
    /// of that name is itself refused (one line per unsupported part).
    fn metric_backend_problem(&self, name: &str, raw: &Value) -> Option<ConfigProblem> {
        let path = format!("metric_backends::{name}");
        let kind = raw.as_mapping().and_then(|m| m.keys().next()).and_then(Value::as_str).unwrap_or("");
        Some(match self.backends.get(name) {
            Some(Backend::Unsupported(_) | Backend::NotOne(_)) => return None,
            Some(Backend::Sled(_) | Backend::Memory(_)) => ConfigProblem::warning(
                path,
                format!("the Monitor tab reads the RED metrics trace backend \"{name}\" keeps as it writes; this section is not needed"),
            ),
            Some(Backend::Elasticsearch(_) | Backend::Opensearch(_)) => ConfigProblem::warning(
                path,
                format!("Monitor metrics are not computed from {kind} spans: the Monitor tab answers that no metrics are available for \"{name}\" (sled and memory keep RED metrics)"),
            ),
            _ if kind == "prometheus" => ConfigProblem::new(
                format!("{path}::prometheus"),
                "a Prometheus metrics backend is not available: the Monitor tab reads the RED metrics the sled and memory stores keep from the spans themselves; remove metric_backends and jaeger_query's storage::metrics",
            ),
            _ => ConfigProblem::new(
                path,
                format!("\"{name}\" is not a trace backend of this extension; the Monitor tab reads a trace backend's own RED metrics (sled, memory)"),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<Config, Vec<String>> {
        tracegate_core::testing::parse_config_messages::<Config>(yaml)
    }

    #[test]
    fn each_backend_is_one_kind_with_that_exporters_settings() {
        let c = parse("backends: { a: { sled: { path: /tmp/a, retention: 48h } }, b: { memory: { max_traces: 5 } }, c: { memory: }, d: { opensearch: {} } }")
            .expect("valid");
        assert!(matches!(&c.backends["a"], Backend::Sled(s) if s.path.as_os_str() == "/tmp/a"));
        assert!(matches!(&c.backends["b"], Backend::Memory(m) if m.max_traces == 5));
        assert!(matches!(&c.backends["c"], Backend::Memory(m) if m.max_traces == 100_000), "null means defaults");
        assert!(matches!(&c.backends["d"], Backend::Opensearch(_)));
        let alias = parse("trace_backends: { a: { memory: {} } }").expect("Jaeger's other spelling");
        assert_eq!(alias.backends.len(), 1);
    }

    #[test]
    fn every_unsupported_part_is_one_line_naming_the_alternative() {
        let err = parse(
            "backends: { a: { badger: { directories: { keys: /tmp } } }, b: { cassandra: {} }, c: { grpc: { endpoint: x } }, d: { memory: {}, sled: {} }, e: {} }",
        )
        .expect_err("refused");
        assert_eq!(err.len(), 5, "{err:?}");
        assert!(err[0].starts_with("backends::a::badger: badger is not available; use sled"), "{err:?}");
        assert!(err[1].starts_with("backends::b::cassandra: cassandra is not available"), "{err:?}");
        assert!(err[2].starts_with("backends::c::grpc: grpc (a remote storage server) is not available"), "{err:?}");
        assert!(err[3].starts_with("backends::d: multiple storage kinds (memory, sled)"), "{err:?}");
        assert!(err[4].starts_with("backends::e: empty"), "{err:?}");
    }

    #[test]
    fn a_bad_setting_names_its_path_inside_the_backend() {
        let err = parse("backends: { a: { memory: { max_traces: 0 } } }").expect_err("zero");
        assert_eq!(err, ["backends::a::memory::max_traces: must be at least 1 (it bounds the traces kept in memory)"]);
        let err = parse("backends: { a: { sled: { pathh: x } } }").expect_err("unknown key");
        assert!(err[0].starts_with("backends::a: sled::pathh: unknown field `pathh`"), "{err:?}");
        let err = parse("backends: { a: { sled: { path: /x } }, b: { sled: { path: /x } } }").expect_err("same path");
        assert!(err[0].starts_with("backends::b::sled::path: /x is already the path of backend \"a\""), "{err:?}");
        assert!(parse("{}").expect_err("none")[0].starts_with("backends: at least one storage backend is required"));
    }

    #[test]
    fn metric_backends_of_a_trace_store_warn_and_prometheus_is_refused() {
        let err = parse("backends: { a: { memory: {} } }\nmetric_backends: { p: { prometheus: { endpoint: http://prom:9090 } } }").expect_err("prometheus");
        assert!(err[0].starts_with("metric_backends::p::prometheus: a Prometheus metrics backend is not available"), "{err:?}");
        let raw: Value = serde_yaml_ng::from_str("backends: { a: { elasticsearch: {} } }\nmetric_backends: { a: { elasticsearch: {} } }").expect("yaml");
        let parsed = tracegate_core::factory::parse_typed::<Config>(Some(&raw)).ok().expect("valid with a warning");
        assert_eq!(parsed.warnings.len(), 1);
        assert!(parsed.warnings[0].message.starts_with("Monitor metrics are not computed from elasticsearch spans"), "{:?}", parsed.warnings);
    }
}
