//! The OTLP protobuf fuzz target `otlp_proto` (`fuzz/`, docs/fuzzing.md): the in-place check
//! ([`validate_request`]), the views ([`crate::view`]) and prost's decode must agree on every
//! byte string. Public so that core's tests replay the committed inputs through this very
//! code (`tracegate_core::fuzzing::replay`), and so the view tests can rebuild structs.
//!
//! What is asserted, for any input:
//! - the check accepts => prost decodes it, the summary counts prost's resource spans and
//!   spans and flags invalid ids as prost's structs show them, and the views rebuild exactly
//!   prost's request (or say [`ViewError::Merged`]: a singular message field repeated, which
//!   prost merges and a borrowed view cannot; callers decode such batches);
//! - prost refuses => the check refuses too;
//! - prost accepts what the check declines only for the two shapes the check leaves to prost
//!   on purpose (its callers then decode with prost, so nothing is lost): a group (wire types
//!   3/4) inside an unknown field, which prost skips and OTLP never writes, and attribute
//!   values nested deeper than [`MAX_DEPTH`] (prost allows 100 levels);
//! - the views never panic, whatever the bytes.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;

use crate::validate::{count_resource_spans, validate_request, RequestSummary, MAX_DEPTH};
use crate::view::{resource_spans, AnyValueView, KeyValueView, Many, ValueView, ViewError};
use crate::wire::{Reader, Value};

/// The fuzz target `otlp_proto`.
pub fn otlp_request(data: &[u8]) {
    let checked = validate_request(data);
    let decoded = ExportTraceServiceRequest::decode(data);
    match (checked, decoded) {
        (Ok(summary), Ok(request)) => agree(data, summary, request),
        (Ok(summary), Err(e)) => panic!("the check accepted ({summary:?}) bytes prost refuses: {e}"),
        (Err(_), Ok(request)) => assert!(
            has_group(data, Schema::Request) || depth(&request) > MAX_DEPTH,
            "the check declined a request prost decodes, with no group and nesting {} <= {MAX_DEPTH}",
            depth(&request)
        ),
        (Err(_), Err(_)) => {
            // Whatever the bytes, reading them through the views is an error or a value.
            let _ = rebuild(data);
        }
    }
}

fn agree(data: &[u8], summary: RequestSummary, request: ExportTraceServiceRequest) {
    let spans = request.resource_spans.iter().flat_map(|rs| &rs.scope_spans).flat_map(|ss| &ss.spans);
    assert_eq!(summary.resource_spans, request.resource_spans.len(), "resource spans counted");
    assert_eq!(summary.spans, spans.clone().count(), "spans counted");
    assert_eq!(summary.has_invalid_ids, spans.clone().any(invalid_ids), "invalid ids flagged");
    assert_eq!(summary.oldest_start_ns, spans.clone().map(|s| s.start_time_unix_nano).min().unwrap_or(u64::MAX), "oldest start");
    for rs in resource_spans(data).into_iter().flat_map(|many| many.raw()) {
        let bytes = rs.unwrap_or_else(|e| panic!("the views cannot split what the check accepted: {e}"));
        assert_eq!(
            count_resource_spans(bytes),
            Some(ResourceSpans::decode(bytes).map_or(0, |rs| rs.scope_spans.iter().map(|ss| ss.spans.len()).sum())),
            "count_resource_spans"
        );
    }
    match rebuild(data) {
        // Compared as prost encodes them, so a NaN double equals itself.
        Ok(rebuilt) => assert!(
            rebuilt.encode_to_vec() == without_strindex(request).encode_to_vec(),
            "the views read other values than prost decodes"
        ),
        Err(Rebuild::View(ViewError::Merged(_))) => {}
        Err(e) => panic!("the views refuse bytes the check accepted: {e}"),
    }
}

/// The receivers' rule for ids that can never be stored (see `RequestSummary`).
fn invalid_ids(span: &Span) -> bool {
    let valid = |id: &[u8], len: usize| id.len() == len && id.iter().any(|b| *b != 0);
    !(valid(&span.trace_id, 16)
        && valid(&span.span_id, 8)
        && (span.parent_span_id.is_empty() || span.parent_span_id.len() == 8))
}

/// Message nesting of a decoded request as the check counts it (the request is level 0, a
/// span's attribute `KeyValue` level 4, each `AnyValue`, array or list one more).
pub fn depth(request: &ExportTraceServiceRequest) -> u32 {
    fn kvs(kvs: &[KeyValue], level: u32) -> u32 {
        kvs.iter().map(|kv| kv.value.as_ref().map_or(level, |v| any(v, level + 1))).max().unwrap_or(0)
    }
    fn any(v: &AnyValue, level: u32) -> u32 {
        match &v.value {
            Some(any_value::Value::ArrayValue(a)) => {
                a.values.iter().map(|v| any(v, level + 2)).max().unwrap_or(level + 1)
            }
            Some(any_value::Value::KvlistValue(l)) => kvs(&l.values, level + 2).max(level + 1),
            _ => level,
        }
    }
    let mut deepest = 0;
    for rs in &request.resource_spans {
        if let Some(r) = &rs.resource {
            deepest = deepest.max(kvs(&r.attributes, 3));
        }
        for ss in &rs.scope_spans {
            if let Some(s) = &ss.scope {
                deepest = deepest.max(kvs(&s.attributes, 4));
            }
            for span in &ss.spans {
                deepest = deepest.max(kvs(&span.attributes, 4));
                for e in &span.events {
                    deepest = deepest.max(kvs(&e.attributes, 5));
                }
                for l in &span.links {
                    deepest = deepest.max(kvs(&l.attributes, 5));
                }
            }
        }
    }
    deepest
}

/// The message types of OTLP traces, for [`has_group`]'s walk.
#[derive(Clone, Copy)]
enum Schema {
    Request,
    ResourceSpans,
    Resource,
    EntityRef,
    ScopeSpans,
    Scope,
    Span,
    Event,
    Link,
    Status,
    KeyValue,
    AnyValue,
    List,
    KvList,
}

impl Schema {
    /// The message type of field `n`, when it is a message.
    fn child(self, n: u32) -> Option<Schema> {
        use Schema::*;
        Some(match (self, n) {
            (Request, 1) => ResourceSpans,
            (ResourceSpans, 1) => Resource,
            (ResourceSpans, 2) => ScopeSpans,
            (Resource, 1) | (Scope, 3) | (Span, 9) | (Event, 3) | (Link, 4) | (KvList, 1) => KeyValue,
            (Resource, 3) => EntityRef,
            (ScopeSpans, 1) => Scope,
            (ScopeSpans, 2) => Span,
            (Span, 11) => Event,
            (Span, 13) => Link,
            (Span, 15) => Status,
            (KeyValue, 2) | (List, 1) => AnyValue,
            (AnyValue, 5) => List,
            (AnyValue, 6) => KvList,
            _ => return None,
        })
    }
}

/// Whether a group occurs anywhere in a message prost decoded (so every field is well formed).
fn has_group(bytes: &[u8], schema: Schema) -> bool {
    Reader::new(bytes).any(|field| match field {
        Ok(f) => match (f.value, schema.child(f.number)) {
            (Value::Group(_), _) => true,
            (Value::Bytes(inner), Some(child)) => has_group(inner, child),
            _ => false,
        },
        Err(_) => false,
    })
}

/// prost's decode of `bytes` with `key_strindex` (profiles only, not in the views) cleared.
pub fn decode_without_strindex(bytes: &[u8]) -> Result<ExportTraceServiceRequest, prost::DecodeError> {
    ExportTraceServiceRequest::decode(bytes).map(without_strindex)
}

fn without_strindex(mut request: ExportTraceServiceRequest) -> ExportTraceServiceRequest {
    fn clear(kvs: &mut [KeyValue]) {
        for kv in kvs {
            kv.key_strindex = 0;
            match kv.value.as_mut().and_then(|v| v.value.as_mut()) {
                Some(any_value::Value::ArrayValue(a)) => clear_values(&mut a.values),
                Some(any_value::Value::KvlistValue(l)) => clear(&mut l.values),
                _ => {}
            }
        }
    }
    fn clear_values(values: &mut [AnyValue]) {
        for v in values {
            match v.value.as_mut() {
                Some(any_value::Value::ArrayValue(a)) => clear_values(&mut a.values),
                Some(any_value::Value::KvlistValue(l)) => clear(&mut l.values),
                _ => {}
            }
        }
    }
    for rs in &mut request.resource_spans {
        if let Some(r) = &mut rs.resource {
            clear(&mut r.attributes);
        }
        for ss in &mut rs.scope_spans {
            for s in &mut ss.spans {
                clear(&mut s.attributes);
                for e in &mut s.events {
                    clear(&mut e.attributes);
                }
                for l in &mut s.links {
                    clear(&mut l.attributes);
                }
            }
        }
    }
    request
}

/// Why [`rebuild`] failed.
#[derive(Debug, thiserror::Error)]
pub enum Rebuild {
    #[error(transparent)]
    View(#[from] ViewError),
    /// A resource's or scope's own bytes, which the rebuild takes from prost.
    #[error("prost refuses a part the views handed out: {0}")]
    Prost(#[from] prost::DecodeError),
}

/// Rebuilds the request from the views alone, field by field (`key_strindex` left at 0; the
/// resource's, scope's and link's other fields come from their raw bytes, as their readers
/// take them).
pub fn rebuild(bytes: &[u8]) -> Result<ExportTraceServiceRequest, Rebuild> {
    let mut out = ExportTraceServiceRequest::default();
    for rs in resource_spans(bytes)? {
        let rs = rs?;
        let resource = match rs.resource {
            Some(r) => Some(Resource {
                attributes: attrs(r.attributes)?,
                dropped_attributes_count: r.dropped_attributes_count,
                ..Resource::decode(r.raw)?
            }),
            None => None,
        };
        let mut scope_spans = Vec::new();
        for ss in rs.scope_spans {
            let ss = ss?;
            let mut spans = Vec::new();
            for s in ss.spans {
                let s = s?;
                let mut events = Vec::new();
                for e in s.events {
                    let e = e?;
                    events.push(Event {
                        time_unix_nano: e.time_unix_nano,
                        name: e.name.into(),
                        attributes: attrs(e.attributes)?,
                        dropped_attributes_count: e.dropped_attributes_count,
                    });
                }
                let mut links = Vec::new();
                for l in s.links {
                    let l = l?;
                    links.push(Link {
                        trace_id: l.trace_id.to_vec(),
                        span_id: l.span_id.to_vec(),
                        trace_state: l.trace_state.into(),
                        attributes: attrs(l.attributes)?,
                        dropped_attributes_count: l.dropped_attributes_count,
                        flags: l.flags,
                    });
                }
                spans.push(Span {
                    trace_id: s.trace_id.to_vec(),
                    span_id: s.span_id.to_vec(),
                    trace_state: s.trace_state.into(),
                    parent_span_id: s.parent_span_id.to_vec(),
                    flags: s.flags,
                    name: s.name.into(),
                    kind: s.kind,
                    start_time_unix_nano: s.start_time_unix_nano,
                    end_time_unix_nano: s.end_time_unix_nano,
                    attributes: attrs(s.attributes)?,
                    dropped_attributes_count: s.dropped_attributes_count,
                    events,
                    dropped_events_count: s.dropped_events_count,
                    links,
                    dropped_links_count: s.dropped_links_count,
                    status: s.status.map(|st| Status { message: st.message.into(), code: st.code }),
                });
            }
            let scope = match ss.scope {
                Some(b) => Some(InstrumentationScope::decode(b)?),
                None => None,
            };
            scope_spans.push(ScopeSpans { scope, spans, schema_url: ss.schema_url.into() });
        }
        out.resource_spans.push(ResourceSpans { resource, scope_spans, schema_url: rs.schema_url.into() });
    }
    Ok(out)
}

fn attrs(many: Many<'_, KeyValueView<'_>>) -> Result<Vec<KeyValue>, ViewError> {
    let out = many
        .iter()
        .map(|kv| {
            let kv = kv?;
            Ok(KeyValue { key: kv.key.into(), value: kv.value.map(any).transpose()?, key_strindex: 0 })
        })
        .collect::<Result<Vec<_>, ViewError>>()?;
    assert_eq!(out.len(), many.len(), "a Many's count and its items");
    Ok(out)
}

fn any(v: AnyValueView<'_>) -> Result<AnyValue, ViewError> {
    use any_value::Value as V;
    let value = match v.value {
        ValueView::Empty => None,
        ValueView::Str(s) => Some(V::StringValue(s.into())),
        ValueView::Bool(b) => Some(V::BoolValue(b)),
        ValueView::Int(i) => Some(V::IntValue(i)),
        ValueView::Double(d) => Some(V::DoubleValue(d)),
        ValueView::Bytes(b) => Some(V::BytesValue(b.to_vec())),
        ValueView::StrIndex(i) => Some(V::StringValueStrindex(i)),
        ValueView::Array(a) => Some(V::ArrayValue(ArrayValue {
            values: a.iter().map(|v| any(v?)).collect::<Result<_, _>>()?,
        })),
        ValueView::KvList(l) => Some(V::KvlistValue(KeyValueList { values: attrs(l)? })),
    };
    Ok(AnyValue { value })
}
