//! Jaeger (Thrift or api_v2 proto) -> OTLP, by the OpenTelemetry Collector's rules
//! (`pkg/translator/jaeger/jaegerthrift_to_traces.go`, `jaegerproto_to_traces.go`).
//!
//! Both wire models go through the same span rules ([`SpanRules`]); only id, time and process
//! handling differ. The rules, in the Collector's order:
//! - process -> resource: `service.name`, then the process tags; `hostname` becomes `host.name`
//!   and `jaeger.version` becomes `opencensus.exporterversion` = "Jaeger-<v>" (unless the target
//!   key is already there). A proto process named `OTLPResourceNoServiceName` gives no attributes.
//! - tags keep their types (binary -> bytes); a repeated key keeps the last value.
//! - `span.kind` (client/server/producer/consumer/internal) -> kind, removed.
//! - status: `error=true` (a bool) -> ERROR, message from `otel.status_description` (removed)
//!   or `http.status_message`; else `otel.status_code` OK/ERROR with `otel.status_description`;
//!   `otel.status_code` is always removed; else `http.status_code` (4xx is ERROR for clients,
//!   unset for servers; 5xx and non-1xx-3xx ERROR). `error=false` stays an attribute.
//! - parent: thrift `parentSpanId` if set, else the first CHILD_OF reference in the same trace,
//!   else the first FOLLOWS_FROM one; every other reference becomes a link carrying
//!   `opentracing.ref_type` (child_of / follows_from).
//! - logs -> events; the `event` field names the event and is removed; µs -> ns.
//! - `w3c.tracestate` -> trace_state; `otel.scope.name`/`otel.scope.version` (or the older
//!   `otel.library.name`/`otel.library.version`) -> the span's scope; spans are grouped by scope.
//! - flags: the sampled bit (1) is kept; Jaeger's debug bit has no OTLP equivalent.
//!
//! Where we go beyond the Collector: its Thrift path applies neither the scope nor the trace
//! state rule (only its proto path does); here both do, so the OTel SDK's Jaeger Thrift exporter,
//! which sends `otel.library.name`, keeps its scope. The Collector reads only `otel.scope.*`.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

use crate::attrs::{self, *};
use crate::{proto, thrift};

mod groups;
mod proto_in;
mod status;
mod thrift_in;

pub use proto_in::proto_to_otlp;
pub use thrift_in::thrift_to_otlp;

/// What a Jaeger tag offers the rules, whichever wire model it came from.
pub(crate) trait JaegerTag {
    fn key(&self) -> &str;
    /// Go's `GetVStr()`: the string field, whatever the declared type.
    fn v_str(&self) -> &str;
    fn into_pair(self) -> (String, Value);
}

impl JaegerTag for thrift::Tag {
    fn key(&self) -> &str {
        &self.key
    }
    fn v_str(&self) -> &str {
        self.v_str.as_deref().unwrap_or("")
    }
    fn into_pair(self) -> (String, Value) {
        use thrift::TagType as T;
        let v = match self.v_type {
            T::String => Value::StringValue(self.v_str.unwrap_or_default()),
            T::Bool => Value::BoolValue(self.v_bool.unwrap_or_default()),
            T::Long => Value::IntValue(self.v_long.unwrap_or_default()),
            T::Double => Value::DoubleValue(self.v_double.unwrap_or_default()),
            T::Binary => Value::BytesValue(self.v_binary.unwrap_or_default()),
            // Go formats the unknown enum with %q of its String(), which is "<UNSET>".
            T::Unknown(_) => Value::StringValue("<Unknown Jaeger TagType \"<UNSET>\">".into()),
        };
        (self.key, v)
    }
}

impl JaegerTag for proto::KeyValue {
    fn key(&self) -> &str {
        &self.key
    }
    fn v_str(&self) -> &str {
        &self.v_str
    }
    fn into_pair(self) -> (String, Value) {
        let v = match proto::ValueType::try_from(self.v_type) {
            Ok(proto::ValueType::String) => Value::StringValue(self.v_str),
            Ok(proto::ValueType::Bool) => Value::BoolValue(self.v_bool),
            Ok(proto::ValueType::Int64) => Value::IntValue(self.v_int64),
            Ok(proto::ValueType::Float64) => Value::DoubleValue(self.v_float64),
            Ok(proto::ValueType::Binary) => Value::BytesValue(self.v_binary),
            // A gogo enum's String() of an unknown value is its number.
            Err(_) => Value::StringValue(format!("<Unknown Jaeger TagType \"{}\">", self.v_type)),
        };
        (self.key, v)
    }
}

pub(crate) fn tags_to_attributes<T: JaegerTag>(tags: Vec<T>) -> Vec<KeyValue> {
    attrs::from_pairs(tags.into_iter().map(JaegerTag::into_pair))
}

/// The process -> resource rule (the caller handles the proto path's `OTLPResourceNoServiceName`).
pub(crate) fn resource<T: JaegerTag>(service_name: String, tags: Vec<T>) -> Resource {
    let mut pairs = Vec::with_capacity(tags.len() + 1);
    if !service_name.is_empty() {
        pairs.push((SERVICE_NAME.to_string(), Value::StringValue(service_name)));
    }
    pairs.extend(tags.into_iter().map(JaegerTag::into_pair));
    let mut attributes = attrs::from_pairs(pairs.into_iter());
    if position(&attributes, HOST_NAME).is_none() {
        // Pushing the new key and swap-removing the old one renames it in place.
        if let Some(i) = position(&attributes, HOSTNAME) {
            attributes[i].key = HOST_NAME.to_string();
        }
    }
    if position(&attributes, EXPORTER_VERSION).is_none() {
        if let Some(i) = position(&attributes, JAEGER_VERSION) {
            let v = format!("Jaeger-{}", str_of(value_of(&attributes[i])));
            attributes[i] = string_kv(EXPORTER_VERSION, v);
        }
    }
    Resource {
        attributes,
        ..Default::default()
    }
}

/// A Jaeger reference, whichever wire model it came from.
#[derive(Clone, Copy)]
pub(crate) struct Ref {
    pub child_of: bool,
    pub follows_from: bool,
    pub trace: (u64, u64),
    pub span_id: u64,
}

/// Jaeger's `Span.ParentSpanID()`: first CHILD_OF in the same trace, else first FOLLOWS_FROM.
pub(crate) fn parent_from_refs(refs: &[Ref], trace: (u64, u64)) -> u64 {
    let same = || refs.iter().filter(move |r| r.trace == trace);
    same()
        .find(|r| r.child_of)
        .or_else(|| same().find(|r| r.follows_from))
        .map_or(0, |r| r.span_id)
}

pub(crate) fn links(refs: &[Ref], parent: u64) -> Vec<Link> {
    refs.iter()
        .filter(|r| !(r.child_of && r.span_id == parent))
        .map(|r| Link {
            trace_id: trace_id_bytes(r.trace.0, r.trace.1),
            span_id: span_id_bytes(r.span_id),
            attributes: vec![string_kv(
                REF_TYPE,
                if r.child_of {
                    REF_CHILD_OF
                } else {
                    REF_FOLLOWS_FROM
                },
            )],
            ..Default::default()
        })
        .collect()
}

pub(crate) fn event<T: JaegerTag>(time_unix_nano: u64, fields: Vec<T>) -> Event {
    let mut attributes = tags_to_attributes(fields);
    let name = take_str(&mut attributes, EVENT).unwrap_or_default();
    Event {
        time_unix_nano,
        name,
        attributes,
        dropped_attributes_count: 0,
    }
}

/// The tag rules of one span: scope, kind, status and trace state out of the tags.
pub(crate) struct SpanRules {
    pub scope: (String, String),
    pub attributes: Vec<KeyValue>,
    pub kind: SpanKind,
    pub status: Option<Status>,
    pub trace_state: String,
}

impl SpanRules {
    pub(crate) fn apply<T: JaegerTag>(mut tags: Vec<T>) -> Self {
        let scope = take_scope(&mut tags);
        let mut attributes = tags_to_attributes(tags);
        let kind = match remove(&mut attributes, SPAN_KIND) {
            Some(a) => kind_from_str(str_of(value_of(&a))),
            None => SpanKind::Unspecified,
        };
        let status = status::status(&mut attributes, kind);
        let trace_state = take_str(&mut attributes, TRACE_STATE).unwrap_or_default();
        SpanRules {
            scope,
            attributes,
            kind,
            status,
            trace_state,
        }
    }
}

/// Takes the scope tags out (the first occurrence of each, by tag order, as the Collector does).
fn take_scope<T: JaegerTag>(tags: &mut Vec<T>) -> (String, String) {
    for (name_key, version_key) in [(SCOPE_NAME, SCOPE_VERSION), (LIBRARY_NAME, LIBRARY_VERSION)] {
        if let Some(i) = tags.iter().position(|t| t.key() == name_key) {
            let name = tags.remove(i).v_str().to_string();
            let version = match tags.iter().position(|t| t.key() == version_key) {
                Some(j) => tags.remove(j).v_str().to_string(),
                None => String::new(),
            };
            return (name, version);
        }
    }
    (String::new(), String::new())
}

fn kind_from_str(s: &str) -> SpanKind {
    match s {
        "client" => SpanKind::Client,
        "server" => SpanKind::Server,
        "producer" => SpanKind::Producer,
        "consumer" => SpanKind::Consumer,
        "internal" => SpanKind::Internal,
        _ => SpanKind::Unspecified,
    }
}

/// Everything of a span except its tags, in OTLP units.
pub(crate) struct SpanHead {
    pub trace: (u64, u64),
    pub span_id: u64,
    pub parent: u64,
    pub name: String,
    pub start: u64,
    pub end: u64,
    pub flags: u32,
}

pub(crate) fn build_span(
    head: SpanHead,
    rules: SpanRules,
    events: Vec<Event>,
    links: Vec<Link>,
) -> Span {
    Span {
        trace_id: trace_id_bytes(head.trace.0, head.trace.1),
        span_id: span_id_bytes(head.span_id),
        trace_state: rules.trace_state,
        parent_span_id: span_id_bytes(head.parent),
        // Only the sampled bit has an OTLP (W3C trace flags) equivalent.
        flags: head.flags & 1,
        name: head.name,
        kind: rules.kind as i32,
        start_time_unix_nano: head.start,
        end_time_unix_nano: head.end,
        attributes: rules.attributes,
        events,
        links,
        status: rules.status,
        ..Default::default()
    }
}

pub(crate) fn resource_spans(resource: Resource, scopes: groups::ScopeGroups) -> ResourceSpans {
    let scope_spans = scopes
        .into_groups()
        .into_iter()
        .map(|((name, version), spans)| ScopeSpans {
            scope: Some(InstrumentationScope {
                name,
                version,
                ..Default::default()
            }),
            spans,
            schema_url: String::new(),
        })
        .collect();
    ResourceSpans {
        resource: Some(resource),
        scope_spans,
        schema_url: String::new(),
    }
}

#[cfg(test)]
mod tests;
