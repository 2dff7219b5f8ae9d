//! What the processor holds per trace: its spans in pieces, each piece pointing at a shared
//! resource and scope. Sharing matters: a trace's spans arrive in many batches, and copying
//! the resource (often a dozen attributes) into every trace would cost more than the spans.

use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use tracegate_core::data::{ResourceSpans, ScopeSpans, Span};

/// A resource with its schema URL, shared by every piece cut from one incoming batch.
#[derive(Debug, Default, PartialEq)]
pub struct ResourceKey {
    pub resource: Option<Resource>,
    pub schema_url: String,
    /// The tenant of the batch the spans came in (`tracegate_core::tenancy`): pieces of
    /// different tenants never share a resource group, and leave in batches of their tenant.
    pub tenant: Option<Arc<str>>,
}

#[derive(Debug, Default, PartialEq)]
pub struct ScopeKey {
    pub scope: Option<InstrumentationScope>,
    pub schema_url: String,
}

/// Spans of one trace from one resource and scope.
#[derive(Debug)]
pub struct Piece {
    pub resource: Arc<ResourceKey>,
    pub scope: Arc<ScopeKey>,
    pub spans: Vec<Span>,
}

/// A buffered trace, as the policies see it.
#[derive(Debug, Default)]
pub struct TraceData {
    pub pieces: Vec<Piece>,
    pub span_count: usize,
}

impl TraceData {
    pub fn spans(&self) -> impl Iterator<Item = &Span> {
        self.pieces.iter().flat_map(|p| p.spans.iter())
    }

    pub fn push(&mut self, resource: &Arc<ResourceKey>, scope: &Arc<ScopeKey>, span: Span) {
        self.span_count += 1;
        if let Some(last) = self.pieces.last_mut() {
            if Arc::ptr_eq(&last.resource, resource) && Arc::ptr_eq(&last.scope, scope) {
                last.spans.push(span);
                return;
            }
        }
        self.pieces.push(Piece { resource: resource.clone(), scope: scope.clone(), spans: vec![span] });
    }

    /// Bytes this trace holds beyond its map entry (an estimate from capacities, for the
    /// memory report; spans' strings and attributes are counted by their lengths).
    pub fn approx_bytes(&self) -> usize {
        let pieces = self.pieces.capacity() * std::mem::size_of::<Piece>();
        let spans: usize = self.pieces.iter().map(|p| p.spans.capacity() * std::mem::size_of::<Span>() + p.spans.iter().map(span_heap_bytes).sum::<usize>()).sum();
        pieces + spans
    }
}

fn span_heap_bytes(s: &Span) -> usize {
    s.trace_id.capacity()
        + s.span_id.capacity()
        + s.parent_span_id.capacity()
        + s.name.capacity()
        + s.trace_state.capacity()
        + s.attributes.capacity() * std::mem::size_of::<opentelemetry_proto::tonic::common::v1::KeyValue>()
        + s.attributes.iter().map(|kv| kv.key.capacity() + 32).sum::<usize>()
}

/// Builds an outgoing batch from the pieces of released traces, regrouped by resource and
/// scope: pieces cut from the same incoming batch share their `Arc`s, and equal resources from
/// different batches are merged by value.
pub fn regroup(pieces: impl IntoIterator<Item = Piece>) -> Vec<ResourceSpans> {
    type Scopes = Vec<(Arc<ScopeKey>, Vec<Span>)>;
    let mut groups: Vec<(Arc<ResourceKey>, Scopes)> = Vec::new();
    for piece in pieces {
        let gi = match groups.iter().position(|(r, _)| Arc::ptr_eq(r, &piece.resource) || **r == *piece.resource) {
            Some(i) => i,
            None => {
                groups.push((piece.resource.clone(), Vec::new()));
                groups.len() - 1
            }
        };
        let scopes = &mut groups[gi].1;
        match scopes.iter_mut().find(|(s, _)| Arc::ptr_eq(s, &piece.scope) || **s == *piece.scope) {
            Some((_, spans)) => spans.extend(piece.spans),
            None => scopes.push((piece.scope, piece.spans)),
        }
    }
    groups
        .into_iter()
        .map(|(r, scopes)| ResourceSpans {
            resource: r.resource.clone(),
            schema_url: r.schema_url.clone(),
            scope_spans: scopes
                .into_iter()
                .map(|(s, spans)| ScopeSpans { scope: s.scope.clone(), schema_url: s.schema_url.clone(), spans })
                .collect(),
        })
        .collect()
}
