//! Jaeger's index templates (`plugin/storage/es/mappings/jaeger-span-{7,8}.json` and
//! `jaeger-service-*`): ES 7 gets a legacy `_template`, ES 8 a composable `_index_template`.
//! The mappings are the same: keyword ids and names, `long` times, nested `tags`,
//! `process.tags`, `logs`/`logs.fields` and `references`, and dynamic templates mapping the
//! `tag.*` / `process.tag.*` object fields (tags_as_fields) as keywords.

use serde_json::{json, Value};

fn keyword() -> Value {
    json!({"type": "keyword", "ignore_above": 256})
}

fn nested_kv() -> Value {
    json!({"type": "nested", "dynamic": false, "properties": {"key": keyword(), "value": keyword(), "tagType": keyword()}})
}

fn tag_maps() -> Value {
    json!([
        {"span_tags_map": {"mapping": keyword(), "path_match": "tag.*"}},
        {"process_tags_map": {"mapping": keyword(), "path_match": "process.tag.*"}}
    ])
}

pub fn span_mappings() -> Value {
    json!({
        "dynamic_templates": tag_maps(),
        "properties": {
            "traceID": keyword(), "parentSpanID": keyword(), "spanID": keyword(), "operationName": keyword(),
            "startTime": {"type": "long"}, "startTimeMillis": {"type": "date", "format": "epoch_millis"},
            "duration": {"type": "long"}, "flags": {"type": "integer"},
            "logs": {"type": "nested", "dynamic": false, "properties": {"timestamp": {"type": "long"}, "fields": nested_kv()}},
            "process": {"properties": {"serviceName": keyword(), "tag": {"type": "object"}, "tags": nested_kv()}},
            "references": {"type": "nested", "dynamic": false, "properties": {"refType": keyword(), "traceID": keyword(), "spanID": keyword()}},
            "tag": {"type": "object"},
            "tags": nested_kv()
        }
    })
}

pub fn service_mappings() -> Value {
    json!({
        "dynamic_templates": tag_maps(),
        "properties": {"serviceName": keyword(), "operationName": keyword(), "spanKind": keyword()}
    })
}

/// One template: (API path, body). `prefix` already ends with '-' when set.
/// With `read_alias`, new indices join `<prefix>jaeger-span-read` (Jaeger's rollover layout).
pub fn templates(major: u8, prefix: &str, shards: u32, replicas: u32, read_alias: bool) -> Vec<(String, Value)> {
    let settings = json!({"index.number_of_shards": shards, "index.number_of_replicas": replicas,
                          "index.mapping.nested_fields.limit": 50, "index.requests.cache.enable": true});
    let service_settings = json!({"index.number_of_shards": shards, "index.number_of_replicas": replicas,
                                  "index.mapping.nested_fields.limit": 50, "index.requests.cache.enable": true});
    [("jaeger-span", span_mappings(), settings), ("jaeger-service", service_mappings(), service_settings)]
        .into_iter()
        .map(|(name, mappings, settings)| {
            let pattern = format!("{prefix}{name}-*");
            let aliases = if read_alias { json!({format!("{prefix}{name}-read"): {}}) } else { json!({}) };
            if major >= 8 {
                let body = json!({"priority": 500, "index_patterns": [pattern], "template": {"settings": settings, "mappings": mappings, "aliases": aliases}});
                (format!("/_index_template/{prefix}{name}"), body)
            } else {
                let body = json!({"index_patterns": [pattern], "settings": settings, "mappings": mappings, "aliases": aliases});
                (format!("/_template/{prefix}{name}"), body)
            }
        })
        .collect()
}
