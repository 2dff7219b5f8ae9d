//! Reading OTLP protobuf in place, without building `opentelemetry-proto` structs.
//!
//! prost's decode of an export request is most of what a gateway spends on a span that it only
//! forwards (`../shared/tools/limits`: ~300k spans/s per core for 470-byte spans, against
//! ~650k for encode): every string and attribute is its own allocation. A batch that goes to
//! Kafka or another OTLP endpoint unchanged never needs those structs, and the sled store only
//! needs to *read* each field once. So this module reads the wire format directly:
//!
//! - [`Fields`]: one message's fields in order, borrowing from the buffer (this file);
//! - [`validate`]: the check a receiver runs instead of decoding, which accepts exactly what
//!   prost's decode of `ExportTraceServiceRequest` accepts, counts the spans and flags ids a
//!   receiver must refuse.
//!
//! The rules follow prost 0.14's `encoding` module, because a batch that passed here is decoded
//! by prost later (lazily, see [`crate::data`]) and that decode must not fail: keys are varints
//! of at most `u32::MAX` with wire types 0-5 and field numbers >= 1; varints are at most ten
//! bytes, the tenth at most 1; lengths may not run past the message; groups are skipped with
//! their nesting checked.

pub mod validate;
pub mod view;

/// Why bytes are not a valid protobuf message of the expected type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("truncated message")]
    Truncated,
    #[error("invalid varint")]
    InvalidVarint,
    #[error("invalid key: field number {0}")]
    InvalidKey(u64),
    #[error("invalid wire type {wire_type} for field {field}")]
    InvalidWireType { field: u32, wire_type: u8 },
    #[error("unexpected end group for field {0}")]
    UnexpectedEndGroup(u32),
    #[error("field {field}: {what} is not valid UTF-8")]
    InvalidUtf8 { field: u32, what: &'static str },
    #[error("messages nested too deeply")]
    TooDeep,
    #[error("field {0}: groups are not supported")]
    UnsupportedGroup(u32),
}

/// Wire type numbers.
pub const VARINT: u8 = 0;
pub const FIXED64: u8 = 1;
pub const LEN: u8 = 2;
pub const FIXED32: u8 = 5;

/// One field's payload, as the wire type carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    /// Length-delimited: a string, bytes, a nested message or a packed repeated field.
    Bytes(&'a [u8]),
    /// A (deprecated) group, returned whole; OTLP has none, so only unknown fields carry one.
    Group(&'a [u8]),
    Fixed32(u32),
}

impl<'a> Value<'a> {
    /// Wire type number, for error messages.
    pub fn wire_type(&self) -> u8 {
        match self {
            Value::Varint(_) => 0,
            Value::Fixed64(_) => 1,
            Value::Bytes(_) => 2,
            Value::Group(_) => 3,
            Value::Fixed32(_) => 5,
        }
    }
}

/// A field number and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    pub number: u32,
    pub value: Value<'a>,
}

impl<'a> Field<'a> {
    /// The payload of a length-delimited field, or the error prost gives for any other type.
    #[inline]
    pub fn bytes(&self) -> Result<&'a [u8], WireError> {
        match self.value {
            Value::Bytes(b) => Ok(b),
            other => Err(self.wrong_type(other)),
        }
    }

    fn wrong_type(&self, value: Value<'_>) -> WireError {
        WireError::InvalidWireType {
            field: self.number,
            wire_type: value.wire_type(),
        }
    }
}

/// The fields of one message, in wire order. After an error it yields nothing more.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    pub fn new(message: &'a [u8]) -> Self {
        Self { rest: message }
    }

    /// What has not been read yet.
    pub fn remainder(&self) -> &'a [u8] {
        self.rest
    }

    #[inline(always)]
    fn next_field(&mut self) -> Result<Field<'a>, WireError> {
        let (number, wire_type) = read_key(&mut self.rest)?;
        let value = match wire_type {
            0 => Value::Varint(read_varint(&mut self.rest)?),
            1 => Value::Fixed64(u64::from_le_bytes(take_array(&mut self.rest)?)),
            2 => {
                let len = read_varint(&mut self.rest)?;
                let len = usize::try_from(len).map_err(|_| WireError::Truncated)?;
                Value::Bytes(take(&mut self.rest, len)?)
            }
            3 => Value::Group(skip_group(&mut self.rest, number, 0)?),
            4 => return Err(WireError::UnexpectedEndGroup(number)),
            _ => Value::Fixed32(u32::from_le_bytes(take_array(&mut self.rest)?)),
        };
        Ok(Field { number, value })
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Field<'a>, WireError>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let field = self.next_field();
        if field.is_err() {
            self.rest = &[];
        }
        Some(field)
    }
}

/// Reads a varint the way prost does: at most ten bytes, and the tenth may only be 0 or 1.
/// Keys and most lengths fit in one or two bytes, which stay inline; longer ones go to
/// [`read_varint_slow`].
#[inline(always)]
pub fn read_varint(buf: &mut &[u8]) -> Result<u64, WireError> {
    let bytes = *buf;
    match bytes {
        [a, rest @ ..] if *a < 0x80 => {
            *buf = rest;
            Ok(u64::from(*a))
        }
        [a, b, rest @ ..] if *b < 0x80 => {
            *buf = rest;
            Ok(u64::from(*a & 0x7f) | (u64::from(*b) << 7))
        }
        _ => read_varint_slow(buf),
    }
}

#[inline(never)]
fn read_varint_slow(buf: &mut &[u8]) -> Result<u64, WireError> {
    let bytes = *buf;
    let mut value = 0u64;
    for (i, &byte) in bytes.iter().enumerate().take(10) {
        if i == 9 && byte > 1 {
            return Err(WireError::InvalidVarint);
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            *buf = &bytes[i + 1..];
            return Ok(value);
        }
    }
    Err(if bytes.len() < 10 { WireError::Truncated } else { WireError::InvalidVarint })
}

/// Field number and wire type of the next key; prost refuses keys above `u32::MAX`, wire
/// types 6 and 7 and field number 0.
#[inline(always)]
pub(crate) fn read_key(buf: &mut &[u8]) -> Result<(u32, u8), WireError> {
    let key = read_varint(buf)?;
    if key > u64::from(u32::MAX) {
        return Err(WireError::InvalidKey(key));
    }
    let wire_type = (key & 7) as u8;
    let number = (key >> 3) as u32;
    if wire_type > 5 || number == 0 {
        return Err(WireError::InvalidKey(key));
    }
    Ok((number, wire_type))
}

#[inline(always)]
pub(crate) fn take<'a>(buf: &mut &'a [u8], len: usize) -> Result<&'a [u8], WireError> {
    if len > buf.len() {
        return Err(WireError::Truncated);
    }
    let (head, tail) = buf.split_at(len);
    *buf = tail;
    Ok(head)
}

#[inline(always)]
fn take_array<const N: usize>(buf: &mut &[u8]) -> Result<[u8; N], WireError> {
    let bytes = take(buf, N)?;
    let mut out = [0u8; N];
    out.copy_from_slice(bytes);
    Ok(out)
}

/// prost's recursion limit; groups and nested messages both count against it.
pub const RECURSION_LIMIT: u32 = 100;

/// Skips a group's fields up to its matching end-group key and returns them.
fn skip_group<'a>(buf: &mut &'a [u8], number: u32, depth: u32) -> Result<&'a [u8], WireError> {
    if depth >= RECURSION_LIMIT {
        return Err(WireError::TooDeep);
    }
    let start = *buf;
    loop {
        let before = buf.len();
        let (inner, wire_type) = read_key(buf)?;
        match wire_type {
            0 => {
                read_varint(buf)?;
            }
            1 => {
                take(buf, 8)?;
            }
            2 => {
                let len = read_varint(buf)?;
                take(buf, usize::try_from(len).map_err(|_| WireError::Truncated)?)?;
            }
            3 => {
                skip_group(buf, inner, depth + 1)?;
            }
            4 => {
                if inner != number {
                    return Err(WireError::UnexpectedEndGroup(inner));
                }
                let consumed = start.len() - before;
                return Ok(&start[..consumed]);
            }
            _ => {
                take(buf, 4)?;
            }
        }
    }
}

#[cfg(test)]
mod tests;
