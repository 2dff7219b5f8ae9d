//! What blocks, summaries and tag queries share: the block container (a version byte, the
//! raw size, a zstd frame), varint helpers, and the text form of attribute values that tag
//! queries compare against. The column layout inside a block is in [`block_write`] and
//! [`block_read`].
//!
//! [`block_write`]: crate::block_write
//! [`block_read`]: crate::block_read


use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use tracegate_pdata::view::{FromWire, KeyValueView, Many, ResourceView, ValueView, ViewError};
use tracegate_pdata::wire;

/// The on-disk format this build writes (blocks, summaries, tag hashes, trace index). Stored
/// in the `meta` tree; a database of another version is refused at open with both numbers,
/// except [`UPGRADES_FORMATS`].
///
/// 3: the trace index is per-block sorted id lists and runs ([`crate::trace_index`]) instead
/// of format 2's `t`+trace+seq keys; blocks and summaries are as in format 2.
/// 4: blocks are in a file per partition ([`crate::block_file`]), the blocks tree holds where
/// each one is; the block container and everything else are as in format 3.
/// 5: a block of more than one page has a page table (a tenth column, see
/// `block_write::PAGE_SPANS`), which a build before it refuses as a corrupt block.
/// 6: summaries file every double under one marker ([`DOUBLE_VALUES`]), not its text; a
/// build before it would not find a double value in them, so it must refuse them by name.
/// Blocks are as in format 5.
/// 7: summaries are in a summary file per partition, trace-id lists, run chunks and run
/// filters in its block file, sled holding where each one is (13 bytes); a build before it
/// would read those pointers as damaged summaries and lists. Values of formats 2 to 6 stored in
/// sled are read as they are ([`crate::block_file::BlockFile::resolve`]).
pub const FORMAT_VERSION: u32 = 7;

/// Databases of these formats are opened and stamped [`FORMAT_VERSION`]: their blocks stay
/// in sled and are read there, format 2's `t` keys are still read by lookups, and new blocks
/// are written the new way. (An older build then refuses the database, by name, rather than
/// misread the new blocks.)
pub const UPGRADES_FORMATS: [u32; 5] = [2, 3, 4, 5, 6];

/// The version byte of a block container; unchanged since format 2.
const BLOCK_VERSION: u8 = 2;

/// Largest block we agree to decompress: a guard against a corrupt length prefix.
const MAX_BLOCK: usize = 512 << 20;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("corrupt block: {0}")]
    Corrupt(&'static str),
    #[error("cannot decompress block: {0}")]
    Zstd(#[from] std::io::Error),
    #[error("cannot decode spans: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error("cannot read the batch's OTLP bytes: {0}")]
    View(#[from] tracegate_pdata::view::ViewError),
}

/// Wraps a raw block: `[BLOCK_VERSION][u32 LE raw length][zstd frame]`.
pub fn compress(raw: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len() / 3 + 16);
    out.push(BLOCK_VERSION);
    out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    out.extend_from_slice(&zstd::bulk::compress(raw, level)?);
    Ok(out)
}

pub fn decompress(stored: &[u8]) -> Result<Vec<u8>, CodecError> {
    let (&version, rest) = stored.split_first().ok_or(CodecError::Corrupt("empty block"))?;
    if version != BLOCK_VERSION {
        return Err(CodecError::Corrupt("block of an unknown format version"));
    }
    let head: [u8; 4] = rest.get(..4).and_then(|h| h.try_into().ok()).ok_or(CodecError::Corrupt("short header"))?;
    let len = u32::from_le_bytes(head) as usize;
    if len > MAX_BLOCK {
        return Err(CodecError::Corrupt("declared size too large"));
    }
    Ok(zstd::bulk::decompress(&rest[4..], len)?)
}

pub fn put_varint(out: &mut Vec<u8>, v: u64) {
    prost::encoding::encode_varint(v, out);
}

pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// A cursor over one column; every read fails cleanly on truncated input. Columns use
/// protobuf's varints and length prefixes, so it reads them with the wire reader's own
/// primitives (`tracegate_pdata::wire`), under the store's errors.
#[derive(Clone, Copy, Default)]
pub struct Cursor<'a>(pub &'a [u8]);

impl<'a> Cursor<'a> {
    pub fn varint(&mut self) -> Result<u64, CodecError> {
        wire::read_varint(&mut self.0).map_err(|_| CodecError::Corrupt("bad varint"))
    }
    pub fn usize(&mut self) -> Result<usize, CodecError> {
        usize::try_from(self.varint()?).map_err(|_| CodecError::Corrupt("count too large"))
    }
    pub fn u32(&mut self) -> Result<u32, CodecError> {
        u32::try_from(self.varint()?).map_err(|_| CodecError::Corrupt("value too large"))
    }
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        wire::take(&mut self.0, n).map_err(|_| CodecError::Corrupt("truncated column"))
    }
    pub fn bytes(&mut self) -> Result<&'a [u8], CodecError> {
        let n = self.usize()?;
        self.take(n)
    }
    pub fn str(&mut self) -> Result<&'a str, CodecError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| CodecError::Corrupt("string is not UTF-8"))
    }
    pub fn byte(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }
}

pub use tracegate_core::fast_hash::{FastMap, FastSet};

/// The first `service.name` attribute's value if it is a string, else "" (what prost's
/// decoding of the same bytes would say).
pub fn service_name<'a>(attrs: Many<'a, KeyValueView<'a>>) -> Result<&'a str, ViewError> {
    for kv in attrs {
        let kv = kv?;
        if kv.key == "service.name" {
            return Ok(match kv.value.map(|v| v.value) {
                Some(ValueView::Str(s)) => s,
                _ => "",
            });
        }
    }
    Ok("")
}

/// [`service_name`] of a `Resource` message's bytes.
pub fn service_of_resource(bytes: &[u8]) -> Result<&str, ViewError> {
    service_name(ResourceView::from_wire(bytes)?.attributes)
}

/// Writes an attribute value as a tag query spells it (Jaeger compares tag values as text)
/// into `out` (cleared first); false when the value has no text form (arrays, maps, none).
pub fn write_value_text(v: &any_value::Value, out: &mut String) -> bool {
    use std::fmt::Write;
    out.clear();
    match v {
        any_value::Value::StringValue(s) => out.push_str(s),
        any_value::Value::IntValue(i) => out.push_str(itoa::Buffer::new().format(*i)),
        any_value::Value::BoolValue(b) => out.push_str(if *b { "true" } else { "false" }),
        any_value::Value::DoubleValue(d) => {
            let _ = write!(out, "{d}");
        }
        any_value::Value::BytesValue(b) => {
            for x in b {
                let _ = write!(out, "{x:02x}");
            }
        }
        _ => return false,
    }
    true
}

/// What a summary's tag filter holds for a double: this, once per key and service, not each
/// value's text.
///
/// Doubles are mostly measurements (durations, ratios, scores) that differ span to span, and
/// no one searches for one by its 17 printed digits. Filing each value's text cost a float
/// formatting per value and a filter entry per value: in the load generator's default shape,
/// with two double attributes a span, ~4% of the all-in-one's fill CPU went to formatting
/// alone, and the filter held three entries per span instead of one. A search for a double
/// value therefore passes the filter on this marker and is decided by the walk, which
/// compares the value's text exactly ([`crate::matching`]). A NUL starts it, so no text a
/// query holds collides with it by accident (a string value that does only costs a false
/// positive).
pub const DOUBLE_VALUES: &str = "\0double";

/// The text an attribute value read in place from request bytes is filed under in the tag
/// filter: the text a query spells ([`write_value_text`]), or [`DOUBLE_VALUES`] for a double.
/// False when the value has no text form (arrays, maps, none).
pub fn view_filter_text(v: &ValueView<'_>, out: &mut String) -> bool {
    use std::fmt::Write;
    out.clear();
    match v {
        ValueView::Str(s) => out.push_str(s),
        // itoa, not `write!`: a column of changing ints (sizes, ids) formats every value.
        ValueView::Int(i) => out.push_str(itoa::Buffer::new().format(*i)),
        ValueView::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        ValueView::Double(_) => out.push_str(DOUBLE_VALUES),
        ValueView::Bytes(b) => {
            for x in *b {
                let _ = write!(out, "{x:02x}");
            }
        }
        _ => return false,
    }
    true
}

/// [`view_filter_text`] of a decoded value: the same text, so a batch of structs files its
/// tags as the same batch as bytes does.
pub fn write_filter_text(v: &any_value::Value, out: &mut String) -> bool {
    match v {
        any_value::Value::DoubleValue(_) => {
            out.clear();
            out.push_str(DOUBLE_VALUES);
            true
        }
        v => write_value_text(v, out),
    }
}

/// The tags a span's instrumentation scope name and version match: the names Jaeger's model
/// gives them, and the keys Jaeger v2's memory store reads.
pub const SCOPE_NAME: [&str; 2] = ["otel.scope.name", "scope.name"];
pub const SCOPE_VERSION: [&str; 2] = ["otel.scope.version", "scope.version"];

/// An attribute value as a tag query spells it.
pub fn value_text(v: &AnyValue) -> Option<String> {
    let mut s = String::new();
    write_value_text(v.value.as_ref()?, &mut s).then_some(s)
}

/// Jaeger's name for an OTLP span kind; "" for unspecified.
pub fn kind_name(kind: i32) -> &'static str {
    match kind {
        1 => "internal",
        2 => "server",
        3 => "client",
        4 => "producer",
        5 => "consumer",
        _ => "",
    }
}

/// Tags Jaeger shows for a span that OTLP carries as fields: `span.kind`, `otel.status_code`
/// and `error=true`, so `error=true` searches work on OTLP data.
pub fn derived_tags_of(kind: i32, status_code: i32) -> impl Iterator<Item = (&'static str, &'static str)> {
    let kind = Some(kind_name(kind)).filter(|k| !k.is_empty()).map(|k| ("span.kind", k));
    let status = match status_code {
        1 => Some(("otel.status_code", "OK")),
        2 => Some(("otel.status_code", "ERROR")),
        _ => None,
    };
    let error = (status_code == 2).then_some(("error", "true"));
    kind.into_iter().chain(status).chain(error)
}

#[cfg(test)]
mod text_tests {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use tracegate_pdata::view::ValueView;

    use super::{view_filter_text, write_filter_text, write_value_text, DOUBLE_VALUES};

    /// A tag search hashes the text a user types; ints must read as Display writes them.
    #[test]
    fn ints_read_as_display_writes_them() {
        for i in [0, 1, -1, 9, 10, 503, -42, 1 << 40, i64::MAX, i64::MIN] {
            let (mut a, mut b) = (String::new(), String::new());
            assert!(view_filter_text(&ValueView::Int(i), &mut a) && write_filter_text(&Value::IntValue(i), &mut b));
            assert_eq!((a.as_str(), b.as_str()), (i.to_string().as_str(), i.to_string().as_str()));
        }
    }

    /// Doubles are filed under one marker in both forms, while a query still compares their
    /// text as Display writes it.
    #[test]
    fn doubles_are_filed_under_the_marker_and_still_print_as_display_writes_them() {
        for d in [0.0, 0.5, -1.25, 2500.0, f64::MAX, f64::NAN] {
            let (mut a, mut b, mut text) = (String::new(), String::new(), String::new());
            assert!(view_filter_text(&ValueView::Double(d), &mut a) && write_filter_text(&Value::DoubleValue(d), &mut b));
            assert_eq!((a.as_str(), b.as_str()), (DOUBLE_VALUES, DOUBLE_VALUES));
            assert!(write_value_text(&Value::DoubleValue(d), &mut text));
            assert_eq!(text, d.to_string());
        }
    }
}
