//! OTLP -> Jaeger (placeholder: being written).
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;

use crate::proto;

pub fn otlp_to_jaeger(_resource_spans: &[ResourceSpans]) -> Vec<proto::Batch> {
    Vec::new()
}
