//! `SPAN_STORAGE_TYPE` and the storage variables, as Jaeger v1 reads them, turned into
//! tracegate exporters.
//!
//! | `SPAN_STORAGE_TYPE` | exporter | variables (Jaeger's defaults) |
//! | --- | --- | --- |
//! | `memory` (the all-in-one's default) | `memory` | `MEMORY_MAX_TRACES` (0: tracegate's bound, 100000) |
//! | `badger` | `sled` | `BADGER_EPHEMERAL` (true), `BADGER_DIRECTORY_VALUE`, `BADGER_SPAN_STORE_TTL` (72h), `BADGER_CONSISTENCY` |
//! | `elasticsearch`, `opensearch` | `elasticsearch` | `ES_SERVER_URLS` (http://127.0.0.1:9200), `ES_INDEX_PREFIX`, `ES_NUM_SHARDS` (5), `ES_NUM_REPLICAS` (1), `ES_USERNAME`, `ES_PASSWORD`, `ES_USE_ALIASES`, `ES_CREATE_INDEX_TEMPLATES`, `ES_VERSION`, `ES_TAGS_AS_FIELDS_ALL`, `ES_MAX_SPAN_AGE` |
//! | `kafka` | `kafka` | `KAFKA_PRODUCER_BROKERS` (127.0.0.1:9092), `KAFKA_PRODUCER_TOPIC` (jaeger-spans), `KAFKA_PRODUCER_ENCODING` (protobuf) |
//! | `blackhole` | `nop` | |
//!
//! As in Jaeger, a comma-separated list writes to every store named and reads from the first.
//! Badger keeps keys and values in two directories; sled keeps one, the value directory.
//! Badger's ephemeral default (data in a temporary directory, gone at exit) becomes a sled
//! directory under the system's temporary directory that the process removes when it stops.

use std::path::PathBuf;

use serde_yaml_ng::Value;

use super::vars::Env;
use super::yaml::{map, s};

/// Every value `SPAN_STORAGE_TYPE` accepts here, in the order error messages list them.
pub const STORAGE_TYPES: [&str; 6] = ["memory", "badger", "elasticsearch", "opensearch", "kafka", "blackhole"];

/// Jaeger storage types that tracegate does not provide, with what to use instead.
const NOT_PROVIDED: [(&str, &str); 2] = [
    ("cassandra", "Cassandra is not available in tracegate; use badger (embedded) or elasticsearch"),
    ("grpc", "remote gRPC storage plugins are not available in tracegate; use elasticsearch, or badger for an embedded store"),
];

/// The stores `SPAN_STORAGE_TYPE` asked for.
pub struct Storage {
    /// `(exporter id, exporter config)`, in `SPAN_STORAGE_TYPE`'s order.
    pub exporters: Vec<(String, Value)>,
    /// The exporter the query API reads; `None` when the first store cannot be read (Kafka,
    /// blackhole), which makes this process a collector only.
    pub reader: Option<String>,
    /// A directory this process made for ephemeral data and removes when it stops.
    pub ephemeral_dir: Option<PathBuf>,
}

pub fn storage(env: &mut Env) -> Storage {
    let types = env.list("SPAN_STORAGE_TYPE", "memory");
    let mut out = Storage { exporters: Vec::new(), reader: None, ephemeral_dir: None };
    for (i, kind) in types.iter().enumerate() {
        let exporter = match kind.as_str() {
            "memory" => Some(("memory".to_string(), memory(env))),
            "badger" => Some(("sled".to_string(), badger(env, &mut out.ephemeral_dir))),
            "elasticsearch" => Some(("elasticsearch".to_string(), elasticsearch(env, false))),
            "opensearch" => Some(("elasticsearch/opensearch".to_string(), elasticsearch(env, true))),
            "kafka" => Some(("kafka".to_string(), kafka(env))),
            "blackhole" => Some(("nop".to_string(), Value::Null)),
            other => {
                let why = NOT_PROVIDED.iter().find(|(t, _)| *t == other).map_or_else(
                    || format!("unknown span storage type \"{other}\""),
                    |(_, why)| format!("\"{other}\": {why}"),
                );
                env.error("SPAN_STORAGE_TYPE", format!("{why}; accepted values: {}", STORAGE_TYPES.join(", ")));
                None
            }
        };
        let Some((id, config)) = exporter else { continue };
        if out.exporters.iter().any(|(seen, _)| *seen == id) {
            env.error("SPAN_STORAGE_TYPE", format!("\"{kind}\" is listed twice"));
            continue;
        }
        if i == 0 && !matches!(kind.as_str(), "kafka" | "blackhole") {
            out.reader = Some(id.clone());
        }
        out.exporters.push((id, config));
    }
    if types.is_empty() {
        env.error("SPAN_STORAGE_TYPE", format!("is empty; accepted values: {}", STORAGE_TYPES.join(", ")));
    }
    if let Some(first) = types.first().filter(|t| matches!(t.as_str(), "kafka" | "blackhole")) {
        env.warn(
            "SPAN_STORAGE_TYPE",
            format!("\"{first}\" cannot be read back, so the query API (16686) is not served: this process is a collector only, as Jaeger's collector is"),
        );
    }
    out
}

fn memory(env: &mut Env) -> Value {
    let max = env.uint("MEMORY_MAX_TRACES", 0);
    if max == 0 {
        // Jaeger's 0 means unbounded; tracegate keeps memory bounded (docs/memory.md).
        return map([]);
    }
    map([("max_traces", Value::from(max))])
}

fn badger(env: &mut Env, ephemeral_dir: &mut Option<PathBuf>) -> Value {
    let ephemeral = env.bool("BADGER_EPHEMERAL", true);
    let path = if ephemeral {
        if env.get("BADGER_DIRECTORY_VALUE").is_some() {
            env.warn("BADGER_DIRECTORY_VALUE", "not used while BADGER_EPHEMERAL is true (as in Jaeger); set BADGER_EPHEMERAL=false to keep data there");
        }
        let dir = std::env::temp_dir().join(format!("tracegate-ephemeral-{}", std::process::id()));
        *ephemeral_dir = Some(dir.clone());
        dir.to_string_lossy().into_owned()
    } else {
        env.string("BADGER_DIRECTORY_VALUE", "./tracegate-data")
    };
    if let Some(keys) = env.get("BADGER_DIRECTORY_KEY") {
        env.warn("BADGER_DIRECTORY_KEY", format!("sled keeps keys and values in one directory (BADGER_DIRECTORY_VALUE); \"{keys}\" is not used"));
    }
    let retention = env.duration("BADGER_SPAN_STORE_TTL", "72h");
    let mut pairs = vec![("path", s(&path)), ("retention", s(&retention))];
    if env.get("BADGER_CONSISTENCY").is_some() {
        pairs.push(("sync_on_write", Value::Bool(env.bool("BADGER_CONSISTENCY", true))));
    }
    map(pairs)
}

fn elasticsearch(env: &mut Env, opensearch: bool) -> Value {
    let endpoints: Vec<Value> = env.list("ES_SERVER_URLS", "http://127.0.0.1:9200").iter().map(|u| s(u)).collect();
    let mut pairs = vec![
        ("endpoints", Value::Sequence(endpoints)),
        ("index_prefix", s(&env.string("ES_INDEX_PREFIX", ""))),
        ("shards", Value::from(env.uint("ES_NUM_SHARDS", 5))),
        ("replicas", Value::from(env.uint("ES_NUM_REPLICAS", 1))),
        ("use_aliases", Value::Bool(env.bool("ES_USE_ALIASES", false))),
        ("create_index_templates", Value::Bool(env.bool("ES_CREATE_INDEX_TEMPLATES", true))),
        ("max_lookback", s(&env.duration("ES_MAX_SPAN_AGE", "72h"))),
    ];
    // Jaeger's ES_VERSION 0 means "ask the cluster". OpenSearch answers `GET /` with its own
    // numbering (1.x, 2.x) and speaks Elasticsearch 7's API, so it is pinned to 7.
    let version = match (opensearch, env.uint("ES_VERSION", 0)) {
        (true, _) => Value::from(7),
        (false, 0) => s("auto"),
        (false, v) => Value::from(v),
    };
    pairs.push(("version", version));
    let username = env.string("ES_USERNAME", "");
    let password = env.string("ES_PASSWORD", "");
    if !username.is_empty() || !password.is_empty() {
        pairs.push(("auth", map([("username", s(&username)), ("password", s(&password))])));
    }
    if env.bool("ES_TAGS_AS_FIELDS_ALL", false) {
        pairs.push(("tags_as_fields", map([("all", Value::Bool(true))])));
    }
    map(pairs)
}

fn kafka(env: &mut Env) -> Value {
    let brokers: Vec<Value> = env.list("KAFKA_PRODUCER_BROKERS", "127.0.0.1:9092").iter().map(|b| s(b)).collect();
    let raw = env.string("KAFKA_PRODUCER_ENCODING", "protobuf");
    let encoding = match raw.as_str() {
        "protobuf" => "jaeger_proto",
        "json" => "jaeger_json",
        other => {
            env.error("KAFKA_PRODUCER_ENCODING", format!("\"{other}\" is not a Jaeger span encoding; accepted values: protobuf, json"));
            "jaeger_proto"
        }
    };
    map([
        ("brokers", Value::Sequence(brokers)),
        ("topic", s(&env.string("KAFKA_PRODUCER_TOPIC", "jaeger-spans"))),
        ("encoding", s(encoding)),
    ])
}
