//! The one protobuf reader: every walk of OTLP bytes in tracegate goes through [`Reader`] (the
//! request check, the views, cutting a request at its resources, the load balancer's
//! re-framing), and the primitives under it ([`read_varint`], [`take`]) also read the sled
//! store's block columns, which use protobuf's varints and length prefixes.
//!
//! The rules are prost 0.14's (`encoding` module), because bytes that pass here are decoded by
//! prost later (lazily, in `tracegate_core::data`) and that decode must not fail: keys are
//! varints of at most `u32::MAX` with wire types 0-5 and field numbers >= 1; varints are at
//! most ten bytes, the tenth at most 1; lengths may not run past the message; groups are
//! skipped with their nesting checked.
//!
//! Speed: the hot calls (`key`, `varint`, `bytes`) are `#[inline(always)]` and read one- and
//! two-byte varints without a loop, since keys and most lengths are that short. The reader is
//! two slices (the message and what is left), so a walk that needs offsets (the views keep the
//! byte range of a repeated field) gets them by subtraction, at no cost to one that does not.

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
pub const GROUP_START: u8 = 3;
pub const GROUP_END: u8 = 4;
pub const FIXED32: u8 = 5;

/// prost's recursion limit; groups and nested messages both count against it.
pub const RECURSION_LIMIT: u32 = 100;

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
            Value::Varint(_) => VARINT,
            Value::Fixed64(_) => FIXED64,
            Value::Bytes(_) => LEN,
            Value::Group(_) => GROUP_START,
            Value::Fixed32(_) => FIXED32,
        }
    }

    fn wrong(self, field: u32) -> WireError {
        WireError::InvalidWireType { field, wire_type: self.wire_type() }
    }

    /// A varint field's value (`int32`, `uint32` and enums truncate it as prost does).
    #[inline]
    pub fn varint(self, field: u32) -> Result<u64, WireError> {
        match self {
            Value::Varint(v) => Ok(v),
            other => Err(other.wrong(field)),
        }
    }

    #[inline]
    pub fn fixed64(self, field: u32) -> Result<u64, WireError> {
        match self {
            Value::Fixed64(v) => Ok(v),
            other => Err(other.wrong(field)),
        }
    }

    #[inline]
    pub fn fixed32(self, field: u32) -> Result<u32, WireError> {
        match self {
            Value::Fixed32(v) => Ok(v),
            other => Err(other.wrong(field)),
        }
    }

    /// A length-delimited field's payload, or the error prost gives for any other type.
    #[inline]
    pub fn bytes(self, field: u32) -> Result<&'a [u8], WireError> {
        match self {
            Value::Bytes(b) => Ok(b),
            other => Err(other.wrong(field)),
        }
    }

    /// A string field: length-delimited and UTF-8; `what` names it in the error.
    #[inline]
    pub fn str(self, field: u32, what: &'static str) -> Result<&'a str, WireError> {
        std::str::from_utf8(self.bytes(field)?).map_err(|_| WireError::InvalidUtf8 { field, what })
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
        self.value.bytes(self.number)
    }
}

/// A read position in one message. Read field by field (`key`, then exactly one of `varint`,
/// `fixed64`, `fixed32`, `bytes` or `skip` for its payload), or whole fields at a time
/// ([`Reader::field`], or as an iterator that stops after the first error).
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    message: &'a [u8],
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    #[inline(always)]
    pub fn new(message: &'a [u8]) -> Self {
        Self { message, rest: message }
    }

    /// Bytes read so far: the offset of the next field in the message.
    #[inline(always)]
    pub fn position(&self) -> usize {
        self.message.len() - self.rest.len()
    }

    /// What has not been read yet.
    #[inline(always)]
    pub fn remainder(&self) -> &'a [u8] {
        self.rest
    }

    /// Everything has been read.
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Stops reading: what is left is not looked at (after an error, say).
    #[inline(always)]
    pub fn finish(&mut self) {
        self.rest = &[];
    }

    /// Consumes the next byte if it is `byte` (a walk that expects a run of one field, whose
    /// key is one byte, checks for the next occurrence this way).
    #[inline(always)]
    pub fn eat(&mut self, byte: u8) -> bool {
        match self.rest {
            [first, rest @ ..] if *first == byte => {
                self.rest = rest;
                true
            }
            _ => false,
        }
    }

    /// The next field's number and wire type, or None at the end of the message.
    #[inline(always)]
    pub fn key(&mut self) -> Result<Option<(u32, u8)>, WireError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        read_key(&mut self.rest).map(Some)
    }

    #[inline(always)]
    pub fn varint(&mut self) -> Result<u64, WireError> {
        read_varint(&mut self.rest)
    }

    #[inline(always)]
    pub fn fixed64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_le_bytes(take_array(&mut self.rest)?))
    }

    #[inline(always)]
    pub fn fixed32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_le_bytes(take_array(&mut self.rest)?))
    }

    /// The next `len` bytes.
    #[inline(always)]
    pub fn take(&mut self, len: usize) -> Result<&'a [u8], WireError> {
        take(&mut self.rest, len)
    }

    /// A length-delimited payload: a varint length, then that many bytes.
    #[inline(always)]
    pub fn bytes(&mut self) -> Result<&'a [u8], WireError> {
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| WireError::Truncated)?;
        self.take(len)
    }

    /// The payload of field `number` of type `wire_type`, as [`Value`]; a group is skipped
    /// whole (its nesting checked) and returned.
    #[inline(always)]
    pub fn value(&mut self, number: u32, wire_type: u8) -> Result<Value<'a>, WireError> {
        Ok(match wire_type {
            VARINT => Value::Varint(self.varint()?),
            FIXED64 => Value::Fixed64(self.fixed64()?),
            LEN => Value::Bytes(self.bytes()?),
            GROUP_START => Value::Group(skip_group(&mut self.rest, number, 0)?),
            GROUP_END => return Err(WireError::UnexpectedEndGroup(number)),
            _ => Value::Fixed32(self.fixed32()?),
        })
    }

    /// Skips a payload of `wire_type` (a group with its nesting checked).
    #[inline(always)]
    pub fn skip(&mut self, number: u32, wire_type: u8) -> Result<(), WireError> {
        self.value(number, wire_type).map(drop)
    }

    /// The next whole field; None at the end of the message.
    #[inline(always)]
    pub fn field(&mut self) -> Result<Option<Field<'a>>, WireError> {
        let Some((number, wire_type)) = self.key()? else { return Ok(None) };
        let value = self.value(number, wire_type)?;
        Ok(Some(Field { number, value }))
    }
}

impl<'a> Reader<'a> {
    /// The next whole field with its bytes as on the wire (key and length included): what a
    /// walk that cuts or re-frames a message copies. None at the end of the message.
    #[inline]
    pub fn field_with_bytes(&mut self) -> Result<Option<(Field<'a>, &'a [u8])>, WireError> {
        let start = self.rest;
        let Some(field) = self.field()? else { return Ok(None) };
        Ok(Some((field, &start[..start.len() - self.rest.len()])))
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<Field<'a>, WireError>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        let field = self.field();
        if field.is_err() {
            self.finish();
        }
        field.transpose()
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
fn read_key(buf: &mut &[u8]) -> Result<(u32, u8), WireError> {
    let key = read_varint(buf)?;
    if key > u64::from(u32::MAX) {
        return Err(WireError::InvalidKey(key));
    }
    let wire_type = (key & 7) as u8;
    let number = (key >> 3) as u32;
    if wire_type > FIXED32 || number == 0 {
        return Err(WireError::InvalidKey(key));
    }
    Ok((number, wire_type))
}

/// The first `len` bytes of `buf`, which moves past them.
#[inline(always)]
pub fn take<'a>(buf: &mut &'a [u8], len: usize) -> Result<&'a [u8], WireError> {
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
            VARINT => {
                read_varint(buf)?;
            }
            FIXED64 => {
                take(buf, 8)?;
            }
            LEN => {
                let len = read_varint(buf)?;
                take(buf, usize::try_from(len).map_err(|_| WireError::Truncated)?)?;
            }
            GROUP_START => {
                skip_group(buf, inner, depth + 1)?;
            }
            GROUP_END => {
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
#[path = "wire_tests.rs"]
mod tests;
