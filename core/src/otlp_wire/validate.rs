//! [`validate_request`]: what a receiver runs on an OTLP protobuf export request instead of
//! decoding it, so a batch can travel as its own bytes (see [`crate::data::Traces`]).
//!
//! The promise is one-sided: **whatever this accepts, prost decodes without error**, so the
//! lazy decode later cannot fail. It may refuse a little more than prost (unknown-field
//! groups, nesting deeper than [`MAX_DEPTH`]); a receiver then falls back to prost's decode,
//! which gives the authoritative answer. It also counts spans and notes whether any span has
//! an id a receiver refuses, so the receiver knows when it must decode to cut those out.

use super::{Field, Fields, WireError, FIXED32, FIXED64, LEN, VARINT};

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
    for field in Fields::new(bytes) {
        let field = field?;
        match field.number {
            1 => {
                resource_spans(field.bytes()?, &mut summary)?;
                summary.resource_spans += 1;
            }
            _ => unknown(&field)?,
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

fn resource_spans(bytes: &[u8], summary: &mut RequestSummary) -> Result<(), WireError> {
    for field in Fields::new(bytes) {
        let field = field?;
        match field.number {
            1 => resource(field.bytes()?)?,
            2 => scope_spans(field.bytes()?, summary)?,
            3 => field.check_str("schema_url")?,
            _ => unknown(&field)?,
        }
    }
    Ok(())
}

fn resource(bytes: &[u8]) -> Result<(), WireError> {
    const DEPTH: u32 = 2;
    for field in Fields::new(bytes) {
        let field = field?;
        match field.number {
            1 => key_value(field.bytes()?, DEPTH + 1)?,
            2 => field.check_type(VARINT)?,
            3 => entity_ref(field.bytes()?)?,
            _ => unknown(&field)?,
        }
    }
    Ok(())
}

fn entity_ref(bytes: &[u8]) -> Result<(), WireError> {
    for field in Fields::new(bytes) {
        let field = field?;
        match field.number {
            1..=4 => field.check_str("entity ref")?,
            _ => unknown(&field)?,
        }
    }
    Ok(())
}

fn scope_spans(bytes: &[u8], summary: &mut RequestSummary) -> Result<(), WireError> {
    for field in Fields::new(bytes) {
        let field = field?;
        match field.number {
            1 => scope(field.bytes()?)?,
            2 => {
                if !span(field.bytes()?)? {
                    summary.has_invalid_ids = true;
                }
                summary.spans += 1;
            }
            3 => field.check_str("schema_url")?,
            _ => unknown(&field)?,
        }
    }
    Ok(())
}

fn scope(bytes: &[u8]) -> Result<(), WireError> {
    const DEPTH: u32 = 3;
    for field in Fields::new(bytes) {
        let field = field?;
        match field.number {
            1 => field.check_str("scope name")?,
            2 => field.check_str("scope version")?,
            3 => key_value(field.bytes()?, DEPTH + 1)?,
            4 => field.check_type(VARINT)?,
            _ => unknown(&field)?,
        }
    }
    Ok(())
}

/// Checks one span; returns whether its ids are acceptable. A repeated field replaces the
/// earlier value in prost, so the last occurrence is the one judged.
fn span(bytes: &[u8]) -> Result<bool, WireError> {
    const DEPTH: u32 = 3;
    let (mut trace_id, mut span_id, mut parent): (&[u8], &[u8], &[u8]) = (&[], &[], &[]);
    for field in Fields::new(bytes) {
        let field = field?;
        match field.number {
            1 => trace_id = field.bytes()?,
            2 => span_id = field.bytes()?,
            3 => field.check_str("trace_state")?,
            4 => parent = field.bytes()?,
            5 => field.check_str("span name")?,
            6 | 10 | 12 | 14 => field.check_type(VARINT)?,
            7 | 8 => field.check_type(FIXED64)?,
            9 => key_value(field.bytes()?, DEPTH + 1)?,
            11 => event(field.bytes()?)?,
            13 => link(field.bytes()?)?,
            15 => status(field.bytes()?)?,
            16 => field.check_type(FIXED32)?,
            _ => unknown(&field)?,
        }
    }
    Ok(valid_id(trace_id, 16) && valid_id(span_id, 8) && (parent.is_empty() || parent.len() == 8))
}

fn valid_id(id: &[u8], len: usize) -> bool {
    id.len() == len && id.iter().any(|b| *b != 0)
}

fn event(bytes: &[u8]) -> Result<(), WireError> {
    const DEPTH: u32 = 4;
    for field in Fields::new(bytes) {
        let field = field?;
        match field.number {
            1 => field.check_type(FIXED64)?,
            2 => field.check_str("event name")?,
            3 => key_value(field.bytes()?, DEPTH + 1)?,
            4 => field.check_type(VARINT)?,
            _ => unknown(&field)?,
        }
    }
    Ok(())
}

fn link(bytes: &[u8]) -> Result<(), WireError> {
    const DEPTH: u32 = 4;
    for field in Fields::new(bytes) {
        let field = field?;
        match field.number {
            1 | 2 => field.check_type(LEN)?,
            3 => field.check_str("link trace_state")?,
            4 => key_value(field.bytes()?, DEPTH + 1)?,
            5 => field.check_type(VARINT)?,
            6 => field.check_type(FIXED32)?,
            _ => unknown(&field)?,
        }
    }
    Ok(())
}

fn status(bytes: &[u8]) -> Result<(), WireError> {
    for field in Fields::new(bytes) {
        let field = field?;
        match field.number {
            2 => field.check_str("status message")?,
            3 => field.check_type(VARINT)?,
            _ => unknown(&field)?,
        }
    }
    Ok(())
}

/// A `KeyValue` message at `depth`.
fn key_value(bytes: &[u8], depth: u32) -> Result<(), WireError> {
    if depth > MAX_DEPTH {
        return Err(WireError::TooDeep);
    }
    for field in Fields::new(bytes) {
        let field = field?;
        match field.number {
            1 => field.check_str("attribute key")?,
            2 => any_value(field.bytes()?, depth + 1)?,
            3 => field.check_type(VARINT)?,
            _ => unknown(&field)?,
        }
    }
    Ok(())
}

/// An `AnyValue` message at `depth`; arrays and key-value lists recurse.
fn any_value(bytes: &[u8], depth: u32) -> Result<(), WireError> {
    if depth > MAX_DEPTH {
        return Err(WireError::TooDeep);
    }
    for field in Fields::new(bytes) {
        let field = field?;
        match field.number {
            1 => field.check_str("string value")?,
            2 | 3 | 8 => field.check_type(VARINT)?,
            4 => field.check_type(FIXED64)?,
            5 => repeated(field.bytes()?, depth + 1, any_value)?,
            6 => repeated(field.bytes()?, depth + 1, key_value)?,
            7 => field.check_type(LEN)?,
            _ => unknown(&field)?,
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
    for field in Fields::new(bytes) {
        let field = field?;
        match field.number {
            1 => item(field.bytes()?, depth + 1)?,
            _ => unknown(&field)?,
        }
    }
    Ok(())
}

/// prost skips unknown fields. Groups it skips too, but checking their nesting against
/// prost's recursion budget is not worth it for a type OTLP never uses: refuse, and let the
/// caller fall back to prost.
fn unknown(field: &Field<'_>) -> Result<(), WireError> {
    match field.value {
        super::Value::Group(_) => Err(WireError::UnsupportedGroup(field.number)),
        _ => Ok(()),
    }
}
