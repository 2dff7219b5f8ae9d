//! Re-stamping the times of an encoded batch in place, so spans follow the send clock.
//!
//! The pool is generated once, so without this every round would resend the same few thousand
//! start times, all from the second the pool was built. Instead each send adds "now at send −
//! now at generation" to every time field, without decoding and without changing the encoded
//! length (a changed length would invalidate every enclosing length prefix). How depends on how
//! the format writes a time ([`TimeField`]):
//!
//! - OTLP protobuf: `fixed64` nanoseconds, little-endian: add the shift.
//! - binary Thrift: a big-endian `i64` of microseconds: add the shift in µs.
//! - compact Thrift: a zigzag varint of microseconds. A present-day time (2^48..2^55 µs, i.e.
//!   1978 to 3111) always has an 8-byte varint, so adding hours or years keeps the length; the
//!   result is clamped to the values of the same length anyway, and [`check`] refuses a slot
//!   that is not a positive time, so the length can never change.
//! - Zipkin JSON: decimal microseconds; 16 digits from 2001 to 2286, clamped the same way.
//!
//! Durations are differences and need no change.

use std::time::{SystemTime, UNIX_EPOCH};

/// How a time is written in the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeField {
    /// Protobuf `fixed64` nanoseconds (OTLP).
    FixedLeNanos,
    /// Big-endian `i64` microseconds (binary Thrift).
    FixedBeMicros,
    /// Zigzag varint microseconds (compact Thrift); the slot covers the whole varint.
    VarintMicros,
    /// ASCII decimal microseconds (Zipkin JSON); the slot covers the digits.
    DecimalMicros,
}

/// The amount to add, in the two units the formats use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shift {
    pub nanos: i64,
    pub micros: i64,
}

impl Shift {
    pub fn from_nanos(nanos: i64) -> Self {
        Self {
            nanos,
            micros: nanos.div_euclid(1000),
        }
    }
}

/// Nanoseconds since the Unix epoch (0 if the clock is before 1970).
pub fn unix_now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Whether `field` holds a time this module can shift without changing its length. Called once
/// per slot when a batch is encoded.
pub fn check(field: &[u8], kind: TimeField) -> Result<(), String> {
    let ok = match kind {
        TimeField::FixedLeNanos | TimeField::FixedBeMicros => field.len() == 8,
        TimeField::VarintMicros => read_varint(field).is_some_and(|z| z & 1 == 0 && z > 0),
        TimeField::DecimalMicros => {
            !field.is_empty() && field.len() <= 19 && field.iter().all(u8::is_ascii_digit)
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "time field {field:02x?} is not a positive {kind:?} time, so it cannot be re-stamped in place"
        ))
    }
}

/// Adds `shift` to the time in `field`, in place; the length never changes. A field that does
/// not hold a time of its kind (impossible after [`check`]) is left alone.
pub fn shift(field: &mut [u8], kind: TimeField, shift: Shift) {
    match kind {
        TimeField::FixedLeNanos => {
            if let Ok(bytes) = <[u8; 8]>::try_from(&*field) {
                let v = u64::from_le_bytes(bytes).saturating_add_signed(shift.nanos);
                field.copy_from_slice(&v.to_le_bytes());
            }
        }
        TimeField::FixedBeMicros => {
            if let Ok(bytes) = <[u8; 8]>::try_from(&*field) {
                let v = i64::from_be_bytes(bytes).saturating_add(shift.micros);
                field.copy_from_slice(&v.to_be_bytes());
            }
        }
        TimeField::VarintMicros => shift_varint(field, shift.micros),
        TimeField::DecimalMicros => shift_decimal(field, shift.micros),
    }
}

/// A varint that ends exactly at the end of `field`.
fn read_varint(field: &[u8]) -> Option<u64> {
    let (last, body) = field.split_last()?;
    if *last & 0x80 != 0 || body.iter().any(|b| b & 0x80 == 0) || field.len() > 10 {
        return None;
    }
    Some(
        field
            .iter()
            .enumerate()
            .fold(0u64, |v, (i, b)| v | (u64::from(b & 0x7f) << (7 * i))),
    )
}

/// A zigzag-encoded positive time `t` is the varint of `2t`; a varint of `n` bytes holds
/// `2^(7(n-1)) ..= 2^(7n) - 1`, so `t` stays the same length within the returned bounds.
fn varint_time_bounds(len: usize) -> (i64, i64) {
    let bits = 7 * len as u32;
    let lo = if len <= 1 { 0 } else { 1u64 << (bits - 7) };
    let hi = 1u64.checked_shl(bits).map_or(u64::MAX, |v| v - 1);
    (
        i64::try_from(lo.div_ceil(2)).unwrap_or(i64::MAX),
        i64::try_from(hi / 2).unwrap_or(i64::MAX),
    )
}

fn shift_varint(field: &mut [u8], micros: i64) {
    let Some(z) = read_varint(field) else { return };
    let t = (z >> 1) as i64; // positive times only (see `check`)
    let (lo, hi) = varint_time_bounds(field.len());
    let mut z = (t.saturating_add(micros).clamp(lo, hi) as u64) << 1;
    let last = field.len() - 1;
    for (i, b) in field.iter_mut().enumerate() {
        *b = (z as u8 & 0x7f) | if i < last { 0x80 } else { 0 };
        z >>= 7;
    }
    debug_assert_eq!(z, 0, "the clamped time fits the varint's length");
}

fn shift_decimal(field: &mut [u8], micros: i64) {
    let Ok(text) = std::str::from_utf8(field) else {
        return;
    };
    let Ok(t) = text.parse::<i64>() else { return };
    let digits = field.len() as u32;
    let lo = if digits <= 1 {
        0
    } else {
        10i64.pow(digits - 1)
    };
    let hi = 10i64.checked_pow(digits).map_or(i64::MAX, |v| v - 1);
    let mut v = t.saturating_add(micros).clamp(lo, hi);
    for b in field.iter_mut().rev() {
        *b = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoded::{varint, zigzag};

    const NOW_US: i64 = 1_760_000_000_123_456;
    const HOURS_US: i64 = 5 * 3600 * 1_000_000;

    #[test]
    fn varint_times_keep_their_length_and_clamp_at_its_edge() {
        let mut field = varint(zigzag(NOW_US));
        assert_eq!(field.len(), 8);
        assert!(check(&field, TimeField::VarintMicros).is_ok());
        shift(
            &mut field,
            TimeField::VarintMicros,
            Shift::from_nanos(HOURS_US * 1000),
        );
        assert_eq!(field, varint(zigzag(NOW_US + HOURS_US)));
        // Shifting past what 8 bytes hold stops at the largest 8-byte time.
        let far = Shift {
            nanos: i64::MAX,
            micros: i64::MAX,
        };
        shift(&mut field, TimeField::VarintMicros, far);
        assert_eq!(field.len(), 8);
        assert_eq!(read_varint(&field), Some(((1u64 << 56) - 1) & !1));
        let negative = varint(zigzag(-5));
        assert!(check(&negative, TimeField::VarintMicros).is_err());
    }

    #[test]
    fn decimal_times_keep_their_digit_count() {
        let mut field = NOW_US.to_string().into_bytes();
        shift(
            &mut field,
            TimeField::DecimalMicros,
            Shift::from_nanos(HOURS_US * 1000 + 999),
        );
        assert_eq!(field, (NOW_US + HOURS_US).to_string().into_bytes());
        shift(
            &mut field,
            TimeField::DecimalMicros,
            Shift::from_nanos(-i64::MAX),
        );
        assert_eq!(field, b"1000000000000000");
        assert!(check(b"12a4", TimeField::DecimalMicros).is_err());
    }

    #[test]
    fn fixed_times_add_the_shift_in_their_unit() {
        let mut le = 1_760_000_000_000_000_007u64.to_le_bytes();
        shift(&mut le, TimeField::FixedLeNanos, Shift::from_nanos(-7));
        assert_eq!(u64::from_le_bytes(le), 1_760_000_000_000_000_000);
        let mut be = NOW_US.to_be_bytes();
        shift(&mut be, TimeField::FixedBeMicros, Shift::from_nanos(2_500));
        assert_eq!(i64::from_be_bytes(be), NOW_US + 2);
    }
}
