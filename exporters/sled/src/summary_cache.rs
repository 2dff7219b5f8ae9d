//! The newest parts of the summary files, kept in memory while searches use them.
//!
//! A search whose tag is rare reads every summary of its lookback: ~87 MB at 100M spans of
//! the realistic load shape. Read from the file each time (format 7, [`crate::block_file`]),
//! copying them cost a rare-tag search ~30 ms more than when sled held them (query-bench,
//! 100M realistic: p50 26 -> 54 ms). So the summary files are cached in 1 MiB chunks
//! ([`CHUNK_BYTES`]; summaries are read in place from a chunk).
//!
//! Newest kept, not least recently used: searches read summaries newest first, and the same
//! scan repeated over more chunks than the budget holds would, under LRU, evict each chunk
//! just before the next scan wants it and never hit. Here the chunks of older partitions, and
//! of older offsets within one, go first, so the newest [`SUMMARY_CACHE_BYTES`] of summaries
//! stay: the part every search reads. Only whole chunks are kept (a file's last, growing
//! chunk is read from the file), so an entry never goes stale.
//!
//! Filled by searches only (a gateway that only ingests holds none of it), and emptied with
//! the decoded-block cache once no search has used it for
//! [`crate::block_cache::IDLE_AFTER`]: an idle gateway holds none of it either
//! (docs/memory.md). One cache for the process, keyed by store as the block cache is.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use bytes::Bytes;
use std::time::{Duration, Instant};

/// Bytes of a chunk; chunk `n` of a file is its bytes `[n * CHUNK_BYTES, (n + 1) * CHUNK_BYTES)`.
pub const CHUNK_BYTES: u64 = 1 << 20;

/// What every store of the process may keep, together.
const SUMMARY_CACHE_BYTES: usize = 128 << 20;

/// (partition start, chunk number, store): ordered oldest first, which is the eviction order.
pub type ChunkKey = (u64, u64, u64);

/// The process's summary cache, shared by every store.
pub fn shared() -> &'static SummaryCache {
    static CACHE: OnceLock<SummaryCache> = OnceLock::new();
    CACHE.get_or_init(|| SummaryCache::new(SUMMARY_CACHE_BYTES))
}

pub struct SummaryCache {
    budget: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    chunks: BTreeMap<ChunkKey, Bytes>,
    bytes: usize,
    last_used: Option<Instant>,
}

impl SummaryCache {
    pub fn new(budget: usize) -> Self {
        Self { budget, inner: Mutex::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, key: ChunkKey) -> Option<Bytes> {
        let mut inner = self.lock();
        inner.last_used = Some(Instant::now());
        inner.chunks.get(&key).cloned()
    }

    /// Whether [`Self::insert`] would keep a chunk of `key` (a caller that is told no reads
    /// it into a scratch buffer instead of memory of its own).
    pub fn would_keep(&self, key: ChunkKey, size: usize) -> bool {
        let inner = self.lock();
        size <= self.budget && (inner.bytes + size <= self.budget || inner.chunks.first_key_value().is_some_and(|(oldest, _)| *oldest < key))
    }

    /// Keeps `chunk`, then lets the oldest chunks go while over the budget (`chunk` too, if
    /// it is older than every other).
    pub fn insert(&self, key: ChunkKey, chunk: Bytes) {
        let mut inner = self.lock();
        inner.last_used = Some(Instant::now());
        let size = chunk.len();
        if let Some(old) = inner.chunks.insert(key, chunk) {
            inner.bytes -= old.len();
        }
        inner.bytes += size;
        while inner.bytes > self.budget {
            let Some((_, old)) = inner.chunks.pop_first() else { break };
            inner.bytes -= old.len();
        }
    }

    /// Empties the cache if no search used it in the `idle` before `now`; returns the bytes
    /// let go.
    pub fn release_if_idle(&self, now: Instant, idle: Duration) -> usize {
        let mut inner = self.lock();
        if inner.chunks.is_empty() || inner.last_used.is_some_and(|t| now.saturating_duration_since(t) < idle) {
            return 0;
        }
        inner.chunks = BTreeMap::new();
        std::mem::take(&mut inner.bytes)
    }

    /// Forgets the chunks of a dropped partition of `store`.
    pub fn forget_partition(&self, store: u64, start: u64) {
        self.forget(|k| k.2 == store && k.0 == start);
    }

    /// Forgets every chunk of a closed store.
    pub fn forget_store(&self, store: u64) {
        self.forget(|k| k.2 == store);
    }

    fn forget(&self, which: impl Fn(&ChunkKey) -> bool) {
        let mut inner = self.lock();
        let mut freed = 0;
        inner.chunks.retain(|k, v| {
            let keep = !which(k);
            if !keep {
                freed += v.len();
            }
            keep
        });
        inner.bytes -= freed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(n: usize) -> Bytes {
        vec![0u8; n].into()
    }

    #[test]
    fn a_chunk_older_than_a_full_cache_would_not_be_kept() {
        let cache = SummaryCache::new(200);
        assert!(cache.would_keep((3600, 1, 0), 100), "room");
        cache.insert((3600, 1, 0), chunk(100));
        cache.insert((3600, 2, 0), chunk(100));
        assert!(!cache.would_keep((3600, 0, 0), 100), "full, and older than all it holds");
        assert!(cache.would_keep((3600, 3, 0), 100), "newer than the oldest it holds");
        assert!(!cache.would_keep((7200, 0, 0), 300), "larger than the whole budget");
    }

    #[test]
    fn keeps_the_newest_chunks_within_the_budget() {
        let cache = SummaryCache::new(300);
        cache.insert((3600, 1, 0), chunk(100));
        cache.insert((7200, 0, 0), chunk(100));
        cache.insert((3600, 2, 0), chunk(100));
        // A scan reads newest first, then starts again at the newest: all three still there.
        assert!(cache.get((7200, 0, 0)).is_some() && cache.get((3600, 2, 0)).is_some() && cache.get((3600, 1, 0)).is_some());
        cache.insert((3600, 0, 0), chunk(100));
        assert!(cache.get((3600, 0, 0)).is_none(), "older than everything kept: not kept");
        cache.insert((7200, 1, 0), chunk(100));
        assert!(cache.get((3600, 1, 0)).is_none(), "the oldest chunk made room");
        assert!(cache.get((7200, 1, 0)).is_some() && cache.get((7200, 0, 0)).is_some() && cache.get((3600, 2, 0)).is_some());
        cache.forget_partition(0, 7200);
        assert!(cache.get((7200, 1, 0)).is_none() && cache.get((3600, 2, 0)).is_some());
        cache.forget_store(0);
        assert!(cache.get((3600, 2, 0)).is_none());
    }

    #[test]
    fn an_unused_cache_empties_itself() {
        let cache = SummaryCache::new(1000);
        cache.insert((0, 0, 0), chunk(100));
        let used = Instant::now();
        assert_eq!(cache.release_if_idle(used + Duration::from_secs(10), Duration::from_secs(60)), 0, "in use a moment ago");
        assert_eq!(cache.release_if_idle(Instant::now() + Duration::from_secs(60), Duration::from_secs(60)), 100);
        assert!(cache.get((0, 0, 0)).is_none());
    }
}
