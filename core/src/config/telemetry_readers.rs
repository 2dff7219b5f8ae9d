//! The Collector's newer `service.telemetry` keys, which Jaeger v2's configs use:
//!
//! ```yaml
//! telemetry:
//!   resource: { service.name: jaeger }
//!   metrics:
//!     level: detailed
//!     readers:
//!       - pull: { exporter: { prometheus: { host: 0.0.0.0, port: 8888 } } }
//! ```
//!
//! A `pull` reader with a `prometheus` exporter is where `/metrics` is served: it sets
//! `metrics.address` (both at once is an error unless they agree). Other readers (`periodic`
//! push to OTLP) are refused, saying that tracegate serves Prometheus only. `resource` names the
//! collector's own telemetry resource; tracegate does not trace itself, so it is accepted with
//! a warning that it has no effect.

use serde_yaml_ng::Value;

use super::{ConfigProblem, Endpoint, MetricsSection, TelemetrySection};

const PATH: &str = "service::telemetry::metrics::readers";

/// Folds `readers` into `metrics.address`; the problems of the section (errors and warnings).
pub(crate) fn apply(telemetry: &mut TelemetrySection) -> Vec<ConfigProblem> {
    let mut problems = Vec::new();
    if !telemetry.resource.is_empty() {
        problems.push(ConfigProblem::warning(
            "service::telemetry::resource",
            "tracegate does not export traces of itself, so these resource attributes are not used (its metrics are labelled by component)",
        ));
    }
    let readers = std::mem::take(&mut telemetry.metrics.readers);
    let mut pull: Vec<Endpoint> = Vec::new();
    for (i, reader) in readers.iter().enumerate() {
        match prometheus_pull(reader) {
            Ok(endpoint) => pull.push(endpoint),
            Err(why) => problems.push(ConfigProblem::new(format!("{PATH}::{i}"), why)),
        }
    }
    match pull.as_slice() {
        [] => {}
        [endpoint] => set_address(&mut telemetry.metrics, endpoint, &mut problems),
        _ => problems.push(ConfigProblem::new(PATH, "more than one Prometheus pull reader; tracegate serves /metrics on one address")),
    }
    problems
}

fn set_address(metrics: &mut MetricsSection, endpoint: &Endpoint, problems: &mut Vec<ConfigProblem>) {
    let default = MetricsSection::default().address;
    if metrics.address != default && metrics.address != *endpoint {
        problems.push(ConfigProblem::new(
            PATH,
            format!("the Prometheus reader's {} and metrics::address {} disagree; keep one", endpoint.bind_addr(), metrics.address.bind_addr()),
        ));
        return;
    }
    metrics.address = endpoint.clone();
}

/// `{ pull: { exporter: { prometheus: { host, port } } } }` -> host:port.
fn prometheus_pull(reader: &Value) -> Result<Endpoint, String> {
    let get = |v: &Value, k: &str| v.as_mapping().and_then(|m| m.get(k)).cloned();
    let Some(pull) = get(reader, "pull") else {
        let kind = reader.as_mapping().and_then(|m| m.keys().next()).and_then(Value::as_str).unwrap_or("?");
        return Err(format!(
            "a \"{kind}\" reader is not available: tracegate serves its metrics for Prometheus to scrape; use readers: [{{ pull: {{ exporter: {{ prometheus: {{ host: 0.0.0.0, port: 8888 }} }} }} }}]"
        ));
    };
    let Some(prometheus) = get(&pull, "exporter").and_then(|e| get(&e, "prometheus")) else {
        return Err("a pull reader needs exporter: { prometheus: { host, port } } (the only pull exporter)".into());
    };
    let host = match get(&prometheus, "host") {
        None | Some(Value::Null) => "localhost".to_string(),
        Some(Value::String(h)) => h,
        Some(_) => return Err("prometheus::host must be a host name or address".into()),
    };
    let port = match get(&prometheus, "port") {
        None | Some(Value::Null) => 8888,
        Some(p) => p.as_u64().and_then(|p| u16::try_from(p).ok()).ok_or("prometheus::port must be a port number")?,
    };
    Ok(Endpoint::new(host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(yaml: &str) -> TelemetrySection {
        serde_yaml_ng::from_str(yaml).expect("parses")
    }

    #[test]
    fn a_prometheus_pull_reader_is_the_metrics_address() {
        let mut t = section("metrics: { level: detailed, readers: [ { pull: { exporter: { prometheus: { host: 0.0.0.0, port: 8889 } } } } ] }");
        assert!(apply(&mut t).is_empty());
        assert_eq!(t.metrics.address.bind_addr(), "0.0.0.0:8889");
        assert!(t.metrics.readers.is_empty(), "folded in, so print-config shows the address");
    }

    #[test]
    fn push_readers_are_refused_and_resource_is_a_warning() {
        let mut t = section("resource: { service.name: jaeger }\nmetrics: { readers: [ { periodic: { exporter: { otlp: {} } } } ] }");
        let problems = apply(&mut t);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(!problems[0].is_error() && problems[0].path == "service::telemetry::resource");
        assert!(problems[1].is_error() && problems[1].message.starts_with("a \"periodic\" reader is not available"), "{problems:?}");
    }

    #[test]
    fn a_reader_and_an_address_must_agree() {
        let mut t = section("metrics: { address: 127.0.0.1:9000, readers: [ { pull: { exporter: { prometheus: { host: 0.0.0.0, port: 8888 } } } } ] }");
        let problems = apply(&mut t);
        assert!(problems[0].message.contains("disagree"), "{problems:?}");
    }
}
