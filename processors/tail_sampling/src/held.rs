//! One pending trace's spans as OTLP bytes, and the read-only view the policies decide on.
//!
//! A trace is held as a list of *records*, appended as its spans arrive:
//!
//! ```text
//! varint resource head id | varint scope head id | varint span count | varint payload length | payload
//! ```
//!
//! where the payload is the spans exactly as a `ScopeSpans` carries them (`field 2, length,
//! span bytes` for each span), copied from the incoming request without decoding the span
//! bodies, and the ids name the resource and scope in the processor's interned [`Heads`]. So a
//! held span costs its OTLP size plus a few bytes of framing, the payload of the records of one
//! resource and scope is already what an outgoing `ScopeSpans` needs, and a policy reads the
//! spans through `tracegate_pdata::view` without building structs.
//!
//! The buffer grows by at least a quarter of its length (not doubling), so a trace holds at most
//! ~25% slack: the memory bound is written in bytes of OTLP, and a doubling `Vec` would waste
//! up to half of it.

use tracegate_pdata::wire::read_varint;
use tracegate_pdata::view::{FromWire, Many, ResourceSpansView, ResourceView, ScopeSpansView, SpanView};

use crate::heads::{HeadId, Heads};

/// One run of a trace's spans under one resource and scope.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub resource: HeadId,
    pub scope: HeadId,
    pub spans: u32,
    /// The spans framed as `ScopeSpans.spans` fields.
    pub payload: &'a [u8],
}

/// A pending trace's spans held in memory.
#[derive(Debug, Default)]
pub struct HeldTrace {
    buf: Vec<u8>,
    spans: u32,
}

/// The `ScopeSpans.spans` key (field 2, length-delimited).
pub const SPAN_KEY: u8 = 0x12;

/// Bytes of a span framed as a `ScopeSpans.spans` field.
pub fn framed_len(span: &[u8]) -> usize {
    1 + prost::encoding::encoded_len_varint(span.len() as u64) + span.len()
}

/// Appends `span` framed as a `ScopeSpans.spans` field.
pub fn frame_span(out: &mut Vec<u8>, span: &[u8]) {
    out.push(SPAN_KEY);
    prost::encoding::encode_varint(span.len() as u64, out);
    out.extend_from_slice(span);
}

impl HeldTrace {
    /// Appends a record of `spans` (unframed span messages). The caller has taken a reference
    /// to each head for this record.
    pub fn push_spans(&mut self, resource: HeadId, scope: HeadId, spans: &[&[u8]]) {
        let payload: usize = spans.iter().map(|s| framed_len(s)).sum();
        self.reserve_record(payload);
        self.header(resource, scope, spans.len() as u32, payload);
        for span in spans {
            frame_span(&mut self.buf, span);
        }
        self.spans += spans.len() as u32;
    }

    /// Appends a record whose payload is already framed (read back from the spill, or
    /// moved from another trace buffer).
    pub fn push_payload(&mut self, resource: HeadId, scope: HeadId, spans: u32, payload: &[u8]) {
        self.reserve_record(payload.len());
        self.header(resource, scope, spans, payload.len());
        self.buf.extend_from_slice(payload);
        self.spans += spans;
    }

    fn header(&mut self, resource: HeadId, scope: HeadId, spans: u32, payload: usize) {
        prost::encoding::encode_varint(u64::from(resource), &mut self.buf);
        prost::encoding::encode_varint(u64::from(scope), &mut self.buf);
        prost::encoding::encode_varint(u64::from(spans), &mut self.buf);
        prost::encoding::encode_varint(payload as u64, &mut self.buf);
    }

    fn reserve_record(&mut self, payload: usize) {
        let needed = payload + 4 * 5;
        if self.buf.capacity() - self.buf.len() < needed {
            // Grow by what is needed or a quarter of what is held: amortized appends without
            // a doubling Vec's up-to-half slack.
            self.buf.reserve_exact(needed.max(self.buf.len() / 4));
        }
    }

    /// Spans held.
    pub fn span_count(&self) -> usize {
        self.spans as usize
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Heap bytes this buffer holds.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Bytes of records.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn records(&self) -> Records<'_> {
        Records { rest: &self.buf }
    }

    /// Appends another trace buffer's records (their head references move with them).
    pub fn append(&mut self, other: HeldTrace) {
        if self.buf.is_empty() {
            *self = other;
            return;
        }
        self.buf.reserve_exact(other.buf.len());
        self.buf.extend_from_slice(&other.buf);
        self.spans += other.spans;
    }

    /// Gives back every head reference the records hold.
    pub fn release_heads(&self, resources: &mut Heads, scopes: &mut Heads) {
        for r in self.records() {
            resources.release(r.resource);
            scopes.release(r.scope);
        }
    }
}

/// The records of a buffer, in order. Stops at the first malformed record (the buffer is only
/// written by [`HeldTrace`], so there is none).
pub struct Records<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Records<'a> {
    type Item = Record<'a>;

    fn next(&mut self) -> Option<Record<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        let mut rest = self.rest;
        let mut next = || read_varint(&mut rest).ok();
        let (resource, scope, spans, len) = (next()?, next()?, next()?, next()?);
        let len = usize::try_from(len).ok().filter(|l| *l <= rest.len());
        let Some(len) = len else {
            self.rest = &[];
            return None;
        };
        let (payload, tail) = rest.split_at(len);
        self.rest = tail;
        Some(Record { resource: resource as HeadId, scope: scope as HeadId, spans: spans as u32, payload })
    }
}

/// A held trace as the policies read it: its spans and their resources, as views over the
/// held bytes (nothing is decoded into structs).
#[derive(Clone, Copy)]
pub struct TraceView<'a> {
    records: &'a [u8],
    resources: &'a Heads,
    spans: usize,
}

/// The spans of one record, with the resource they belong to.
pub struct Group<'a> {
    pub resource_id: HeadId,
    pub resource: Option<ResourceView<'a>>,
    pub spans: Many<'a, SpanView<'a>>,
}

impl<'a> TraceView<'a> {
    pub fn new(trace: &'a HeldTrace, resources: &'a Heads) -> Self {
        Self { records: &trace.buf, resources, spans: trace.span_count() }
    }

    pub fn span_count(&self) -> usize {
        self.spans
    }

    /// Each record's resource and spans, in arrival order. A record whose bytes a view
    /// cannot read is skipped (the ingest only keeps bytes the views read).
    pub fn groups(&self) -> impl Iterator<Item = Group<'a>> + 'a {
        let resources = self.resources;
        Records { rest: self.records }.filter_map(move |r| {
            let head = resources.bytes_of(r.resource);
            let resource = ResourceSpansView::from_wire(head).ok().and_then(|v| v.resource);
            let spans = ScopeSpansView::from_wire(r.payload).ok()?.spans;
            Some(Group { resource_id: r.resource, resource, spans })
        })
    }

    /// Every span, in arrival order.
    pub fn spans(&self) -> impl Iterator<Item = SpanView<'a>> + 'a {
        self.groups().flat_map(|g| g.spans.into_iter().filter_map(Result::ok))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use opentelemetry_proto::tonic::trace::v1::Span;
    use prost::Message;

    fn span(name: &str) -> Vec<u8> {
        Span { name: name.into(), trace_id: vec![1; 16], span_id: vec![2; 8], ..Default::default() }.encode_to_vec()
    }

    #[test]
    fn records_hold_the_spans_framed_as_scope_spans_and_views_read_them() {
        let mut heads = Heads::default();
        let r = heads.intern(None, &[]);
        let (a, b, c) = (span("a"), span("b"), span("c"));
        let mut t = HeldTrace::default();
        t.push_spans(r, 7, &[&a, &b]);
        t.push_spans(r, 9, &[&c]);
        assert_eq!(t.span_count(), 3);
        let recs: Vec<_> = t.records().collect();
        assert_eq!(recs.len(), 2);
        assert_eq!((recs[0].scope, recs[0].spans, recs[1].scope), (7, 2, 9));
        let mut expected = Vec::new();
        frame_span(&mut expected, &a);
        frame_span(&mut expected, &b);
        assert_eq!(recs[0].payload, expected.as_slice());
        let names: Vec<_> = TraceView::new(&t, &heads).spans().map(|s| s.name).collect();
        assert_eq!(names, ["a", "b", "c"]);
    }

    #[test]
    fn growth_leaves_at_most_a_quarter_of_slack_for_large_traces() {
        let s = span("x");
        let mut t = HeldTrace::default();
        for _ in 0..2000 {
            t.push_spans(0, 0, &[&s]);
        }
        assert!(t.capacity() as f64 <= t.len() as f64 * 1.3, "{} of {}", t.capacity(), t.len());
    }

    #[test]
    fn append_moves_records_and_counts() {
        let s = span("x");
        let mut a = HeldTrace::default();
        a.push_spans(1, 1, &[&s]);
        let mut b = HeldTrace::default();
        b.push_spans(2, 2, &[&s, &s]);
        a.append(b);
        assert_eq!(a.span_count(), 3);
        assert_eq!(a.records().map(|r| r.resource).collect::<Vec<_>>(), [1, 2]);
        let mut empty = HeldTrace::default();
        empty.append(a);
        assert_eq!(empty.span_count(), 3);
    }
}
