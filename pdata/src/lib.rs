//! tracegate's data layer: how the pipeline reads OTLP spans without decoding them.
//!
//! prost's decode of an export request is most of what a gateway spends on a span that it only
//! forwards (`../shared/tools/limits`: ~300k spans/s per core for 470-byte spans, against
//! ~650k for encode): every string and attribute is its own allocation. A batch that goes to
//! Kafka or another OTLP endpoint unchanged never needs those structs, and the sled store only
//! needs to *read* each field once. So the wire format is read in place, by one reader and the
//! walks built on it:
//!
//! - [`wire`]: the one protobuf reader (varints, keys, length-delimited payloads, skipping),
//!   by prost's rules; everything below reads through it, and so do the load balancer's
//!   re-framing and the sled store's block columns;
//! - [`validate`]: the check a receiver runs instead of decoding, which accepts nothing that
//!   prost's decode of `ExportTraceServiceRequest` refuses, counts the spans and flags ids a
//!   receiver must refuse;
//! - [`view`]: zero-copy views of resources, scopes, spans, attributes, events and links over
//!   checked bytes;
//! - [`read`]: read-only view traits implemented for both forms of a batch, the wire views
//!   ([`read_wire`]) and decoded structs ([`read_structs`]), so a reader is written once;
//! - [`fuzzing`]: the fuzz target's check that the three agree with prost.
//!
//! The batch type itself, with its ways in (read, forward, change), is
//! `tracegate_core::data::Traces`; this crate knows nothing of the pipeline.

pub mod fuzzing;
pub mod read;
pub mod read_structs;
pub mod read_wire;
pub mod validate;
pub mod view;
pub mod wire;
