//! Jaeger's UI JSON model (`model/json` in Jaeger), built from the api_v2 model the Jaeger
//! translator produces, because the Jaeger UI, Grafana and scripts read exactly this:
//! ids as hex strings (trace ids 16 characters when the high half is zero), times and
//! durations in microseconds, typed tags, processes keyed `p1`, `p2`... in order of first
//! appearance (identical processes share a key), `warnings: null` when there are none, and
//! `flags` omitted when zero, as Go's `omitempty` does.

use std::collections::BTreeMap;

use base64::Engine;
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use serde::Serialize;
use serde_json::Value as Json;
use prost_types::{Duration, Timestamp};
use tracegate_translator_jaeger::otlp_to_jaeger;
use tracegate_translator_jaeger::proto::{self, SpanRefType, ValueType};

#[derive(Debug, Serialize)]
pub struct Trace {
    #[serde(rename = "traceID")]
    pub trace_id: String,
    pub spans: Vec<Span>,
    pub processes: BTreeMap<String, Process>,
    pub warnings: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Span {
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub flags: u32,
    pub operation_name: String,
    pub references: Vec<Reference>,
    pub start_time: u64,
    pub duration: u64,
    pub tags: Vec<KeyValue>,
    pub logs: Vec<Log>,
    #[serde(rename = "processID")]
    pub process_id: String,
    pub warnings: Option<Vec<String>>,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reference {
    pub ref_type: &'static str,
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Process {
    pub service_name: String,
    pub tags: Vec<KeyValue>,
}

#[derive(Debug, Serialize)]
pub struct Log {
    pub timestamp: u64,
    pub fields: Vec<KeyValue>,
}

#[derive(Debug, Serialize)]
pub struct KeyValue {
    pub key: String,
    #[serde(rename = "type")]
    pub value_type: &'static str,
    pub value: Json,
}

/// A span with its process, the unit the adjusters work on.
pub type JaegerSpan = proto::Span;

/// OTLP -> Jaeger spans, each carrying its batch's process.
pub fn jaeger_spans(resource_spans: &[ResourceSpans]) -> Vec<JaegerSpan> {
    let mut out = Vec::new();
    for batch in otlp_to_jaeger(resource_spans) {
        for mut span in batch.spans {
            span.process = batch.process.clone();
            out.push(span);
        }
    }
    out
}

/// Jaeger's `TraceID.String()`: 16 hex characters when the high half is zero.
pub fn trace_id_string(id: &[u8]) -> String {
    let hex = hex(id);
    match hex.strip_prefix("0000000000000000") {
        Some(low) if hex.len() == 32 => low.to_string(),
        _ => hex,
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn span_id_string(id: &[u8]) -> String {
    // Jaeger prints the 64-bit value, so a short or empty id reads as zero-padded.
    format!("{:016x}", id.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

pub fn timestamp_nanos(t: Option<&Timestamp>) -> i128 {
    t.map_or(0, |t| i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos))
}

pub fn duration_nanos(d: Option<&Duration>) -> i128 {
    d.map_or(0, |d| i128::from(d.seconds) * 1_000_000_000 + i128::from(d.nanos))
}

/// Nanoseconds to Jaeger's microseconds; times before 1970 show as 0 (Jaeger's are unsigned).
fn micros(nanos: i128) -> u64 {
    u64::try_from(nanos.max(0) / 1000).unwrap_or(u64::MAX)
}

fn key_values(kvs: &[proto::KeyValue]) -> Vec<KeyValue> {
    kvs.iter().map(key_value).collect()
}

fn key_value(kv: &proto::KeyValue) -> KeyValue {
    let (value_type, value) = match ValueType::try_from(kv.v_type).unwrap_or(ValueType::String) {
        ValueType::String => ("string", Json::from(kv.v_str.clone())),
        ValueType::Bool => ("bool", Json::from(kv.v_bool)),
        ValueType::Int64 => ("int64", Json::from(kv.v_int64)),
        ValueType::Float64 => ("float64", go_float(kv.v_float64)),
        ValueType::Binary => ("binary", Json::from(base64::engine::general_purpose::STANDARD.encode(&kv.v_binary))),
    };
    KeyValue { key: kv.key.clone(), value_type, value }
}

/// Go's encoding/json writes an integral float without a fraction (`1`, not `1.0`); NaN and
/// infinities, which Go refuses to encode, become null.
fn go_float(f: f64) -> Json {
    if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 {
        return Json::from(f as i64);
    }
    serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)
}

fn warnings(w: &[String]) -> Option<Vec<String>> {
    (!w.is_empty()).then(|| w.to_vec())
}

/// Builds the UI trace from Jaeger spans (already adjusted).
pub fn ui_trace(spans: &[JaegerSpan], trace_warnings: &[String]) -> Trace {
    let mut processes: Vec<&proto::Process> = Vec::new();
    let default_process = proto::Process::default();
    let mut out = Vec::with_capacity(spans.len());
    for span in spans {
        let process = span.process.as_ref().unwrap_or(&default_process);
        let index = match processes.iter().position(|p| *p == process) {
            Some(i) => i,
            None => {
                processes.push(process);
                processes.len() - 1
            }
        };
        let start = timestamp_nanos(span.start_time.as_ref());
        out.push(Span {
            trace_id: trace_id_string(&span.trace_id),
            span_id: span_id_string(&span.span_id),
            flags: span.flags,
            operation_name: span.operation_name.clone(),
            references: span
                .references
                .iter()
                .map(|r| Reference {
                    ref_type: if r.ref_type == SpanRefType::FollowsFrom as i32 { "FOLLOWS_FROM" } else { "CHILD_OF" },
                    trace_id: trace_id_string(&r.trace_id),
                    span_id: span_id_string(&r.span_id),
                })
                .collect(),
            start_time: micros(start),
            duration: micros(duration_nanos(span.duration.as_ref())),
            tags: key_values(&span.tags),
            logs: span
                .logs
                .iter()
                .map(|l| Log { timestamp: micros(timestamp_nanos(l.timestamp.as_ref())), fields: key_values(&l.fields) })
                .collect(),
            process_id: format!("p{}", index + 1),
            warnings: warnings(&span.warnings),
        });
    }
    Trace {
        trace_id: spans.first().map(|s| trace_id_string(&s.trace_id)).unwrap_or_default(),
        spans: out,
        processes: processes
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("p{}", i + 1), Process { service_name: p.service_name.clone(), tags: key_values(&p.tags) }))
            .collect(),
        warnings: warnings(trace_warnings),
    }
}
