//! Jaeger's Thrift model (`jaeger.thrift`) and the two envelopes it arrives in: a bare binary
//! `Batch` (HTTP `POST /api/traces`) and an `Agent.emitBatch` oneway message (UDP 6831 compact,
//! 6832 binary).
//!
//! The structs are hand-written rather than generated: the Thrift compiler is not on the machine,
//! and the reader must bound every allocation by the input (see [`read`]).

mod read;
mod types;
mod write;

pub use read::{decode_batch_binary, decode_emit_batch_binary, decode_emit_batch_compact};
pub use types::{Batch, ClientStats, Log, Process, Span, SpanRef, SpanRefType, Tag, TagType};
pub use write::{encode_batch_binary, encode_emit_batch_binary, encode_emit_batch_compact};

#[cfg(test)]
pub(crate) mod tests;
