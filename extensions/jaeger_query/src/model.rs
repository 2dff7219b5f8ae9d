//! Jaeger's UI JSON model (`model/json` in Jaeger), built from the api_v2 model the Jaeger
//! translator produces, because the Jaeger UI, Grafana and scripts read exactly this:
//! ids as hex strings (trace ids 16 characters when the high half is zero), times and
//! durations in microseconds, typed tags, processes keyed `p1`, `p2`... in order of first
//! appearance (identical processes share a key), `warnings: null` when there are none, and
//! `flags` omitted when zero, as Go's `omitempty` does.
//!
//! A UI trace is serialized straight from the translated spans (hand-written `Serialize`
//! impls borrowing them) rather than through a tree of owned UI structs and
//! `serde_json::Value`s: a 10,000-span trace otherwise allocates a few hundred thousand
//! strings only to write them out once (issue 5). Each batch's process is kept once, not
//! cloned into every span.

use base64::Engine;
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use prost_types::{Duration, Timestamp};
use serde::ser::{SerializeMap, SerializeSeq, SerializeStruct, Serializer};
use serde::Serialize;
use tracegate_translator_jaeger::otlp_to_jaeger;
use tracegate_translator_jaeger::proto::{self, SpanRefType, ValueType};

/// A span as the adjusters work on it; its process is in [`TraceSpans::processes`].
pub type JaegerSpan = proto::Span;

/// One trace's translated spans, each batch's process stored once.
#[derive(Debug, Default)]
pub struct TraceSpans {
    pub spans: Vec<JaegerSpan>,
    /// Index into `processes` of each span's process.
    pub process_of: Vec<usize>,
    /// Distinct processes (equal ones merged), in order of first batch.
    pub processes: Vec<proto::Process>,
}

/// OTLP -> Jaeger spans, each tied to its batch's process.
pub fn jaeger_spans(resource_spans: &[ResourceSpans]) -> TraceSpans {
    let mut out = TraceSpans::default();
    for batch in otlp_to_jaeger(resource_spans) {
        let process = batch.process.unwrap_or_default();
        let index = match out.processes.iter().position(|p| *p == process) {
            Some(i) => i,
            None => {
                out.processes.push(process);
                out.processes.len() - 1
            }
        };
        out.process_of.extend(std::iter::repeat_n(index, batch.spans.len()));
        out.spans.extend(batch.spans);
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Jaeger's `TraceID.String()`: 16 hex characters when the high half is zero.
pub fn trace_id_string(id: &[u8]) -> String {
    if id.len() == 16 && id[..8].iter().all(|b| *b == 0) {
        hex(&id[8..])
    } else {
        hex(id)
    }
}

pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}

/// Jaeger prints the 64-bit value, so a short or empty id reads as zero-padded.
fn span_id_hex(id: &[u8]) -> [u8; 16] {
    let v = id.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    let mut out = [b'0'; 16];
    for (i, c) in out.iter_mut().enumerate() {
        *c = HEX[((v >> (60 - 4 * i)) & 15) as usize];
    }
    out
}

/// Serializes a span id without allocating.
struct SpanId<'a>(&'a [u8]);

impl Serialize for SpanId<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let hex = span_id_hex(self.0);
        s.serialize_str(std::str::from_utf8(&hex).unwrap_or_default())
    }
}

/// A trace id, reusing the trace's own string for the (usual) spans of that trace.
struct TraceId<'a> {
    id: &'a [u8],
    trace: &'a Trace,
}

impl Serialize for TraceId<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.id == self.trace.first_trace_id.as_slice() {
            s.serialize_str(&self.trace.trace_id)
        } else {
            s.serialize_str(&trace_id_string(self.id))
        }
    }
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

struct KeyValues<'a>(&'a [proto::KeyValue]);

impl Serialize for KeyValues<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(KeyValue))
    }
}

struct KeyValue<'a>(&'a proto::KeyValue);

/// A tag's value, typed as Go's `interface{}` would marshal it.
struct TagValue<'a>(&'a proto::KeyValue, ValueType);

impl Serialize for TagValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let kv = self.0;
        match self.1 {
            ValueType::String => s.serialize_str(&kv.v_str),
            ValueType::Bool => s.serialize_bool(kv.v_bool),
            ValueType::Int64 => s.serialize_i64(kv.v_int64),
            ValueType::Float64 => go_float(kv.v_float64, s),
            ValueType::Binary => s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&kv.v_binary)),
        }
    }
}

impl Serialize for KeyValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let value_type = ValueType::try_from(self.0.v_type).unwrap_or(ValueType::String);
        let type_name = match value_type {
            ValueType::String => "string",
            ValueType::Bool => "bool",
            ValueType::Int64 => "int64",
            ValueType::Float64 => "float64",
            ValueType::Binary => "binary",
        };
        let mut st = s.serialize_struct("KeyValue", 3)?;
        st.serialize_field("key", &self.0.key)?;
        st.serialize_field("type", type_name)?;
        st.serialize_field("value", &TagValue(self.0, value_type))?;
        st.end()
    }
}

/// Go's encoding/json writes an integral float without a fraction (`1`, not `1.0`); NaN and
/// infinities, which Go refuses to encode, become null.
fn go_float<S: Serializer>(f: f64, s: S) -> Result<S::Ok, S::Error> {
    if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 {
        s.serialize_i64(f as i64)
    } else if f.is_finite() {
        s.serialize_f64(f)
    } else {
        s.serialize_unit()
    }
}

struct Warnings<'a>(&'a [String]);

impl Serialize for Warnings<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_empty() {
            s.serialize_none()
        } else {
            s.collect_seq(self.0)
        }
    }
}

/// `p1`, `p2`... without a `format!` per span.
struct ProcessKey(usize);

impl Serialize for ProcessKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("p{}", self.0))
    }
}

/// One trace as the UI reads it, serialized on demand from the translated (and adjusted) spans.
#[derive(Debug)]
pub struct Trace {
    trace_id: String,
    first_trace_id: Vec<u8>,
    spans: TraceSpans,
    /// Per process index, its `pN` number (0: no span uses it).
    process_numbers: Vec<usize>,
    warnings: Vec<String>,
}

/// Builds the UI trace from Jaeger spans (already adjusted).
pub fn ui_trace(spans: TraceSpans, trace_warnings: &[String]) -> Trace {
    let mut process_numbers = vec![0; spans.processes.len()];
    let mut next = 0;
    for &p in &spans.process_of {
        if let Some(n) = process_numbers.get_mut(p).filter(|n| **n == 0) {
            next += 1;
            *n = next;
        }
    }
    let first_trace_id = spans.spans.first().map(|s| s.trace_id.clone()).unwrap_or_default();
    Trace {
        trace_id: if spans.spans.is_empty() { String::new() } else { trace_id_string(&first_trace_id) },
        first_trace_id,
        spans,
        process_numbers,
        warnings: trace_warnings.to_vec(),
    }
}

impl Serialize for Trace {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Trace", 4)?;
        st.serialize_field("traceID", &self.trace_id)?;
        st.serialize_field("spans", &Spans(self))?;
        st.serialize_field("processes", &Processes(self))?;
        st.serialize_field("warnings", &Warnings(&self.warnings))?;
        st.end()
    }
}

struct Spans<'a>(&'a Trace);

impl Serialize for Spans<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let trace = self.0;
        let mut seq = s.serialize_seq(Some(trace.spans.spans.len()))?;
        for (span, &p) in trace.spans.spans.iter().zip(&trace.spans.process_of) {
            let number = trace.process_numbers.get(p).copied().unwrap_or_default();
            seq.serialize_element(&SpanJson { span, trace, process: number })?;
        }
        seq.end()
    }
}

/// Keys sorted as strings (`p1`, `p10`, `p2`...), as Go marshals a map.
struct Processes<'a>(&'a Trace);

impl Serialize for Processes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let trace = self.0;
        let mut keyed: Vec<(String, &proto::Process)> = trace
            .process_numbers
            .iter()
            .zip(&trace.spans.processes)
            .filter(|(n, _)| **n != 0)
            .map(|(n, p)| (format!("p{n}"), p))
            .collect();
        keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut map = s.serialize_map(Some(keyed.len()))?;
        for (key, p) in keyed {
            map.serialize_entry(&key, &ProcessJson(p))?;
        }
        map.end()
    }
}

struct ProcessJson<'a>(&'a proto::Process);

impl Serialize for ProcessJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Process", 2)?;
        st.serialize_field("serviceName", &self.0.service_name)?;
        st.serialize_field("tags", &KeyValues(&self.0.tags))?;
        st.end()
    }
}

struct SpanJson<'a> {
    span: &'a JaegerSpan,
    trace: &'a Trace,
    process: usize,
}

impl Serialize for SpanJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let span = self.span;
        let mut st = s.serialize_struct("Span", 11)?;
        st.serialize_field("traceID", &TraceId { id: &span.trace_id, trace: self.trace })?;
        st.serialize_field("spanID", &SpanId(&span.span_id))?;
        if span.flags != 0 {
            st.serialize_field("flags", &span.flags)?;
        }
        st.serialize_field("operationName", &span.operation_name)?;
        st.serialize_field("references", &References(self))?;
        st.serialize_field("startTime", &micros(timestamp_nanos(span.start_time.as_ref())))?;
        st.serialize_field("duration", &micros(duration_nanos(span.duration.as_ref())))?;
        st.serialize_field("tags", &KeyValues(&span.tags))?;
        st.serialize_field("logs", &Logs(&span.logs))?;
        st.serialize_field("processID", &ProcessKey(self.process))?;
        st.serialize_field("warnings", &Warnings(&span.warnings))?;
        st.end()
    }
}

struct References<'a, 'b>(&'b SpanJson<'a>);

impl Serialize for References<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let trace = self.0.trace;
        s.collect_seq(self.0.span.references.iter().map(|r| Reference { r, trace }))
    }
}

struct Reference<'a> {
    r: &'a proto::SpanRef,
    trace: &'a Trace,
}

impl Serialize for Reference<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ref_type = if self.r.ref_type == SpanRefType::FollowsFrom as i32 { "FOLLOWS_FROM" } else { "CHILD_OF" };
        let mut st = s.serialize_struct("Reference", 3)?;
        st.serialize_field("refType", ref_type)?;
        st.serialize_field("traceID", &TraceId { id: &self.r.trace_id, trace: self.trace })?;
        st.serialize_field("spanID", &SpanId(&self.r.span_id))?;
        st.end()
    }
}

struct Logs<'a>(&'a [proto::Log]);

impl Serialize for Logs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(LogJson))
    }
}

struct LogJson<'a>(&'a proto::Log);

impl Serialize for LogJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Log", 2)?;
        st.serialize_field("timestamp", &micros(timestamp_nanos(self.0.timestamp.as_ref())))?;
        st.serialize_field("fields", &KeyValues(&self.0.fields))?;
        st.end()
    }
}
