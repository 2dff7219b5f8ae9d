//! The pipeline's currency: [`Traces`], a cheap handle over OTLP `ResourceSpans`.
//!
//! Receivers translate every protocol into OTLP once, at the edge. A batch is then shared, not
//! copied: cloning a `Traces` clones an `Arc`. A component that changes data calls
//! [`Traces::make_mut`], which copies only when someone else still holds the same batch, so a
//! fan-out to three read-only exporters costs three pointer copies.

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
pub use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

/// A batch of spans grouped by resource and scope, as OTLP carries them.
#[derive(Clone, Default, Debug)]
pub struct Traces {
    resource_spans: Arc<Vec<ResourceSpans>>,
}

impl Traces {
    pub fn new(resource_spans: Vec<ResourceSpans>) -> Self {
        Self { resource_spans: Arc::new(resource_spans) }
    }

    pub fn resource_spans(&self) -> &[ResourceSpans] {
        &self.resource_spans
    }

    /// Mutable access; clones the batch only if another holder shares it.
    pub fn make_mut(&mut self) -> &mut Vec<ResourceSpans> {
        Arc::make_mut(&mut self.resource_spans)
    }

    /// Takes the spans out, cloning only if the batch is shared.
    pub fn into_resource_spans(self) -> Vec<ResourceSpans> {
        Arc::unwrap_or_clone(self.resource_spans)
    }

    /// Number of spans in the batch (walks the resource/scope tree; no allocation).
    pub fn span_count(&self) -> usize {
        self.resource_spans
            .iter()
            .flat_map(|rs| rs.scope_spans.iter())
            .map(|ss| ss.spans.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.span_count() == 0
    }

    /// True when both handles point at the same batch (no copy was made).
    pub fn shares_with(&self, other: &Traces) -> bool {
        Arc::ptr_eq(&self.resource_spans, &other.resource_spans)
    }

    pub fn into_request(self) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest { resource_spans: self.into_resource_spans() }
    }

    pub fn to_request(&self) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest { resource_spans: self.resource_spans.as_ref().clone() }
    }
}

impl From<ExportTraceServiceRequest> for Traces {
    fn from(req: ExportTraceServiceRequest) -> Self {
        Self::new(req.resource_spans)
    }
}

impl From<Vec<ResourceSpans>> for Traces {
    fn from(rs: Vec<ResourceSpans>) -> Self {
        Self::new(rs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_span() -> Traces {
        Traces::new(vec![ResourceSpans {
            scope_spans: vec![ScopeSpans { spans: vec![Span::default(); 3], ..Default::default() }],
            ..Default::default()
        }])
    }

    #[test]
    fn clone_shares_and_make_mut_copies_only_when_shared() {
        let a = one_span();
        let mut b = a.clone();
        assert!(a.shares_with(&b));
        b.make_mut()[0].scope_spans[0].spans.pop();
        assert!(!a.shares_with(&b));
        assert_eq!(a.span_count(), 3);
        assert_eq!(b.span_count(), 2);

        let mut sole = one_span();
        let before = sole.resource_spans().as_ptr();
        sole.make_mut();
        assert_eq!(before, sole.resource_spans().as_ptr(), "sole owner must not copy");
    }
}
