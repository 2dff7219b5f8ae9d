//! Zero-copy views of OTLP spans over request bytes: resources -> scopes -> spans, with
//! attributes, events and links, every string and id borrowed from the buffer.
//!
//! A consumer that only *reads* each field once (the sled store turning a batch into columns,
//! an index builder) pays prost's decode for nothing: an allocation per string, per attribute,
//! per vector. Here a span is one pass over its fields that records where things are; the
//! repeated fields (attributes, events, links, scopes, spans) are kept as the byte range from
//! their first to their last occurrence and walked when asked, so nothing is allocated.
//!
//! The views read prost's way, so what a view shows is what prost's decode of the same bytes
//! holds: the last occurrence of a scalar wins, `int32`/`uint32`/enums truncate their varint,
//! unknown fields are skipped. One thing does not fit a borrowed view: prost *merges* a
//! singular message field that occurs twice (`resource`, `scope`, `status`, an attribute's
//! `value`, an array inside a value). No encoder writes that, so a view refuses it with
//! [`ViewError::Merged`], and a caller that must agree with prost decodes such a batch instead.
//!
//! The bytes are expected to have passed [`crate::validate::validate_request`]; anything
//! malformed is still an error, never a panic.
//!
//! These are the concrete views of the bytes form; a reader that should take either form of a
//! batch (bytes or decoded structs) is written against the traits of [`crate::read`], which
//! these views implement ([`crate::read_wire`]).
//!
//! The file is past 400 lines on purpose: one view per OTLP message and the iterator they
//! share, so the schema's walk reads in one place, in the order `validate` and `read_wire`
//! follow.

use std::marker::PhantomData;

use crate::wire::{Field, Reader, Value, WireError};

/// Why a view could not read the bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViewError {
    #[error(transparent)]
    Wire(#[from] WireError),
    /// A singular message field occurs twice; prost would merge the occurrences.
    #[error("{0} occurs twice (prost merges repeated occurrences; decode this batch instead)")]
    Merged(&'static str),
}

/// The next field of a view's walk: groups are refused (the check refuses them too, and
/// OTLP has none); the reader stops after an error.
#[inline(always)]
fn next_field<'a>(reader: &mut Reader<'a>) -> Option<Result<(u32, Value<'a>), ViewError>> {
    let field = match reader.next()? {
        Ok(Field { number, value: Value::Group(_) }) => Err(WireError::UnsupportedGroup(number)),
        Ok(field) => Ok((field.number, field.value)),
        Err(e) => Err(e),
    };
    if field.is_err() {
        reader.finish();
    }
    Some(field.map_err(ViewError::from))
}

/// Keeps the byte range from the first to the last occurrence of one repeated field.
#[derive(Default, Clone, Copy)]
struct Occurs {
    start: usize,
    end: usize,
    count: u32,
}

impl Occurs {
    fn add(&mut self, start: usize, end: usize) {
        if self.count == 0 {
            self.start = start;
        }
        self.end = end;
        self.count += 1;
    }
    fn of<'a, T>(self, buf: &'a [u8], number: u32) -> Many<'a, T> {
        Many {
            bytes: buf.get(self.start..self.end).unwrap_or_default(),
            number,
            count: self.count,
            _item: PhantomData,
        }
    }
}

/// A message type a view can be read from.
pub trait FromWire<'a>: Sized {
    fn from_wire(bytes: &'a [u8]) -> Result<Self, ViewError>;
}

/// The occurrences of one repeated message field, read on demand.
pub struct Many<'a, T> {
    bytes: &'a [u8],
    number: u32,
    count: u32,
    _item: PhantomData<fn() -> T>,
}

impl<T> Clone for Many<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Many<'_, T> {}

impl<T> Default for Many<'_, T> {
    fn default() -> Self {
        Self {
            bytes: &[],
            number: 0,
            count: 0,
            _item: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Many<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Many({} of field {})", self.count, self.number)
    }
}

impl<'a, T: FromWire<'a>> Many<'a, T> {
    /// Number of occurrences.
    pub fn len(&self) -> usize {
        self.count as usize
    }
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    pub fn iter(&self) -> ManyIter<'a, T> {
        ManyIter {
            reader: Reader::new(self.bytes),
            number: self.number,
            _item: PhantomData,
        }
    }

    /// Each occurrence's message bytes, unparsed (for a caller that may skip parsing an item
    /// it has seen byte for byte before).
    pub fn raw(&self) -> RawIter<'a> {
        RawIter {
            reader: Reader::new(self.bytes),
            number: self.number,
        }
    }

    /// All occurrences of field `number` of a message, counted now (for nested values, where
    /// the parent's pass did not count them).
    fn scan(message: &'a [u8], number: u32) -> Result<Self, ViewError> {
        let mut range = Occurs::default();
        let mut r = Reader::new(message);
        let mut start = 0;
        while let Some(field) = next_field(&mut r) {
            if field?.0 == number {
                range.add(start, r.position());
            }
            start = r.position();
        }
        Ok(range.of(message, number))
    }
}

impl<'a, T: FromWire<'a>> IntoIterator for Many<'a, T> {
    type Item = Result<T, ViewError>;
    type IntoIter = ManyIter<'a, T>;
    fn into_iter(self) -> ManyIter<'a, T> {
        self.iter()
    }
}

/// Iterator over [`Many`]; after an error it yields nothing more.
pub struct ManyIter<'a, T> {
    reader: Reader<'a>,
    number: u32,
    _item: PhantomData<fn() -> T>,
}

impl<'a, T: FromWire<'a>> Iterator for ManyIter<'a, T> {
    type Item = Result<T, ViewError>;
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let item = match next_field(&mut self.reader)? {
                Ok((n, raw)) if n == self.number => raw.bytes(n).map_err(ViewError::from).and_then(T::from_wire),
                Ok(_) => continue,
                Err(e) => Err(e),
            };
            if item.is_err() {
                self.reader.finish();
            }
            return Some(item);
        }
    }
}

/// Iterator over [`Many::raw`]; after an error it yields nothing more.
pub struct RawIter<'a> {
    reader: Reader<'a>,
    number: u32,
}

impl<'a> Iterator for RawIter<'a> {
    type Item = Result<&'a [u8], ViewError>;
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let item = match next_field(&mut self.reader)? {
                Ok((n, raw)) if n == self.number => raw.bytes(n).map_err(ViewError::from),
                Ok(_) => continue,
                Err(e) => Err(e),
            };
            if item.is_err() {
                self.reader.finish();
            }
            return Some(item);
        }
    }
}

/// Walks a message's fields, noting the range of each listed repeated field; `each` sees
/// every field with its start and end offsets.
macro_rules! walk {
    ($bytes:expr, |$n:ident, $raw:ident, $start:ident, $end:ident| $body:block) => {{
        let mut reader = Reader::new($bytes);
        let mut $start = 0usize;
        while let Some(field) = next_field(&mut reader) {
            let ($n, $raw) = field?;
            let $end = reader.position();
            $body
            $start = $end;
        }
    }};
}

/// An `ExportTraceServiceRequest` (or `TracesData`: the same field 1).
pub fn resource_spans(request: &[u8]) -> Result<Many<'_, ResourceSpansView<'_>>, ViewError> {
    Many::scan(request, 1)
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ResourceSpansView<'a> {
    /// The `Resource` message's bytes, if present.
    pub resource: Option<ResourceView<'a>>,
    pub scope_spans: Many<'a, ScopeSpansView<'a>>,
    pub schema_url: &'a str,
}

impl<'a> FromWire<'a> for ResourceSpansView<'a> {
    fn from_wire(bytes: &'a [u8]) -> Result<Self, ViewError> {
        let mut out = Self::default();
        let mut scopes = Occurs::default();
        walk!(bytes, |n, raw, start, end| {
            match n {
                1 => {
                    if out.resource.is_some() {
                        return Err(ViewError::Merged("resource"));
                    }
                    out.resource = Some(ResourceView::from_wire(raw.bytes(n)?)?);
                }
                2 => scopes.add(start, end),
                3 => out.schema_url = raw.str(n, "schema_url")?,
                _ => {}
            }
        });
        out.scope_spans = scopes.of(bytes, 2);
        Ok(out)
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ResourceView<'a> {
    /// The whole `Resource` message as it arrived (prost decodes it to the same `Resource`).
    pub raw: &'a [u8],
    pub attributes: Many<'a, KeyValueView<'a>>,
    pub dropped_attributes_count: u32,
}

impl<'a> FromWire<'a> for ResourceView<'a> {
    fn from_wire(bytes: &'a [u8]) -> Result<Self, ViewError> {
        let mut out = Self {
            raw: bytes,
            ..Self::default()
        };
        let mut attrs = Occurs::default();
        walk!(bytes, |n, raw, start, end| {
            match n {
                1 => attrs.add(start, end),
                2 => out.dropped_attributes_count = raw.varint(n)? as u32,
                _ => {}
            }
        });
        out.attributes = attrs.of(bytes, 1);
        Ok(out)
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ScopeSpansView<'a> {
    /// The `InstrumentationScope` message's bytes, if present ([`ScopeView`] reads them).
    pub scope: Option<&'a [u8]>,
    pub spans: Many<'a, SpanView<'a>>,
    pub schema_url: &'a str,
}

impl<'a> FromWire<'a> for ScopeSpansView<'a> {
    fn from_wire(bytes: &'a [u8]) -> Result<Self, ViewError> {
        let mut out = Self::default();
        let mut spans = Occurs::default();
        walk!(bytes, |n, raw, start, end| {
            match n {
                1 => {
                    if out.scope.is_some() {
                        return Err(ViewError::Merged("scope"));
                    }
                    out.scope = Some(raw.bytes(n)?);
                }
                2 => spans.add(start, end),
                3 => out.schema_url = raw.str(n, "schema_url")?,
                _ => {}
            }
        });
        out.spans = spans.of(bytes, 2);
        Ok(out)
    }
}

/// An `InstrumentationScope`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScopeView<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub attributes: Many<'a, KeyValueView<'a>>,
    pub dropped_attributes_count: u32,
}

impl<'a> FromWire<'a> for ScopeView<'a> {
    fn from_wire(bytes: &'a [u8]) -> Result<Self, ViewError> {
        let mut out = Self::default();
        let mut attrs = Occurs::default();
        walk!(bytes, |n, raw, start, end| {
            match n {
                1 => out.name = raw.str(n, "scope name")?,
                2 => out.version = raw.str(n, "scope version")?,
                3 => attrs.add(start, end),
                4 => out.dropped_attributes_count = raw.varint(n)? as u32,
                _ => {}
            }
        });
        out.attributes = attrs.of(bytes, 3);
        Ok(out)
    }
}

/// A span's status (for both forms: see [`crate::read::SpanRead::status`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusView<'a> {
    pub message: &'a str,
    pub code: i32,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SpanView<'a> {
    pub trace_id: &'a [u8],
    pub span_id: &'a [u8],
    pub trace_state: &'a str,
    pub parent_span_id: &'a [u8],
    pub flags: u32,
    pub name: &'a str,
    pub kind: i32,
    pub start_time_unix_nano: u64,
    pub end_time_unix_nano: u64,
    pub attributes: Many<'a, KeyValueView<'a>>,
    pub dropped_attributes_count: u32,
    pub events: Many<'a, EventView<'a>>,
    pub dropped_events_count: u32,
    pub links: Many<'a, LinkView<'a>>,
    pub dropped_links_count: u32,
    pub status: Option<StatusView<'a>>,
}

impl<'a> FromWire<'a> for SpanView<'a> {
    fn from_wire(bytes: &'a [u8]) -> Result<Self, ViewError> {
        let mut s = Self::default();
        let (mut attrs, mut events, mut links) =
            (Occurs::default(), Occurs::default(), Occurs::default());
        walk!(bytes, |n, raw, start, end| {
            match n {
                1 => s.trace_id = raw.bytes(n)?,
                2 => s.span_id = raw.bytes(n)?,
                3 => s.trace_state = raw.str(n, "trace_state")?,
                4 => s.parent_span_id = raw.bytes(n)?,
                5 => s.name = raw.str(n, "span name")?,
                6 => s.kind = raw.varint(n)? as i32,
                7 => s.start_time_unix_nano = raw.fixed64(n)?,
                8 => s.end_time_unix_nano = raw.fixed64(n)?,
                9 => attrs.add(start, end),
                10 => s.dropped_attributes_count = raw.varint(n)? as u32,
                11 => events.add(start, end),
                12 => s.dropped_events_count = raw.varint(n)? as u32,
                13 => links.add(start, end),
                14 => s.dropped_links_count = raw.varint(n)? as u32,
                15 => {
                    if s.status.is_some() {
                        return Err(ViewError::Merged("status"));
                    }
                    s.status = Some(status(raw.bytes(n)?)?);
                }
                16 => s.flags = raw.fixed32(n)?,
                _ => {}
            }
        });
        s.attributes = attrs.of(bytes, 9);
        s.events = events.of(bytes, 11);
        s.links = links.of(bytes, 13);
        Ok(s)
    }
}

fn status(bytes: &[u8]) -> Result<StatusView<'_>, ViewError> {
    let mut s = StatusView::default();
    walk!(bytes, |n, raw, _start, _end| {
        match n {
            2 => s.message = raw.str(n, "status message")?,
            3 => s.code = raw.varint(n)? as i32,
            _ => {}
        }
    });
    Ok(s)
}

#[derive(Debug, Clone, Copy, Default)]
pub struct EventView<'a> {
    pub time_unix_nano: u64,
    pub name: &'a str,
    pub attributes: Many<'a, KeyValueView<'a>>,
    pub dropped_attributes_count: u32,
}

impl<'a> FromWire<'a> for EventView<'a> {
    fn from_wire(bytes: &'a [u8]) -> Result<Self, ViewError> {
        let mut e = Self::default();
        let mut attrs = Occurs::default();
        walk!(bytes, |n, raw, start, end| {
            match n {
                1 => e.time_unix_nano = raw.fixed64(n)?,
                2 => e.name = raw.str(n, "event name")?,
                3 => attrs.add(start, end),
                4 => e.dropped_attributes_count = raw.varint(n)? as u32,
                _ => {}
            }
        });
        e.attributes = attrs.of(bytes, 3);
        Ok(e)
    }
}

/// A link: its bytes (prost decodes them to the same `Link`) and its fields.
#[derive(Debug, Clone, Copy, Default)]
pub struct LinkView<'a> {
    pub raw: &'a [u8],
    pub trace_id: &'a [u8],
    pub span_id: &'a [u8],
    pub trace_state: &'a str,
    pub attributes: Many<'a, KeyValueView<'a>>,
    pub dropped_attributes_count: u32,
    pub flags: u32,
}

impl<'a> FromWire<'a> for LinkView<'a> {
    fn from_wire(bytes: &'a [u8]) -> Result<Self, ViewError> {
        let mut l = Self {
            raw: bytes,
            ..Self::default()
        };
        let mut attrs = Occurs::default();
        walk!(bytes, |n, raw, start, end| {
            match n {
                1 => l.trace_id = raw.bytes(n)?,
                2 => l.span_id = raw.bytes(n)?,
                3 => l.trace_state = raw.str(n, "link trace_state")?,
                4 => attrs.add(start, end),
                5 => l.dropped_attributes_count = raw.varint(n)? as u32,
                6 => l.flags = raw.fixed32(n)?,
                _ => {}
            }
        });
        l.attributes = attrs.of(bytes, 4);
        Ok(l)
    }
}

/// An attribute. `value` is `None` when the `KeyValue` has no value field at all.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyValueView<'a> {
    pub key: &'a str,
    pub value: Option<AnyValueView<'a>>,
}

impl<'a> FromWire<'a> for KeyValueView<'a> {
    fn from_wire(bytes: &'a [u8]) -> Result<Self, ViewError> {
        let mut kv = Self::default();
        walk!(bytes, |n, raw, _start, _end| {
            match n {
                1 => kv.key = raw.str(n, "attribute key")?,
                2 => {
                    if kv.value.is_some() {
                        return Err(ViewError::Merged("attribute value"));
                    }
                    kv.value = Some(AnyValueView::from_wire(raw.bytes(n)?)?);
                }
                _ => {}
            }
        });
        Ok(kv)
    }
}

/// An `AnyValue`: its bytes (prost decodes them to the same `AnyValue`) and which value it
/// holds.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnyValueView<'a> {
    pub raw: &'a [u8],
    pub value: ValueView<'a>,
}

/// The `AnyValue.value` oneof; `Empty` when no variant is set.
#[derive(Debug, Clone, Copy, Default)]
pub enum ValueView<'a> {
    #[default]
    Empty,
    Str(&'a str),
    Bool(bool),
    Int(i64),
    Double(f64),
    Array(Many<'a, AnyValueView<'a>>),
    KvList(Many<'a, KeyValueView<'a>>),
    Bytes(&'a [u8]),
    /// `string_value_strindex` (profiles only).
    StrIndex(i32),
}

impl<'a> FromWire<'a> for AnyValueView<'a> {
    fn from_wire(bytes: &'a [u8]) -> Result<Self, ViewError> {
        let mut value = ValueView::Empty;
        walk!(bytes, |n, raw, _start, _end| {
            value = match n {
                1 => ValueView::Str(raw.str(n, "string value")?),
                2 => ValueView::Bool(raw.varint(n)? != 0),
                3 => ValueView::Int(raw.varint(n)? as i64),
                4 => ValueView::Double(f64::from_bits(raw.fixed64(n)?)),
                5 => match value {
                    ValueView::Array(_) => return Err(ViewError::Merged("array value")),
                    _ => ValueView::Array(Many::scan(raw.bytes(n)?, 1)?),
                },
                6 => match value {
                    ValueView::KvList(_) => return Err(ViewError::Merged("key-value list")),
                    _ => ValueView::KvList(Many::scan(raw.bytes(n)?, 1)?),
                },
                7 => ValueView::Bytes(raw.bytes(n)?),
                8 => ValueView::StrIndex(raw.varint(n)? as i32),
                _ => value,
            };
        });
        Ok(Self { raw: bytes, value })
    }
}

#[cfg(test)]
#[path = "view_tests.rs"]
mod view_tests;
