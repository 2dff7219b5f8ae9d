//! Jaeger's data models and their translation to and from OTLP.
//!
//! Jaeger clients speak Thrift (UDP agent datagrams, HTTP `POST /api/traces`) and the api_v2
//! protobuf model (gRPC `CollectorService/PostSpans`); the query API answers in the same model.
//! Everything inside tracegate is OTLP, so this crate is the one place that knows both sides:
//! decoders for the wire formats and translators that follow the OpenTelemetry Collector's
//! `pkg/translator/jaeger` rules exactly, so a user moving from the Collector sees the same data.
//!
//! It is a plain library (not a component): the jaeger receiver uses it now, the query API later.

mod attrs;
mod error;
mod from_otlp;
#[doc(hidden)]
pub mod fuzzing;
pub mod proto;
pub mod sampling;
pub mod thrift;
mod to_otlp;
mod value_json;

pub use error::DecodeError;
pub use from_otlp::otlp_to_jaeger;
pub use thrift::{decode_batch_binary, decode_emit_batch_binary, decode_emit_batch_compact};
pub use thrift::{encode_batch_binary, encode_emit_batch_binary, encode_emit_batch_compact};
pub use to_otlp::{proto_to_otlp, thrift_to_otlp};
