//! OTLP protobuf encoding of a generated request, with the needles that let each send patch
//! trace ids, id-like attribute values and times in place (see `encoded`, `restamp`).
//!
//! prost writes a message's fields in field-number order, so within a `Span` the fields come
//! as: `trace_id` (1), `start_time_unix_nano` (7, fixed64), `end_time_unix_nano` (8, fixed64),
//! `attributes` (9), `events` (11, each with `time_unix_nano` as field 1, fixed64). Needles
//! are listed in that order, span after span, as `EncodedBatch::locate` requires.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

use crate::encoded::{EncodedBatch, IdEncoding, Needle};
use crate::realistic::masked_value_needle;
use crate::restamp::TimeField;

/// Field tags (field number << 3 | wire type): `Span.trace_id` is length-delimited (0x0A, then
/// length 0x10); the times are fixed64 (wire type 1).
const TRACE_ID: [u8; 2] = [0x0A, 0x10];
const START_TIME: u8 = 0x39;
const END_TIME: u8 = 0x41;
const EVENT_TIME: u8 = 0x09;

/// Every span of the request, in encoding order.
pub fn spans(req: &ExportTraceServiceRequest) -> impl Iterator<Item = &Span> {
    req.resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
}

/// A fixed64 time, or nothing for 0 (prost leaves default values out).
fn time(tag: u8, nanos: u64) -> Option<Needle> {
    (nanos != 0).then(|| Needle::time(&[tag], &nanos.to_le_bytes(), TimeField::FixedLeNanos))
}

fn span_needles(s: &Span) -> impl Iterator<Item = Needle> + '_ {
    // The first 8 bytes of the trace id are patched.
    let id = Needle::id([&TRACE_ID[..], &s.trace_id].concat(), 2, 8, IdEncoding::Raw);
    let values = s
        .attributes
        .iter()
        .filter_map(|kv| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(v) => masked_value_needle(&kv.key, v),
            _ => None,
        });
    std::iter::once(id)
        .chain(time(START_TIME, s.start_time_unix_nano))
        .chain(time(END_TIME, s.end_time_unix_nano))
        .chain(values)
        .chain(
            s.events
                .iter()
                .filter_map(|e| time(EVENT_TIME, e.time_unix_nano)),
        )
}

/// Encodes a request once, noting where each span's trace id, id-like values and times sit.
pub fn encode_otlp(req: &ExportTraceServiceRequest) -> Result<EncodedBatch, String> {
    EncodedBatch::locate(
        req.encode_to_vec(),
        spans(req).count() as u64,
        spans(req).flat_map(span_needles),
    )
}

/// Keeps the first `n` spans of a request (for the smaller last batch of `--total-spans`),
/// dropping resources left empty.
pub fn truncate_request(req: &mut ExportTraceServiceRequest, mut n: usize) {
    for scope in req
        .resource_spans
        .iter_mut()
        .flat_map(|r| &mut r.scope_spans)
    {
        scope.spans.truncate(n);
        n -= scope.spans.len();
    }
    req.resource_spans
        .retain(|r| r.scope_spans.iter().any(|s| !s.spans.is_empty()));
}
