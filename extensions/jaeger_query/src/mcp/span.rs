//! One stored span as the MCP tools show it: the OTLP span with its resource's service name,
//! ids in lowercase hex, times in RFC 3339 and attributes as plain JSON values, as Jaeger's
//! `get_span_details` builds them from pdata. Shared by the tools that walk a trace, so they
//! all read a span the same way.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, Span};
use serde_json::{Map, Number, Value as Json};
use tracegate_core::timefmt::rfc3339_nanos;
use tracegate_core::Traces;

use super::types::{SpanDetail, SpanEvent, SpanLink, SpanStatus};
use crate::model::hex;

/// Every span of a trace with its resource.
pub fn spans_of(trace: &Traces) -> impl Iterator<Item = (&ResourceSpans, &Span)> {
    trace.resource_spans().iter().flat_map(|rs| rs.scope_spans.iter().flat_map(move |ss| ss.spans.iter().map(move |s| (rs, s))))
}

/// The resource's `service.name`, or "" when it has none.
pub fn service_name(resource: Option<&Resource>) -> String {
    resource
        .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// A span id in hex, or "" for none (absent or all zero), as pdata's `SpanID.String()`.
pub fn span_id_hex(id: &[u8]) -> String {
    if id.iter().all(|b| *b == 0) {
        String::new()
    } else {
        hex(id)
    }
}

/// pdata's `StatusCode.String()`.
pub fn status_code(span: &Span) -> &'static str {
    match span.status.as_ref().map(|s| s.code) {
        Some(c) if c == StatusCode::Error as i32 => "Error",
        Some(c) if c == StatusCode::Ok as i32 => "Ok",
        _ => "Unset",
    }
}

pub fn is_error(span: &Span) -> bool {
    span.status.as_ref().is_some_and(|s| s.code == StatusCode::Error as i32)
}

/// The span's duration in whole microseconds (0 if it ends before it starts).
pub fn duration_us(span: &Span) -> i64 {
    i64::try_from(span.end_time_unix_nano.saturating_sub(span.start_time_unix_nano) / 1000).unwrap_or(i64::MAX)
}

/// Attributes as a JSON object, values as Jaeger's `convertAttributeValue` makes them.
pub fn attributes_json(attributes: &[KeyValue]) -> Map<String, Json> {
    attributes.iter().map(|kv| (kv.key.clone(), any_value_json(kv.value.as_ref()))).collect()
}

fn any_value_json(value: Option<&AnyValue>) -> Json {
    match value.and_then(|v| v.value.as_ref()) {
        None => Json::Null,
        Some(Value::StringValue(s)) => Json::String(s.clone()),
        Some(Value::BoolValue(b)) => Json::Bool(*b),
        Some(Value::IntValue(i)) => Json::Number((*i).into()),
        Some(Value::DoubleValue(d)) => Number::from_f64(*d).map(Json::Number).unwrap_or_else(|| Json::String(d.to_string())),
        // Go's encoding/json writes a []byte as base64.
        Some(Value::BytesValue(b)) => {
            use base64::Engine;
            Json::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        Some(Value::ArrayValue(a)) => Json::Array(a.values.iter().map(|v| any_value_json(Some(v))).collect()),
        Some(Value::KvlistValue(kv)) => Json::Object(attributes_json(&kv.values)),
        // An index into a profiles dictionary, which traces do not have.
        Some(Value::StringValueStrindex(_)) => Json::Null,
    }
}

/// Everything about one span (attributes, events, links, status).
pub fn span_detail(resource: &ResourceSpans, span: &Span) -> SpanDetail {
    let status = span.status.as_ref();
    SpanDetail {
        span_id: span_id_hex(&span.span_id),
        trace_id: hex(&span.trace_id),
        parent_span_id: span_id_hex(&span.parent_span_id),
        service: service_name(resource.resource.as_ref()),
        span_name: span.name.clone(),
        start_time: rfc3339_nanos(span.start_time_unix_nano),
        duration_us: duration_us(span),
        status: SpanStatus { code: status_code(span).to_string(), message: status.map(|s| s.message.clone()).unwrap_or_default() },
        attributes: attributes_json(&span.attributes),
        events: span
            .events
            .iter()
            .map(|e| SpanEvent { name: e.name.clone(), timestamp: rfc3339_nanos(e.time_unix_nano), attributes: attributes_json(&e.attributes) })
            .collect(),
        links: span
            .links
            .iter()
            .map(|l| SpanLink { trace_id: hex(&l.trace_id), span_id: span_id_hex(&l.span_id), attributes: attributes_json(&l.attributes) })
            .collect(),
    }
}
