//! The trace-id map, in shards.
//!
//! A `HashMap` grows by doubling: for a moment it holds its old and its new table, and with a
//! memory budget the table is a large part of what is held (tens of bytes per pending trace,
//! next to a few KB of spans). Measured through the gateway at 11x a 16 MiB budget's traffic,
//! one growth of a single map took RSS 20 MiB over its steady level for half a second. Sixteen
//! maps chosen by a byte of the trace id (random in W3C and Jaeger ids) grow one at a time, so
//! a growth costs a sixteenth of that.

use std::collections::HashMap;

use crate::buffer::TraceId;

const SHARDS: usize = 16;

pub struct ShardedMap<V> {
    shards: Vec<HashMap<TraceId, V>>,
}

fn shard(id: &TraceId) -> usize {
    // The last byte: the first bytes of a padded short id (malformed input) are its content,
    // the last ones zeros, and either way the id lands somewhere deterministic.
    id[15] as usize % SHARDS
}

impl<V> ShardedMap<V> {
    pub fn with_capacity(capacity: usize) -> Self {
        Self { shards: (0..SHARDS).map(|_| HashMap::with_capacity(capacity.div_ceil(SHARDS))).collect() }
    }

    pub fn get(&self, id: &TraceId) -> Option<&V> {
        self.shards[shard(id)].get(id)
    }

    pub fn get_mut(&mut self, id: &TraceId) -> Option<&mut V> {
        self.shards[shard(id)].get_mut(id)
    }

    pub fn insert(&mut self, id: TraceId, value: V) -> Option<V> {
        self.shards[shard(&id)].insert(id, value)
    }

    pub fn remove(&mut self, id: &TraceId) -> Option<V> {
        self.shards[shard(id)].remove(id)
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(HashMap::is_empty)
    }

    /// Entries the shards have room for.
    pub fn capacity(&self) -> usize {
        self.shards.iter().map(HashMap::capacity).sum()
    }

    /// Heap bytes of the shards' tables (entries and control bytes, from their room).
    pub fn table_bytes(&self) -> usize {
        self.capacity() * (std::mem::size_of::<(TraceId, V)>() + 1)
    }

    /// Shrinks each shard to about its share of `capacity` (never below what it holds).
    pub fn shrink_to(&mut self, capacity: usize) {
        let each = capacity.div_ceil(SHARDS);
        for s in &mut self.shards {
            s.shrink_to(each);
        }
    }

    /// Gives back the room of shards at a quarter of their capacity or less.
    pub fn shrink_sparse(&mut self) {
        for s in &mut self.shards {
            if s.capacity() > 256 && s.len() * 4 < s.capacity() {
                s.shrink_to(s.len() * 2);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn behaves_as_one_map() {
        let mut m = ShardedMap::with_capacity(0);
        for i in 0..1000u32 {
            let mut id = [0u8; 16];
            id[12..].copy_from_slice(&i.to_be_bytes());
            assert!(m.insert(id, i).is_none());
        }
        assert_eq!(m.len(), 1000);
        let mut id = [0u8; 16];
        id[12..].copy_from_slice(&7u32.to_be_bytes());
        assert_eq!(m.get(&id), Some(&7));
        *m.get_mut(&id).unwrap() = 70;
        assert_eq!(m.remove(&id), Some(70));
        assert_eq!(m.len(), 999);
        assert!(m.capacity() >= 999 && m.table_bytes() > 999 * 20);
        for i in 0..1000u32 {
            let mut id = [0u8; 16];
            id[12..].copy_from_slice(&i.to_be_bytes());
            m.remove(&id);
        }
        assert!(m.is_empty());
        m.shrink_to(0);
        assert_eq!(m.capacity(), 0);
    }
}
