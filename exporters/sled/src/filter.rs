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
//! Stored as a kind byte (`0`: binary fuse; `k > 0`: Bloom with `k` probes) and the filter's
//! bytes (fuse: xorf's 20-byte descriptor then the fingerprints). xorf indexes without
//! checking, so a descriptor that does not fit its fingerprints (damage) is never handed to
//! it: such a filter answers "maybe" for every hash, and a damaged summary costs time, not a
//! panic.

use std::collections::HashSet;
use std::hash::BuildHasher;

use xorf::{BinaryFuse8, BinaryFuse8Ref, DmaSerializable, Filter, FilterRef};

/// Bloom density and probe count: (1 - e^(-5/8))^5 ~= 2.2%.
const BITS_PER_ITEM: usize = 8;
const PROBES: u64 = 5;
/// Kind byte of a binary fuse filter.
pub const FUSE: u8 = 0;
const DESCRIPTOR: usize = <BinaryFuse8 as DmaSerializable>::DESCRIPTOR_LEN;

/// Builds the filter of `tags`: (kind, bytes).
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
    /// A fuse filter that does not add up: everything may be there.
    Damaged,
}

impl<'a> FilterView<'a> {
    pub fn parse(kind: u8, bytes: &'a [u8]) -> Self {
        if kind != FUSE {
            return FilterView::Bloom { bytes, probes: u64::from(kind) };
        }
        match fuse_parts(bytes) {
            Some((descriptor, fingerprints)) => FilterView::Fuse(BinaryFuse8Ref::from_dma(descriptor, fingerprints)),
            None => FilterView::Damaged,
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
            FilterView::Damaged => true,
        }
    }
}

/// The descriptor and fingerprints of a fuse filter, if every index its lookups can compute
/// falls inside the fingerprints (xorf indexes without checking).
fn fuse_parts(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
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
        && u64::from(count_length) + 2 * u64::from(length) <= fingerprints.len() as u64
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
        let (kind, bytes) = build(&tags);
        assert_eq!(kind, FUSE);
        let view = FilterView::parse(kind, &bytes);
        assert!(tags.iter().all(|h| view.may_contain(*h)));
        let others = hashes(100_000, 2);
        let passed = others.iter().filter(|h| view.may_contain(**h)).count();
        assert!(passed < 700, "{passed} of 100000 absent hashes passed (0.39% expected)");
        assert!(bytes.len() < 20_000 * 10 / 8, "{} B for 20000 items", bytes.len());
        let bloom_bytes = super::bloom(&tags, PROBES);
        let bloom = FilterView::parse(PROBES as u8, &bloom_bytes);
        let bloom_passed = others.iter().filter(|h| bloom.may_contain(**h)).count();
        assert!(passed * 3 < bloom_passed, "fuse {passed}, bloom {bloom_passed}");
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
