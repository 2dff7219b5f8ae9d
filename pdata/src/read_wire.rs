//! The view traits ([`crate::read`]) over checked request bytes: the wire views of
//! [`crate::view`], read in place. A resource or a scope is parsed when asked for; repeated
//! fields are walked as they are iterated.

use crate::read::*;
use crate::view::{
    AnyValueView, EventView, FromWire, KeyValueView, LinkView, Many, ManyIter, ResourceSpansView, ResourceView,
    ScopeSpansView, ScopeView, SpanView, ValueView,
};

/// Resource, scope, span, event and link views all keep `attributes` and
/// `dropped_attributes_count`.
macro_rules! attributes_read {
    ($($t:ident),*) => {$(
        impl<'a> AttributesRead<'a> for $t<'a> {
            type Attribute = KeyValueView<'a>;
            type Attributes = ManyIter<'a, KeyValueView<'a>>;
            fn attributes(&self) -> Self::Attributes {
                self.attributes.iter()
            }
            fn dropped_attributes_count(&self) -> u32 {
                self.dropped_attributes_count
            }
        }
    )*};
}

attributes_read!(ResourceView, ScopeView, SpanView, EventView, LinkView);

/// The resource spans of one `ExportTraceServiceRequest` (or `TracesData`), as
/// [`crate::view::resource_spans`] finds them.
impl<'a> TracesRead<'a> for Many<'a, ResourceSpansView<'a>> {
    type ResourceSpans = ResourceSpansView<'a>;
    type Iter = ManyIter<'a, ResourceSpansView<'a>>;
    fn resource_spans(&self) -> Self::Iter {
        self.iter()
    }
}

impl<'a> ResourceSpansRead<'a> for ResourceSpansView<'a> {
    type Resource = ResourceView<'a>;
    type ScopeSpans = ScopeSpansView<'a>;
    type ScopeSpansIter = ManyIter<'a, ScopeSpansView<'a>>;
    fn resource(&self) -> Option<Self::Resource> {
        self.resource
    }
    fn scope_spans(&self) -> Self::ScopeSpansIter {
        self.scope_spans.iter()
    }
    fn schema_url(&self) -> &'a str {
        self.schema_url
    }
}

impl<'a> ResourceRead<'a> for ResourceView<'a> {}

impl<'a> ScopeSpansRead<'a> for ScopeSpansView<'a> {
    type Scope = ScopeView<'a>;
    type Span = SpanView<'a>;
    type Spans = ManyIter<'a, SpanView<'a>>;
    fn scope(&self) -> Read<Option<Self::Scope>> {
        self.scope.map(ScopeView::from_wire).transpose()
    }
    fn spans(&self) -> Self::Spans {
        self.spans.iter()
    }
    fn schema_url(&self) -> &'a str {
        self.schema_url
    }
}

impl<'a> ScopeRead<'a> for ScopeView<'a> {
    fn name(&self) -> &'a str {
        self.name
    }
    fn version(&self) -> &'a str {
        self.version
    }
}

impl<'a> SpanRead<'a> for SpanView<'a> {
    type Event = EventView<'a>;
    type Events = ManyIter<'a, EventView<'a>>;
    type Link = LinkView<'a>;
    type Links = ManyIter<'a, LinkView<'a>>;
    fn trace_id(&self) -> &'a [u8] {
        self.trace_id
    }
    fn span_id(&self) -> &'a [u8] {
        self.span_id
    }
    fn trace_state(&self) -> &'a str {
        self.trace_state
    }
    fn parent_span_id(&self) -> &'a [u8] {
        self.parent_span_id
    }
    fn flags(&self) -> u32 {
        self.flags
    }
    fn name(&self) -> &'a str {
        self.name
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
        self.events.iter()
    }
    fn dropped_events_count(&self) -> u32 {
        self.dropped_events_count
    }
    fn links(&self) -> Self::Links {
        self.links.iter()
    }
    fn dropped_links_count(&self) -> u32 {
        self.dropped_links_count
    }
    fn status(&self) -> Option<StatusView<'a>> {
        self.status
    }
}

impl<'a> EventRead<'a> for EventView<'a> {
    fn time_unix_nano(&self) -> u64 {
        self.time_unix_nano
    }
    fn name(&self) -> &'a str {
        self.name
    }
}

impl<'a> LinkRead<'a> for LinkView<'a> {
    fn trace_id(&self) -> &'a [u8] {
        self.trace_id
    }
    fn span_id(&self) -> &'a [u8] {
        self.span_id
    }
    fn trace_state(&self) -> &'a str {
        self.trace_state
    }
    fn flags(&self) -> u32 {
        self.flags
    }
}

impl<'a> AttributeRead<'a> for KeyValueView<'a> {
    type Value = AnyValueView<'a>;
    fn key(&self) -> &'a str {
        self.key
    }
    fn value(&self) -> Option<Self::Value> {
        self.value
    }
}

impl<'a> AnyValueRead<'a> for AnyValueView<'a> {
    type Attribute = KeyValueView<'a>;
    type Values = ManyIter<'a, AnyValueView<'a>>;
    type Attributes = ManyIter<'a, KeyValueView<'a>>;
    fn value(&self) -> Value<'a, Self::Values, Self::Attributes> {
        match self.value {
            ValueView::Empty => Value::Empty,
            ValueView::Str(s) => Value::Str(s),
            ValueView::Bool(b) => Value::Bool(b),
            ValueView::Int(i) => Value::Int(i),
            ValueView::Double(d) => Value::Double(d),
            ValueView::Bytes(b) => Value::Bytes(b),
            ValueView::StrIndex(i) => Value::StrIndex(i),
            ValueView::Array(a) => Value::Array(a.iter()),
            ValueView::KvList(l) => Value::KvList(l.iter()),
        }
    }
}
