//! OTLP -> Jaeger api_v2 model, by the Collector's `traces_to_jaegerproto.go`; the query API
//! answers in this model.
//!
//! - One `Batch` per `ResourceSpans` (skipped when it has neither attributes nor scopes); the
//!   resource becomes the process: `service.name` -> service name, other attributes -> tags; no
//!   attributes at all -> service name `OTLPResourceNoServiceName`.
//! - Span tags, in this order: `otel.scope.name`/`otel.scope.version` (when non-empty), the
//!   attributes, `span.kind` (unless unspecified), `otel.status_code` OK/ERROR, `error=true` for
//!   ERROR, `otel.status_description` (when the message is non-empty), `w3c.tracestate`.
//! - Attribute values keep their type; maps and arrays become JSON strings (see `value_json`).
//! - The parent becomes the first reference (CHILD_OF); links become references typed by their
//!   `opentracing.ref_type` attribute (FOLLOWS_FROM when absent); a link to the parent itself
//!   only changes the first reference's type.
//! - Events become logs; a non-empty name becomes an `event` field first (unless an `event`
//!   attribute exists).
//! - The sampled flag is kept. Like the Collector, dropped counts, link attributes other than the
//!   ref type, link trace states, scope attributes and schema URLs have no Jaeger home and are
//!   dropped.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, Span};
use prost_types::{Duration, Timestamp};

use crate::attrs::*;
use crate::proto::{self, ValueType};
use crate::value_json::to_json;

/// Translates OTLP into Jaeger batches, one per resource.
pub fn otlp_to_jaeger(resource_spans: &[ResourceSpans]) -> Vec<proto::Batch> {
    resource_spans.iter().filter_map(batch).collect()
}

fn batch(rs: &ResourceSpans) -> Option<proto::Batch> {
    let attributes = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
    if attributes.is_empty() && rs.scope_spans.is_empty() {
        return None;
    }
    let spans = rs
        .scope_spans
        .iter()
        .flat_map(|ss| ss.spans.iter().map(move |s| span(s, ss.scope.as_ref())))
        .collect();
    Some(proto::Batch {
        spans,
        process: Some(process(attributes)),
    })
}

fn process(attributes: &[KeyValue]) -> proto::Process {
    if attributes.is_empty() {
        return proto::Process {
            service_name: NO_SERVICE_NAME.to_string(),
            tags: Vec::new(),
        };
    }
    let service_name = get(attributes, SERVICE_NAME).map(|v| str_of(v).to_string());
    let tags = attributes
        .iter()
        .filter(|a| a.key != SERVICE_NAME)
        .map(tag)
        .collect();
    proto::Process {
        service_name: service_name.unwrap_or_default(),
        tags,
    }
}

fn tag(a: &KeyValue) -> proto::KeyValue {
    let mut t = proto::KeyValue {
        key: a.key.clone(),
        ..Default::default()
    };
    match value_of(a) {
        Some(Value::StringValue(s)) => t.v_str = s.clone(),
        Some(Value::IntValue(i)) => {
            t.v_type = ValueType::Int64 as i32;
            t.v_int64 = *i;
        }
        Some(Value::BoolValue(b)) => {
            t.v_type = ValueType::Bool as i32;
            t.v_bool = *b;
        }
        Some(Value::DoubleValue(f)) => {
            t.v_type = ValueType::Float64 as i32;
            t.v_float64 = *f;
        }
        Some(Value::BytesValue(b)) => {
            t.v_type = ValueType::Binary as i32;
            t.v_binary = b.clone();
        }
        Some(v @ (Value::KvlistValue(_) | Value::ArrayValue(_))) => t.v_str = to_json(v),
        // An empty value is an empty string tag, as in the Collector.
        None | Some(Value::StringValueStrindex(_)) => {}
    }
    t
}

fn string_tag(key: &str, value: &str) -> proto::KeyValue {
    proto::KeyValue {
        key: key.to_string(),
        v_str: value.to_string(),
        ..Default::default()
    }
}

/// OTLP's unsigned nanoseconds as the signed ones a protobuf `Timestamp` holds. Past
/// `i64::MAX` (the year 2262) a plain cast wraps to a negative time, which the query API then
/// shows as 0 (1970); saturating keeps such a span where it claims to be, far in the future.
fn nanos_since_epoch(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

fn span(s: &Span, scope: Option<&InstrumentationScope>) -> proto::Span {
    let trace = trace_id_parts(&s.trace_id);
    let start = nanos_since_epoch(s.start_time_unix_nano);
    // Go's time.Sub saturates instead of wrapping.
    let duration = nanos_since_epoch(s.end_time_unix_nano).saturating_sub(start);
    proto::Span {
        trace_id: id16(trace),
        span_id: span_id_value(&s.span_id).to_be_bytes().to_vec(),
        operation_name: s.name.clone(),
        references: references(&s.links, span_id_value(&s.parent_span_id), trace),
        flags: s.flags & 1,
        start_time: Some(Timestamp {
            seconds: start.div_euclid(1_000_000_000),
            nanos: start.rem_euclid(1_000_000_000) as i32,
        }),
        duration: Some(Duration {
            seconds: duration / 1_000_000_000,
            nanos: (duration % 1_000_000_000) as i32,
        }),
        tags: span_tags(s, scope),
        logs: s.events.iter().map(log).collect(),
        process: None,
        process_id: String::new(),
        warnings: Vec::new(),
    }
}

fn id16((high, low): (u64, u64)) -> Vec<u8> {
    let mut b = Vec::with_capacity(16);
    b.extend_from_slice(&high.to_be_bytes());
    b.extend_from_slice(&low.to_be_bytes());
    b
}

fn span_tags(s: &Span, scope: Option<&InstrumentationScope>) -> Vec<proto::KeyValue> {
    let mut tags = Vec::with_capacity(s.attributes.len() + 4);
    if let Some(scope) = scope {
        if !scope.name.is_empty() {
            tags.push(string_tag(SCOPE_NAME, &scope.name));
        }
        if !scope.version.is_empty() {
            tags.push(string_tag(SCOPE_VERSION, &scope.version));
        }
    }
    tags.extend(s.attributes.iter().map(tag));
    let kind = match SpanKind::try_from(s.kind) {
        Ok(SpanKind::Client) => Some("client"),
        Ok(SpanKind::Server) => Some("server"),
        Ok(SpanKind::Producer) => Some("producer"),
        Ok(SpanKind::Consumer) => Some("consumer"),
        Ok(SpanKind::Internal) => Some("internal"),
        _ => None,
    };
    if let Some(kind) = kind {
        tags.push(string_tag(SPAN_KIND, kind));
    }
    let (code, message) = s
        .status
        .as_ref()
        .map_or((0, ""), |st| (st.code, st.message.as_str()));
    match StatusCode::try_from(code) {
        Ok(StatusCode::Error) => {
            tags.push(string_tag(STATUS_CODE, "ERROR"));
            tags.push(proto::KeyValue {
                key: ERROR.to_string(),
                v_type: ValueType::Bool as i32,
                v_bool: true,
                ..Default::default()
            });
        }
        Ok(StatusCode::Ok) => tags.push(string_tag(STATUS_CODE, "OK")),
        _ => {}
    }
    if !message.is_empty() {
        tags.push(string_tag(STATUS_DESCRIPTION, message));
    }
    if !s.trace_state.is_empty() {
        tags.push(string_tag(TRACE_STATE, &s.trace_state));
    }
    tags
}

fn references(links: &[Link], parent: u64, trace: (u64, u64)) -> Vec<proto::SpanRef> {
    let mut refs = Vec::with_capacity(links.len() + 1);
    let make = |trace, span_id: u64, ref_type: proto::SpanRefType| proto::SpanRef {
        trace_id: id16(trace),
        span_id: span_id.to_be_bytes().to_vec(),
        ref_type: ref_type as i32,
    };
    // The parent goes first: backends look for the first CHILD_OF.
    if parent != 0 {
        refs.push(make(trace, parent, proto::SpanRefType::ChildOf));
    }
    for link in links {
        let link_trace = trace_id_parts(&link.trace_id);
        let link_span = span_id_value(&link.span_id);
        let ref_type = match get(&link.attributes, REF_TYPE) {
            Some(v) if str_of(v) == REF_CHILD_OF => proto::SpanRefType::ChildOf,
            _ => proto::SpanRefType::FollowsFrom,
        };
        if parent != 0 && link_trace == trace && link_span == parent {
            refs[0].ref_type = ref_type as i32;
            continue;
        }
        refs.push(make(link_trace, link_span, ref_type));
    }
    refs
}

fn log(e: &Event) -> proto::Log {
    let mut fields = Vec::with_capacity(e.attributes.len() + 1);
    if !e.name.is_empty() && position(&e.attributes, EVENT).is_none() {
        fields.push(string_tag(EVENT, &e.name));
    }
    fields.extend(e.attributes.iter().map(tag));
    let t = nanos_since_epoch(e.time_unix_nano);
    proto::Log {
        timestamp: Some(Timestamp {
            seconds: t.div_euclid(1_000_000_000),
            nanos: t.rem_euclid(1_000_000_000) as i32,
        }),
        fields,
    }
}

#[cfg(test)]
mod tests;
