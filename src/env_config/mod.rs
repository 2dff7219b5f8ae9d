//! The config tracegate runs with no `--config`: the Jaeger all-in-one, configured by the
//! environment variables a `jaegertracing/all-in-one` deployment sets.
//!
//! Why: users replace the Jaeger image in a `docker run` or a Kubernetes Deployment and keep
//! its environment. So the variables mean what they mean to Jaeger v1 (read from Jaeger's
//! flag definitions at v1.62.0: each flag `--a.b-c` is the variable `A_B_C`, with the same
//! defaults), and they produce the same YAML tree a file would, shaped like
//! `config-examples/all-in-one.yaml`, which then goes through the same validation. So
//! `tracegate print-config` shows what the environment produced, and a bad value is reported
//! like a bad key, named after its variable, every problem at once.
//!
//! What runs (Jaeger v1's ports and variables; the two `TRACEGATE_` ones have no Jaeger name):
//!
//! | what | variable | default |
//! | --- | --- | --- |
//! | OTLP gRPC / HTTP (`COLLECTOR_OTLP_ENABLED`, default true) | `COLLECTOR_OTLP_GRPC_HOST_PORT`, `COLLECTOR_OTLP_HTTP_HOST_PORT` | `:4317`, `:4318` |
//! | Jaeger gRPC / Thrift HTTP | `COLLECTOR_GRPC_SERVER_HOST_PORT`, `COLLECTOR_HTTP_SERVER_HOST_PORT` | `:14250`, `:14268` |
//! | Jaeger agent UDP compact / binary | `PROCESSOR_JAEGER_COMPACT_SERVER_HOST_PORT`, `PROCESSOR_JAEGER_BINARY_SERVER_HOST_PORT` | `:6831`, `:6832` |
//! | Zipkin (off unless set, as in Jaeger) | `COLLECTOR_ZIPKIN_HOST_PORT`, or the older `COLLECTOR_ZIPKIN_HTTP_PORT` (a port; 0 is off) | off |
//! | query API and UI, its gRPC | `QUERY_HTTP_SERVER_HOST_PORT`, `QUERY_GRPC_SERVER_HOST_PORT`, `QUERY_BASE_PATH` | `:16686`, `:16685`, `/` |
//! | sampling strategies (only with a file) | `SAMPLING_STRATEGIES_FILE`, `SAMPLING_STRATEGIES_RELOAD_INTERVAL`, `HTTP_SERVER_HOST_PORT` | none, `0s`, `:5778` |
//! | health, at `/` as Jaeger v1's admin port answers it | `ADMIN_HTTP_HOST_PORT` | `:14269` |
//! | health (Jaeger v2's port, the image's `HEALTHCHECK`) | `TRACEGATE_HEALTH_CHECK_HOST_PORT` | `:13133` |
//! | Prometheus `/metrics` (`METRICS_BACKEND=none` turns it off) | `TRACEGATE_METRICS_HOST_PORT` | `:8888` |
//! | log level | `LOG_LEVEL` | `info` |
//!
//! Storage is [`storage`]'s table. Spans go through `batch` (8192 spans or 200ms) as in the
//! shipped all-in-one. Variables that look like Jaeger settings (`ES_`, `KAFKA_`, `CASSANDRA_`,
//! ...) and are not read here are reported as warnings, so nothing a user set is silently
//! ignored.

mod storage;
mod vars;
mod yaml;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_yaml_ng::Value;
use tracegate_core::config::ConfigProblem;

use vars::Env;
use yaml::{map, s};

/// Prefixes of Jaeger's variables: one of these set and not read is worth a warning.
const JAEGER_PREFIXES: [&str; 12] = [
    "SPAN_STORAGE", "MEMORY_", "BADGER_", "ES_", "CASSANDRA_", "KAFKA_", "COLLECTOR_",
    "QUERY_", "SAMPLING_", "PROCESSOR_", "ADMIN_", "METRICS_",
];

/// The config tree the environment describes, ready for validation.
pub struct EnvConfig {
    pub root: Value,
    /// Errors are in the `Err` of [`from_env`]; these are the warnings.
    pub warnings: Vec<ConfigProblem>,
    /// Badger's ephemeral mode: a sled directory to remove when the process stops.
    pub ephemeral_dir: Option<PathBuf>,
}

/// Reads the process environment.
pub fn from_process_env() -> Result<EnvConfig, Vec<ConfigProblem>> {
    from_env(std::env::vars().collect())
}

/// Builds the all-in-one's config tree from `vars` (the environment), or every problem found.
pub fn from_env(vars: BTreeMap<String, String>) -> Result<EnvConfig, Vec<ConfigProblem>> {
    let mut env = Env::new(vars);
    let stores = storage::storage(&mut env);

    let mut receivers = Vec::new();
    if env.bool("COLLECTOR_OTLP_ENABLED", true) {
        let grpc = map([("endpoint", s(&env.host_port("COLLECTOR_OTLP_GRPC_HOST_PORT", ":4317")))]);
        let http = map([("endpoint", s(&env.host_port("COLLECTOR_OTLP_HTTP_HOST_PORT", ":4318")))]);
        receivers.push(("otlp", map([("protocols", map([("grpc", grpc), ("http", http)]))])));
    }
    let endpoint = |env: &mut Env, var: &str, default: &str| map([("endpoint", s(&env.host_port(var, default)))]);
    let jaeger = map([(
        "protocols",
        map([
            ("thrift_compact", endpoint(&mut env, "PROCESSOR_JAEGER_COMPACT_SERVER_HOST_PORT", ":6831")),
            ("thrift_binary", endpoint(&mut env, "PROCESSOR_JAEGER_BINARY_SERVER_HOST_PORT", ":6832")),
            ("thrift_http", endpoint(&mut env, "COLLECTOR_HTTP_SERVER_HOST_PORT", ":14268")),
            ("grpc", endpoint(&mut env, "COLLECTOR_GRPC_SERVER_HOST_PORT", ":14250")),
        ]),
    )]);
    receivers.push(("jaeger", jaeger));
    if let Some(zipkin) = zipkin_endpoint(&mut env) {
        receivers.push(("zipkin", map([("endpoint", s(&zipkin))])));
    }

    let mut extensions = Vec::new();
    if let Some(reader) = &stores.reader {
        let mut query = vec![
            ("storage", s(reader)),
            ("http", endpoint(&mut env, "QUERY_HTTP_SERVER_HOST_PORT", ":16686")),
            ("grpc", endpoint(&mut env, "QUERY_GRPC_SERVER_HOST_PORT", ":16685")),
        ];
        if let Some(base) = env.get("QUERY_BASE_PATH") {
            query.push(("base_path", s(&base)));
        }
        extensions.push(("jaeger_query", map(query)));
    }
    if let Some(file) = env.get("SAMPLING_STRATEGIES_FILE") {
        if file.starts_with("http://") || file.starts_with("https://") {
            env.error("SAMPLING_STRATEGIES_FILE", "strategies from a URL are not supported; give a file path");
        }
        let reload = env.duration("SAMPLING_STRATEGIES_RELOAD_INTERVAL", "0s");
        extensions.push((
            "remote_sampling",
            map([
                ("file", map([("path", s(&file)), ("reload_interval", s(&reload))])),
                ("http", endpoint(&mut env, "HTTP_SERVER_HOST_PORT", ":5778")),
            ]),
        ));
    }
    if let Some(kind) = env.get("SAMPLING_CONFIG_TYPE").filter(|t| t != "file") {
        env.error("SAMPLING_CONFIG_TYPE", format!("\"{kind}\" sampling is not configured from the environment; use a config file (config-examples/adaptive-sampling.yaml)"));
    }
    extensions.push(("health_check", endpoint(&mut env, "TRACEGATE_HEALTH_CHECK_HOST_PORT", ":13133")));
    let admin = env.host_port("ADMIN_HTTP_HOST_PORT", ":14269");
    extensions.push(("health_check/admin", map([("endpoint", s(&admin)), ("path", s("/"))])));

    let metrics = match env.string("METRICS_BACKEND", "prometheus").as_str() {
        "prometheus" => map([("address", s(&env.host_port("TRACEGATE_METRICS_HOST_PORT", ":8888")))]),
        "none" => map([("level", s("none"))]),
        other => {
            env.error("METRICS_BACKEND", format!("\"{other}\" is not a metrics backend; accepted values: prometheus, none"));
            map([])
        }
    };
    let logs = map([("level", s(&env.string("LOG_LEVEL", "info")))]);

    for name in env.unread_with_prefix(&JAEGER_PREFIXES) {
        env.warn(&name, "a Jaeger setting that tracegate does not read from the environment; it has no effect (use a config file for it)");
    }

    let ids = |items: &[(&str, Value)]| Value::Sequence(items.iter().map(|(id, _)| s(id)).collect());
    let exporter_ids = Value::Sequence(stores.exporters.iter().map(|(id, _)| s(id)).collect());
    let pipeline = map([
        ("receivers", ids(&receivers)),
        ("processors", Value::Sequence(vec![s("batch")])),
        ("exporters", exporter_ids),
    ]);
    let service = map([
        ("extensions", ids(&extensions)),
        ("telemetry", map([("metrics", metrics), ("logs", logs)])),
        ("pipelines", map([("traces", pipeline)])),
    ]);
    let batch = map([("send_batch_size", Value::from(8192)), ("timeout", s("200ms"))]);
    let root = map([
        ("receivers", map(receivers)),
        ("processors", map([("batch", batch)])),
        ("exporters", map(stores.exporters.iter().map(|(id, c)| (id.as_str(), c.clone())))),
        ("extensions", map(extensions)),
        ("service", service),
    ]);

    let (errors, warnings): (Vec<_>, Vec<_>) = env.problems.into_iter().partition(ConfigProblem::is_error);
    if !errors.is_empty() {
        return Err(errors.into_iter().chain(warnings).collect());
    }
    Ok(EnvConfig { root, warnings, ephemeral_dir: stores.ephemeral_dir })
}

/// `COLLECTOR_ZIPKIN_HOST_PORT` (Jaeger >= 1.25), else the older `COLLECTOR_ZIPKIN_HTTP_PORT`
/// (a port number, 0 for off). Neither set: no Zipkin port, as in Jaeger.
fn zipkin_endpoint(env: &mut Env) -> Option<String> {
    if env.get("COLLECTOR_ZIPKIN_HOST_PORT").is_some() {
        return Some(env.host_port("COLLECTOR_ZIPKIN_HOST_PORT", ""));
    }
    match env.uint("COLLECTOR_ZIPKIN_HTTP_PORT", 0) {
        0 => None,
        port if port > u64::from(u16::MAX) => {
            env.error("COLLECTOR_ZIPKIN_HTTP_PORT", format!("{port} is not a port number"));
            None
        }
        port => Some(format!(":{port}")),
    }
}
