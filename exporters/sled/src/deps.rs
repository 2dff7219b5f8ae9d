//! Service dependencies counted at write time, so `/api/dependencies` needs no batch job.
//!
//! An edge is a span whose parent span belongs to another service. The parent is usually not
//! in the same batch: children end (and are exported) before their parents. So the tracker
//! remembers recently seen spans' services and children still waiting for their parent, both
//! bounded: each map has two generations of at most [`GENERATION`] entries, and the older one
//! is forgotten when the newer fills. Edges whose parent arrives later than that are not
//! counted; Jaeger's own Spark job has the same kind of window.

use std::sync::Arc;

use crate::codec::FastMap;

const GENERATION: usize = 200_000;

/// A (trace id, span id) pair folded to 64 bits (in memory only, never stored), eight
/// bytes at a time.
pub fn span_key(trace_id: &[u8], span_id: &[u8]) -> u64 {
    const M: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ ((trace_id.len() as u64) << 32 | span_id.len() as u64);
    for part in [trace_id, span_id] {
        for chunk in part.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            h = (h ^ u64::from_le_bytes(w)).wrapping_mul(M).rotate_left(29);
        }
    }
    // The maps below take buckets from the low bits: mix the high ones down.
    h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^ (h >> 27)
}

struct TwoGen<V> {
    new: FastMap<u64, V>,
    old: FastMap<u64, V>,
}

impl<V> Default for TwoGen<V> {
    fn default() -> Self {
        Self { new: FastMap::default(), old: FastMap::default() }
    }
}

impl<V> TwoGen<V> {
    /// Starts a new generation when the newer one is full. The forgotten generation's table
    /// becomes the new one, emptied: it was sized for a full generation, so the new one
    /// never grows through rehashes, and nothing is freed or allocated.
    fn turn_if_full(&mut self) {
        if self.new.len() >= GENERATION {
            std::mem::swap(&mut self.old, &mut self.new);
            self.new.clear();
        }
    }

    fn insert(&mut self, k: u64, v: V) {
        self.turn_if_full();
        self.new.insert(k, v);
    }

    /// Inserts `k` unless either generation holds it; whether it was new. One probe of each
    /// table: a lookup and then an insert probed the newer one twice.
    fn insert_new(&mut self, k: u64, v: V) -> bool {
        self.turn_if_full();
        if self.old.contains_key(&k) {
            return false;
        }
        match self.new.entry(k) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(v);
                true
            }
        }
    }
    fn get(&self, k: u64) -> Option<&V> {
        self.new.get(&k).or_else(|| self.old.get(&k))
    }
    fn remove(&mut self, k: u64) -> Option<V> {
        if self.new.is_empty() && self.old.is_empty() {
            return None;
        }
        self.new.remove(&k).or_else(|| self.old.remove(&k))
    }
}

/// One span as the tracker sees it.
pub struct SpanLink {
    pub key: u64,
    pub parent: Option<u64>,
    /// The span's service, as an index into the `services` passed to [`DepTracker::record`].
    pub service: u32,
    /// Start of the span's partition (the edge is counted there).
    pub partition: u64,
}

/// An edge to count: (partition start, parent service, child service).
pub type Edge = (u64, Arc<str>, Arc<str>);

/// Distinct service names the tracker numbers before it starts over (a bound on memory if
/// names were unbounded; real deployments have hundreds).
const MAX_SERVICES: usize = 1 << 16;

/// Services are numbered (`u32`), so a span costs no reference-count traffic.
#[derive(Default)]
pub struct DepTracker {
    seen: TwoGen<u32>,
    waiting: TwoGen<Vec<(u64, u32)>>,
    names: Vec<Arc<str>>,
    numbers: FastMap<Arc<str>, u32>,
}

impl DepTracker {
    fn number(&mut self, service: &str) -> u32 {
        if let Some(n) = self.numbers.get(service) {
            return *n;
        }
        if self.names.len() >= MAX_SERVICES {
            *self = Self::default();
        }
        let n = self.names.len() as u32;
        let name: Arc<str> = Arc::from(service);
        self.names.push(name.clone());
        self.numbers.insert(name, n);
        n
    }

    /// Records a batch whose spans name their service by index into `services`, and returns
    /// the edges it completes. A span seen before (a retried batch) is ignored, so retries do
    /// not double count within the window.
    pub fn record(&mut self, services: &[&str], spans: &[SpanLink]) -> Vec<Edge> {
        let numbers: Vec<u32> = services.iter().map(|s| self.number(s)).collect();
        let number = |s: &SpanLink| numbers.get(s.service as usize).copied().unwrap_or(u32::MAX);
        let mut found: Vec<(u64, u32, u32)> = Vec::new();
        let mut fresh = Vec::with_capacity(spans.len());
        for s in spans {
            let service = number(s);
            if !self.seen.insert_new(s.key, service) {
                continue;
            }
            if let Some(children) = self.waiting.remove(s.key) {
                for (partition, child) in children {
                    if child != service {
                        found.push((partition, service, child));
                    }
                }
            }
            fresh.push(s);
        }
        for s in fresh {
            let Some(parent) = s.parent else { continue };
            let service = number(s);
            match self.seen.get(parent) {
                Some(&ps) if ps != service => found.push((s.partition, ps, service)),
                Some(_) => {}
                None => match self.waiting.new.get_mut(&parent) {
                    Some(list) => list.push((s.partition, service)),
                    None => self.waiting.insert(parent, vec![(s.partition, service)]),
                },
            }
        }
        let name = |n: u32| self.names.get(n as usize).cloned().unwrap_or_else(|| Arc::from(""));
        found.into_iter().map(|(p, parent, child)| (p, name(parent), name(child))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{span_key, DepTracker, SpanLink, GENERATION};

    fn link(trace: u8, span: u32, parent: Option<u32>, service: u32) -> SpanLink {
        let id = |s: u32| span_key(&[trace; 16], &s.to_le_bytes());
        SpanLink { key: id(span), parent: parent.map(id), service, partition: 0 }
    }

    /// An edge is counted once whichever of parent and child comes first, a retried batch
    /// adds nothing, and a span seen just before the generations turn is still known after.
    #[test]
    fn edges_are_counted_once_across_batches_retries_and_generation_turns() {
        let services = ["frontend", "cart"];
        let mut deps = DepTracker::default();
        // The child first, its parent in a later batch.
        let child = [link(1, 2, Some(1), 1)];
        assert!(deps.record(&services, &child).is_empty());
        let parent = [link(1, 1, None, 0)];
        let found = deps.record(&services, &parent);
        assert_eq!(found.iter().map(|(_, p, c)| (&**p, &**c)).collect::<Vec<_>>(), [("frontend", "cart")]);
        assert!(deps.record(&services, &child).is_empty(), "a retried child");
        assert!(deps.record(&services, &parent).is_empty(), "a retried parent");

        // A pair that fills the newer generation to the brim, then one more span turns it.
        let filler: Vec<SpanLink> = (0..GENERATION as u32 - 4).map(|i| link(2, i, None, 0)).collect();
        assert!(deps.record(&services, &filler).is_empty());
        let pair = [link(3, 1, None, 0), link(3, 2, Some(1), 1)];
        assert_eq!(deps.record(&services, &pair).len(), 1);
        assert!(deps.record(&services, &[link(4, 1, None, 0)]).is_empty(), "the turn");
        assert!(deps.record(&services, &pair).is_empty(), "a retry of spans from before the turn");
        assert_eq!(deps.record(&services, &[link(3, 3, Some(1), 1)]).len(), 1, "a child of a span from before the turn");
    }
}
