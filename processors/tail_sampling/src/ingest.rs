//! An incoming batch cut into runs of spans per trace, as byte slices, ready to be held.
//!
//! A batch that is still the request bytes the receiver checked (`Traces::encoded_parts`) is
//! walked with `tracegate_pdata::view`: each span's bytes are sliced out of the
//! request and only its top-level fields are read (for the trace id); attributes, events and
//! links are not touched. A decoded batch (a receiver that translated Jaeger or Zipkin, or a
//! processor that changed the spans) has each resource, scope and span encoded once instead.
//! Either way what the table holds is OTLP bytes.
//!
//! Consecutive spans of one trace under one resource and scope become one [`Run`], so a
//! request that carries its traces' spans together (SDKs and the load generator do) makes one
//! record per trace.

use std::ops::Range;
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use tracegate_core::data::ResourceSpans;
use tracegate_pdata::view::{self, FromWire, SpanView, ViewError};

use crate::buffer::{trace_key, TraceId};

/// Spans of one trace, consecutive in one scope of the batch.
#[derive(Debug, Clone)]
pub struct Run {
    pub trace: TraceId,
    /// Index into [`Batch::resources`].
    pub resource: u32,
    /// Index into [`Batch::scopes`].
    pub scope: u32,
    /// Indexes into [`Batch::spans`].
    pub spans: Range<u32>,
}

/// One incoming batch (or one request of it), as heads, span slices and runs.
#[derive(Debug, Default)]
pub struct Batch<'a> {
    pub tenant: Option<Arc<str>>,
    /// Resource heads: the `ResourceSpans` fields `resource` (1) and `schema_url` (3), encoded.
    pub resources: Vec<Vec<u8>>,
    /// Scope heads: the `ScopeSpans` fields `scope` (1) and `schema_url` (3), encoded.
    pub scopes: Vec<Vec<u8>>,
    /// Each span's message bytes (without its field key and length).
    pub spans: Vec<&'a [u8]>,
    pub runs: Vec<Run>,
}

/// Encodes a head: an optional message as field 1 and a non-empty schema URL as field 3.
pub fn head(message: Option<&[u8]>, schema_url: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.map_or(0, |m| m.len() + 6) + schema_url.len() + 6);
    if let Some(m) = message {
        out.push(0x0a);
        prost::encoding::encode_varint(m.len() as u64, &mut out);
        out.extend_from_slice(m);
    }
    if !schema_url.is_empty() {
        out.push(0x1a);
        prost::encoding::encode_varint(schema_url.len() as u64, &mut out);
        out.extend_from_slice(schema_url.as_bytes());
    }
    out
}

impl<'a> Batch<'a> {
    fn push_span(&mut self, resource: u32, scope: u32, trace: TraceId, span: &'a [u8]) {
        let index = self.spans.len() as u32;
        self.spans.push(span);
        if let Some(last) = self.runs.last_mut() {
            if last.trace == trace && last.resource == resource && last.scope == scope && last.spans.end == index {
                last.spans.end += 1;
                return;
            }
        }
        self.runs.push(Run { trace, resource, scope, spans: index..index + 1 });
    }

    /// The span slices of a run.
    pub fn spans_of(&self, run: &Run) -> &[&'a [u8]] {
        self.spans.get(run.spans.start as usize..run.spans.end as usize).unwrap_or_default()
    }

    pub fn span_count(&self) -> usize {
        self.spans.len()
    }

    /// An `ExportTraceServiceRequest` as received, read in place. An error when the views
    /// cannot read it (prost would merge a repeated singular field): decode it instead, with
    /// [`decode_request`].
    pub fn from_request(request: &'a [u8], tenant: Option<Arc<str>>) -> Result<Self, ViewError> {
        let mut batch = Batch { tenant, ..Default::default() };
        for rs in view::resource_spans(request)?.iter() {
            let rs = rs?;
            batch.resources.push(head(rs.resource.map(|r| r.raw), rs.schema_url));
            let resource = batch.resources.len() as u32 - 1;
            for ss in rs.scope_spans.iter() {
                let ss = ss?;
                batch.scopes.push(head(ss.scope, ss.schema_url));
                let scope = batch.scopes.len() as u32 - 1;
                for span in ss.spans.raw() {
                    let span = span?;
                    // The whole top level is read, as prost would (the last trace_id wins,
                    // a doubled status is refused), so later views of the span cannot fail.
                    let trace = trace_key(SpanView::from_wire(span)?.trace_id);
                    batch.push_span(resource, scope, trace, span);
                }
            }
        }
        Ok(batch)
    }

    /// Decoded spans, encoded into `scratch` (which the batch then borrows).
    pub fn from_decoded(resource_spans: &[ResourceSpans], tenant: Option<Arc<str>>, scratch: &'a mut Vec<u8>) -> Self {
        scratch.clear();
        // First encode every span, then slice: the batch borrows `scratch` only once it is
        // complete.
        let mut located: Vec<(u32, u32, TraceId, Range<usize>)> = Vec::new();
        let (mut resources, mut scopes) = (Vec::with_capacity(resource_spans.len()), Vec::new());
        for rs in resource_spans {
            let resource = rs.resource.as_ref().map(Message::encode_to_vec);
            resources.push(head(resource.as_deref(), &rs.schema_url));
            for ss in &rs.scope_spans {
                let scope = ss.scope.as_ref().map(Message::encode_to_vec);
                scopes.push(head(scope.as_deref(), &ss.schema_url));
                for span in &ss.spans {
                    let start = scratch.len();
                    // Encoding into a Vec cannot run out of room.
                    let _ = span.encode(scratch);
                    let at = (resources.len() as u32 - 1, scopes.len() as u32 - 1);
                    located.push((at.0, at.1, trace_key(&span.trace_id), start..scratch.len()));
                }
            }
        }
        let bytes: &'a [u8] = scratch;
        let mut batch = Batch { tenant, resources, scopes, ..Default::default() };
        for (resource, scope, trace, range) in located {
            batch.push_span(resource, scope, trace, bytes.get(range).unwrap_or_default());
        }
        batch
    }
}

/// A checked request the views declined, decoded by prost (which merges what the views
/// refuse); `None` if even prost refuses it (the receiver's check makes that impossible).
pub fn decode_request(request: &[u8]) -> Option<Vec<ResourceSpans>> {
    ExportTraceServiceRequest::decode(request).ok().map(|r| r.resource_spans)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, InstrumentationScope, KeyValue};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans as Rs, ScopeSpans, Span};

    fn span(trace: u8, name: &str) -> Span {
        Span { trace_id: vec![trace; 16], span_id: vec![1; 8], name: name.into(), ..Default::default() }
    }

    fn sample() -> Vec<Rs> {
        let resource = Resource {
            attributes: vec![KeyValue { key: "service.name".into(), value: Some(AnyValue { value: Some(Value::StringValue("shop".into())) }), ..Default::default() }],
            ..Default::default()
        };
        vec![Rs {
            resource: Some(resource),
            schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
            scope_spans: vec![
                ScopeSpans { scope: Some(InstrumentationScope { name: "a".into(), ..Default::default() }), spans: vec![span(1, "x"), span(1, "y"), span(2, "z")], ..Default::default() },
                ScopeSpans { scope: None, spans: vec![span(1, "w")], schema_url: "s".into() },
            ],
        }]
    }

    #[test]
    fn bytes_and_decoded_batches_cut_into_the_same_runs_and_heads() {
        let rs = sample();
        let request = ExportTraceServiceRequest { resource_spans: rs.clone() }.encode_to_vec();
        let from_bytes = Batch::from_request(&request, None).unwrap();
        let mut scratch = Vec::new();
        let from_structs = Batch::from_decoded(&rs, None, &mut scratch);
        for b in [&from_bytes, &from_structs] {
            let shape: Vec<_> = b.runs.iter().map(|r| (r.trace[0], r.resource, r.scope, r.spans.len())).collect();
            assert_eq!(shape, [(1, 0, 0, 2), (2, 0, 0, 1), (1, 0, 1, 1)]);
            assert_eq!(b.span_count(), 4);
        }
        assert_eq!(from_bytes.resources, from_structs.resources);
        assert_eq!(from_bytes.scopes, from_structs.scopes);
        assert_eq!(from_bytes.spans, from_structs.spans, "span bytes are the same either way");
        // A head decodes back to its resource and schema URL.
        let decoded = Rs::decode(from_bytes.resources[0].as_slice()).unwrap();
        assert_eq!((decoded.resource, decoded.schema_url), (rs[0].resource.clone(), rs[0].schema_url.clone()));
        assert_eq!(from_bytes.scopes[1], head(None, "s"));
    }

    #[test]
    fn a_span_with_a_doubled_status_is_left_to_prost() {
        let mut bytes = span(1, "x").encode_to_vec();
        bytes.extend_from_slice(&[0x7a, 0x00, 0x7a, 0x00]); // status (15) twice
        let mut request = Vec::new();
        let scope = head(None, "");
        let mut ss = scope.clone();
        ss.push(0x12);
        prost::encoding::encode_varint(bytes.len() as u64, &mut ss);
        ss.extend_from_slice(&bytes);
        let mut rs = vec![0x12];
        prost::encoding::encode_varint(ss.len() as u64, &mut rs);
        rs.extend_from_slice(&ss);
        request.push(0x0a);
        prost::encoding::encode_varint(rs.len() as u64, &mut request);
        request.extend_from_slice(&rs);
        assert!(Batch::from_request(&request, None).is_err());
        let decoded = decode_request(&request).unwrap();
        let mut scratch = Vec::new();
        assert_eq!(Batch::from_decoded(&decoded, None, &mut scratch).span_count(), 1);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Batch::from_request(&[0x0a, 0xff], None).is_err());
        assert_eq!(Batch::from_request(&[], None).unwrap().span_count(), 0);
    }
}
