//! Jaeger's api_v3 messages and the `jaeger.api_v3.QueryService` server and client, generated at
//! build time from `proto/api_v3/query_service.proto` (vendored from jaeger-idl; see
//! `proto/README.md`). OTLP messages are the `opentelemetry-proto` crate's own types.

#![allow(clippy::all, missing_docs)]

tonic::include_proto!("jaeger.api_v3");
