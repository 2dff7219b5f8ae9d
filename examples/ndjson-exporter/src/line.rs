//! One span as one JSON line: ids in hex, attributes as plain JSON values, the service name
//! lifted out of the resource, as a human or `jq` would want them.

use serde_json::{json, Map, Value as Json};
use tracegate_plugin_abi::proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use tracegate_plugin_abi::ExportTraceServiceRequest;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn any(value: &AnyValue) -> Json {
    match &value.value {
        Some(Value::StringValue(s)) => Json::String(s.clone()),
        Some(Value::BoolValue(b)) => Json::Bool(*b),
        Some(Value::IntValue(i)) => json!(i),
        Some(Value::DoubleValue(d)) => json!(d),
        Some(Value::BytesValue(b)) => Json::String(hex(b)),
        Some(Value::ArrayValue(a)) => Json::Array(a.values.iter().map(any).collect()),
        Some(Value::KvlistValue(l)) => attributes(&l.values),
        _ => Json::Null,
    }
}

fn attributes(kvs: &[KeyValue]) -> Json {
    let map: Map<String, Json> = kvs.iter().map(|kv| (kv.key.clone(), kv.value.as_ref().map(any).unwrap_or(Json::Null))).collect();
    Json::Object(map)
}

/// Every span of the request, one JSON document (no newline) each.
pub fn span_lines(request: &ExportTraceServiceRequest) -> Vec<String> {
    let mut lines = Vec::new();
    for rs in &request.resource_spans {
        let resource = rs.resource.as_ref().map(|r| attributes(&r.attributes)).unwrap_or_else(|| json!({}));
        let service = resource.get("service.name").cloned().unwrap_or(Json::Null);
        for ss in &rs.scope_spans {
            let scope = ss.scope.as_ref().map(|s| s.name.clone()).unwrap_or_default();
            for span in &ss.spans {
                let events: Vec<Json> = span
                    .events
                    .iter()
                    .map(|e| json!({"name": e.name, "time_unix_nano": e.time_unix_nano, "attributes": attributes(&e.attributes)}))
                    .collect();
                let status = span.status.as_ref().map(|s| json!({"code": s.code, "message": s.message}));
                let line = json!({
                    "trace_id": hex(&span.trace_id),
                    "span_id": hex(&span.span_id),
                    "parent_span_id": hex(&span.parent_span_id),
                    "name": span.name,
                    "kind": span.kind,
                    "service": service,
                    "scope": scope,
                    "start_time_unix_nano": span.start_time_unix_nano,
                    "end_time_unix_nano": span.end_time_unix_nano,
                    "duration_ns": span.end_time_unix_nano.saturating_sub(span.start_time_unix_nano),
                    "attributes": attributes(&span.attributes),
                    "events": events,
                    "status": status,
                    "resource": resource,
                });
                lines.push(line.to_string());
            }
        }
    }
    lines
}
