//! Which trace ids a trace-index run holds, kept in memory so a lookup seeks only the runs
//! that may hold its id.
//!
//! Runs ([`crate::trace_index`]) are never merged with each other: a partition gains one per
//! 128k (trace, block) entries, so at 100M spans of the realistic load shape a lookup sought
//! in dozens of runs, one sled range read each, and a search paid that for each of its 20
//! result traces (service search p50 8.5 ms at 10M spans, 32 ms at 100M). A binary fuse
//! filter per run ([`crate::filter`]: ~9 bits per id, 0.39% false positives) turns that into
//! about one seek per lookup, for ~1.1 bytes of memory per trace stored.
//!
//! Stored as `F`+run in the run's own atomic batch (kind byte, then the filter), read with
//! the runs when a partition is first touched. A run without one (written before filters
//! existed) is sought every time, as before.

use std::collections::HashSet;

use crate::filter::{self, FilterView};

/// A run's filter: the kind byte and bytes [`filter::build`] made.
pub struct RunFilter {
    kind: u8,
    bytes: Box<[u8]>,
}

impl RunFilter {
    /// The filter of a run holding `ids` (repeats allowed).
    pub fn build<'a>(ids: impl Iterator<Item = &'a [u8; 16]>) -> Self {
        let hashes: HashSet<u64> = ids.map(id_hash).collect();
        let (kind, bytes) = filter::build(&hashes);
        RunFilter { kind, bytes: bytes.into() }
    }

    /// The stored form: kind byte, then the filter.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + self.bytes.len());
        out.push(self.kind);
        out.extend_from_slice(&self.bytes);
        out
    }

    /// Reads the stored form; None for an empty value (damage: the run is then always sought).
    pub fn from_bytes(stored: &[u8]) -> Option<Self> {
        let (&kind, bytes) = stored.split_first()?;
        Some(RunFilter { kind, bytes: bytes.into() })
    }

    /// False only when the run certainly holds no entry of `id`.
    pub fn may_hold(&self, id: &[u8; 16]) -> bool {
        FilterView::parse(self.kind, &self.bytes).may_contain(id_hash(id))
    }
}

/// A trace id's 64-bit key in the filter. Stored filters depend on it: it must never change.
/// Both halves go through splitmix64's finalizer, so ids that differ in either half (64-bit
/// Jaeger ids have a zero upper half) get unrelated keys.
fn id_hash(id: &[u8; 16]) -> u64 {
    let (hi, lo) = id.split_at(8);
    let half = |b: &[u8]| u64::from_be_bytes(b.try_into().unwrap_or([0; 8]));
    mix(mix(half(hi)) ^ half(lo))
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64, hi: u64) -> [u8; 16] {
        let mut t = [0u8; 16];
        t[..8].copy_from_slice(&hi.to_be_bytes());
        t[8..].copy_from_slice(&n.to_be_bytes());
        t
    }

    /// Every id put in is held, few others pass, also for 64-bit ids (zero upper half), and
    /// the stored form reads back the same.
    #[test]
    fn holds_its_ids_and_few_others_through_the_stored_form() {
        for hi in [0, 0x0123_4567_89AB_CDEF] {
            let ids: Vec<[u8; 16]> = (0..50_000).map(|n| id(n * 3, hi)).collect();
            let stored = RunFilter::build(ids.iter()).to_bytes();
            let f = RunFilter::from_bytes(&stored).expect("stored filter");
            assert!(ids.iter().all(|i| f.may_hold(i)));
            let passed = (0..50_000).filter(|n| f.may_hold(&id(n * 3 + 1, hi))).count();
            assert!(passed < 500, "{passed} of 50000 absent ids passed (0.39% expected)");
            assert!(stored.len() < 50_000 * 10 / 8, "{} B for 50000 ids", stored.len());
        }
        assert!(RunFilter::from_bytes(&[]).is_none());
    }
}
