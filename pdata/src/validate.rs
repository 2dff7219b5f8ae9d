//! [`validate_request`]: what a receiver runs on an OTLP protobuf export request instead of
//! decoding it, so a batch can travel as its own bytes (`tracegate_core::data::Traces`).
//!
//! The promise is one-sided: **whatever this accepts, prost decodes without error**, so the
//! lazy decode later cannot fail. It may refuse a little more than prost (unknown-field
//! groups, nesting deeper than [`MAX_DEPTH`]); a receiver then falls back to prost's decode,
//! which gives the authoritative answer. It also counts spans and notes whether any span has
//! an id a receiver refuses, so the receiver knows when it must decode to cut those out.
//!
//! This check is on the path of every span a forwarding gateway handles, so it is written for
//! speed (`cargo bench -p tracegate-pdata --bench otlp_wire`):
//! - the [`Reader`]'s field-by-field calls rather than its iterator of whole fields (half
//!   the cost);
//! - one error, [`Declined`], with no payload: every caller answers a refusal by decoding with
//!   prost, whose error is the one reported, so a detailed error here was never read and its
//!   24 bytes made every `Result` in the walk travel through memory;
//! - a fast path for the shape nearly every attribute has (a short key and a scalar or short
//!   string value), falling back to the general walk for anything else;
//! - a run of attributes checked in one loop, not one trip each through the field match.
//!
//! On the bench's 1000-span request (quiet machine, 2026-11-24): 1.56M spans/s before these
//! (0.64 us/span), 4.5M after (0.22 us/span); prost's decode of the same bytes 242k.

use crate::wire::{Reader, FIXED32, FIXED64, LEN, VARINT};

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
    /// No span of the request starts before this (ns; `u64::MAX` when it has no span, 0 when
    /// not known). The store answers "is any span past the retention?" from it, instead of a
    /// walk of every span per request (~2% of the all-in-one's fill CPU).
    pub oldest_start_ns: u64,
}

/// The check did not accept the bytes: they are not a request, or use a shape this check
/// leaves to prost (groups, deep nesting). Decode with prost for the verdict and its reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an export request that the in-place check accepts")]
pub struct Declined;

type Check<T = ()> = Result<T, Declined>;

/// Checks an `ExportTraceServiceRequest` (also a `TracesData`: same field 1) in place.
pub fn validate_request(bytes: &[u8]) -> Result<RequestSummary, Declined> {
    let mut summary = RequestSummary { oldest_start_ns: u64::MAX, ..RequestSummary::default() };
    let mut c = Reader::new(bytes);
    while let Some((n, wt)) = c.next_key()? {
        match n {
            1 => {
                resource_spans(c.message(wt)?, &mut summary)?;
                summary.resource_spans += 1;
            }
            _ => c.skip_field(wt)?,
        }
    }
    Ok(summary)
}

/// Spans in one `ResourceSpans` message that was already validated: a shallow walk that
/// neither checks strings nor descends into spans. None if the bytes are not well formed.
pub fn count_resource_spans(bytes: &[u8]) -> Option<usize> {
    let mut spans = 0;
    for field in Reader::new(bytes) {
        let field = field.ok()?;
        if field.number == 2 {
            for inner in Reader::new(field.bytes().ok()?) {
                spans += usize::from(inner.ok()?.number == 2);
            }
        }
    }
    Some(spans)
}

/// The check's reads on the one [`Reader`]: each maps the reader's error to [`Declined`] and
/// is inlined, so the error's payload is never built. After each `key` comes exactly one of
/// `message`, `string`, `expect` or `skip` for that field.
trait CheckRead<'a> {
    fn next_key(&mut self) -> Check<Option<(u32, u8)>>;
    fn message(&mut self, wire_type: u8) -> Check<&'a [u8]>;
    fn string(&mut self, wire_type: u8) -> Check;
    fn expect(&mut self, wire_type: u8, expected: u8) -> Check;
    fn skip_field(&mut self, wire_type: u8) -> Check;
}

impl<'a> CheckRead<'a> for Reader<'a> {
    /// The next field's number and wire type, or None at the end of the message.
    #[inline(always)]
    fn next_key(&mut self) -> Check<Option<(u32, u8)>> {
        self.key().map_err(|_| Declined)
    }

    /// A length-delimited field's payload; any other wire type is prost's type error.
    #[inline(always)]
    fn message(&mut self, wire_type: u8) -> Check<&'a [u8]> {
        if wire_type != LEN {
            return Err(Declined);
        }
        self.bytes().map_err(|_| Declined)
    }

    /// A string field: length-delimited and UTF-8.
    #[inline(always)]
    fn string(&mut self, wire_type: u8) -> Check {
        utf8(self.message(wire_type)?)
    }

    /// A known scalar field whose value does not matter here: only its wire type does.
    #[inline(always)]
    fn expect(&mut self, wire_type: u8, expected: u8) -> Check {
        if wire_type != expected {
            return Err(Declined);
        }
        self.skip_field(wire_type)
    }

    /// Skips a field as prost skips unknown ones. prost skips groups too, but checking their
    /// nesting against its recursion budget is not worth it for a type OTLP never uses: a
    /// group is declined, and the caller falls back to prost.
    #[inline(always)]
    fn skip_field(&mut self, wire_type: u8) -> Check {
        let skipped = match wire_type {
            VARINT => self.varint().map(drop),
            FIXED64 => self.take(8).map(drop),
            LEN => self.bytes().map(drop),
            FIXED32 => self.take(4).map(drop),
            _ => return Err(Declined),
        };
        skipped.map_err(|_| Declined)
    }
}

/// UTF-8 as prost checks strings. Span strings are mostly short and ASCII: up to 16 bytes
/// are tested with a few overlapping loads, no loop (copying a short string into a word
/// first cost a store-forwarding stall), before anything slower.
#[inline(always)]
fn utf8(bytes: &[u8]) -> Check {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or([0xff; 8]));
    let half = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or([0xff; 4]));
    let n = bytes.len();
    let ascii = match n {
        0 => true,
        1..=3 => (bytes[0] | bytes[n / 2] | bytes[n - 1]) < 0x80,
        4..=7 => (half(0) | half(n - 4)) & (HIGH as u32) == 0,
        8..=16 => (word(0) | word(n - 8)) & HIGH == 0,
        _ => bytes.is_ascii(),
    };
    if ascii || std::str::from_utf8(bytes).is_ok() {
        Ok(())
    } else {
        Err(Declined)
    }
}

fn resource_spans(bytes: &[u8], summary: &mut RequestSummary) -> Check {
    let mut c = Reader::new(bytes);
    while let Some((n, wt)) = c.next_key()? {
        match n {
            1 => resource(c.message(wt)?)?,
            2 => scope_spans(c.message(wt)?, summary)?,
            3 => c.string(wt)?,
            _ => c.skip_field(wt)?,
        }
    }
    Ok(())
}

fn resource(bytes: &[u8]) -> Check {
    const DEPTH: u32 = 2;
    let mut c = Reader::new(bytes);
    while let Some((n, wt)) = c.next_key()? {
        match n {
            1 => attributes(&mut c, wt, 0x0a, DEPTH + 1)?,
            2 => c.expect(wt, VARINT)?,
            3 => entity_ref(c.message(wt)?)?,
            _ => c.skip_field(wt)?,
        }
    }
    Ok(())
}

fn entity_ref(bytes: &[u8]) -> Check {
    let mut c = Reader::new(bytes);
    while let Some((n, wt)) = c.next_key()? {
        match n {
            1..=4 => c.string(wt)?,
            _ => c.skip_field(wt)?,
        }
    }
    Ok(())
}

fn scope_spans(bytes: &[u8], summary: &mut RequestSummary) -> Check {
    let mut c = Reader::new(bytes);
    while let Some((n, wt)) = c.next_key()? {
        match n {
            1 => scope(c.message(wt)?)?,
            2 => {
                let (valid_ids, start) = span(c.message(wt)?)?;
                if !valid_ids {
                    summary.has_invalid_ids = true;
                }
                summary.oldest_start_ns = summary.oldest_start_ns.min(start);
                summary.spans += 1;
            }
            3 => c.string(wt)?,
            _ => c.skip_field(wt)?,
        }
    }
    Ok(())
}

fn scope(bytes: &[u8]) -> Check {
    const DEPTH: u32 = 3;
    let mut c = Reader::new(bytes);
    while let Some((n, wt)) = c.next_key()? {
        match n {
            1 => c.string(wt)?,
            2 => c.string(wt)?,
            3 => attributes(&mut c, wt, 0x1a, DEPTH + 1)?,
            4 => c.expect(wt, VARINT)?,
            _ => c.skip_field(wt)?,
        }
    }
    Ok(())
}

/// Checks one span; returns whether its ids are acceptable, and its start time. A repeated
/// field replaces the earlier value in prost, so the last occurrence is the one judged.
fn span(bytes: &[u8]) -> Check<(bool, u64)> {
    const DEPTH: u32 = 3;
    let (mut trace_id, mut span_id, mut parent): (&[u8], &[u8], &[u8]) = (&[], &[], &[]);
    let mut start = 0;
    let mut c = Reader::new(bytes);
    while let Some((n, wt)) = c.next_key()? {
        match n {
            1 => trace_id = c.message(wt)?,
            2 => span_id = c.message(wt)?,
            3 => c.string(wt)?,
            4 => parent = c.message(wt)?,
            5 => c.string(wt)?,
            6 | 10 | 12 | 14 => c.expect(wt, VARINT)?,
            7 if wt == FIXED64 => start = c.fixed64().map_err(|_| Declined)?,
            7 | 8 => c.expect(wt, FIXED64)?,
            9 => attributes(&mut c, wt, 0x4a, DEPTH + 1)?,
            11 => event(c.message(wt)?)?,
            13 => link(c.message(wt)?)?,
            15 => status(c.message(wt)?)?,
            16 => c.expect(wt, FIXED32)?,
            _ => c.skip_field(wt)?,
        }
    }
    Ok((valid_id(trace_id, 16) && valid_id(span_id, 8) && (parent.is_empty() || parent.len() == 8), start))
}

fn valid_id(id: &[u8], len: usize) -> bool {
    id.len() == len && id.iter().any(|b| *b != 0)
}

fn event(bytes: &[u8]) -> Check {
    const DEPTH: u32 = 4;
    let mut c = Reader::new(bytes);
    while let Some((n, wt)) = c.next_key()? {
        match n {
            1 => c.expect(wt, FIXED64)?,
            2 => c.string(wt)?,
            3 => attributes(&mut c, wt, 0x1a, DEPTH + 1)?,
            4 => c.expect(wt, VARINT)?,
            _ => c.skip_field(wt)?,
        }
    }
    Ok(())
}

fn link(bytes: &[u8]) -> Check {
    const DEPTH: u32 = 4;
    let mut c = Reader::new(bytes);
    while let Some((n, wt)) = c.next_key()? {
        match n {
            1 | 2 => c.expect(wt, LEN)?,
            3 => c.string(wt)?,
            4 => attributes(&mut c, wt, 0x22, DEPTH + 1)?,
            5 => c.expect(wt, VARINT)?,
            6 => c.expect(wt, FIXED32)?,
            _ => c.skip_field(wt)?,
        }
    }
    Ok(())
}

fn status(bytes: &[u8]) -> Check {
    let mut c = Reader::new(bytes);
    while let Some((n, wt)) = c.next_key()? {
        match n {
            2 => c.string(wt)?,
            3 => c.expect(wt, VARINT)?,
            _ => c.skip_field(wt)?,
        }
    }
    Ok(())
}

/// A run of consecutive `KeyValue` fields under the one-byte `key` (writers put a message's
/// attributes together): one tight loop instead of a trip each through the field match.
#[inline(always)]
fn attributes(c: &mut Reader<'_>, wire_type: u8, key: u8, depth: u32) -> Check {
    key_value(c.message(wire_type)?, depth)?;
    while c.eat(key) {
        key_value(c.message(LEN)?, depth)?;
    }
    Ok(())
}

/// A `KeyValue` message at `depth`. Nearly every attribute is exactly a key (field 1) and a
/// value (field 2) holding one scalar or short string, lengths below 128: that shape is
/// checked by pattern, anything else by the general walk. (No depth check is needed on the
/// pattern path: it never nests, and the walk bounds the depth of whatever contains it.)
#[inline(always)]
fn key_value(bytes: &[u8], depth: u32) -> Check {
    if let [0x0a, key_len, rest @ ..] = bytes {
        let key_len = usize::from(*key_len);
        if key_len < 0x80 && key_len < rest.len() {
            let (key, rest) = rest.split_at(key_len);
            if let [0x12, value_len, value @ ..] = rest {
                if *value_len < 0x80 && usize::from(*value_len) == value.len() {
                    if let Some(verdict) = scalar_value(value) {
                        return utf8(key).and(verdict);
                    }
                }
            }
        }
    }
    key_value_walk(bytes, depth)
}

#[inline(never)]
fn key_value_walk(bytes: &[u8], depth: u32) -> Check {
    if depth > MAX_DEPTH {
        return Err(Declined);
    }
    let mut c = Reader::new(bytes);
    while let Some((n, wt)) = c.next_key()? {
        match n {
            1 => c.string(wt)?,
            2 => any_value(c.message(wt)?, depth + 1)?,
            3 => c.expect(wt, VARINT)?,
            _ => c.skip_field(wt)?,
        }
    }
    Ok(())
}

/// The verdict on an `AnyValue` that holds exactly one string (below 128 bytes), bool, int
/// or double, or None when it has any other shape (the general walk then decides).
#[inline(always)]
fn scalar_value(value: &[u8]) -> Option<Check> {
    match value {
        [0x0a, len, text @ ..] if *len < 0x80 && usize::from(*len) == text.len() => Some(utf8(text)),
        // bool_value (2) and int_value (3): one varint that must end the message.
        [0x10 | 0x18, rest @ ..] => {
            let mut c = Reader::new(rest);
            match c.varint() {
                Ok(_) if c.is_empty() => Some(Ok(())),
                Ok(_) => None,
                Err(_) => Some(Err(Declined)),
            }
        }
        // double_value (4): fixed64.
        [0x21, rest @ ..] if rest.len() == 8 => Some(Ok(())),
        _ => None,
    }
}

/// An `AnyValue` message at `depth`; arrays and key-value lists recurse.
fn any_value(bytes: &[u8], depth: u32) -> Check {
    if depth > MAX_DEPTH {
        return Err(Declined);
    }
    let mut c = Reader::new(bytes);
    while let Some((n, wt)) = c.next_key()? {
        match n {
            1 => c.string(wt)?,
            2 | 3 | 8 => c.expect(wt, VARINT)?,
            4 => c.expect(wt, FIXED64)?,
            5 => repeated(c.message(wt)?, depth + 1, any_value)?,
            6 => repeated(c.message(wt)?, depth + 1, key_value)?,
            7 => c.expect(wt, LEN)?,
            _ => c.skip_field(wt)?,
        }
    }
    Ok(())
}

/// `ArrayValue` / `KeyValueList` at `depth`: field 1 repeated, each checked by `item`.
fn repeated(
    bytes: &[u8],
    depth: u32,
    item: fn(&[u8], u32) -> Check,
) -> Check {
    if depth > MAX_DEPTH {
        return Err(Declined);
    }
    let mut c = Reader::new(bytes);
    while let Some((n, wt)) = c.next_key()? {
        match n {
            1 => item(c.message(wt)?, depth + 1)?,
            _ => c.skip_field(wt)?,
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
