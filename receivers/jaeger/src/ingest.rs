//! The one way translated spans enter the pipeline, shared by every transport: wrap them in a
//! [`Traces`], hand them to `next`, and count the outcome by transport.

use std::sync::Arc;

use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use tracegate_core::telemetry::ReceiverMetrics;
use tracegate_core::{ConsumeError, Consumer, Traces};

#[derive(Clone)]
pub struct Ingest {
    next: Arc<dyn Consumer>,
    metrics: ReceiverMetrics,
}

impl Ingest {
    pub fn new(next: Arc<dyn Consumer>, metrics: ReceiverMetrics) -> Self {
        Self { next, metrics }
    }

    /// Pushes one translated batch; an empty one (a client flushing nothing) reaches nobody.
    pub async fn deliver(&self, resource_spans: Vec<ResourceSpans>) -> Result<(), ConsumeError> {
        let traces = Traces::new(resource_spans);
        let spans = traces.span_count();
        if spans == 0 {
            return Ok(());
        }
        let outcome = self.next.consume(traces).await;
        self.metrics.record(spans, &outcome);
        outcome
    }
}
