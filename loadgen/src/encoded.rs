//! A request (or datagram) encoded once, plus where its trace ids and times sit, so every send
//! can carry trace ids never sent before and times of the moment it is sent, without
//! re-encoding.
//!
//! [`EncodedBatch::patched`] copies the bytes once and changes each noted field ("slot") in
//! place, without changing the encoded length (a changed length would invalidate every
//! enclosing length prefix): it XORs a per-round mask into each trace id (how depends on how
//! the format stores an id, [`IdEncoding`]) and adds the time since generation to each time
//! (see `restamp`). All spans of a trace get the same mask, so parent/child links stay intact;
//! span ids repeat across rounds, but only under different trace ids. Some attribute values
//! that identify a trace or a user (`order.id`, `user.id` of the realistic shape) are hex ids
//! patched with the same mask, so they stay fresh too.

use bytes::{Bytes, BytesMut};

use crate::restamp::{self, Shift, TimeField};

/// How an id is written in the bytes, which decides how it can be changed in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdEncoding {
    /// Raw bytes (OTLP `bytes`, a binary-Thrift big-endian i64): XOR the mask in.
    Raw,
    /// A compact-Thrift zigzag varint: XOR into the 7 payload bits of every byte except the
    /// last, so continuation bits, length and canonical form all stay as they were.
    Varint,
    /// Lowercase hex digits (Zipkin JSON, hex attribute values): XOR one mask nibble into each
    /// digit.
    Hex,
}

/// What a slot holds and so how a send changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Patch {
    /// An id, XORed with the round's mask.
    Id(IdEncoding),
    /// A time, shifted by the time since generation.
    Time(TimeField),
}

/// Where one field is found: the bytes to search for (a marker followed by the field as
/// encoded), where in them the patchable part starts, how many bytes (or digits) it has, and
/// how it is patched.
pub struct Needle {
    pub bytes: Vec<u8>,
    pub id_at: usize,
    pub patch_len: usize,
    pub patch: Patch,
}

impl Needle {
    /// A trace id (or hex id value) in `bytes`, patchable from `at` for `len` bytes.
    pub fn id(bytes: Vec<u8>, at: usize, len: usize, encoding: IdEncoding) -> Self {
        Self {
            bytes,
            id_at: at,
            patch_len: len,
            patch: Patch::Id(encoding),
        }
    }

    /// A time: `marker` (field tag or JSON key) then the whole encoded `value`.
    pub fn time(marker: &[u8], value: &[u8], field: TimeField) -> Self {
        Self {
            bytes: [marker, value].concat(),
            id_at: marker.len(),
            patch_len: value.len(),
            patch: Patch::Time(field),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    offset: usize,
    len: usize,
    patch: Patch,
}

#[derive(Debug, Clone)]
pub struct EncodedBatch {
    pub bytes: Bytes,
    pub spans: u64,
    slots: Vec<Slot>,
}

impl EncodedBatch {
    /// Finds each needle, in encoding order, each search starting after the last hit (so the
    /// whole scan is linear). Fails if a field is not where it should be, or a time cannot be
    /// shifted in place, which would be a bug in the encoder's description of its format.
    pub fn locate(
        bytes: Vec<u8>,
        spans: u64,
        needles: impl IntoIterator<Item = Needle>,
    ) -> Result<Self, String> {
        let mut slots = Vec::new();
        let mut cursor = 0;
        for needle in needles {
            let found = find(&bytes[cursor..], &needle.bytes).ok_or_else(|| {
                format!(
                    "{:?} field {} not found in the encoded batch",
                    needle.patch,
                    slots.len()
                )
            })?;
            let at = cursor + found;
            let slot = Slot {
                offset: at + needle.id_at,
                len: needle.patch_len,
                patch: needle.patch,
            };
            if let Patch::Time(kind) = slot.patch {
                restamp::check(&bytes[slot.offset..slot.offset + slot.len], kind)?;
            }
            slots.push(slot);
            cursor = at + needle.bytes.len();
        }
        Ok(Self {
            bytes: Bytes::from(bytes),
            spans,
            slots,
        })
    }

    /// How many fields of the given kind `patched` rewrites.
    #[cfg(test)]
    pub fn slots_of(&self, wanted: fn(Patch) -> bool) -> usize {
        self.slots.iter().filter(|s| wanted(s.patch)).count()
    }

    /// The batch with every id XORed with a mask derived from `round` (round 0 keeps the ids
    /// as generated) and every time shifted by `shift_ns`. Costs one copy of the bytes.
    pub fn patched(&self, round: u64, shift_ns: i64) -> Bytes {
        if (round == 0 && shift_ns == 0) || self.slots.is_empty() {
            return self.bytes.clone();
        }
        let mask = splitmix64(round);
        let shift = Shift::from_nanos(shift_ns);
        let mut buf = BytesMut::from(&self.bytes[..]);
        for slot in &self.slots {
            let Some(field) = buf.get_mut(slot.offset..slot.offset + slot.len) else {
                continue;
            };
            match slot.patch {
                Patch::Id(_) if round == 0 => {}
                Patch::Id(encoding) => xor_id(field, encoding, mask),
                Patch::Time(kind) => restamp::shift(field, kind, shift),
            }
        }
        buf.freeze()
    }
}

fn xor_id(id: &mut [u8], encoding: IdEncoding, mask: u64) {
    for (i, b) in id.iter_mut().enumerate() {
        *b = match encoding {
            IdEncoding::Raw => *b ^ (mask >> (8 * i % 64)) as u8,
            IdEncoding::Varint => *b ^ ((mask >> (7 * i % 63)) as u8 & 0x7f),
            IdEncoding::Hex => xor_hex_digit(*b, (mask >> (4 * i % 64)) as u8 & 0x0f),
        };
    }
}

/// Gzip for HTTP bodies, compressed at each send after patching (see `pool`).
pub fn gzip(bytes: &[u8]) -> std::io::Result<Bytes> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes)?;
    Ok(Bytes::from(enc.finish()?))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    (0..haystack.len().saturating_sub(needle.len() - 1))
        .find(|&i| haystack[i] == first && haystack[i..].starts_with(needle))
}

fn xor_hex_digit(digit: u8, nibble: u8) -> u8 {
    let value = match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        b'A'..=b'F' => digit - b'A' + 10,
        other => return other,
    };
    b"0123456789abcdef"[usize::from((value ^ nibble) & 0x0f)]
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The compact-Thrift (and protobuf) varint of `v`.
pub fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(10);
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
    out
}

/// Compact Thrift's zigzag mapping of a signed i64.
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unvarint(bytes: &[u8]) -> (u64, usize) {
        let mut v = 0u64;
        for (i, b) in bytes.iter().enumerate() {
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return (v, i + 1);
            }
        }
        (v, bytes.len())
    }

    #[test]
    fn varint_patches_keep_the_length_and_change_the_value() {
        for id in [i64::MIN, -5000, 1 << 20, 0x1234_5678_9abc_def0, i64::MAX] {
            let encoded = varint(zigzag(id));
            let len = encoded.len();
            let mut bytes = vec![0x16];
            bytes.extend(&encoded);
            bytes.push(0x00);
            let needle = Needle::id(bytes[..1 + len].to_vec(), 1, len - 1, IdEncoding::Varint);
            let batch = EncodedBatch::locate(bytes.clone(), 1, [needle]).expect("located");
            let patched = batch.patched(7, 0);
            let (value, read) = unvarint(&patched[1..]);
            assert_eq!(read, len, "id {id}: same length");
            assert_eq!(patched.len(), bytes.len());
            assert_ne!(value, zigzag(id), "id {id}: fresh value");
        }
    }

    #[test]
    fn hex_patches_stay_lowercase_hex_and_round_zero_is_the_original() {
        let text = br#"[{"traceId":"0123456789abcdef0123456789abcdef","id":"1"}]"#.to_vec();
        let needle = Needle::id(
            br#""traceId":"0123456789abcdef"#.to_vec(),
            11,
            16,
            IdEncoding::Hex,
        );
        let batch = EncodedBatch::locate(text.clone(), 1, [needle]).expect("located");
        assert_eq!(batch.patched(0, 0), text);
        let patched = batch.patched(3, 0);
        let id = &patched[13..45];
        assert!(id
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c)));
        assert_ne!(&id[..16], b"0123456789abcdef");
        assert_eq!(
            &id[16..],
            b"0123456789abcdef",
            "only the patched half changes"
        );
    }

    #[test]
    fn a_missing_id_is_an_error() {
        let needle = Needle::id(vec![1, 2, 3], 1, 2, IdEncoding::Raw);
        assert!(EncodedBatch::locate(vec![1, 2, 4], 1, [needle]).is_err());
    }

    #[test]
    fn ids_and_times_patch_together_and_round_zero_keeps_ids() {
        let time = 1_760_000_000_000_000_000u64.to_le_bytes();
        let bytes = [&[0x0A, 0x02, 0xAB, 0xCD, 0x39][..], &time].concat();
        let needles = [
            Needle::id(vec![0x0A, 0x02, 0xAB, 0xCD], 2, 2, IdEncoding::Raw),
            Needle::time(&[0x39], &time, TimeField::FixedLeNanos),
        ];
        let batch = EncodedBatch::locate(bytes, 1, needles).expect("located");
        let read_time = |b: &[u8]| b[5..13].try_into().map(u64::from_le_bytes).ok();
        let same_ids = batch.patched(0, 42);
        assert_eq!(&same_ids[2..4], &[0xAB, 0xCD]);
        assert_eq!(read_time(&same_ids), Some(1_760_000_000_000_000_042));
        let both = batch.patched(5, -42);
        assert_ne!(&both[2..4], &[0xAB, 0xCD]);
        assert_eq!(read_time(&both), Some(1_759_999_999_999_999_958));
    }

    #[test]
    fn a_time_that_cannot_be_shifted_in_place_is_an_error() {
        let not_digits = Needle::time(b"t=", b"12x", TimeField::DecimalMicros);
        assert!(EncodedBatch::locate(b"t=12x".to_vec(), 1, [not_digits]).is_err());
    }
}
