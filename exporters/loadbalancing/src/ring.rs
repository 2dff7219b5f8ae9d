//! The consistent-hash ring that picks a backend for a routing key (a trace id, a service name).
//!
//! Why a ring and not `hash % backends`: when a backend joins or leaves, `%` moves almost every
//! key, so nearly every trace in flight would be split between two tail samplers. On a ring
//! each backend owns the arcs ending at its points; a new backend takes over only the arcs its
//! own points cut off, and a leaving one hands only its arcs to the next points. So with n
//! backends about 1/n of the keys move, and never between two backends that stay.
//!
//! The arithmetic is the Collector's loadbalancingexporter's, so a tracegate and a Collector
//! load balancer given the same backend names send a trace to the same backend (a fleet can be
//! migrated one load balancer at a time): 36 000 positions; each backend gets 100 points at
//! `crc32(name ++ [i]) % 36000` for i in 0..100; a position already taken stays with the backend
//! that comes first in sorted order; a key sits at `crc32(key) % 36000` and belongs to the
//! first point at or after it, wrapping around to the first point.

use std::sync::Arc;

/// Positions on the ring (360 degrees with two decimals, as the Collector counts them).
const POSITIONS: u32 = 36_000;

/// Points per backend: enough that each of a handful of backends gets within a few percent
/// of its share (the Collector's choice).
const POINTS_PER_BACKEND: u8 = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Point {
    position: u32,
    /// Index into [`Ring::backends`].
    backend: u32,
}

/// An immutable ring over a set of backends; a new set gets a new ring.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ring {
    /// Sorted, without duplicates.
    backends: Vec<Arc<str>>,
    /// Sorted by position, one owner per position.
    points: Vec<Point>,
}

/// Where `key` sits on the ring.
pub fn position(key: &[u8]) -> u32 {
    crc32fast::hash(key) % POSITIONS
}

impl Ring {
    /// A ring over `backends`; their order does not matter (they are sorted first, so every
    /// load balancer given the same set builds the same ring).
    pub fn new(backends: impl IntoIterator<Item = Arc<str>>) -> Self {
        let mut backends: Vec<Arc<str>> = backends.into_iter().collect();
        backends.sort();
        backends.dedup();
        let mut points: Vec<Point> = Vec::with_capacity(backends.len() * usize::from(POINTS_PER_BACKEND));
        let mut taken = std::collections::HashSet::new();
        for (index, name) in backends.iter().enumerate() {
            let backend = u32::try_from(index).unwrap_or(u32::MAX);
            for i in 0..POINTS_PER_BACKEND {
                let mut hasher = crc32fast::Hasher::new();
                hasher.update(name.as_bytes());
                hasher.update(&[i]);
                let position = hasher.finalize() % POSITIONS;
                if taken.insert(position) {
                    points.push(Point { position, backend });
                }
            }
        }
        points.sort_unstable_by_key(|p| p.position);
        Self { backends, points }
    }

    /// The backends, sorted; [`Ring::owner`] answers with an index into this.
    pub fn backends(&self) -> &[Arc<str>] {
        &self.backends
    }

    pub fn is_empty(&self) -> bool {
        self.backends.is_empty()
    }

    /// The index of the backend that owns `key`; `None` on an empty ring.
    pub fn owner(&self, key: &[u8]) -> Option<usize> {
        self.owner_at(position(key))
    }

    /// The owner of a position: the first point at or after it, else the first point.
    fn owner_at(&self, position: u32) -> Option<usize> {
        let after = self.points.partition_point(|p| p.position < position);
        let point = self.points.get(after).or_else(|| self.points.first())?;
        Some(point.backend as usize)
    }

    /// The name of the backend that owns `key`.
    pub fn owner_name(&self, key: &[u8]) -> Option<&Arc<str>> {
        self.owner(key).and_then(|i| self.backends.get(i))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::HashMap;

    use rand::{Rng, SeedableRng};

    use super::*;

    fn ring(names: &[&str]) -> Ring {
        Ring::new(names.iter().map(|n| Arc::from(*n)))
    }

    fn trace_ids(n: usize) -> Vec<[u8; 16]> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(20);
        (0..n).map(|_| rng.random()).collect()
    }

    fn owners(ring: &Ring, keys: &[[u8; 16]]) -> Vec<Arc<str>> {
        keys.iter().map(|k| ring.owner_name(k).unwrap().clone()).collect()
    }

    #[test]
    fn every_key_has_one_owner_and_the_load_is_spread() {
        let r = ring(&["sampler-1:4317", "sampler-2:4317", "sampler-3:4317", "sampler-4:4317"]);
        let keys = trace_ids(100_000);
        let mut counts: HashMap<Arc<str>, usize> = HashMap::new();
        for owner in owners(&r, &keys) {
            *counts.entry(owner).or_default() += 1;
        }
        assert_eq!(counts.len(), 4, "every backend owns keys");
        for (backend, n) in &counts {
            let share = *n as f64 / keys.len() as f64;
            assert!((0.15..=0.35).contains(&share), "{backend} owns {:.1}% of the keys", share * 100.0);
        }
    }

    #[test]
    fn the_order_backends_are_listed_in_does_not_matter() {
        let a = ring(&["b:4317", "a:4317", "c:4317"]);
        let b = ring(&["c:4317", "a:4317", "b:4317", "a:4317"]);
        assert_eq!(a, b);
        assert_eq!(a.backends().len(), 3);
    }

    #[test]
    fn adding_a_fourth_backend_moves_about_a_quarter_of_the_keys_all_to_the_new_one() {
        let keys = trace_ids(100_000);
        let before = owners(&ring(&["s1:4317", "s2:4317", "s3:4317"]), &keys);
        let after = owners(&ring(&["s1:4317", "s2:4317", "s3:4317", "s4:4317"]), &keys);
        let mut moved = 0;
        for (old, new) in before.iter().zip(&after) {
            if old != new {
                moved += 1;
                assert_eq!(&**new, "s4:4317", "a key moved from {old} to {new}, between two backends that stayed");
            }
        }
        let share = moved as f64 / keys.len() as f64;
        assert!((0.15..=0.35).contains(&share), "{:.1}% of the keys moved, expected about 25%", share * 100.0);
    }

    #[test]
    fn removing_a_backend_moves_only_its_own_keys() {
        let keys = trace_ids(100_000);
        let before = owners(&ring(&["s1:4317", "s2:4317", "s3:4317", "s4:4317"]), &keys);
        let after = owners(&ring(&["s1:4317", "s3:4317", "s4:4317"]), &keys);
        for (old, new) in before.iter().zip(&after) {
            if &**old != "s2:4317" {
                assert_eq!(old, new, "a key of a backend that stayed moved");
            } else {
                assert_ne!(&**new, "s2:4317");
            }
        }
    }

    #[test]
    fn one_backend_owns_everything_and_an_empty_ring_owns_nothing() {
        let r = ring(&["only:4317"]);
        assert!(trace_ids(1000).iter().all(|k| r.owner(k) == Some(0)));
        assert_eq!(Ring::default().owner(b"x"), None);
        assert!(Ring::default().is_empty());
    }

    #[test]
    fn positions_are_crc32_ieee_modulo_36000_as_in_the_collector() {
        // crc32("123456789") is the IEEE polynomial's check value, 0xCBF43926.
        assert_eq!(position(b"123456789"), 0xCBF4_3926 % 36_000);
        // A key past the last point wraps around to the first.
        let r = ring(&["a:4317", "b:4317"]);
        let last = r.points.last().unwrap();
        let first = r.points.first().unwrap();
        if last.position + 1 < POSITIONS {
            assert_eq!(r.owner_at(last.position + 1), Some(first.backend as usize));
        }
        assert_eq!(r.owner_at(first.position), Some(first.backend as usize));
    }
}
