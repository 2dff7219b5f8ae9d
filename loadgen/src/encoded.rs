//! A request (or datagram) encoded once, plus where its trace ids sit, so every send can carry
//! trace ids never sent before without re-encoding.
//!
//! [`EncodedBatch::patched`] copies the bytes once and XORs a per-round mask into each trace id,
//! in place and without changing the encoded length (a changed length would invalidate every
//! enclosing length prefix). How that is done depends on how the format stores an id
//! ([`IdEncoding`]). All spans of a trace get the same mask, so parent/child links stay intact;
//! span ids repeat across rounds, but only under different trace ids.

use bytes::{Bytes, BytesMut};

/// How a trace id is written in the bytes, which decides how it can be changed in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdEncoding {
    /// Raw bytes (OTLP `bytes`, a binary-Thrift big-endian i64): XOR the mask in.
    Raw,
    /// A compact-Thrift zigzag varint: XOR into the 7 payload bits of every byte except the
    /// last, so continuation bits, length and canonical form all stay as they were.
    Varint,
    /// Lowercase hex digits (Zipkin JSON): XOR one mask nibble into each digit.
    Hex,
}

/// Where one span's trace id is found: the bytes to search for (a marker followed by the id as
/// encoded), where in them the patchable part starts, and how many bytes (or digits) it has.
pub struct Needle {
    pub bytes: Vec<u8>,
    pub id_at: usize,
    pub patch_len: usize,
}

#[derive(Debug, Clone, Copy)]
struct IdSlot {
    offset: usize,
    len: usize,
}

#[derive(Debug, Clone)]
pub struct EncodedBatch {
    pub bytes: Bytes,
    pub spans: u64,
    encoding: IdEncoding,
    slots: Vec<IdSlot>,
}

impl EncodedBatch {
    /// Finds each span's trace id, in encoding order, each search starting after the last
    /// hit (so the whole scan is linear). Fails if a span's id is not where it should be, which
    /// would be a bug in the encoder's description of its format.
    pub fn locate(
        bytes: Vec<u8>,
        spans: u64,
        encoding: IdEncoding,
        needles: impl IntoIterator<Item = Needle>,
    ) -> Result<Self, String> {
        let mut slots = Vec::new();
        let mut cursor = 0;
        for needle in needles {
            let found = find(&bytes[cursor..], &needle.bytes).ok_or_else(|| {
                format!(
                    "trace id of span {} not found in the encoded batch",
                    slots.len()
                )
            })?;
            let at = cursor + found;
            slots.push(IdSlot {
                offset: at + needle.id_at,
                len: needle.patch_len,
            });
            cursor = at + needle.bytes.len();
        }
        Ok(Self {
            bytes: Bytes::from(bytes),
            spans,
            encoding,
            slots,
        })
    }

    /// How many trace ids `patched` rewrites (one per span).
    #[cfg(test)]
    pub fn id_slots(&self) -> usize {
        self.slots.len()
    }

    /// The batch with every trace id XORed with a mask derived from `round`; round 0 is the
    /// batch as generated. Costs one copy of the bytes.
    pub fn patched(&self, round: u64) -> Bytes {
        if round == 0 || self.slots.is_empty() {
            return self.bytes.clone();
        }
        let mask = splitmix64(round);
        let mut buf = BytesMut::from(&self.bytes[..]);
        for slot in &self.slots {
            let Some(id) = buf.get_mut(slot.offset..slot.offset + slot.len) else {
                continue;
            };
            for (i, b) in id.iter_mut().enumerate() {
                *b = match self.encoding {
                    IdEncoding::Raw => *b ^ (mask >> (8 * i % 64)) as u8,
                    IdEncoding::Varint => *b ^ ((mask >> (7 * i % 63)) as u8 & 0x7f),
                    IdEncoding::Hex => xor_hex_digit(*b, (mask >> (4 * i % 64)) as u8 & 0x0f),
                };
            }
        }
        buf.freeze()
    }

    /// Compressed copy for senders that compress once up front (ids are not patched then).
    pub fn gzipped(&self) -> std::io::Result<Self> {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&self.bytes)?;
        Ok(Self {
            bytes: Bytes::from(enc.finish()?),
            spans: self.spans,
            encoding: self.encoding,
            slots: Vec::new(),
        })
    }
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
            let needle = Needle {
                bytes: bytes[..1 + len].to_vec(),
                id_at: 1,
                patch_len: len - 1,
            };
            let batch = EncodedBatch::locate(bytes.clone(), 1, IdEncoding::Varint, [needle])
                .expect("located");
            let patched = batch.patched(7);
            let (value, read) = unvarint(&patched[1..]);
            assert_eq!(read, len, "id {id}: same length");
            assert_eq!(patched.len(), bytes.len());
            assert_ne!(value, zigzag(id), "id {id}: fresh value");
        }
    }

    #[test]
    fn hex_patches_stay_lowercase_hex_and_round_zero_is_the_original() {
        let text = br#"[{"traceId":"0123456789abcdef0123456789abcdef","id":"1"}]"#.to_vec();
        let needle = Needle {
            bytes: br#""traceId":"0123456789abcdef"#.to_vec(),
            id_at: 11,
            patch_len: 16,
        };
        let batch =
            EncodedBatch::locate(text.clone(), 1, IdEncoding::Hex, [needle]).expect("located");
        assert_eq!(batch.patched(0), text);
        let patched = batch.patched(3);
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
        let needle = Needle {
            bytes: vec![1, 2, 3],
            id_at: 1,
            patch_len: 2,
        };
        assert!(EncodedBatch::locate(vec![1, 2, 4], 1, IdEncoding::Raw, [needle]).is_err());
    }
}
