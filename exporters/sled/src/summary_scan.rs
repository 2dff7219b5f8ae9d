//! A partition's search summaries, newest first, read in place from cached chunks of its
//! summary file.
//!
//! # Why chunks
//!
//! Since format 7 summaries are in a file, not in sled's memory ([`crate::block_file`]). A
//! search whose tag is rare reads every summary of the lookback (~12k at 100M spans of the
//! realistic load shape), and one positioned read per ~7 KB summary cost a system call, a
//! zeroed buffer and a copy each: query-bench's rare tag at 100M went from 26 to 79 ms p50.
//! Summaries are appended in the order of their blocks, so the ones a search reads next lie
//! next to each other: the file is read in 1 MiB chunks, and whole chunks are kept by
//! [`crate::summary_cache`] while searches use them (the newest first), so a summary is
//! parsed where it lies, as it was in sled's memory. A chunk the cache would not keep is read
//! into one scratch buffer per search: a fresh 1 MiB per chunk, faulted in and copied into
//! the cache's own form, made the rare tag at 100M slower than reading every summary on its
//! own. A summary across a chunk boundary is read on its own.
//!
//! A value stored in sled itself (formats 2 to 6) is used as it is.

use bytes::Bytes;
use sled::IVec;

use crate::block_file::{pointer, BlockFile};
use crate::db::StoreError;
use crate::summary_cache::{SummaryCache, CHUNK_BYTES};

enum Chunk {
    Cached(Bytes),
    /// Its first `n` bytes are in `scratch`.
    Scratch(usize),
}

enum Stored {
    Inline(IVec),
    /// Offset and length in the current chunk.
    InChunk(usize, usize),
    /// Length in `spill`.
    Spilled(usize),
}

/// Yields `(key, summary bytes)` newest first; see the module doc.
pub struct SummaryScan<'a> {
    file: &'a BlockFile,
    cache: &'a SummaryCache,
    /// The store's number and the partition's start, for the cache's keys.
    store: u64,
    partition: u64,
    entries: std::iter::Rev<sled::Iter>,
    /// The chunk the last summary was in: its number and where its bytes are.
    chunk: Option<(u64, Chunk)>,
    /// A chunk the cache would not keep (it holds newer ones) is read here: one buffer for
    /// the whole search, not a new one per chunk.
    scratch: Vec<u8>,
    /// A summary across a chunk boundary, read on its own.
    spill: Vec<u8>,
    /// The entry `next` returned last (its bytes borrow from here or from the buffers).
    current: Option<(IVec, Stored)>,
}

impl<'a> SummaryScan<'a> {
    /// `entries`: the `s`+seq keys of the blocks tree of partition `partition` of store
    /// `store`, oldest first (reversed here); `file` its summary file.
    pub fn new(file: &'a BlockFile, cache: &'a SummaryCache, store: u64, partition: u64, entries: sled::Iter) -> Self {
        Self { file, cache, store, partition, entries: entries.rev(), chunk: None, scratch: Vec::new(), spill: Vec::new(), current: None }
    }

    /// The next (older) summary: its key and its bytes.
    pub fn next(&mut self) -> Result<Option<(&IVec, &[u8])>, StoreError> {
        let Some(entry) = self.entries.next() else { return Ok(None) };
        let (key, value) = entry?;
        let stored = match pointer(&value) {
            None => Stored::Inline(value),
            // Not in the file (a pointer sled made durable before a power cut took the file's
            // last bytes): no bytes, which no summary parses from, so its block is skipped, as
            // a damaged summary always was; the search goes on.
            Some((offset, len)) => self.locate(offset, len as usize).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "a search summary cannot be read from its file; its block is skipped");
                Stored::Spilled(0)
            }),
        };
        let (key, stored) = self.current.insert((key, stored));
        let bytes = match stored {
            Stored::Inline(value) => &value[..],
            Stored::InChunk(within, len) => {
                let chunk = match &self.chunk {
                    Some((_, Chunk::Cached(bytes))) => &bytes[..],
                    Some((_, Chunk::Scratch(n))) => &self.scratch[..*n],
                    None => &[],
                };
                chunk.get(*within..*within + *len).unwrap_or_default()
            }
            Stored::Spilled(len) => &self.spill[..*len],
        };
        Ok(Some((key, bytes)))
    }

    /// Where the `len` bytes at `offset` of the file are once read.
    fn locate(&mut self, offset: u64, len: usize) -> Result<Stored, StoreError> {
        let within = (offset % CHUNK_BYTES) as usize;
        if within + len <= CHUNK_BYTES as usize {
            self.load_chunk(offset / CHUNK_BYTES, offset + len as u64)?;
            return Ok(Stored::InChunk(within, len));
        }
        self.file.read_into(offset, len, &mut self.spill)?;
        Ok(Stored::Spilled(len))
    }

    /// Makes chunk `n` current, holding at least the file's bytes up to `need_end`: from the
    /// cache, or read from the file (into memory the cache keeps if it would keep it).
    fn load_chunk(&mut self, n: u64, need_end: u64) -> Result<(), StoreError> {
        let start = n * CHUNK_BYTES;
        let held = match &self.chunk {
            Some((m, Chunk::Cached(bytes))) if *m == n => bytes.len(),
            Some((m, Chunk::Scratch(len))) if *m == n => *len,
            _ => 0,
        };
        if start + held as u64 >= need_end && held > 0 {
            return Ok(());
        }
        let key = (self.partition, n, self.store);
        if let Some(chunk) = self.cache.get(key) {
            self.chunk = Some((n, Chunk::Cached(chunk)));
            return Ok(());
        }
        // The file's last chunk may be partial (and grows); a pointer past the file's end is
        // refused by `read_into`.
        let len = self.file.size()?.saturating_sub(start).min(CHUNK_BYTES).max(need_end.saturating_sub(start));
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len == CHUNK_BYTES as usize && self.cache.would_keep(key, len) {
            let mut bytes = Vec::new();
            self.file.read_into(start, len, &mut bytes)?;
            let bytes = Bytes::from(bytes);
            self.cache.insert(key, bytes.clone());
            self.chunk = Some((n, Chunk::Cached(bytes)));
        } else {
            self.file.read_into(start, len, &mut self.scratch)?;
            self.chunk = Some((n, Chunk::Scratch(len)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, sled::Db, sled::Tree, BlockFile) {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = sled::Config::new().path(dir.path().join("db")).open().expect("open");
        let tree = db.open_tree("b").expect("tree");
        let file = BlockFile::new(crate::block_file::summaries_path_of(dir.path(), 0, 3600));
        (dir, db, tree, file)
    }

    /// 700 summaries over four chunks (some across a chunk boundary), the oldest 50 stored in
    /// sled as formats 2 to 6 did: every one comes back, newest first, with its own bytes,
    /// read from the file and then from the cache (and the scratch buffer).
    #[test]
    fn every_summary_comes_back_newest_first_across_chunks() {
        let (_dir, _db, tree, file) = store();
        let summary = |seq: u64| -> Vec<u8> { (0..4000 + seq * 7 % 4000).map(|i| i as u8 ^ seq as u8).collect() };
        for seq in 0..700u64 {
            let mut key = vec![b's'];
            key.extend_from_slice(&seq.to_be_bytes());
            let value = if seq < 50 { summary(seq) } else { file.append(&summary(seq)).expect("append") };
            tree.insert(key, value).expect("insert");
        }
        assert!(file.size().expect("size") > 3 * CHUNK_BYTES);
        // Room for two of the three whole chunks: the oldest is read into the scratch buffer.
        let cache = SummaryCache::new(2 * CHUNK_BYTES as usize);
        for pass in ["from the file", "from the cache"] {
            let mut scan = SummaryScan::new(&file, &cache, 0, 0, tree.scan_prefix([b's']));
            let mut seq = 700u64;
            while let Some((key, bytes)) = scan.next().expect("next") {
                seq -= 1;
                assert_eq!(&key[1..], &seq.to_be_bytes());
                assert_eq!(bytes, &summary(seq)[..], "summary {seq}, {pass}");
            }
            assert_eq!(seq, 0, "all 700 read {pass}");
        }
        assert!(cache.get((0, 2, 0)).is_some() && cache.get((0, 1, 0)).is_some(), "the newest whole chunks kept");
        assert!(cache.get((0, 0, 0)).is_none() && cache.get((0, 3, 0)).is_none(), "not the oldest, nor the partial last one");
    }

    #[test]
    fn a_pointer_past_the_file_yields_no_bytes_not_an_error_or_a_panic() {
        let (_dir, _db, tree, file) = store();
        let mut pointer = file.append(&[7; 40]).expect("append");
        pointer[9..13].copy_from_slice(&4000u32.to_le_bytes());
        tree.insert([b's', 0, 0, 0, 0, 0, 0, 0, 1], pointer).expect("insert");
        tree.insert([b's', 0, 0, 0, 0, 0, 0, 0, 0], file.append(&[5; 30]).expect("append")).expect("insert");
        let cache = SummaryCache::new(CHUNK_BYTES as usize);
        let mut scan = SummaryScan::new(&file, &cache, 0, 0, tree.scan_prefix([b's']));
        assert_eq!(scan.next().expect("next").map(|(_, bytes)| bytes.len()), Some(0), "the damaged one: no bytes");
        assert_eq!(scan.next().expect("next").map(|(_, bytes)| bytes.to_vec()), Some(vec![5; 30]), "the older one still read");
        assert!(scan.next().expect("next").is_none());
    }

    /// A damaged pointer naming 4 GiB: refused before anything is allocated.
    #[test]
    fn a_huge_damaged_length_is_skipped_without_allocating_it() {
        let (_dir, _db, tree, file) = store();
        let mut pointer = file.append(&[7; 40]).expect("append");
        pointer[9..13].copy_from_slice(&u32::MAX.to_le_bytes());
        tree.insert([b's', 0, 0, 0, 0, 0, 0, 0, 1], pointer).expect("insert");
        let cache = SummaryCache::new(CHUNK_BYTES as usize);
        let mut scan = SummaryScan::new(&file, &cache, 0, 0, tree.scan_prefix([b's']));
        assert_eq!(scan.next().expect("next").map(|(_, bytes)| bytes.len()), Some(0));
        assert!(scan.spill.capacity() < 1 << 20, "nothing like 4 GiB was allocated");
    }
}
