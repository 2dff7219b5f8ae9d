//! api_v2 proto `Batch` -> OTLP. A proto span may carry its own process (taking priority over
//! the batch's), so spans are regrouped by process first, as the Collector's `regroup` does: one
//! `ResourceSpans` per distinct process, the batch's first, then in order of appearance (the
//! Collector's order is a Go map's, i.e. random).

use std::hash::{BuildHasher, Hash, Hasher};

use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;

use super::groups::{Groups, ScopeGroups};
use super::{build_span, event, links, parent_from_refs, resource, resource_spans};
use super::{Ref, SpanHead, SpanRules};
use crate::attrs::{span_id_value, trace_id_parts, NO_SERVICE_NAME};
use crate::proto;

/// Translates an api_v2 batch (gRPC `PostSpans`) into OTLP.
///
/// Ids are read leniently: a trace id shorter than 16 bytes (or a span id shorter than 8) is
/// right-aligned, a longer one is cut to its first 16 (8) bytes. Jaeger refuses short ids when it
/// decodes the request; a receiver that wants that strictness checks lengths before calling.
pub fn proto_to_otlp(batch: proto::Batch) -> Vec<ResourceSpans> {
    let hasher = std::collections::hash_map::RandomState::new();
    let mut by_process: Groups<ProcessKey, proto::Span> = Groups::new();
    let batch_group = by_process.group(ProcessKey::new(batch.process, &hasher));
    for mut span in batch.spans {
        match span.process.take() {
            None => by_process.groups_mut()[batch_group].1.push(span),
            Some(p) => by_process.push(ProcessKey::new(Some(p), &hasher), span),
        }
    }
    let mut out = Vec::new();
    for (key, spans) in by_process.into_groups() {
        if key.process.is_none() && spans.is_empty() {
            continue;
        }
        let resource = match key.process {
            Some(p) if p.service_name != NO_SERVICE_NAME => resource(p.service_name, p.tags),
            _ => Resource::default(),
        };
        let mut scopes = ScopeGroups::new();
        let blank = proto::Span::default();
        for span in spans {
            if span == blank {
                continue;
            }
            let (scope, span) = translate_span(span);
            scopes.push(scope, span);
        }
        out.push(resource_spans(resource, scopes));
    }
    out
}

/// A process as a grouping key: equality and hash over every field, with doubles compared by
/// their bits so a NaN tag cannot make a process unequal to itself.
struct ProcessKey {
    process: Option<proto::Process>,
    hash: u64,
}

impl ProcessKey {
    fn new(process: Option<proto::Process>, hasher: &impl BuildHasher) -> Self {
        let mut h = hasher.build_hasher();
        if let Some(p) = &process {
            p.service_name.hash(&mut h);
            for t in &p.tags {
                (&t.key, t.v_type, &t.v_str, t.v_bool, t.v_int64).hash(&mut h);
                (t.v_float64.to_bits(), &t.v_binary).hash(&mut h);
            }
        }
        ProcessKey {
            process,
            hash: h.finish(),
        }
    }
}

impl Clone for ProcessKey {
    fn clone(&self) -> Self {
        ProcessKey {
            process: self.process.clone(),
            hash: self.hash,
        }
    }
}

impl PartialEq for ProcessKey {
    fn eq(&self, other: &Self) -> bool {
        let tag_eq = |a: &proto::KeyValue, b: &proto::KeyValue| {
            a.key == b.key
                && a.v_type == b.v_type
                && a.v_str == b.v_str
                && a.v_bool == b.v_bool
                && a.v_int64 == b.v_int64
                && a.v_float64.to_bits() == b.v_float64.to_bits()
                && a.v_binary == b.v_binary
        };
        self.hash == other.hash
            && match (&self.process, &other.process) {
                (None, None) => true,
                (Some(a), Some(b)) => {
                    a.service_name == b.service_name
                        && a.tags.len() == b.tags.len()
                        && a.tags.iter().zip(&b.tags).all(|(x, y)| tag_eq(x, y))
                }
                _ => false,
            }
    }
}

impl Eq for ProcessKey {}

impl Hash for ProcessKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.hash.hash(state);
    }
}

/// A protobuf timestamp or duration as signed ns, wrapping like Go's `time` arithmetic would.
fn nanos(seconds: i64, nanos: i32) -> i64 {
    seconds
        .wrapping_mul(1_000_000_000)
        .wrapping_add(i64::from(nanos))
}

fn translate_span(
    span: proto::Span,
) -> (
    (String, String),
    opentelemetry_proto::tonic::trace::v1::Span,
) {
    let trace = trace_id_parts(&span.trace_id);
    let refs: Vec<Ref> = span
        .references
        .iter()
        .map(|r| Ref {
            child_of: r.ref_type == proto::SpanRefType::ChildOf as i32,
            follows_from: r.ref_type == proto::SpanRefType::FollowsFrom as i32,
            trace: trace_id_parts(&r.trace_id),
            span_id: span_id_value(&r.span_id),
        })
        .collect();
    let parent = parent_from_refs(&refs, trace);
    // An absent start time reads as the epoch (Go would read year 1 and overflow).
    let start = span.start_time.map_or(0, |t| nanos(t.seconds, t.nanos));
    let duration = span.duration.map_or(0, |d| nanos(d.seconds, d.nanos));
    let head = SpanHead {
        trace,
        span_id: span_id_value(&span.span_id),
        parent,
        name: span.operation_name,
        start: start as u64,
        end: start.wrapping_add(duration) as u64,
        flags: span.flags,
    };
    let mut rules = SpanRules::apply(span.tags);
    let events = span
        .logs
        .into_iter()
        .map(|l| {
            let t = l.timestamp.map_or(0, |t| nanos(t.seconds, t.nanos));
            event(t as u64, l.fields)
        })
        .collect();
    let links = links(&refs, parent);
    let scope = std::mem::take(&mut rules.scope);
    (scope, build_span(head, rules, events, links))
}
