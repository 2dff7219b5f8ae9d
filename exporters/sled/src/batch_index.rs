//! A block's batches indexed for the writer ([`crate::write`], [`crate::block_write`]):
//! resources, scopes and spans by position, each read in the form its batch came in. A batch
//! of bytes is read in place through the views; a batch of structs is borrowed as it is, with
//! nothing encoded or copied.

use bytes::Bytes;
use opentelemetry_proto::tonic::common::v1::{any_value, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, Span};
use tracegate_core::Traces;
use tracegate_pdata::view::{self, ResourceView, SpanView, StatusView, ViewError};

use crate::codec::service_name;
use crate::summary::service_seed;

/// One batch of a block, in the form it came in.
#[derive(Clone, Debug)]
pub enum Part {
    /// An `ExportTraceServiceRequest` encoding: as received, or replayed from the log.
    Request(Bytes),
    /// A batch of structs (Jaeger, Zipkin, OTLP/JSON, changed by a processor).
    Decoded(Traces),
}

/// A block's spans indexed for the writer: resources and scopes by position, each span with
/// the scope it came under. Each entry is read in the form its batch came in: views into
/// request bytes, or borrowed structs (`decoded`; see [`crate::write`]). A struct entry's
/// view holds the struct's scalar fields, so code that reads only those (times, ids, names,
/// kind, status) reads either form alike; attributes, events, links, resources and scopes
/// are read from `decoded` when it is set.
#[derive(Default)]
pub struct BatchIndex<'a> {
    pub resources: Vec<ResourceEntry<'a>>,
    pub scopes: Vec<ScopeEntry<'a>>,
    pub spans: Vec<SpanEntry<'a>>,
}

pub struct ResourceEntry<'a> {
    pub resource: Option<ResourceView<'a>>,
    /// The resource of a batch of structs (`resource` is then None).
    pub decoded: Option<&'a Resource>,
    pub schema_url: &'a str,
    /// `service.name` ("" when absent or not a string), as [`crate::codec::service_of`].
    pub service: &'a str,
    /// [`crate::summary::service_seed`] of `service`.
    pub seed: u64,
}

pub struct ScopeEntry<'a> {
    pub resource: u32,
    pub scope: Option<&'a [u8]>,
    /// The scope of a batch of structs (`scope` is then None).
    pub decoded: Option<&'a InstrumentationScope>,
    pub schema_url: &'a str,
}

pub struct SpanEntry<'a> {
    /// A span of a batch of structs has its scalar fields here and empty attributes, events
    /// and links: those are read from `decoded`.
    pub span: SpanView<'a>,
    pub decoded: Option<&'a Span>,
    pub scope: u32,
}

impl<'a> BatchIndex<'a> {
    pub fn resource_of(&self, span: &SpanEntry<'a>) -> u32 {
        self.scopes.get(span.scope as usize).map_or(0, |s| s.resource)
    }
}

/// Indexes the requests' resources, scopes and spans (each span read once, in one pass).
pub(crate) fn index<'a>(requests: impl IntoIterator<Item = &'a [u8]>) -> Result<BatchIndex<'a>, ViewError> {
    let mut batch = BatchIndex::default();
    for request in requests {
        index_request(&mut batch, request)?;
    }
    Ok(batch)
}

/// Adds a request's spans to `batch`, read in place.
pub(crate) fn index_request<'a>(batch: &mut BatchIndex<'a>, request: &'a [u8]) -> Result<(), ViewError> {
    for rs in view::resource_spans(request)? {
        let rs = rs?;
        let service = match &rs.resource {
            Some(r) => service_name(r.attributes)?,
            None => "",
        };
        let r = batch.resources.len() as u32;
        let seed = service_seed(service);
        batch.resources.push(ResourceEntry { resource: rs.resource, decoded: None, schema_url: rs.schema_url, service, seed });
        for ss in rs.scope_spans {
            let ss = ss?;
            let s = batch.scopes.len() as u32;
            batch.scopes.push(ScopeEntry { resource: r, scope: ss.scope, decoded: None, schema_url: ss.schema_url });
            batch.spans.reserve(ss.spans.len());
            for span in ss.spans {
                batch.spans.push(SpanEntry { span: span?, decoded: None, scope: s });
            }
        }
    }
    Ok(())
}

/// Adds a batch of structs to `batch`, borrowed: nothing is encoded or copied.
pub(crate) fn index_decoded<'a>(batch: &mut BatchIndex<'a>, resource_spans: &'a [ResourceSpans]) {
    for rs in resource_spans {
        let service = rs.resource.as_ref().map_or("", |r| decoded_service_name(&r.attributes));
        let r = batch.resources.len() as u32;
        let seed = service_seed(service);
        batch.resources.push(ResourceEntry { resource: None, decoded: rs.resource.as_ref(), schema_url: &rs.schema_url, service, seed });
        for ss in &rs.scope_spans {
            let s = batch.scopes.len() as u32;
            batch.scopes.push(ScopeEntry { resource: r, scope: None, decoded: ss.scope.as_ref(), schema_url: &ss.schema_url });
            batch.spans.reserve(ss.spans.len());
            for span in &ss.spans {
                batch.spans.push(SpanEntry { span: scalars(span), decoded: Some(span), scope: s });
            }
        }
    }
}

/// [`service_name`] of a resource's attribute structs.
fn decoded_service_name(attrs: &[KeyValue]) -> &str {
    match attrs.iter().find(|kv| kv.key == "service.name").and_then(|kv| kv.value.as_ref()?.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s,
        _ => "",
    }
}

/// A span struct's scalar fields as a view (attributes, events and links left empty: the
/// writer reads them from the struct).
fn scalars(span: &Span) -> SpanView<'_> {
    SpanView {
        trace_id: &span.trace_id,
        span_id: &span.span_id,
        trace_state: &span.trace_state,
        parent_span_id: &span.parent_span_id,
        flags: span.flags,
        name: &span.name,
        kind: span.kind,
        start_time_unix_nano: span.start_time_unix_nano,
        end_time_unix_nano: span.end_time_unix_nano,
        dropped_attributes_count: span.dropped_attributes_count,
        dropped_events_count: span.dropped_events_count,
        dropped_links_count: span.dropped_links_count,
        status: span.status.as_ref().map(|s| StatusView { message: &s.message, code: s.code }),
        ..SpanView::default()
    }
}

