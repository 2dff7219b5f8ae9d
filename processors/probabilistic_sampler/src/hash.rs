//! The Collector's legacy hash (`fnvhasher.go`, `randomnessFromBytes`): FNV-1a 32 over the
//! seed's four little-endian bytes followed by the trace id, of which the low 14 bits pick a
//! bucket. Kept bit for bit, since matching an OTel Collector's decisions is the point.

const FNV32_OFFSET: u32 = 0x811c_9dc5;
const FNV32_PRIME: u32 = 0x0100_0193;

pub(crate) const NUM_HASH_BUCKETS_LG2: u32 = 14;
pub(crate) const NUM_HASH_BUCKETS: u32 = 1 << NUM_HASH_BUCKETS_LG2;
const BIT_MASK_HASH_BUCKETS: u32 = NUM_HASH_BUCKETS - 1;

/// FNV-1a over `seed` (4 bytes, little-endian) then `bytes`.
pub fn compute_hash(bytes: &[u8], seed: u32) -> u32 {
    let mut h = FNV32_OFFSET;
    for b in seed.to_le_bytes().iter().chain(bytes) {
        h ^= u32::from(*b);
        h = h.wrapping_mul(FNV32_PRIME);
    }
    h
}

/// The 14-bit bucket; the legacy rule keeps a trace when `bucket < scaled rate`.
pub fn hash_bucket(bytes: &[u8], seed: u32) -> u32 {
    compute_hash(bytes, seed) & BIT_MASK_HASH_BUCKETS
}

/// The 56-bit randomness the Collector derives from the hash, so the legacy rule has the
/// W3C form `threshold <= randomness`: the top 14 bits are `16383 - bucket`.
pub fn randomness_from_bytes(bytes: &[u8], seed: u32) -> u64 {
    let hashed32 = compute_hash(bytes, seed);
    let hashed = u64::from(hashed32 & BIT_MASK_HASH_BUCKETS);
    let rprime14 = u64::from(NUM_HASH_BUCKETS) - 1 - hashed;
    let unused18 = u64::from(hashed32 >> (32 - NUM_HASH_BUCKETS_LG2));
    let mixed28 = unused18 ^ (unused18 << 10);
    (rprime14 << 42) | (mixed28 << 14) | hashed
}

/// The accepted bucket count for a percentage, computed as the Collector does: a float32
/// multiplication truncated towards zero (`uint32(pct * percentageScaleFactor)`).
pub(crate) fn scaled_sample_rate(pct: f32) -> u32 {
    let pct = pct.min(100.0);
    // `as` truncates and saturates, like Go's conversion for in-range values.
    (pct * (NUM_HASH_BUCKETS as f32 / 100.0)) as u32
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    /// Vectors from the Collector's `TestEmptyHashFunction`.
    #[test]
    fn matches_the_collectors_known_vectors() {
        assert_eq!(hash_bucket(&[], 0), 0x3515);
        assert_eq!(hash_bucket(&[0u8; 16], 0), 0x2455);
    }

    /// Published FNV-1a 32 vectors, with the seed's bytes as the first four of the input.
    #[test]
    fn is_fnv1a_over_seed_then_bytes() {
        assert_eq!(compute_hash(b"ar", u32::from_le_bytes(*b"foob")), 0xbf9c_f968); // "foobar"
        assert_eq!(compute_hash(b"", u32::from_le_bytes(*b"abcd")), fnv_ref(b"abcd"));
    }

    fn fnv_ref(bytes: &[u8]) -> u32 {
        bytes.iter().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(*b)).wrapping_mul(0x0100_0193))
    }

    #[test]
    fn scaled_rate_rounds_like_float32_go() {
        assert_eq!(scaled_sample_rate(100.0), 16384);
        assert_eq!(scaled_sample_rate(250.0), 16384);
        assert_eq!(scaled_sample_rate(25.0), 4096);
        assert_eq!(scaled_sample_rate(10.0), 1638);
        assert_eq!(scaled_sample_rate(0.001), 0);
    }

    #[test]
    fn randomness_puts_the_bucket_in_the_top_bits() {
        let tid = [7u8; 16];
        let r = randomness_from_bytes(&tid, 4312);
        assert_eq!(r >> 42, u64::from(16383 - hash_bucket(&tid, 4312)));
        assert_eq!(r & 0x3fff, u64::from(hash_bucket(&tid, 4312)));
        assert!(r < 1 << 56);
    }
}
