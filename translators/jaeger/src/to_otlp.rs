//! Jaeger -> OTLP (placeholder: being written).
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;

use crate::{proto, thrift};

pub fn thrift_to_otlp(_batch: thrift::Batch) -> Vec<ResourceSpans> {
    Vec::new()
}
pub fn proto_to_otlp(_batch: proto::Batch) -> Vec<ResourceSpans> {
    Vec::new()
}
