//! Jaeger's Elasticsearch documents (`plugin/storage/es/spanstore/dbmodel`) to and from the
//! api_v2 model, which the Jaeger translator converts to and from OTLP, so the OTLP <-> Jaeger
//! rules live in one place.
//!
//! A span document: `traceID` (hex, 16 digits when the high half is zero, else 32), `spanID`
//! (16 digits), `flags`, `operationName`, `references` [{refType, traceID, spanID}],
//! `startTime` (µs), `startTimeMillis`, `duration` (µs), `tags` [{key, type, value}] with every
//! value as text (Jaeger's `AsString`), optional `tag` object (tags_as_fields: typed values,
//! key dots replaced, and then not repeated in `tags`), `logs` [{timestamp, fields}],
//! `process` {serviceName, tags, tag}. Index by the span's start day (UTC).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{json, Map, Value};
use tracegate_translator_jaeger::proto::{self, KeyValue, ValueType};

use crate::config::TagsAsFields;

/// Jaeger's `TraceID.String()`.
pub fn trace_id_hex(id: &[u8]) -> String {
    let mut b = [0u8; 16];
    let n = id.len().min(16);
    b[16 - n..].copy_from_slice(&id[id.len() - n..]);
    let high = u64::from_be_bytes(b[..8].try_into().unwrap_or_default());
    let low = u64::from_be_bytes(b[8..].try_into().unwrap_or_default());
    if high == 0 {
        format!("{low:016x}")
    } else {
        format!("{high:016x}{low:016x}")
    }
}

/// The form Jaeger < 1.16 wrote (no leading zeros), which its reader still queries.
pub fn legacy_trace_id_hex(id: &[u8]) -> String {
    let padded = trace_id_hex(id);
    let trimmed = padded.trim_start_matches('0');
    if trimmed.is_empty() { "0".into() } else { trimmed.into() }
}

pub fn span_id_hex(id: &[u8]) -> String {
    let mut b = [0u8; 8];
    let n = id.len().min(8);
    b[8 - n..].copy_from_slice(&id[id.len() - n..]);
    format!("{:016x}", u64::from_be_bytes(b))
}

/// Hex (any length up to 2 * N digits) to N big-endian bytes, right-aligned.
pub fn parse_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.is_empty() || s.len() > 2 * N || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let padded = format!("{s:0>width$}", width = 2 * N);
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&padded[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// FNV-1a 64, as Jaeger hashes service documents' ids.
pub fn fnv64a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// `YYYY-MM-DD` (UTC) of a time in microseconds since the epoch.
pub fn day_of_micros(micros: i64) -> String {
    let days = micros.div_euclid(86_400_000_000);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn type_name(t: i32) -> &'static str {
    match ValueType::try_from(t).unwrap_or(ValueType::String) {
        ValueType::String => "string",
        ValueType::Bool => "bool",
        ValueType::Int64 => "int64",
        ValueType::Float64 => "float64",
        ValueType::Binary => "binary",
    }
}

fn as_string(kv: &KeyValue) -> String {
    match ValueType::try_from(kv.v_type).unwrap_or(ValueType::String) {
        ValueType::String => kv.v_str.clone(),
        ValueType::Bool => kv.v_bool.to_string(),
        ValueType::Int64 => kv.v_int64.to_string(),
        ValueType::Float64 => kv.v_float64.to_string(),
        ValueType::Binary => kv.v_binary.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        }),
    }
}

fn typed(kv: &KeyValue) -> Value {
    match ValueType::try_from(kv.v_type).unwrap_or(ValueType::String) {
        ValueType::Bool => json!(kv.v_bool),
        ValueType::Int64 => json!(kv.v_int64),
        ValueType::Float64 => json!(kv.v_float64),
        _ => json!(kv.v_str),
    }
}

fn kv_doc(kv: &KeyValue) -> Value {
    json!({"key": kv.key, "type": type_name(kv.v_type), "value": as_string(kv)})
}

/// Splits tags into the nested list and the `tag` object, as Jaeger's `convertKeyValuesString`.
fn tags_doc(tags: &[KeyValue], fields: &TagsAsFields) -> (Vec<Value>, Map<String, Value>) {
    let mut list = Vec::new();
    let mut map = Map::new();
    for kv in tags {
        if fields.covers(&kv.key) && kv.v_type != ValueType::Binary as i32 {
            map.insert(kv.key.replace('.', &fields.dot_replacement), typed(kv));
        } else {
            list.push(kv_doc(kv));
        }
    }
    (list, map)
}

fn micros(ts: Option<&prost_types::Timestamp>) -> i64 {
    ts.map_or(0, |t| t.seconds.saturating_mul(1_000_000).saturating_add(i64::from(t.nanos) / 1000))
}

/// A span document.
pub fn span_doc(span: &proto::Span, process: &proto::Process, fields: &TagsAsFields) -> Value {
    let start = micros(span.start_time.as_ref());
    let duration = span.duration.as_ref().map_or(0, |d| d.seconds.saturating_mul(1_000_000).saturating_add(i64::from(d.nanos) / 1000));
    let references: Vec<Value> = span
        .references
        .iter()
        .map(|r| {
            let kind = if r.ref_type == proto::SpanRefType::FollowsFrom as i32 { "FOLLOWS_FROM" } else { "CHILD_OF" };
            json!({"refType": kind, "traceID": trace_id_hex(&r.trace_id), "spanID": span_id_hex(&r.span_id)})
        })
        .collect();
    let (tags, tag) = tags_doc(&span.tags, fields);
    let logs: Vec<Value> = span
        .logs
        .iter()
        .map(|l| json!({"timestamp": micros(l.timestamp.as_ref()), "fields": l.fields.iter().map(kv_doc).collect::<Vec<_>>()}))
        .collect();
    let (ptags, ptag) = tags_doc(&process.tags, fields);
    let mut proc = json!({"serviceName": process.service_name, "tags": ptags});
    if !ptag.is_empty() {
        proc["tag"] = Value::Object(ptag);
    }
    let mut doc = json!({
        "traceID": trace_id_hex(&span.trace_id), "spanID": span_id_hex(&span.span_id), "flags": span.flags,
        "operationName": span.operation_name, "references": references, "startTime": start,
        "startTimeMillis": start / 1000, "duration": duration, "tags": tags, "logs": logs, "process": proc,
    });
    if !tag.is_empty() {
        doc["tag"] = Value::Object(tag);
    }
    doc
}

fn kv_from_doc(v: &Value) -> Option<KeyValue> {
    let key = v.get("key")?.as_str()?.to_string();
    let text = match v.get("value")? {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Some(kv_from_text(key, v.get("type").and_then(Value::as_str).unwrap_or("string"), &text))
}

fn kv_from_text(key: String, kind: &str, text: &str) -> KeyValue {
    let mut kv = KeyValue { key, ..Default::default() };
    let parsed = match kind {
        "bool" => text.parse().ok().map(|b| kv.v_bool = b).map(|_| ValueType::Bool),
        "int64" => text.parse().ok().map(|n| kv.v_int64 = n).map(|_| ValueType::Int64),
        "float64" => text.parse().ok().map(|f| kv.v_float64 = f).map(|_| ValueType::Float64),
        "binary" => (0..text.len() / 2)
            .map(|i| text.get(2 * i..2 * i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect::<Option<Vec<u8>>>()
            .map(|b| kv.v_binary = b)
            .map(|_| ValueType::Binary),
        _ => None,
    };
    match parsed {
        Some(t) => kv.v_type = t as i32,
        None => {
            kv.v_type = ValueType::String as i32;
            kv.v_str = text.to_string();
        }
    }
    kv
}

/// The `tag` object back to key-values (Jaeger's `convertTagFields`), keys sorted.
fn kv_from_fields(map: Option<&Value>, dot_replacement: &str) -> Vec<KeyValue> {
    let Some(Value::Object(map)) = map else { return Vec::new() };
    let sorted: BTreeMap<&String, &Value> = map.iter().collect();
    sorted
        .into_iter()
        .map(|(k, v)| {
            let key = if dot_replacement.is_empty() { k.clone() } else { k.replace(dot_replacement, ".") };
            match v {
                Value::Bool(b) => kv_from_text(key, "bool", &b.to_string()),
                Value::Number(n) if n.is_i64() => kv_from_text(key, "int64", &n.to_string()),
                Value::Number(n) => kv_from_text(key, "float64", &n.to_string()),
                Value::String(s) => kv_from_text(key, "string", s),
                other => kv_from_text(key, "string", &other.to_string()),
            }
        })
        .collect()
}

fn list(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn timestamp(micros: i64) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: micros.div_euclid(1_000_000), nanos: (micros.rem_euclid(1_000_000) * 1000) as i32 }
}

/// A span document back to the api_v2 model (with its process); `None` if it has no ids.
pub fn span_from_doc(doc: &Value, dot_replacement: &str) -> Option<proto::Span> {
    let trace_id = parse_hex::<16>(doc.get("traceID")?.as_str()?)?;
    let span_id = parse_hex::<8>(doc.get("spanID")?.as_str()?)?;
    let references = list(doc.get("references"))
        .iter()
        .filter_map(|r| {
            let ref_type = if r.get("refType")?.as_str()? == "FOLLOWS_FROM" { proto::SpanRefType::FollowsFrom } else { proto::SpanRefType::ChildOf };
            Some(proto::SpanRef {
                trace_id: parse_hex::<16>(r.get("traceID")?.as_str()?)?.to_vec(),
                span_id: parse_hex::<8>(r.get("spanID")?.as_str()?)?.to_vec(),
                ref_type: ref_type as i32,
            })
        })
        .collect();
    let mut tags: Vec<KeyValue> = list(doc.get("tags")).iter().filter_map(kv_from_doc).collect();
    tags.extend(kv_from_fields(doc.get("tag"), dot_replacement));
    let process = doc.get("process");
    let mut ptags: Vec<KeyValue> = list(process.and_then(|p| p.get("tags"))).iter().filter_map(kv_from_doc).collect();
    ptags.extend(kv_from_fields(process.and_then(|p| p.get("tag")), dot_replacement));
    let start = doc.get("startTime").and_then(Value::as_i64).unwrap_or(0);
    let duration = doc.get("duration").and_then(Value::as_i64).unwrap_or(0);
    Some(proto::Span {
        trace_id: trace_id.to_vec(),
        span_id: span_id.to_vec(),
        operation_name: doc.get("operationName").and_then(Value::as_str).unwrap_or("").to_string(),
        references,
        flags: doc.get("flags").and_then(Value::as_u64).unwrap_or(0) as u32,
        start_time: Some(timestamp(start)),
        duration: Some(prost_types::Duration { seconds: duration.div_euclid(1_000_000), nanos: (duration.rem_euclid(1_000_000) * 1000) as i32 }),
        tags,
        logs: list(doc.get("logs"))
            .iter()
            .map(|l| proto::Log {
                timestamp: Some(timestamp(l.get("timestamp").and_then(Value::as_i64).unwrap_or(0))),
                fields: list(l.get("fields")).iter().filter_map(kv_from_doc).collect(),
            })
            .collect(),
        process: Some(proto::Process {
            service_name: process.and_then(|p| p.get("serviceName")).and_then(Value::as_str).unwrap_or("").to_string(),
            tags: ptags,
        }),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_days_as_jaeger_writes_them() {
        let mut id = [0u8; 16];
        id[15] = 0xab;
        assert_eq!(trace_id_hex(&id), "00000000000000ab");
        assert_eq!(legacy_trace_id_hex(&id), "ab");
        id[7] = 1;
        assert_eq!(trace_id_hex(&id), "000000000000000100000000000000ab");
        assert_eq!(parse_hex::<16>("ab").map(|b| b[15]), Some(0xab));
        assert_eq!(parse_hex::<8>("xyz"), None);
        assert_eq!(span_id_hex(&[0, 0, 0, 0, 0, 0, 1, 2]), "0000000000000102");
        assert_eq!(day_of_micros(0), "1970-01-01");
        assert_eq!(day_of_micros(1_709_251_199_000_000), "2024-02-29");
        assert_eq!(day_of_micros(1_709_251_200_000_000), "2024-03-01");
        // Jaeger's hashCode for a service document: fnv64a(serviceName + operationName).
        assert_eq!(format!("{:x}", fnv64a(&["a"])), "af63dc4c8601ec8c");
    }

    #[test]
    fn tags_round_trip_with_types_and_tag_fields() {
        let kv = |key: &str, t: ValueType| KeyValue { key: key.into(), v_type: t as i32, v_int64: 7, v_bool: true, v_str: "s".into(), v_float64: 1.5, v_binary: vec![1, 255] };
        let span = proto::Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            tags: vec![kv("a.b", ValueType::Int64), kv("c", ValueType::Bool), kv("d", ValueType::Float64), kv("e", ValueType::Binary), kv("f", ValueType::String)],
            ..Default::default()
        };
        let process = proto::Process { service_name: "svc".into(), tags: vec![] };
        let fields = TagsAsFields { include: vec!["a.b".into()], ..TagsAsFields::default() };
        let doc = span_doc(&span, &process, &fields);
        assert_eq!(doc["tag"], json!({"a@b": 7}));
        assert_eq!(doc["tags"][0], json!({"key": "c", "type": "bool", "value": "true"}));
        assert_eq!(doc["tags"][2], json!({"key": "e", "type": "binary", "value": "01ff"}));
        let back = span_from_doc(&doc, "@").expect("decodes");
        let keys: Vec<_> = back.tags.iter().map(|k| (k.key.as_str(), k.v_type)).collect();
        assert_eq!(keys, [("c", 1), ("d", 3), ("e", 4), ("f", 0), ("a.b", 2)]);
        assert_eq!(back.tags[2].v_binary, [1, 255]);
    }
}
