//! API tests: a memory store filled with hand-built OTLP, the router driven with `oneshot`,
//! and every answer compared field by field with what Jaeger's query service returns.

mod api_v1;
mod api_v3;
mod bounds;
mod fixture;
mod grpc;
mod lifecycle;
mod live;
mod skew;
mod spm;
mod tenancy;
