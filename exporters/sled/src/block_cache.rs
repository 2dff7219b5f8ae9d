//! Decoded blocks recently read, so a search and the trace fetches that follow it decompress
//! each block once.
//!
//! The UI's search answers with whole traces, and a user then opens one of them: with
//! 8192-span blocks (the shipped batch size) a block holds hundreds of traces, so the blocks
//! a search walked are the ones its results and the next clicks need. Decompressing and
//! parsing a block costs far more than walking it again, so the decoded form is kept.
//!
//! Bounded by bytes (the decompressed size), least recently used out first. Blocks are
//! immutable once written (a sequence number is never reused in a partition), so entries
//! never go stale; a dropped partition's entries are removed with it.
//!
//! One cache for the whole process ([`shared`]), keyed by store too: with tenancy an exporter
//! opens a store per tenant, and a cache per store would have made the bound 64 MiB times the
//! number of tenants instead of 64 MiB.
//!
//! Emptied once no read has used it for [`IDLE_AFTER`] ([`BlockCache::release_if_idle`], from
//! the store's background task): the blocks serve the clicks that follow a search, not a UI
//! opened once an hour, and a gateway left idle after a few searches otherwise held up to
//! 64 MiB more for good (docs/memory.md).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::block_read::Block;

/// What every store of the process may keep decoded, together.
const BLOCK_CACHE_BYTES: usize = 64 << 20;

/// How long the cache stays unused before it is emptied.
pub const IDLE_AFTER: Duration = Duration::from_secs(60);

/// (store, partition start, block sequence number); a store's number is
/// `crate::db::Shared::store_id`.
pub type BlockKey = (u64, u64, u64);

/// The process's block cache, shared by every store.
pub fn shared() -> &'static BlockCache {
    static CACHE: OnceLock<BlockCache> = OnceLock::new();
    CACHE.get_or_init(|| BlockCache::new(BLOCK_CACHE_BYTES))
}

pub struct BlockCache {
    budget: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<BlockKey, (Arc<Block>, u64)>,
    bytes: usize,
    tick: u64,
    /// When a read last looked a block up or kept one.
    last_used: Option<Instant>,
}

impl BlockCache {
    pub fn new(budget: usize) -> Self {
        Self { budget, inner: Mutex::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, key: BlockKey) -> Option<Arc<Block>> {
        let mut inner = self.lock();
        inner.tick += 1;
        inner.last_used = Some(Instant::now());
        let tick = inner.tick;
        let (block, used) = inner.entries.get_mut(&key)?;
        *used = tick;
        Some(block.clone())
    }

    /// Keeps `block` unless it alone exceeds the budget; evicts the least recently used.
    pub fn insert(&self, key: BlockKey, block: Arc<Block>) {
        let size = block.memory_size();
        if size > self.budget {
            return;
        }
        let mut inner = self.lock();
        inner.tick += 1;
        inner.last_used = Some(Instant::now());
        let tick = inner.tick;
        if let Some((old, _)) = inner.entries.insert(key, (block, tick)) {
            inner.bytes -= old.memory_size();
        }
        inner.bytes += size;
        while inner.bytes > self.budget {
            // A few dozen entries at most: a scan is cheaper than keeping an order.
            let Some(oldest) = inner.entries.iter().min_by_key(|(_, (_, used))| *used).map(|(k, _)| *k) else { break };
            if let Some((old, _)) = inner.entries.remove(&oldest) {
                inner.bytes -= old.memory_size();
            }
        }
    }

    /// Empties the cache (its map's memory too) if no read used it in the `idle` before
    /// `now`. Returns the bytes of blocks let go.
    pub fn release_if_idle(&self, now: Instant, idle: Duration) -> usize {
        let mut inner = self.lock();
        if inner.entries.is_empty() || inner.last_used.is_some_and(|t| now.saturating_duration_since(t) < idle) {
            return 0;
        }
        inner.entries = HashMap::new();
        std::mem::take(&mut inner.bytes)
    }

    /// Forgets the blocks of a dropped partition of `store`.
    pub fn forget_partition(&self, store: u64, start: u64) {
        self.forget(|k| k.0 == store && k.1 == start);
    }

    /// Forgets every block of a closed store.
    pub fn forget_store(&self, store: u64) {
        self.forget(|k| k.0 == store);
    }

    fn forget(&self, which: impl Fn(&BlockKey) -> bool) {
        let mut inner = self.lock();
        let gone: Vec<BlockKey> = inner.entries.keys().filter(|k| which(k)).copied().collect();
        for k in gone {
            if let Some((old, _)) = inner.entries.remove(&k) {
                inner.bytes -= old.memory_size();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_most_recently_used_within_the_budget() {
        let block = Arc::new(Block::empty_for_test(1000));
        let size = block.memory_size();
        let cache = BlockCache::new(size * 2);
        cache.insert((0, 1, 1), block.clone());
        cache.insert((0, 1, 2), block.clone());
        assert!(cache.get((0, 1, 1)).is_some(), "touch 1 so 2 is the oldest");
        cache.insert((0, 1, 3), block.clone());
        assert!(cache.get((0, 1, 2)).is_none(), "least recently used evicted");
        assert!(cache.get((0, 1, 1)).is_some() && cache.get((0, 1, 3)).is_some());
        cache.forget_partition(0, 1);
        assert!(cache.get((0, 1, 1)).is_none());
        let small = BlockCache::new(size - 1);
        small.insert((0, 2, 1), block);
        assert!(small.get((0, 2, 1)).is_none(), "a block over the whole budget is not kept");
    }

    #[test]
    fn an_unused_cache_empties_itself() {
        let block = Arc::new(Block::empty_for_test(1000));
        let cache = BlockCache::new(block.memory_size() * 4);
        cache.insert((0, 1, 1), block.clone());
        cache.insert((0, 1, 2), block.clone());
        let used = Instant::now();
        assert_eq!(cache.release_if_idle(used + Duration::from_secs(10), IDLE_AFTER), 0, "in use a moment ago");
        assert!(cache.get((0, 1, 1)).is_some());
        let later = Instant::now() + IDLE_AFTER;
        assert_eq!(cache.release_if_idle(later, IDLE_AFTER), block.memory_size() * 2);
        assert!(cache.get((0, 1, 1)).is_none() && cache.get((0, 1, 2)).is_none(), "both blocks let go");
        cache.insert((0, 1, 3), block.clone());
        assert!(cache.get((0, 1, 3)).is_some(), "and it fills again with the next read");
    }
}
