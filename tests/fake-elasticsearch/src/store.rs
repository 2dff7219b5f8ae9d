//! The cluster state: indices of documents by id, aliases, templates, injected faults, and the
//! `_bulk` implementation (documents are searchable at once: the fake behaves as if every
//! write were followed by a refresh, so `_refresh` is accepted and does nothing).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::EsError;
use crate::search::Hit;

/// Failures to inject, consumed in order as requests and bulk items arrive.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// The next N requests (other than `/_fake/*`) answer 429 as a whole.
    pub request_429: u32,
    /// The next N requests answer 503.
    pub request_503: u32,
    /// The next N bulk items fail with 429 `es_rejected_execution_exception` (retryable).
    pub item_429: u32,
    /// The next N bulk items fail with 400 `mapper_parsing_exception` (permanent).
    pub item_mapping: u32,
}

#[derive(Default)]
pub struct Cluster {
    pub indices: BTreeMap<String, BTreeMap<String, Value>>,
    pub aliases: BTreeMap<String, Vec<String>>,
    /// (`_index_template` | `_template`, name) -> body.
    pub templates: BTreeMap<(String, String), Value>,
    /// Mappings an index got from its template when it was created (checked on every write).
    pub mappings: BTreeMap<String, Value>,
    pub faults: Faults,
}

/// Checks `doc` against a mapping's `properties`, as Elasticsearch's document parser does for
/// the types Jaeger's templates use: `long`/`integer`/`date` need a number (or a numeric
/// string, which ES coerces), `keyword` a scalar, objects and `nested` an object (or an array
/// of them) checked against their own properties. Fields not in the mapping are accepted.
fn check_mapping(doc: &Value, properties: &Value, path: &str) -> Result<(), String> {
    let (Some(doc), Some(props)) = (doc.as_object(), properties.as_object()) else { return Ok(()) };
    for (field, spec) in props {
        let Some(value) = doc.get(field) else { continue };
        let full = if path.is_empty() { field.clone() } else { format!("{path}.{field}") };
        let items: Vec<&Value> = match value {
            Value::Array(a) => a.iter().collect(),
            Value::Null => continue,
            v => vec![v],
        };
        let kind = spec.get("type").and_then(Value::as_str).unwrap_or("object");
        for v in items {
            let ok = match kind {
                "long" | "integer" | "date" => v.is_i64() || v.is_u64() || v.as_str().is_some_and(|s| s.parse::<i64>().is_ok()),
                "keyword" => !v.is_object() && !v.is_array(),
                "object" | "nested" => {
                    if !v.is_object() {
                        return Err(format!("object mapping for [{full}] tried to parse field [{full}] as object, but found a concrete value"));
                    }
                    if let Some(p) = spec.get("properties") {
                        check_mapping(v, p, &full)?;
                    }
                    true
                }
                _ => true,
            };
            if !ok {
                return Err(format!("failed to parse field [{full}] of type [{kind}]"));
            }
        }
    }
    Ok(())
}

fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, rest)) => {
            let Some(tail) = name.strip_prefix(head) else { return false };
            (0..=tail.len()).filter(|i| tail.is_char_boundary(*i)).any(|i| glob(rest, &tail[i..]))
        }
    }
}

fn valid_index_name(name: &str) -> Result<(), EsError> {
    let bad = name.is_empty()
        || name.starts_with(['_', '-', '+'])
        || name.chars().any(|c| c.is_uppercase() || "\\/*?\"<>| ,#:".contains(c));
    if bad {
        return Err(EsError::new(400, "invalid_index_name_exception", format!("Invalid index name [{name}]")));
    }
    Ok(())
}

impl Cluster {
    /// The concrete indices a comma list of names, aliases and `*` patterns names.
    pub fn resolve(&self, names: &str, ignore_unavailable: bool) -> Result<Vec<String>, EsError> {
        let mut out = Vec::new();
        for part in names.split(',').filter(|p| !p.is_empty()) {
            if part == "_all" || part.contains('*') {
                let pattern = if part == "_all" { "*" } else { part };
                out.extend(self.indices.keys().filter(|n| glob(pattern, n)).cloned());
                for (alias, targets) in &self.aliases {
                    if glob(pattern, alias) {
                        out.extend(targets.iter().cloned());
                    }
                }
            } else if self.indices.contains_key(part) {
                out.push(part.to_string());
            } else if let Some(targets) = self.aliases.get(part) {
                out.extend(targets.iter().cloned());
            } else if !ignore_unavailable {
                return Err(EsError::new(404, "index_not_found_exception", format!("no such index [{part}]")));
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    pub fn hits(&self, indices: &[String]) -> Vec<Hit<'_>> {
        indices
            .iter()
            .filter_map(|name| self.indices.get_key_value(name))
            .flat_map(|(index, docs)| docs.iter().map(move |(id, source)| Hit { index, id, source }))
            .collect()
    }

    /// The index a write to `name` lands in (an alias must point at exactly one index).
    fn write_index(&self, name: &str) -> Result<String, EsError> {
        if let Some(targets) = self.aliases.get(name) {
            return match targets.as_slice() {
                [one] => Ok(one.clone()),
                _ => Err(EsError::illegal(format!("no write index is defined for alias [{name}]"))),
            };
        }
        valid_index_name(name)?;
        Ok(name.to_string())
    }

    /// `_bulk`: NDJSON action/source pairs. The whole request fails (400) if the body is not
    /// well-formed, as Elasticsearch parses it before executing any item.
    pub fn bulk(&mut self, default_index: Option<&str>, body: &[u8]) -> Result<Value, EsError> {
        let text = std::str::from_utf8(body).map_err(|_| EsError::illegal("bulk body is not UTF-8"))?;
        if !text.is_empty() && !text.ends_with('\n') {
            return Err(EsError::illegal("The bulk request must be terminated by a newline [\\n]"));
        }
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let mut ops = Vec::new();
        while let Some(action) = lines.next() {
            let action: Value = serde_json::from_str(action)
                .map_err(|e| EsError::illegal(format!("Malformed action/metadata line: {e}")))?;
            let obj = action.as_object().filter(|o| o.len() == 1).ok_or_else(|| {
                EsError::illegal("Malformed action/metadata line, expected a single object like {\"index\":{...}}")
            })?;
            let Some((op, meta)) = obj.iter().next() else { continue };
            if op != "index" && op != "create" {
                return Err(EsError::illegal(format!("Action/metadata line contains an unsupported action [{op}] (the fake implements index and create)")));
            }
            let index = meta.get("_index").and_then(Value::as_str).or(default_index).ok_or_else(|| EsError::illegal("index is missing"))?;
            let id = meta.get("_id").and_then(Value::as_str).map(str::to_string);
            let source = lines.next().ok_or_else(|| EsError::illegal(format!("[{op}] request is missing its source line")))?;
            let source: Value = serde_json::from_str(source).map_err(|e| EsError::new(400, "x_content_parse_exception", format!("failed to parse source: {e}")))?;
            if !source.is_object() {
                return Err(EsError::new(400, "x_content_parse_exception", "source must be an object"));
            }
            ops.push((op.clone(), index.to_string(), id, source));
        }
        if ops.is_empty() {
            return Err(EsError::new(400, "action_request_validation_exception", "Validation Failed: 1: no requests added;"));
        }
        let mut errors = false;
        let mut items = Vec::new();
        for (n, (op, index, id, source)) in ops.into_iter().enumerate() {
            let id = id.unwrap_or_else(|| format!("auto-{}-{n}", self.indices.values().map(BTreeMap::len).sum::<usize>()));
            let item = self.bulk_item(&op, &index, &id, source);
            errors |= item.get("error").is_some();
            items.push(json!({ op: item }));
        }
        Ok(json!({"took": 1, "errors": errors, "items": items}))
    }

    fn bulk_item(&mut self, op: &str, index: &str, id: &str, source: Value) -> Value {
        let fail = |status: u16, kind: &str, reason: String| {
            json!({"_index": index, "_id": id, "status": status, "error": {"type": kind, "reason": reason}})
        };
        if self.faults.item_429 > 0 {
            self.faults.item_429 -= 1;
            return fail(429, "es_rejected_execution_exception", "rejected execution of coordinating operation (injected)".into());
        }
        let mapped = self.mappings.get(index).or_else(|| self.matching_mappings(index)).and_then(|m| m.get("properties").cloned());
        if let Some(properties) = mapped {
            if let Err(reason) = check_mapping(&source, &properties, "") {
                return fail(400, "document_parsing_exception", reason);
            }
        }
        if self.faults.item_mapping > 0 {
            self.faults.item_mapping -= 1;
            return fail(400, "mapper_parsing_exception", "failed to parse field [startTime] of type [long] (injected)".into());
        }
        let index = match self.write_index(index) {
            Ok(i) => i,
            Err(e) => return fail(e.status, e.kind, e.reason),
        };
        if !self.indices.contains_key(&index) {
            self.create_index(&index);
        }
        let docs = self.indices.entry(index.clone()).or_default();
        let exists = docs.contains_key(id);
        if op == "create" && exists {
            return fail(409, "version_conflict_engine_exception", format!("[{id}]: version conflict, document already exists"));
        }
        docs.insert(id.to_string(), source);
        let (result, status) = if exists { ("updated", 200) } else { ("created", 201) };
        json!({"_index": index, "_id": id, "_version": 1, "result": result, "status": status})
    }

    /// Creates an index on first write, joining the aliases of the templates that match its
    /// name (how Jaeger's `-read` alias picks up new indices).
    /// The mappings of the template (highest `priority`/`order` first) matching `index`.
    fn matching_mappings(&self, index: &str) -> Option<&Value> {
        let mut best: Option<(i64, &Value)> = None;
        for body in self.templates.values() {
            let patterns: Vec<&str> = match body.get("index_patterns") {
                Some(Value::String(p)) => vec![p.as_str()],
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if !patterns.iter().any(|p| glob(p, index)) {
                continue;
            }
            let rank = body.get("priority").or_else(|| body.get("order")).and_then(Value::as_i64).unwrap_or(0);
            if let Some(m) = body.get("mappings").or_else(|| body.pointer("/template/mappings")) {
                if best.is_none_or(|(r, _)| rank > r) {
                    best = Some((rank, m));
                }
            }
        }
        best.map(|(_, m)| m)
    }

    fn create_index(&mut self, index: &str) {
        if let Some(m) = self.matching_mappings(index).cloned() {
            self.mappings.insert(index.to_string(), m);
        }
        let mut aliases = Vec::new();
        for body in self.templates.values() {
            let patterns: Vec<&str> = match body.get("index_patterns") {
                Some(Value::String(p)) => vec![p.as_str()],
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if patterns.iter().any(|p| glob(p, index)) {
                let a = body.get("aliases").or_else(|| body.pointer("/template/aliases"));
                aliases.extend(a.and_then(Value::as_object).map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default());
            }
        }
        self.indices.insert(index.to_string(), BTreeMap::new());
        for alias in aliases {
            self.aliases.entry(alias).or_default().push(index.to_string());
        }
    }

    /// `PUT _index_template/{name}` (composable, ES >= 7.8) or `PUT _template/{name}` (legacy).
    pub fn put_template(&mut self, kind: &str, name: &str, body: Value) -> Result<Value, EsError> {
        let patterns = body.get("index_patterns");
        if !patterns.is_some_and(|p| p.is_array() || p.is_string()) {
            return Err(EsError::new(400, "action_request_validation_exception", "Validation Failed: 1: index patterns are missing;"));
        }
        let allowed: &[&str] = if kind == "_index_template" {
            &["index_patterns", "template", "priority", "version", "composed_of", "_meta", "data_stream"]
        } else {
            &["index_patterns", "settings", "mappings", "aliases", "order", "version"]
        };
        for key in body.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default() {
            if !allowed.contains(&key.as_str()) {
                return Err(EsError::illegal(format!("unknown key [{key}] in the template")));
            }
        }
        self.templates.insert((kind.to_string(), name.to_string()), body);
        Ok(json!({"acknowledged": true}))
    }

    /// `POST _aliases` with `add` actions.
    pub fn update_aliases(&mut self, body: &Value) -> Result<Value, EsError> {
        let actions = body.get("actions").and_then(Value::as_array).ok_or_else(|| EsError::parsing("[aliases] requires [actions]"))?;
        for action in actions {
            let add = action.get("add").ok_or_else(|| EsError::parsing("the fake implements only [add] alias actions"))?;
            let (Some(index), Some(alias)) = (add.get("index").and_then(Value::as_str), add.get("alias").and_then(Value::as_str)) else {
                return Err(EsError::illegal("[add] requires [index] and [alias]"));
            };
            valid_index_name(index)?;
            self.indices.entry(index.to_string()).or_default();
            let targets = self.aliases.entry(alias.to_string()).or_default();
            if !targets.iter().any(|t| t == index) {
                targets.push(index.to_string());
            }
        }
        Ok(json!({"acknowledged": true}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_items_and_rejections() {
        let mut c = Cluster::default();
        let body = b"{\"index\":{\"_index\":\"a\",\"_id\":\"1\"}}\n{\"x\":1}\n{\"create\":{\"_index\":\"a\",\"_id\":\"1\"}}\n{\"x\":2}\n";
        let out = c.bulk(None, body).expect("bulk");
        assert_eq!(out["errors"], true);
        assert_eq!(out["items"][0]["index"]["status"], 201);
        assert_eq!(out["items"][1]["create"]["status"], 409);
        assert_eq!(c.bulk(None, b"{\"index\":{}}\n{\"x\":1}\n").expect_err("no index").kind, "illegal_argument_exception");
        assert_eq!(c.bulk(None, b"{not json}\n{}\n").expect_err("malformed").kind, "illegal_argument_exception");
        assert!(c.bulk(None, b"{\"index\":{\"_index\":\"a\"}}\n{\"x\":1}").is_err(), "missing final newline");
        assert!(c.bulk(None, b"{\"delete\":{\"_index\":\"a\",\"_id\":\"1\"}}\n").is_err(), "unsupported action");
        c.faults = Faults { item_429: 1, item_mapping: 1, ..Faults::default() };
        let out = c.bulk(Some("b"), b"{\"index\":{}}\n{}\n{\"index\":{}}\n{}\n{\"index\":{}}\n{}\n").expect("bulk");
        let statuses: Vec<u64> = out["items"].as_array().expect("items").iter().filter_map(|i| i["index"]["status"].as_u64()).collect();
        assert_eq!(statuses, [429, 400, 201]);
    }

    #[test]
    fn index_resolution() {
        let mut c = Cluster::default();
        c.bulk(None, b"{\"index\":{\"_index\":\"jaeger-span-2024-01-01\",\"_id\":\"1\"}}\n{}\n").expect("bulk");
        assert_eq!(c.resolve("jaeger-span-*", false).expect("glob"), ["jaeger-span-2024-01-01"]);
        assert_eq!(c.resolve("jaeger-span-2024-01-02,jaeger-span-2024-01-01", true).expect("ignore"), ["jaeger-span-2024-01-01"]);
        assert_eq!(c.resolve("jaeger-span-2024-01-02", false).expect_err("missing").status, 404);
        c.update_aliases(&json!({"actions": [{"add": {"index": "jaeger-span-2024-01-01", "alias": "jaeger-span-read"}}]})).expect("alias");
        assert_eq!(c.resolve("jaeger-span-read", false).expect("alias"), ["jaeger-span-2024-01-01"]);
        let template = json!({"index_patterns": ["x-*"], "template": {"aliases": {"x-read": {}}}});
        c.put_template("_index_template", "x", template).expect("template");
        c.bulk(None, b"{\"index\":{\"_index\":\"x-write\",\"_id\":\"1\"}}\n{}\n").expect("bulk");
        assert_eq!(c.resolve("x-read", false).expect("template alias"), ["x-write"]);
    }

    #[test]
    fn documents_are_checked_against_the_template_mapping() {
        let mut c = Cluster::default();
        let mappings = json!({"properties": {"startTime": {"type": "long"}, "tags": {"type": "nested", "properties": {"key": {"type": "keyword"}}}}});
        c.put_template("_template", "s", json!({"index_patterns": ["s-*"], "mappings": mappings})).expect("template");
        let body = b"{\"index\":{\"_index\":\"s-1\",\"_id\":\"1\"}}\n{\"startTime\":\"soon\"}\n{\"index\":{\"_index\":\"s-1\",\"_id\":\"2\"}}\n{\"tags\":[{\"key\":{\"a\":1}}]}\n{\"index\":{\"_index\":\"s-1\",\"_id\":\"3\"}}\n{\"startTime\":5,\"tags\":[{\"key\":\"k\"}]}\n";
        let out = c.bulk(None, body).expect("bulk");
        let statuses: Vec<u64> = out["items"].as_array().expect("items").iter().filter_map(|i| i["index"]["status"].as_u64()).collect();
        assert_eq!(statuses, [400, 400, 201]);
        assert_eq!(out["items"][0]["index"]["error"]["type"], "document_parsing_exception");
    }
}
