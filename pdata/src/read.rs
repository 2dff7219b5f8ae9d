//! Read-only view traits of OTLP traces, implemented for both forms a batch takes: the
//! request bytes a receiver checked ([`crate::view`]'s wire views, read in place) and decoded
//! `opentelemetry-proto` structs ([`crate::read_structs`]). A consumer that only reads spans
//! (a store turning them into columns, a matcher, a router) is written once, generic over
//! these traits, and reads a batch in whichever form it arrived: no decode for bytes, no
//! encode for structs.
//!
//! The model is otap-dataflow's `pdata-views` (one trait per OTLP message, associated types
//! for the children), with one difference: reading bytes can fail (a view refuses what prost
//! would merge, see [`crate::view`]), so every walk to a child yields `Result<_, ViewError>`,
//! and the struct impls simply never fail. Strings and ids are borrowed for `'a`, the life of
//! the batch, so a reader may keep them while it walks on.
//!
//! ```text
//! (resource, scope, span, event and link are each AttributesRead too)
//! TracesRead ── ResourceSpansRead ─┬─ ResourceRead ─ AttributeRead ─ AnyValueRead
//!                                  └─ ScopeSpansRead ─┬─ ScopeRead ─ AttributeRead
//!                                                     └─ SpanRead ─┬─ AttributeRead
//!                                                                  ├─ EventRead ─ AttributeRead
//!                                                                  ├─ LinkRead ─ AttributeRead
//!                                                                  └─ status: StatusView
//! ```
//!
//! Both forms answer alike for the same batch: `read_tests.rs` holds them to it over
//! generated batches.

pub use crate::view::{StatusView, ViewError};

/// What reading a child gives: the struct impls never fail; the wire impls fail where a view
/// does.
pub type Read<T> = Result<T, ViewError>;

/// A whole batch (a request's `resource_spans`).
pub trait TracesRead<'a> {
    type ResourceSpans: ResourceSpansRead<'a>;
    type Iter: Iterator<Item = Read<Self::ResourceSpans>>;
    fn resource_spans(&self) -> Self::Iter;
}

/// One resource's spans, grouped by scope.
pub trait ResourceSpansRead<'a> {
    type Resource: ResourceRead<'a>;
    type ScopeSpans: ScopeSpansRead<'a>;
    type ScopeSpansIter: Iterator<Item = Read<Self::ScopeSpans>>;
    /// None when the message has no resource.
    fn resource(&self) -> Option<Self::Resource>;
    fn scope_spans(&self) -> Self::ScopeSpansIter;
    fn schema_url(&self) -> &'a str;
}

/// What every message with attributes has (resource, scope, span, event, link).
pub trait AttributesRead<'a> {
    type Attribute: AttributeRead<'a>;
    type Attributes: Iterator<Item = Read<Self::Attribute>>;
    fn attributes(&self) -> Self::Attributes;
    fn dropped_attributes_count(&self) -> u32;
}

/// A resource: its attributes are all it has for a reader.
pub trait ResourceRead<'a>: AttributesRead<'a> {}

/// One scope's spans.
pub trait ScopeSpansRead<'a> {
    type Scope: ScopeRead<'a>;
    type Span: SpanRead<'a>;
    type Spans: Iterator<Item = Read<Self::Span>>;
    /// None when the message has no scope.
    fn scope(&self) -> Read<Option<Self::Scope>>;
    fn spans(&self) -> Self::Spans;
    fn schema_url(&self) -> &'a str;
}

/// An instrumentation scope.
pub trait ScopeRead<'a>: AttributesRead<'a> {
    fn name(&self) -> &'a str;
    fn version(&self) -> &'a str;
}

pub trait SpanRead<'a>: AttributesRead<'a> {
    type Event: EventRead<'a>;
    type Events: Iterator<Item = Read<Self::Event>>;
    type Link: LinkRead<'a>;
    type Links: Iterator<Item = Read<Self::Link>>;
    fn trace_id(&self) -> &'a [u8];
    fn span_id(&self) -> &'a [u8];
    fn trace_state(&self) -> &'a str;
    fn parent_span_id(&self) -> &'a [u8];
    fn flags(&self) -> u32;
    fn name(&self) -> &'a str;
    /// The `SpanKind` number (0 unspecified ... 5 consumer).
    fn kind(&self) -> i32;
    fn start_time_unix_nano(&self) -> u64;
    fn end_time_unix_nano(&self) -> u64;
    fn events(&self) -> Self::Events;
    fn dropped_events_count(&self) -> u32;
    fn links(&self) -> Self::Links;
    fn dropped_links_count(&self) -> u32;
    /// None when the span has no status message.
    fn status(&self) -> Option<StatusView<'a>>;
}

pub trait EventRead<'a>: AttributesRead<'a> {
    fn time_unix_nano(&self) -> u64;
    fn name(&self) -> &'a str;
}

pub trait LinkRead<'a>: AttributesRead<'a> {
    fn trace_id(&self) -> &'a [u8];
    fn span_id(&self) -> &'a [u8];
    fn trace_state(&self) -> &'a str;
    fn flags(&self) -> u32;
}

/// An attribute (`KeyValue`).
pub trait AttributeRead<'a> {
    type Value: AnyValueRead<'a>;
    fn key(&self) -> &'a str;
    /// None when the `KeyValue` has no value at all.
    fn value(&self) -> Option<Self::Value>;
}

/// An attribute's value (`AnyValue`).
pub trait AnyValueRead<'a>: Sized {
    type Attribute: AttributeRead<'a>;
    type Values: Iterator<Item = Read<Self>>;
    type Attributes: Iterator<Item = Read<Self::Attribute>>;
    fn value(&self) -> Value<'a, Self::Values, Self::Attributes>;
}

/// The `AnyValue.value` oneof as a reader sees it: scalars borrowed, an array or a map as an
/// iterator of its items.
#[derive(Debug, Clone)]
pub enum Value<'a, Values, Attributes> {
    /// No variant is set.
    Empty,
    Str(&'a str),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(&'a [u8]),
    /// `string_value_strindex` (profiles only).
    StrIndex(i32),
    Array(Values),
    KvList(Attributes),
}

/// What reads a batch part by part (`tracegate_core::data::Traces::read`): a batch of bytes
/// is one part per received request, a decoded batch one part of structs. A trait rather
/// than a closure, because each part may be of the other form.
pub trait PartsRead {
    fn part<'a, T: TracesRead<'a>>(&mut self, part: T) -> Read<()>;
}

/// The first attribute named `key` among `attrs` (what prost's decode would show first).
pub fn find<'a, A: AttributeRead<'a>>(
    attrs: impl Iterator<Item = Read<A>>,
    key: &str,
) -> Read<Option<A>> {
    for attr in attrs {
        let attr = attr?;
        if attr.key() == key {
            return Ok(Some(attr));
        }
    }
    Ok(None)
}

#[cfg(test)]
#[path = "read_tests.rs"]
mod tests;
