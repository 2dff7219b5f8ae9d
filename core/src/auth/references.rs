//! Config problems of `auth: { authenticator: <id> }` references, which only the whole config
//! can see: the id must name a configured extension of an authenticator type that
//! `service.extensions` enables. Found by walking the raw component configs, so every
//! component's `auth:` is checked wherever it sits (next to an endpoint, or at an exporter's
//! top level) without each component knowing about the others.

use serde_yaml_ng::{Mapping, Value};

use super::AUTHENTICATOR_TYPES;
use crate::config::ConfigProblem;
use crate::id::{ComponentId, Kind};

/// Problems of every `auth.authenticator` under receivers, exporters and extensions.
pub(crate) fn check_references(top: &Mapping, enabled_extensions: &[String]) -> Vec<ConfigProblem> {
    let configured = |id: &str| {
        top.get(Kind::Extension.section())
            .and_then(Value::as_mapping)
            .is_some_and(|m| m.contains_key(id))
    };
    let mut problems = Vec::new();
    for kind in [Kind::Receiver, Kind::Exporter, Kind::Extension] {
        let Some(section) = top.get(kind.section()).and_then(Value::as_mapping) else {
            continue;
        };
        for (key, config) in section {
            let name = key.as_str().unwrap_or("?");
            let path = format!("{}::{name}", kind.section());
            let mut found = Vec::new();
            collect(config, &path, &mut found);
            for (path, id) in found {
                let problem = match ComponentId::parse(&id) {
                    Err(e) => Some(e.to_string()),
                    Ok(parsed) if !AUTHENTICATOR_TYPES.contains(&parsed.type_name()) => Some(format!(
                        "\"{id}\" is not an authenticator; use an extension of type {}",
                        AUTHENTICATOR_TYPES.join(", ")
                    )),
                    Ok(_) if !configured(&id) => Some(format!(
                        "authenticator \"{id}\" is not configured under extensions"
                    )),
                    Ok(_) if !enabled_extensions.iter().any(|e| e == &id) => Some(format!(
                        "authenticator \"{id}\" is not enabled in service::extensions"
                    )),
                    Ok(_) => None,
                };
                problems.extend(problem.map(|m| ConfigProblem::new(path, m)));
            }
        }
    }
    problems
}

/// Every `auth: { authenticator: <string> }` inside `value`, with its path.
fn collect(value: &Value, path: &str, found: &mut Vec<(String, String)>) {
    let Value::Mapping(map) = value else { return };
    for (key, child) in map {
        let Some(key) = key.as_str() else { continue };
        let child_path = format!("{path}::{key}");
        if key == "auth" {
            if let Some(id) = child.get("authenticator").and_then(Value::as_str) {
                found.push((format!("{child_path}::authenticator"), id.to_string()));
                continue;
            }
        }
        collect(child, &child_path, found);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn problems(yaml: &str, enabled: &[&str]) -> Vec<String> {
        let top: Mapping = serde_yaml_ng::from_str(yaml).unwrap();
        let enabled: Vec<String> = enabled.iter().map(|s| s.to_string()).collect();
        check_references(&top, &enabled).iter().map(|p| p.to_string()).collect()
    }

    const CONFIG: &str = "
receivers:
  otlp: { protocols: { grpc: { auth: { authenticator: basicauth/in } } } }
exporters:
  otlp: { endpoint: 'x:1', auth: { authenticator: bearertokenauth } }
extensions:
  basicauth/in: {}
  bearertokenauth: {}
  health_check: {}
  jaeger_query: { http: { auth: { authenticator: health_check } } }
";

    #[test]
    fn each_bad_reference_is_named_with_its_path() {
        let found = problems(CONFIG, &["basicauth/in"]);
        assert_eq!(
            found,
            [
                "exporters::otlp::auth::authenticator: authenticator \"bearertokenauth\" is not enabled in service::extensions",
                "extensions::jaeger_query::http::auth::authenticator: \"health_check\" is not an authenticator; use an extension of type basicauth, bearertokenauth, oidc",
            ]
        );
        let unknown = CONFIG.replace("authenticator: basicauth/in", "authenticator: basicauth/nope");
        let found = problems(&unknown, &["basicauth/in", "bearertokenauth"]);
        assert_eq!(
            found[0],
            "receivers::otlp::protocols::grpc::auth::authenticator: authenticator \"basicauth/nope\" is not configured under extensions"
        );
    }
}
