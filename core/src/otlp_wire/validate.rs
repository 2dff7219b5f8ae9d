//! [`validate_request`]: what a receiver runs on an OTLP protobuf export request instead of
//! decoding it, so a batch can travel as its own bytes (see [`crate::data::Traces`]).
//!
//! The promise is one-sided: **whatever this accepts, prost decodes without error**, so the
//! lazy decode later cannot fail. It may refuse a little more than prost (unknown-field
//! groups, nesting deeper than [`MAX_DEPTH`]); a receiver then falls back to prost's decode,
//! which gives the authoritative answer. It also counts spans and notes whether any span has
//! an id a receiver refuses, so the receiver knows when it must decode to cut those out.
//!
//! It reads with a bare [`Cursor`] rather than the [`Fields`] iterator: on the load
//! generator's spans that halves the cost, and this check is on the path of every span a
//! forwarding gateway handles (`cargo bench -p tracegate-core --bench otlp_wire`).

use super::{read_key, read_varint, take, Fields, WireError, FIXED32, FIXED64, LEN, VARINT};

/// Message nesting this checker follows (the request is depth 0). prost allows 100; OTLP
/// needs 6 without nested attribute values, and no client nests attribute values 50 deep.
pub const MAX_DEPTH: u32 = 64;

/// What a valid request holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RequestSummary {
    pub spans: usize,
    pub resource_spans: usize,
    /// Some span has a trace id that is not 16 non-zero bytes, a span id that is not 8
    /// non-zero bytes, or a parent span id that is neither empty nor 8 bytes.
    pub has_invalid_ids: bool,
}

/// Checks an `ExportTraceServiceRequest` (also a `TracesData`: same field 1) in place.
pub fn validate_request(bytes: &[u8]) -> Result<RequestSummary, WireError> {
    let mut summary = RequestSummary::default();
    let mut c = Cursor(bytes);
    while let Some((n, wt)) = c.key()? {
        match n {
            1 => {
                resource_spans(c.message(n, wt)?, &mut summary)?;
                summary.resource_spans += 1;
            }
            _ => c.skip(n, wt)?,
        }
    }
    Ok(summary)
}

/// Spans in one `ResourceSpans` message that was already validated: a shallow walk that
/// neither checks strings nor descends into spans. None if the bytes are not well formed.
pub fn count_resource_spans(bytes: &[u8]) -> Option<usize> {
    let mut spans = 0;
    for field in Fields::new(bytes) {
        let field = field.ok()?;
        if field.number == 2 {
            for inner in Fields::new(field.bytes().ok()?) {
                spans += usize::from(inner.ok()?.number == 2);
            }
        }
    }
    Some(spans)
}

/// A read position in one message. Each `key` is followed by exactly one of `message`,
/// `string`, `expect` or `skip` for that field.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    /// The next field's number and wire type, or None at the end of the message.
    #[inline(always)]
    fn key(&mut self) -> Result<Option<(u32, u8)>, WireError> {
        if self.0.is_empty() {
            return Ok(None);
        }
        read_key(&mut self.0).map(Some)
    }

    /// A length-delimited field's payload; any other wire type is prost's type error.
    #[inline(always)]
    fn message(&mut self, number: u32, wire_type: u8) -> Result<&'a [u8], WireError> {
        if wire_type != LEN {
            return Err(WireError::InvalidWireType { field: number, wire_type });
        }
        let len = read_varint(&mut self.0)?;
        take(&mut self.0, usize::try_from(len).map_err(|_| WireError::Truncated)?)
    }

    /// A string field: length-delimited and UTF-8 (ASCII tested first: most span strings
    /// are short and ASCII, where a word-at-a-time test beats `from_utf8`).
    #[inline(always)]
    fn string(&mut self, number: u32, wire_type: u8, what: &'static str) -> Result<(), WireError> {
        let bytes = self.message(number, wire_type)?;
        if bytes.is_ascii() || std::str::from_utf8(bytes).is_ok() {
            Ok(())
        } else {
            Err(WireError::InvalidUtf8 { field: number, what })
        }
    }

    /// A known scalar field whose value does not matter here: only its wire type does.
    #[inline(always)]
    fn expect(&mut self, number: u32, wire_type: u8, expected: u8) -> Result<(), WireError> {
        if wire_type != expected {
            return Err(WireError::InvalidWireType { field: number, wire_type });
        }
        self.skip(number, wire_type)
    }

    /// Skips a field as prost skips unknown ones. Groups it skips too, but checking their
    /// nesting against prost's recursion budget is not worth it for a type OTLP never uses:
    /// refused, and the caller falls back to prost.
    #[inline(always)]
    fn skip(&mut self, number: u32, wire_type: u8) -> Result<(), WireError> {
        match wire_type {
            VARINT => read_varint(&mut self.0).map(drop),
            FIXED64 => take(&mut self.0, 8).map(drop),
            LEN => self.message(number, wire_type).map(drop),
            FIXED32 => take(&mut self.0, 4).map(drop),
            3 => Err(WireError::UnsupportedGroup(number)),
            _ => Err(WireError::UnexpectedEndGroup(number)),
        }
    }
}

fn resource_spans(bytes: &[u8], summary: &mut RequestSummary) -> Result<(), WireError> {
    let mut c = Cursor(bytes);
    while let Some((n, wt)) = c.key()? {
        match n {
            1 => resource(c.message(n, wt)?)?,
            2 => scope_spans(c.message(n, wt)?, summary)?,
            3 => c.string(n, wt, "schema_url")?,
            _ => c.skip(n, wt)?,
        }
    }
    Ok(())
}

fn resource(bytes: &[u8]) -> Result<(), WireError> {
    const DEPTH: u32 = 2;
    let mut c = Cursor(bytes);
    while let Some((n, wt)) = c.key()? {
        match n {
            1 => key_value(c.message(n, wt)?, DEPTH + 1)?,
            2 => c.expect(n, wt, VARINT)?,
            3 => entity_ref(c.message(n, wt)?)?,
            _ => c.skip(n, wt)?,
        }
    }
    Ok(())
}

fn entity_ref(bytes: &[u8]) -> Result<(), WireError> {
    let mut c = Cursor(bytes);
    while let Some((n, wt)) = c.key()? {
        match n {
            1..=4 => c.string(n, wt, "entity ref")?,
            _ => c.skip(n, wt)?,
        }
    }
    Ok(())
}

fn scope_spans(bytes: &[u8], summary: &mut RequestSummary) -> Result<(), WireError> {
    let mut c = Cursor(bytes);
    while let Some((n, wt)) = c.key()? {
        match n {
            1 => scope(c.message(n, wt)?)?,
            2 => {
                if !span(c.message(n, wt)?)? {
                    summary.has_invalid_ids = true;
                }
                summary.spans += 1;
            }
            3 => c.string(n, wt, "schema_url")?,
            _ => c.skip(n, wt)?,
        }
    }
    Ok(())
}

fn scope(bytes: &[u8]) -> Result<(), WireError> {
    const DEPTH: u32 = 3;
    let mut c = Cursor(bytes);
    while let Some((n, wt)) = c.key()? {
        match n {
            1 => c.string(n, wt, "scope name")?,
            2 => c.string(n, wt, "scope version")?,
            3 => key_value(c.message(n, wt)?, DEPTH + 1)?,
            4 => c.expect(n, wt, VARINT)?,
            _ => c.skip(n, wt)?,
        }
    }
    Ok(())
}

/// Checks one span; returns whether its ids are acceptable. A repeated field replaces the
/// earlier value in prost, so the last occurrence is the one judged.
fn span(bytes: &[u8]) -> Result<bool, WireError> {
    const DEPTH: u32 = 3;
    let (mut trace_id, mut span_id, mut parent): (&[u8], &[u8], &[u8]) = (&[], &[], &[]);
    let mut c = Cursor(bytes);
    while let Some((n, wt)) = c.key()? {
        match n {
            1 => trace_id = c.message(n, wt)?,
            2 => span_id = c.message(n, wt)?,
            3 => c.string(n, wt, "trace_state")?,
            4 => parent = c.message(n, wt)?,
            5 => c.string(n, wt, "span name")?,
            6 | 10 | 12 | 14 => c.expect(n, wt, VARINT)?,
            7 | 8 => c.expect(n, wt, FIXED64)?,
            9 => key_value(c.message(n, wt)?, DEPTH + 1)?,
            11 => event(c.message(n, wt)?)?,
            13 => link(c.message(n, wt)?)?,
            15 => status(c.message(n, wt)?)?,
            16 => c.expect(n, wt, FIXED32)?,
            _ => c.skip(n, wt)?,
        }
    }
    Ok(valid_id(trace_id, 16) && valid_id(span_id, 8) && (parent.is_empty() || parent.len() == 8))
}

fn valid_id(id: &[u8], len: usize) -> bool {
    id.len() == len && id.iter().any(|b| *b != 0)
}

fn event(bytes: &[u8]) -> Result<(), WireError> {
    const DEPTH: u32 = 4;
    let mut c = Cursor(bytes);
    while let Some((n, wt)) = c.key()? {
        match n {
            1 => c.expect(n, wt, FIXED64)?,
            2 => c.string(n, wt, "event name")?,
            3 => key_value(c.message(n, wt)?, DEPTH + 1)?,
            4 => c.expect(n, wt, VARINT)?,
            _ => c.skip(n, wt)?,
        }
    }
    Ok(())
}

fn link(bytes: &[u8]) -> Result<(), WireError> {
    const DEPTH: u32 = 4;
    let mut c = Cursor(bytes);
    while let Some((n, wt)) = c.key()? {
        match n {
            1 | 2 => c.expect(n, wt, LEN)?,
            3 => c.string(n, wt, "link trace_state")?,
            4 => key_value(c.message(n, wt)?, DEPTH + 1)?,
            5 => c.expect(n, wt, VARINT)?,
            6 => c.expect(n, wt, FIXED32)?,
            _ => c.skip(n, wt)?,
        }
    }
    Ok(())
}

fn status(bytes: &[u8]) -> Result<(), WireError> {
    let mut c = Cursor(bytes);
    while let Some((n, wt)) = c.key()? {
        match n {
            2 => c.string(n, wt, "status message")?,
            3 => c.expect(n, wt, VARINT)?,
            _ => c.skip(n, wt)?,
        }
    }
    Ok(())
}

/// A `KeyValue` message at `depth`.
fn key_value(bytes: &[u8], depth: u32) -> Result<(), WireError> {
    if depth > MAX_DEPTH {
        return Err(WireError::TooDeep);
    }
    let mut c = Cursor(bytes);
    while let Some((n, wt)) = c.key()? {
        match n {
            1 => c.string(n, wt, "attribute key")?,
            2 => any_value(c.message(n, wt)?, depth + 1)?,
            3 => c.expect(n, wt, VARINT)?,
            _ => c.skip(n, wt)?,
        }
    }
    Ok(())
}

/// An `AnyValue` message at `depth`; arrays and key-value lists recurse.
fn any_value(bytes: &[u8], depth: u32) -> Result<(), WireError> {
    if depth > MAX_DEPTH {
        return Err(WireError::TooDeep);
    }
    let mut c = Cursor(bytes);
    while let Some((n, wt)) = c.key()? {
        match n {
            1 => c.string(n, wt, "string value")?,
            2 | 3 | 8 => c.expect(n, wt, VARINT)?,
            4 => c.expect(n, wt, FIXED64)?,
            5 => repeated(c.message(n, wt)?, depth + 1, any_value)?,
            6 => repeated(c.message(n, wt)?, depth + 1, key_value)?,
            7 => c.expect(n, wt, LEN)?,
            _ => c.skip(n, wt)?,
        }
    }
    Ok(())
}

/// `ArrayValue` / `KeyValueList` at `depth`: field 1 repeated, each checked by `item`.
fn repeated(
    bytes: &[u8],
    depth: u32,
    item: fn(&[u8], u32) -> Result<(), WireError>,
) -> Result<(), WireError> {
    if depth > MAX_DEPTH {
        return Err(WireError::TooDeep);
    }
    let mut c = Cursor(bytes);
    while let Some((n, wt)) = c.key()? {
        match n {
            1 => item(c.message(n, wt)?, depth + 1)?,
            _ => c.skip(n, wt)?,
        }
    }
    Ok(())
}
