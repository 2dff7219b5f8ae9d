//! The tag filter of a block summary: which `(service, key, value)` hashes the block holds.
//!
//! A search for a rare tag value reads every summary in its window and decompresses each
//! block whose filter says "maybe"; a false positive costs a decompression and a value-column
//! check (~2 ms for an 8192-span block), so at 10M spans (~1200 blocks) the false-positive
//! rate sets the latency: a Bloom filter at 8 bits per item and 5 probes lets ~2.2% through
//! (~27 blocks, most of a 99 ms rare-tag search in the realistic load). A binary fuse filter
//! (`xorf::BinaryFuse8`: ~9 bits per item, 0.39% false positives) lets ~5 through for ~12%
//! more bytes, and is read in place from the summary without a copy. Its construction can
//! fail (rarely, for unlucky key sets); the writer then keeps the Bloom filter, which every
//! reader still understands.
//!
//! Since storage format 5 a summary's fingerprints are 16 bits (`xorf::BinaryFuse16`: ~19
//! bits per item with the size factor of a block's item count; 1 in 65536 false positives).
//! At 100M spans a rare-tag search reads ~11k summaries, and with 8-bit fingerprints ~45 of
//! them let it decompress a block that did not hold the value: a quarter of the search once
//! its other costs were gone. The price is ~1.2 B per distinct tag per block more in the
//! summary. The trace index's run filters, which stay in memory, keep 8 bits.
//!
//! Stored as a kind byte (`0`: 8-bit binary fuse; [`FUSE16`]: 16-bit; `k > 0` below it:
//! Bloom with `k` probes) and the filter's bytes (fuse: xorf's 20-byte descriptor then the
//! fingerprints, 16-bit ones little-endian). xorf indexes without
//! checking, so a descriptor that does not fit its fingerprints (damage) is never handed to
//! it: such a filter answers "maybe" for every hash, and a damaged summary costs time, not a
//! panic.

use std::collections::HashSet;
use std::hash::BuildHasher;

use xorf::{BinaryFuse16, BinaryFuse8, BinaryFuse8Ref, DmaSerializable, Filter, FilterRef};

/// Bloom density and probe count: (1 - e^(-5/8))^5 ~= 2.2%.
const BITS_PER_ITEM: usize = 8;
const PROBES: u64 = 5;
/// Kind byte of a binary fuse filter with 8-bit fingerprints (written before format 5).
pub const FUSE: u8 = 0;
/// Kind byte of a binary fuse filter with 16-bit fingerprints.
pub const FUSE16: u8 = 0xF6;
const DESCRIPTOR: usize = <BinaryFuse8 as DmaSerializable>::DESCRIPTOR_LEN;

/// Builds the filter of `tags` with 8-bit fingerprints (0.39% false positives): (kind,
/// bytes). What the trace index's run filters keep in memory, where size counts more.
pub fn build<S: BuildHasher>(tags: &HashSet<u64, S>) -> (u8, Vec<u8>) {
    if !tags.is_empty() {
        let keys: Vec<u64> = tags.iter().copied().collect();
        if let Ok(fuse) = BinaryFuse8::try_from(&keys) {
            let mut out = vec![0u8; DESCRIPTOR];
            fuse.dma_copy_descriptor_to(&mut out);
            out.extend_from_slice(fuse.dma_fingerprints());
            return (FUSE, out);
        }
    }
    (PROBES as u8, bloom(tags, PROBES))
}

/// Builds the filter of `tags` with 16-bit fingerprints (1 in 65536 false positives): what a
/// block summary stores (see the module doc).
pub fn build16<S: BuildHasher>(tags: &HashSet<u64, S>) -> (u8, Vec<u8>) {
    if !tags.is_empty() {
        let keys: Vec<u64> = tags.iter().copied().collect();
        if let Ok(fuse) = BinaryFuse16::try_from(&keys) {
            let mut out = Vec::with_capacity(DESCRIPTOR + fuse.fingerprints.len() * 2);
            out.resize(DESCRIPTOR, 0);
            fuse.dma_copy_descriptor_to(&mut out);
            for f in fuse.fingerprints.iter() {
                out.extend_from_slice(&f.to_le_bytes());
            }
            return (FUSE16, out);
        }
    }
    build(tags)
}

/// A 16-bit binary fuse filter read in place: `BinaryFuse16Ref` needs its fingerprints
/// aligned, which a value read from sled is not, so the lookup is done here, as xorf does it
/// (the test `fuse16_lookups_agree_with_xorf` holds the two together).
#[derive(Clone, Copy)]
pub struct Fuse16View<'a> {
    seed: u64,
    segment_length: u32,
    segment_length_mask: u32,
    segment_count_length: u32,
    fingerprints: &'a [u8],
}

impl Fuse16View<'_> {
    fn contains(&self, key: u64) -> bool {
        let hash = murmur3_mix64(key.wrapping_add(self.seed));
        let f = (hash ^ (hash >> 32)) as u16;
        let hi = ((u128::from(hash) * u128::from(self.segment_count_length)) >> 64) as u32;
        let h0 = hi;
        let h1 = (h0 + self.segment_length) ^ (((hash >> 18) as u32) & self.segment_length_mask);
        let h2 = (h0 + 2 * self.segment_length) ^ ((hash as u32) & self.segment_length_mask);
        let at = |i: u32| {
            let i = i as usize * 2;
            // In bounds: `fuse_parts` checked the descriptor against the fingerprints.
            self.fingerprints.get(i..i + 2).map_or(0, |b| u16::from_le_bytes([b[0], b[1]]))
        };
        f ^ at(h0) ^ at(h1) ^ at(h2) == 0
    }
}

/// MurmurHash3's 64-bit finalizer, xorf's key mix.
fn murmur3_mix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// A Bloom filter of `tags` with `k` probes.
pub fn bloom<S: BuildHasher>(tags: &HashSet<u64, S>, k: u64) -> Vec<u8> {
    let bits = (tags.len() * BITS_PER_ITEM).max(64).next_multiple_of(8);
    let mut bytes = vec![0u8; bits / 8];
    for h in tags {
        for bit in probes(*h, bits as u64, k) {
            bytes[(bit / 8) as usize] |= 1 << (bit % 8);
        }
    }
    bytes
}

/// A stored filter, read in place.
#[derive(Clone)]
pub enum FilterView<'a> {
    Bloom { bytes: &'a [u8], probes: u64 },
    Fuse(BinaryFuse8Ref<'a>),
    Fuse16(Fuse16View<'a>),
    /// A fuse filter that does not add up: everything may be there.
    Damaged,
}

impl<'a> FilterView<'a> {
    pub fn parse(kind: u8, bytes: &'a [u8]) -> Self {
        match kind {
            FUSE => match fuse_parts(bytes, 1) {
                Some((descriptor, fingerprints)) => FilterView::Fuse(BinaryFuse8Ref::from_dma(descriptor, fingerprints)),
                None => FilterView::Damaged,
            },
            FUSE16 => match fuse_parts(bytes, 2) {
                Some((d, fingerprints)) => {
                    let u32_at = |at: usize| u32::from_le_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]]);
                    let seed = u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]);
                    FilterView::Fuse16(Fuse16View {
                        seed,
                        segment_length: u32_at(8),
                        segment_length_mask: u32_at(12),
                        segment_count_length: u32_at(16),
                        fingerprints,
                    })
                }
                None => FilterView::Damaged,
            },
            probes => FilterView::Bloom { bytes, probes: u64::from(probes) },
        }
    }

    /// False only when the hash is certainly absent.
    pub fn may_contain(&self, hash: u64) -> bool {
        match self {
            FilterView::Bloom { bytes, probes: k } => {
                let bits = bytes.len() as u64 * 8;
                bits > 0 && probes(hash, bits, *k).all(|bit| bytes[(bit / 8) as usize] & (1 << (bit % 8)) != 0)
            }
            FilterView::Fuse(fuse) => fuse.contains(&hash),
            FilterView::Fuse16(fuse) => fuse.contains(hash),
            FilterView::Damaged => true,
        }
    }
}

/// The descriptor and fingerprints of a fuse filter of `width`-byte fingerprints, if every
/// index its lookups can compute falls inside the fingerprints (xorf indexes without
/// checking).
fn fuse_parts(bytes: &[u8], width: usize) -> Option<(&[u8], &[u8])> {
    let (descriptor, fingerprints) = (bytes.get(..DESCRIPTOR)?, bytes.get(DESCRIPTOR..)?);
    let u32_at = |at: usize| descriptor.get(at..at + 4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes);
    let (length, mask, count_length) = (u32_at(8)?, u32_at(12)?, u32_at(16)?);
    // Lookups index h0 < count_length, then h0 + length and h0 + 2 * length with low bits
    // (under the mask) replaced: all below count_length + 2 * length when the count length
    // is whole segments of a power-of-two length, and at least one (with none, h0 is 0 and
    // not below it: found by the fuzz target `sled_summary`).
    let fits = length.is_power_of_two()
        && mask == length - 1
        && count_length >= length
        && count_length % length == 0
        && fingerprints.len() % width == 0
        && u64::from(count_length) + 2 * u64::from(length) <= (fingerprints.len() / width) as u64
        && u64::from(count_length) + 3 * u64::from(length) <= u64::from(u32::MAX);
    fits.then_some((descriptor, fingerprints))
}

/// k probes from one 64-bit hash (double hashing), each mapped onto `[0, bits)` by a
/// multiply and shift instead of a division.
fn probes(hash: u64, bits: u64, k: u64) -> impl Iterator<Item = u64> {
    let h1 = hash;
    let h2 = hash.rotate_left(32) | 1;
    (0..k).map(move |i| ((u128::from(h1.wrapping_add(i.wrapping_mul(h2))) * u128::from(bits)) >> 64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashes(n: u64, salt: u64) -> HashSet<u64> {
        (0..n).map(|i| crate::summary::tag_hash("svc", "k", &format!("{salt}-{i}"))).collect()
    }

    /// Every hash put in is found, and far fewer others pass than with the Bloom filter.
    #[test]
    fn fuse_filter_has_no_false_negatives_and_few_false_positives() {
        let tags = hashes(20_000, 1);
        let (kind, bytes) = build16(&tags);
        assert_eq!(kind, FUSE16);
        let view = FilterView::parse(kind, &bytes);
        assert!(tags.iter().all(|h| view.may_contain(*h)));
        let others = hashes(100_000, 2);
        let passed = others.iter().filter(|h| view.may_contain(**h)).count();
        assert!(passed < 10, "{passed} of 100000 absent hashes passed (1.5 expected)");
        assert!(bytes.len() < 20_000 * 5 / 2, "{} B for 20000 items", bytes.len());
        let (kind8, bytes8) = build(&tags);
        assert_eq!(kind8, FUSE);
        assert!(bytes8.len() < 20_000 * 10 / 8, "{} B for 20000 items", bytes8.len());
        let view8 = FilterView::parse(kind8, &bytes8);
        let passed8 = others.iter().filter(|h| view8.may_contain(**h)).count();
        assert!(passed8 < 700, "{passed8} of 100000 absent hashes passed (0.39% expected)");
        let bloom_bytes = super::bloom(&tags, PROBES);
        let bloom = FilterView::parse(PROBES as u8, &bloom_bytes);
        let bloom_passed = others.iter().filter(|h| bloom.may_contain(**h)).count();
        assert!(passed * 3 < bloom_passed, "fuse {passed}, bloom {bloom_passed}");
    }

    /// The in-place 16-bit lookup answers as xorf's own filter does, and 8-bit filters written
    /// before format 5 are still read.
    #[test]
    fn fuse16_lookups_agree_with_xorf() {
        let keys: Vec<u64> = hashes(5_000, 4).into_iter().collect();
        let fuse = BinaryFuse16::try_from(&keys).expect("build");
        let (kind, bytes) = build16(&keys.iter().copied().collect::<HashSet<u64>>());
        // A misaligned copy: where a value read from sled may sit.
        let mut shifted = vec![0u8];
        shifted.extend_from_slice(&bytes);
        let view = FilterView::parse(kind, &shifted[1..]);
        for k in keys.iter().copied().chain((0..200_000u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))) {
            assert_eq!(view.may_contain(k), fuse.contains(&k), "key {k}");
        }
        let fuse8 = BinaryFuse8::try_from(&keys).expect("build");
        let mut old = vec![0u8; DESCRIPTOR];
        fuse8.dma_copy_descriptor_to(&mut old);
        old.extend_from_slice(fuse8.dma_fingerprints());
        let view = FilterView::parse(FUSE, &old);
        assert!(keys.iter().all(|k| view.may_contain(*k)));
    }

    #[test]
    fn an_empty_set_passes_nothing_and_damage_passes_everything_without_panicking() {
        let (kind, bytes) = build(&HashSet::<u64>::new());
        let view = FilterView::parse(kind, &bytes);
        assert!(!view.may_contain(42));
        let (kind, bytes) = build(&hashes(1000, 3));
        for cut in [0, 5, DESCRIPTOR, bytes.len() - 1] {
            assert!(FilterView::parse(kind, &bytes[..cut]).may_contain(7), "cut at {cut}");
        }
        // A descriptor with no segment (count length 0) and fingerprints for two: the third
        // lookup would index past them.
        let mut empty = bytes[..DESCRIPTOR].to_vec();
        empty[8..12].copy_from_slice(&4u32.to_le_bytes());
        empty[12..16].copy_from_slice(&3u32.to_le_bytes());
        empty[16..20].copy_from_slice(&0u32.to_le_bytes());
        empty.extend_from_slice(&[0; 8]);
        let view = FilterView::parse(kind, &empty);
        assert!((0..1000u64).all(|h| view.may_contain(h.wrapping_mul(0x9E37_79B9_7F4A_7C15))));
        for i in 0..DESCRIPTOR {
            let mut bad = bytes.clone();
            bad[i] ^= 0xA5;
            let view = FilterView::parse(kind, &bad);
            for h in 0..200u64 {
                let _ = view.may_contain(h.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            }
        }
    }
}
