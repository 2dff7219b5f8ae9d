//! The view traits ([`crate::read`]) over decoded `opentelemetry-proto` structs: each is a
//! borrow of the struct, and no read fails. This is how a batch that a receiver translated
//! (Jaeger, Zipkin, OTLP/JSON) or a processor changed is read without encoding it first.

use std::slice::Iter;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use crate::read::*;

/// An iterator over a slice of structs, each read as its borrow (never an error).
pub type Items<'a, T> = std::iter::Map<Iter<'a, T>, fn(&'a T) -> Read<&'a T>>;

fn items<T>(slice: &[T]) -> Items<'_, T> {
    slice.iter().map(Ok)
}

/// Resource, scope, span, event and link all keep `attributes` and `dropped_attributes_count`.
macro_rules! attributes_read {
    ($($t:ty),*) => {$(
        impl<'a> AttributesRead<'a> for &'a $t {
            type Attribute = &'a KeyValue;
            type Attributes = Items<'a, KeyValue>;
            fn attributes(&self) -> Self::Attributes {
                items(&self.attributes)
            }
            fn dropped_attributes_count(&self) -> u32 {
                self.dropped_attributes_count
            }
        }
    )*};
}

attributes_read!(Resource, InstrumentationScope, Span, Event, Link);

impl<'a> TracesRead<'a> for &'a [ResourceSpans] {
    type ResourceSpans = &'a ResourceSpans;
    type Iter = Items<'a, ResourceSpans>;
    fn resource_spans(&self) -> Self::Iter {
        items(self)
    }
}

impl<'a> ResourceSpansRead<'a> for &'a ResourceSpans {
    type Resource = &'a Resource;
    type ScopeSpans = &'a ScopeSpans;
    type ScopeSpansIter = Items<'a, ScopeSpans>;
    fn resource(&self) -> Option<Self::Resource> {
        self.resource.as_ref()
    }
    fn scope_spans(&self) -> Self::ScopeSpansIter {
        items(&self.scope_spans)
    }
    fn schema_url(&self) -> &'a str {
        &self.schema_url
    }
}

impl<'a> ResourceRead<'a> for &'a Resource {}

impl<'a> ScopeSpansRead<'a> for &'a ScopeSpans {
    type Scope = &'a InstrumentationScope;
    type Span = &'a Span;
    type Spans = Items<'a, Span>;
    fn scope(&self) -> Read<Option<Self::Scope>> {
        Ok(self.scope.as_ref())
    }
    fn spans(&self) -> Self::Spans {
        items(&self.spans)
    }
    fn schema_url(&self) -> &'a str {
        &self.schema_url
    }
}

impl<'a> ScopeRead<'a> for &'a InstrumentationScope {
    fn name(&self) -> &'a str {
        &self.name
    }
    fn version(&self) -> &'a str {
        &self.version
    }
}

impl<'a> SpanRead<'a> for &'a Span {
    type Event = &'a Event;
    type Events = Items<'a, Event>;
    type Link = &'a Link;
    type Links = Items<'a, Link>;
    fn trace_id(&self) -> &'a [u8] {
        &self.trace_id
    }
    fn span_id(&self) -> &'a [u8] {
        &self.span_id
    }
    fn trace_state(&self) -> &'a str {
        &self.trace_state
    }
    fn parent_span_id(&self) -> &'a [u8] {
        &self.parent_span_id
    }
    fn flags(&self) -> u32 {
        self.flags
    }
    fn name(&self) -> &'a str {
        &self.name
    }
    fn kind(&self) -> i32 {
        self.kind
    }
    fn start_time_unix_nano(&self) -> u64 {
        self.start_time_unix_nano
    }
    fn end_time_unix_nano(&self) -> u64 {
        self.end_time_unix_nano
    }
    fn events(&self) -> Self::Events {
        items(&self.events)
    }
    fn dropped_events_count(&self) -> u32 {
        self.dropped_events_count
    }
    fn links(&self) -> Self::Links {
        items(&self.links)
    }
    fn dropped_links_count(&self) -> u32 {
        self.dropped_links_count
    }
    fn status(&self) -> Option<StatusView<'a>> {
        self.status.as_ref().map(|s| StatusView { message: &s.message, code: s.code })
    }
}

impl<'a> EventRead<'a> for &'a Event {
    fn time_unix_nano(&self) -> u64 {
        self.time_unix_nano
    }
    fn name(&self) -> &'a str {
        &self.name
    }
}

impl<'a> LinkRead<'a> for &'a Link {
    fn trace_id(&self) -> &'a [u8] {
        &self.trace_id
    }
    fn span_id(&self) -> &'a [u8] {
        &self.span_id
    }
    fn trace_state(&self) -> &'a str {
        &self.trace_state
    }
    fn flags(&self) -> u32 {
        self.flags
    }
}

impl<'a> AttributeRead<'a> for &'a KeyValue {
    type Value = &'a AnyValue;
    fn key(&self) -> &'a str {
        &self.key
    }
    fn value(&self) -> Option<Self::Value> {
        self.value.as_ref()
    }
}

impl<'a> AnyValueRead<'a> for &'a AnyValue {
    type Attribute = &'a KeyValue;
    type Values = Items<'a, AnyValue>;
    type Attributes = Items<'a, KeyValue>;
    fn value(&self) -> Value<'a, Self::Values, Self::Attributes> {
        use any_value::Value as V;
        match &self.value {
            None => Value::Empty,
            Some(V::StringValue(s)) => Value::Str(s),
            Some(V::BoolValue(b)) => Value::Bool(*b),
            Some(V::IntValue(i)) => Value::Int(*i),
            Some(V::DoubleValue(d)) => Value::Double(*d),
            Some(V::BytesValue(b)) => Value::Bytes(b),
            Some(V::StringValueStrindex(i)) => Value::StrIndex(*i),
            Some(V::ArrayValue(a)) => Value::Array(items(&a.values)),
            Some(V::KvlistValue(l)) => Value::KvList(items(&l.values)),
        }
    }
}
