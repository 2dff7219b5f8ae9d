//! Thrift `Batch` -> OTLP: one resource (the batch's process), spans grouped by scope.

use opentelemetry_proto::tonic::trace::v1::ResourceSpans;

use super::groups::ScopeGroups;
use super::{build_span, event, links, parent_from_refs, resource, resource_spans};
use super::{Ref, SpanHead, SpanRules};
use crate::thrift::{self, SpanRefType};

/// Translates a Thrift batch (UDP agent or HTTP `/api/traces`) into OTLP: one `ResourceSpans`.
pub fn thrift_to_otlp(batch: thrift::Batch) -> Vec<ResourceSpans> {
    let resource = resource(batch.process.service_name, batch.process.tags);
    let mut scopes = ScopeGroups::new();
    let blank = thrift::Span::default();
    for span in batch.spans {
        // The Collector skips spans with every field at its zero value.
        if span == blank {
            continue;
        }
        let (scope, span) = translate_span(span);
        scopes.push(scope, span);
    }
    vec![resource_spans(resource, scopes)]
}

/// µs since the epoch -> ns, with Go's wrap-around for out-of-range values.
fn micros_to_nanos(us: i64) -> u64 {
    (us as u64).wrapping_mul(1000)
}

fn translate_span(
    span: thrift::Span,
) -> (
    (String, String),
    opentelemetry_proto::tonic::trace::v1::Span,
) {
    // Ids are unsigned 64-bit values carried in i64s: reinterpret the bits.
    let trace = (span.trace_id_high as u64, span.trace_id_low as u64);
    let refs: Vec<Ref> = span
        .references
        .iter()
        .map(|r| Ref {
            child_of: r.ref_type == SpanRefType::ChildOf,
            follows_from: r.ref_type == SpanRefType::FollowsFrom,
            trace: (r.trace_id_high as u64, r.trace_id_low as u64),
            span_id: r.span_id as u64,
        })
        .collect();
    let parent = match span.parent_span_id {
        0 => parent_from_refs(&refs, trace),
        p => p as u64,
    };
    let head = SpanHead {
        trace,
        span_id: span.span_id as u64,
        parent,
        name: span.operation_name,
        start: micros_to_nanos(span.start_time),
        end: micros_to_nanos(span.start_time.wrapping_add(span.duration)),
        flags: span.flags as u32,
    };
    let mut rules = SpanRules::apply(span.tags);
    let events = span
        .logs
        .into_iter()
        .map(|l| event(micros_to_nanos(l.timestamp), l.fields))
        .collect();
    let links = links(&refs, parent);
    let scope = std::mem::take(&mut rules.scope);
    (scope, build_span(head, rules, events, links))
}
