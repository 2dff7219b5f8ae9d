//! Jaeger's api_v2 protobuf model and the `CollectorService` gRPC service, generated at build time
//! from `proto/model.proto` and `proto/collector.proto` (package `jaeger.api_v2`, so the gRPC path
//! is `/jaeger.api_v2.CollectorService/PostSpans`).
//!
//! Ids are bytes on the wire: `trace_id` 16 bytes and `span_id` 8 bytes, big-endian.

#![allow(clippy::all, missing_docs)]

tonic::include_proto!("jaeger.api_v2");
