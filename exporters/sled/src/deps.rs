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

/// A (trace id, span id) pair folded to 64 bits.
pub fn span_key(trace_id: &[u8], span_id: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in trace_id.iter().chain(span_id) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // FNV's low bits mix poorly and the maps below take buckets from them.
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
    fn insert(&mut self, k: u64, v: V) {
        if self.new.len() >= GENERATION {
            self.old = std::mem::take(&mut self.new);
        }
        self.new.insert(k, v);
    }
    fn get(&self, k: u64) -> Option<&V> {
        self.new.get(&k).or_else(|| self.old.get(&k))
    }
    fn remove(&mut self, k: u64) -> Option<V> {
        self.new.remove(&k).or_else(|| self.old.remove(&k))
    }
}

/// One span as the tracker sees it.
pub struct SpanLink {
    pub key: u64,
    pub parent: Option<u64>,
    pub service: Arc<str>,
    /// Start of the span's partition (the edge is counted there).
    pub partition: u64,
}

/// An edge to count: (partition start, parent service, child service).
pub type Edge = (u64, Arc<str>, Arc<str>);

#[derive(Default)]
pub struct DepTracker {
    seen: TwoGen<Arc<str>>,
    waiting: TwoGen<Vec<(u64, Arc<str>)>>,
}

impl DepTracker {
    /// Records a batch and returns the edges it completes. A span seen before (a retried
    /// batch) is ignored, so retries do not double count within the window.
    pub fn record(&mut self, spans: &[SpanLink]) -> Vec<Edge> {
        let mut edges = Vec::new();
        let mut fresh = Vec::with_capacity(spans.len());
        for s in spans {
            if self.seen.get(s.key).is_some() {
                continue;
            }
            self.seen.insert(s.key, s.service.clone());
            if let Some(children) = self.waiting.remove(s.key) {
                for (partition, child) in children {
                    if child != s.service {
                        edges.push((partition, s.service.clone(), child));
                    }
                }
            }
            fresh.push(s);
        }
        for s in fresh {
            let Some(parent) = s.parent else { continue };
            match self.seen.get(parent) {
                Some(ps) if *ps != s.service => edges.push((s.partition, ps.clone(), s.service.clone())),
                Some(_) => {}
                None => match self.waiting.new.get_mut(&parent) {
                    Some(list) => list.push((s.partition, s.service.clone())),
                    None => self.waiting.insert(parent, vec![(s.partition, s.service.clone())]),
                },
            }
        }
        edges
    }
}
