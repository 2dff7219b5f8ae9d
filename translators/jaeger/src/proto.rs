//! Jaeger's api_v2 protobuf model and the `CollectorService`, `QueryService` and
//! `SamplingManager` gRPC services, generated at build time from `proto/model.proto`,
//! `proto/collector.proto`, `proto/query.proto` and `proto/sampling.proto` (package
//! `jaeger.api_v2`, so the gRPC paths are `/jaeger.api_v2.CollectorService/PostSpans`,
//! `/jaeger.api_v2.QueryService/GetTrace`, `/jaeger.api_v2.SamplingManager/GetSamplingStrategy`, ...).
//!
//! Ids are bytes on the wire: `trace_id` 16 bytes and `span_id` 8 bytes, big-endian.

#![allow(clippy::all, missing_docs)]

tonic::include_proto!("jaeger.api_v2");
