//! The trace index: which blocks of a partition hold spans of a trace, for `get_trace` and
//! the traces a search returns.
//!
//! # Why sorted lists and runs, not a sled key per (trace, block)
//!
//! Format 2 wrote a `t`+trace+seq key for every trace of every block: ~800 sled inserts per
//! 8192-span block of the load generator's default shape (10 spans per trace), ~6% of the
//! all-in-one's CPU in a profile of the fill, and a 25-byte key plus sled's per-key overhead on
//! disk for every (trace, block). Since format 3 a block costs one insert here, and a lookup
//! stays a handful of seeks:
//!
//! - **Pending lists.** A block's sorted trace ids go into one value, `i`+seq, inserted with
//!   the block (in the partition's blocks tree, so it never shares a leaf with the dependency
//!   counters that are rewritten every batch), and into memory.
//! - **Runs.** Once a partition's pending lists hold [`RUN_ENTRIES`] ids, they are merged into
//!   a run: (trace id, seq) entries sorted by id, cut into chunks of about [`CHUNK_ENTRIES`]
//!   (never inside one id's entries) keyed `r`+run+first id, a marker `R`+run, and the `i`
//!   keys removed, in one atomic sled batch. A run is never changed again; retention drops it
//!   with its partition.
//! - **Lookup.** A binary search among the pending lists' entries, sorted together in memory
//!   (the last few lists added are searched one by one until a lookup re-sorts), and per run
//!   one seek for the last chunk whose first id is at or below the id, skipping the runs
//!   whose filter ([`crate::run_filter`], `F`+run, written in the run's batch) says the id is
//!   not there: about one seek per lookup however many runs a partition has.
//!
//! Where the values are: since format 7 every list, chunk and filter is appended to the
//! partition's block file ([`crate::block_file`]) and sled holds a 13-byte pointer to it,
//! under the same key. sled kept the leaves it wrote in memory long past its cache size:
//! after a 28.5M-span overload the lists and chunks were ~22 MB of the idle gateway's heap
//! (docs/memory.md). Values of earlier formats, stored in sled, are read as they are.
//!
//! Memory: the pending lists of one partition stay under [`RUN_ENTRIES`] ids (16 B each); all
//! partitions' together are held under [`MAX_PENDING_ENTRIES`] by merging the least recently
//! written partition early ([`relieve`]). A partition's lists and runs are read from sled the
//! first time it is touched (opening the store reads nothing here).
//!
//! Crash: the `i` key follows the block in sled's log, so sled's recovery (a prefix of its
//! operations) never leaves an `i` key without its block; a run replaces its `i` keys
//! atomically. Format 2's `t` keys are still read ([`legacy_blocks`]) for partitions written
//! before the upgrade.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::block_file::BlockFile;
use crate::codec::{put_varint, Cursor};
use crate::db::StoreError;
use crate::run_filter::RunFilter;

pub type TraceId = [u8; 16];

/// Ids pending in one partition before they are merged into a run (~2 MiB of memory).
pub const RUN_ENTRIES: usize = 1 << 17;

/// Ids pending in all partitions together before the least recently written one is merged.
pub const MAX_PENDING_ENTRIES: usize = 2 * RUN_ENTRIES;

/// Entries per run chunk (16-byte id + varint seq offset: ~4.5 KB values).
pub const CHUNK_ENTRIES: usize = 256;

/// Pending blocks searched list by list before a lookup re-sorts (see `Inner::sorted`).
const MAX_FRESH: usize = 16;

const PENDING: u8 = b'i';
const CHUNK: u8 = b'r';
const RUN: u8 = b'R';
const FILTER: u8 = b'F';

/// Orders partitions by their last write, for [`relieve`].
static CLOCK: AtomicU64 = AtomicU64::new(0);

/// One partition's trace index, shared by every clone of its [`crate::db::Partition`].
#[derive(Default)]
pub struct TraceIndex {
    inner: Mutex<Inner>,
}

struct Run {
    seq: u64,
    /// None for a run written before filters existed (or a damaged one): always sought.
    filter: Option<RunFilter>,
}

#[derive(Default)]
struct Inner {
    loaded: bool,
    /// Block seq -> its sorted, distinct trace ids.
    pending: BTreeMap<u64, Arc<[TraceId]>>,
    pending_entries: usize,
    /// The pending lists' (id, seq) entries sorted by id, except the blocks in `fresh`: a
    /// search's 20 result traces were 20 binary searches in each of hundreds of lists
    /// (~1 ms per search in the realistic shape), one here.
    sorted: Vec<(TraceId, u64)>,
    /// Pending blocks not in `sorted` yet (searched list by list until there are
    /// [`MAX_FRESH`]; then `sorted` is rebuilt on the next lookup).
    fresh: Vec<u64>,
    /// Runs by id (the smallest seq merged into each), with their filters.
    runs: Vec<Run>,
    /// Runs sought by lookups, for tests to see what the filters saved.
    #[cfg(test)]
    sought: usize,
    /// [`CLOCK`] at the last block added.
    touched: u64,
}

fn key(prefix: u8, seq: u64) -> [u8; 9] {
    let mut k = [prefix; 9];
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

fn seq_of(key: &[u8]) -> Option<u64> {
    key.get(1..9).and_then(|s| s.try_into().ok()).map(u64::from_be_bytes)
}

/// A pending list's ids; None if the value is not whole ids (damage). `pub(crate)` for the
/// fuzz target `sled_trace_index`.
pub(crate) fn ids_of(value: &[u8]) -> Option<Arc<[TraceId]>> {
    if !value.len().is_multiple_of(16) {
        return None;
    }
    Some(value.chunks_exact(16).filter_map(|c| TraceId::try_from(c).ok()).collect())
}

impl TraceIndex {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The partition's index, read from `tree` (values from `file`) on first use.
    fn loaded<'a>(&'a self, tree: &sled::Tree, file: &BlockFile) -> Result<MutexGuard<'a, Inner>, StoreError> {
        let mut inner = self.lock();
        if inner.loaded {
            return Ok(inner);
        }
        let mut filters = BTreeMap::new();
        for entry in tree.scan_prefix([FILTER]) {
            let (k, v) = entry?;
            // Unreadable (a pointer past the file after a power cut): the run is sought always.
            let Some(v) = readable(file, &v) else { continue };
            if let (Some(run), Some(filter)) = (seq_of(&k), RunFilter::from_bytes(&v)) {
                filters.insert(run, filter);
            }
        }
        for entry in tree.scan_prefix([RUN]).keys() {
            if let Some(seq) = seq_of(&entry?) {
                inner.runs.push(Run { seq, filter: filters.remove(&seq) });
            }
        }
        for entry in tree.scan_prefix([PENDING]) {
            let (k, v) = entry?;
            let ids = readable(file, &v).and_then(|v| ids_of(&v));
            match (seq_of(&k), ids) {
                (Some(seq), Some(ids)) => {
                    inner.pending_entries += ids.len();
                    inner.pending.insert(seq, ids);
                    inner.fresh.push(seq);
                }
                // Unreadable: its block is still found by a search, not by its trace ids.
                _ => tracing::warn!(key = ?k, "damaged trace-id list in the store; its block's traces cannot be fetched by id"),
            }
        }
        inner.loaded = true;
        Ok(inner)
    }

    /// Records the trace ids of block `seq` (written just before into `tree` and `file`);
    /// merges the partition's pending lists into a run once they are large enough.
    pub fn add_block(&self, tree: &sled::Tree, file: &BlockFile, seq: u64, mut ids: Vec<TraceId>) -> Result<(), StoreError> {
        ids.sort_unstable();
        ids.dedup();
        tree.insert(key(PENDING, seq), file.append(&ids.concat())?)?;
        let mut inner = self.loaded(tree, file)?;
        inner.pending_entries += ids.len();
        inner.pending.insert(seq, ids.into());
        inner.fresh.push(seq);
        inner.touched = CLOCK.fetch_add(1, Ordering::Relaxed) + 1;
        if inner.pending_entries >= RUN_ENTRIES {
            merge(&mut inner, tree, file)?;
        }
        Ok(())
    }

    /// Sequence numbers of the blocks holding spans of `id`, ascending.
    pub fn blocks_of(&self, tree: &sled::Tree, file: &BlockFile, id: &TraceId) -> Result<Vec<u64>, StoreError> {
        let mut inner = self.loaded(tree, file)?;
        if inner.fresh.len() > MAX_FRESH {
            let inner = &mut *inner;
            inner.sorted.clear();
            inner.sorted.reserve(inner.pending_entries);
            for (seq, ids) in &inner.pending {
                inner.sorted.extend(ids.iter().map(|i| (*i, *seq)));
            }
            inner.sorted.sort_unstable();
            inner.fresh.clear();
        }
        let from = inner.sorted.partition_point(|(i, _)| i < id);
        let mut found: Vec<u64> = inner.sorted[from..].iter().take_while(|(i, _)| i == id).map(|(_, s)| *s).collect();
        for seq in &inner.fresh {
            if inner.pending.get(seq).is_some_and(|ids| ids.binary_search(id).is_ok()) {
                found.push(*seq);
            }
        }
        #[cfg(test)]
        let mut sought = 0;
        for Run { seq, filter } in &inner.runs {
            let run = *seq;
            if filter.as_ref().is_some_and(|f| !f.may_hold(id)) {
                continue;
            }
            #[cfg(test)]
            {
                sought += 1;
            }
            let mut upto = [0u8; 25];
            upto[..9].copy_from_slice(&key(CHUNK, run));
            upto[9..].copy_from_slice(id);
            let Some((k, chunk)) = tree.range(&key(CHUNK, run)[..]..=&upto[..]).next_back().transpose()? else { continue };
            if seq_of(&k) != Some(run) {
                continue;
            }
            if readable(file, &chunk).and_then(|chunk| chunk_seqs(&chunk, run, id, &mut found)).is_none() {
                tracing::warn!(run, "damaged trace-index chunk in the store; some traces cannot be fetched by id");
            }
        }
        #[cfg(test)]
        {
            inner.sought += sought;
        }
        found.sort_unstable();
        found.dedup();
        Ok(found)
    }

    fn pending_and_touched(&self) -> (usize, u64) {
        let inner = self.lock();
        (inner.pending_entries, inner.touched)
    }
}

/// The bytes `value` stands for, or None (logged) if the file does not hold them: a pointer
/// sled made durable before a power cut took the file's last bytes. Such a value counts as
/// damaged, as an unreadable list or chunk always has.
fn readable<'a>(file: &BlockFile, value: &'a [u8]) -> Option<std::borrow::Cow<'a, [u8]>> {
    file.resolve(value).map_err(|e| tracing::warn!(error = %e, "a trace-index value cannot be read from its file")).ok()
}

/// Adds to `out` the seqs `chunk` lists for `id`. None if the chunk does not parse.
pub(crate) fn chunk_seqs(chunk: &[u8], run: u64, id: &TraceId, out: &mut Vec<u64>) -> Option<()> {
    let mut c = Cursor(chunk);
    while !c.0.is_empty() {
        let entry: TraceId = c.take(16).ok()?.try_into().ok()?;
        let seq = run.checked_add(c.varint().ok()?)?;
        match entry.cmp(id) {
            std::cmp::Ordering::Less => {}
            std::cmp::Ordering::Equal => out.push(seq),
            std::cmp::Ordering::Greater => break,
        }
    }
    Some(())
}

/// Merges `inner`'s pending lists into one run in `tree`, its chunks and filter in `file`.
fn merge(inner: &mut Inner, tree: &sled::Tree, file: &BlockFile) -> Result<(), StoreError> {
    let Some(&run) = inner.pending.keys().next() else { return Ok(()) };
    let mut entries: Vec<(TraceId, u64)> = Vec::with_capacity(inner.pending_entries);
    for (seq, ids) in &inner.pending {
        entries.extend(ids.iter().map(|id| (*id, *seq)));
    }
    entries.sort_unstable();
    // Every chunk, one after another, then the filter: one append to the file.
    let mut bytes = Vec::with_capacity(entries.len() * 18);
    let mut chunks: Vec<(TraceId, usize)> = Vec::new();
    let mut chunk_start = 0;
    let mut in_chunk = 0;
    for (i, (id, seq)) in entries.iter().enumerate() {
        let starts_new = in_chunk >= CHUNK_ENTRIES && entries.get(i.wrapping_sub(1)).is_some_and(|(prev, _)| prev != id);
        if starts_new {
            chunks.push((entries[i - in_chunk].0, bytes.len() - chunk_start));
            chunk_start = bytes.len();
            in_chunk = 0;
        }
        bytes.extend_from_slice(id);
        put_varint(&mut bytes, seq - run);
        in_chunk += 1;
    }
    if in_chunk > 0 {
        chunks.push((entries[entries.len() - in_chunk].0, bytes.len() - chunk_start));
    }
    let filter = RunFilter::build(entries.iter().map(|(id, _)| id));
    let stored_filter = filter.to_bytes();
    bytes.extend_from_slice(&stored_filter);
    let mut lens: Vec<usize> = chunks.iter().map(|(_, len)| *len).collect();
    lens.push(stored_filter.len());
    let mut pointers = file.append_many(&bytes, &lens)?.into_iter();
    let mut batch = sled::Batch::default();
    for ((first, _), pointer) in chunks.iter().zip(pointers.by_ref()) {
        let mut k = Vec::with_capacity(25);
        k.extend_from_slice(&key(CHUNK, run));
        k.extend_from_slice(first);
        batch.insert(k, pointer);
    }
    batch.insert(&key(FILTER, run)[..], pointers.next().unwrap_or_default());
    batch.insert(&key(RUN, run)[..], &[] as &[u8]);
    for seq in inner.pending.keys() {
        batch.remove(&key(PENDING, *seq)[..]);
    }
    tree.apply_batch(batch)?;
    inner.runs.push(Run { seq: run, filter: Some(filter) });
    inner.pending.clear();
    inner.pending_entries = 0;
    inner.sorted = Vec::new();
    inner.fresh.clear();
    Ok(())
}

/// Keeps the pending lists of all `partitions` under [`MAX_PENDING_ENTRIES`] ids by merging
/// the least recently written partitions' lists into runs early.
pub fn relieve(partitions: &[crate::db::Partition]) -> Result<(), StoreError> {
    let mut held: Vec<(u64, usize, &crate::db::Partition)> = partitions
        .iter()
        .map(|p| {
            let (entries, touched) = p.traces.pending_and_touched();
            (touched, entries, p)
        })
        .filter(|(_, entries, _)| *entries > 0)
        .collect();
    let mut total: usize = held.iter().map(|(_, n, _)| n).sum();
    held.sort_unstable_by_key(|(touched, _, _)| *touched);
    for (_, n, p) in held {
        if total <= MAX_PENDING_ENTRIES {
            break;
        }
        let mut inner = p.traces.loaded(&p.blocks, &p.file)?;
        merge(&mut inner, &p.blocks, &p.file)?;
        total -= n;
    }
    Ok(())
}

/// Blocks of `id` in a partition written by format 2: its `t`+trace+seq keys in the index tree.
pub fn legacy_blocks(index: &sled::Tree, id: &TraceId, out: &mut Vec<u64>) -> Result<(), sled::Error> {
    let mut prefix = [b't'; 17];
    prefix[1..].copy_from_slice(id);
    for key in index.scan_prefix(prefix).keys() {
        if let Some(seq) = key?.get(17..25).and_then(|s| s.try_into().ok()).map(u64::from_be_bytes) {
            out.push(seq);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> TraceId {
        let mut t = [0u8; 16];
        t[..4].copy_from_slice(&n.to_be_bytes());
        t[15] = 1;
        t
    }

    fn store() -> (tempfile::TempDir, sled::Db, sled::Tree, BlockFile) {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = sled::Config::new().path(dir.path().join("db")).open().expect("open");
        let tree = db.open_tree("b").expect("tree");
        let file = BlockFile::new(crate::block_file::path_of(dir.path(), 0, 3600));
        (dir, db, tree, file)
    }

    #[test]
    fn finds_every_block_of_a_trace_before_and_after_merging_and_after_reopening() {
        let (_dir, _db, tree, file) = store();
        let index = TraceIndex::default();
        // Trace n is in blocks n % 7 and n % 5 + 100 (seq), so each block holds many traces
        // and each trace two blocks; chunks must not split one trace's entries.
        let traces = 3000u32;
        let mut blocks: BTreeMap<u64, Vec<TraceId>> = BTreeMap::new();
        for n in 0..traces {
            blocks.entry(u64::from(n % 7)).or_default().push(id(n));
            blocks.entry(u64::from(n % 5) + 100).or_default().push(id(n));
        }
        for (seq, ids) in blocks.clone().into_iter().take(6) {
            index.add_block(&tree, &file, seq, ids).expect("add");
        }
        let expect = |n: u32| {
            let mut v = vec![u64::from(n % 7), u64::from(n % 5) + 100];
            v.sort_unstable();
            v
        };
        // Some blocks pending, then all merged into a run, then some pending again.
        assert!(index.lock().runs.is_empty());
        merge(&mut index.lock(), &tree, &file).expect("merge");
        for (seq, ids) in blocks.into_iter().skip(6) {
            index.add_block(&tree, &file, seq, ids).expect("add");
        }
        assert_eq!(index.lock().runs.len(), 1);
        assert!(index.lock().runs[0].filter.is_some(), "a run is written with its filter");
        for n in (0..traces).step_by(37) {
            assert_eq!(index.blocks_of(&tree, &file, &id(n)).expect("lookup"), expect(n), "trace {n}");
        }
        assert!(index.blocks_of(&tree, &file, &id(traces + 1)).expect("lookup").is_empty(), "an unknown trace is in no block");
        assert!(index.blocks_of(&tree, &file, &[0u8; 16]).expect("lookup").is_empty(), "below every run's first id");

        let reopened = TraceIndex::default();
        for n in (0..traces).step_by(41) {
            assert_eq!(reopened.blocks_of(&tree, &file, &id(n)).expect("lookup"), expect(n), "trace {n} after reopening");
        }

        // sled holds where lists, chunks and filters are, never the values themselves: what
        // sled keeps in memory stays small however much is stored (docs/memory.md).
        for entry in tree.iter() {
            let (k, v) = entry.expect("entry");
            assert!(v.len() <= 13, "key {k:?} holds {} bytes in sled", v.len());
        }
        // A store of format 6 or before held them in sled: they are still read.
        for entry in tree.iter() {
            let (k, v) = entry.expect("entry");
            let inline = file.resolve(&v).expect("resolve").into_owned();
            tree.insert(k, inline).expect("inline");
        }
        let older = TraceIndex::default();
        for n in (0..traces).step_by(41) {
            assert_eq!(older.blocks_of(&tree, &file, &id(n)).expect("lookup"), expect(n), "trace {n} from inline values");
        }
        assert!(older.lock().runs[0].filter.is_some(), "an inline filter is read");
    }

    #[test]
    fn many_pending_blocks_are_found_through_the_sorted_entries_and_the_fresh_ones() {
        let (_dir, _db, tree, file) = store();
        let index = TraceIndex::default();
        // Block b holds traces b..b+50: trace n is in blocks max(0, n-49)..=n.
        let blocks = |n: u32, upto: u32| (n.saturating_sub(49)..=n.min(upto)).map(u64::from).collect::<Vec<_>>();
        for b in 0..(MAX_FRESH as u32 * 3) {
            index.add_block(&tree, &file, u64::from(b), (b..b + 50).map(id).collect()).expect("add");
            if b % 7 == 0 {
                for n in [0, b, b + 3, b + 49] {
                    assert_eq!(index.blocks_of(&tree, &file, &id(n)).expect("lookup"), blocks(n, b), "trace {n} after block {b}");
                }
            }
        }
        assert!(index.lock().fresh.len() <= MAX_FRESH + 1, "lookups re-sorted the pending entries");
    }

    /// Ten runs: a lookup seeks only the run that holds its trace (a filter's false positive
    /// may add one now and then), and a run stored without a filter (a store written before
    /// filters) is still found, by seeking it every time.
    #[test]
    fn lookups_seek_only_the_runs_whose_filter_may_hold_the_trace() {
        let (_dir, _db, tree, file) = store();
        let index = TraceIndex::default();
        let runs = 10u32;
        let per_run = 2000u32;
        for r in 0..runs {
            index.add_block(&tree, &file, u64::from(r), (r * per_run..(r + 1) * per_run).map(id).collect()).expect("add");
            merge(&mut index.lock(), &tree, &file).expect("merge");
        }
        assert_eq!(index.lock().runs.len(), runs as usize);
        let lookups = 500u32;
        for n in (0..runs * per_run).step_by((runs * per_run / lookups) as usize) {
            assert_eq!(index.blocks_of(&tree, &file, &id(n)).expect("lookup"), vec![u64::from(n / per_run)], "trace {n}");
        }
        let sought = index.lock().sought;
        assert!(sought < lookups as usize * 11 / 10, "{sought} runs sought for {lookups} lookups in {runs} runs");

        // The same store as an older build left it: no filters.
        for k in tree.scan_prefix([FILTER]).keys() {
            tree.remove(k.expect("key")).expect("remove");
        }
        let older = TraceIndex::default();
        assert_eq!(older.blocks_of(&tree, &file, &id(7 * per_run + 5)).expect("lookup"), vec![7]);
        assert_eq!(older.lock().sought, runs as usize, "without filters every run is sought");
    }

    #[test]
    fn a_damaged_list_or_chunk_is_skipped_not_a_panic() {
        let (_dir, _db, tree, file) = store();
        tree.insert(key(PENDING, 3), &[1u8, 2, 3][..]).expect("insert");
        tree.insert(&key(RUN, 1)[..], &[] as &[u8]).expect("insert");
        let mut chunk = key(CHUNK, 1).to_vec();
        chunk.extend_from_slice(&[0u8; 16]);
        tree.insert(chunk, &[9u8; 20][..]).expect("insert");
        // Pointers past the end of the file: a list, a run's chunk and its filter.
        let mut dangling = file.append(&id(5)).expect("append");
        dangling[1..9].copy_from_slice(&1000u64.to_le_bytes());
        tree.insert(key(PENDING, 4), dangling.clone()).expect("insert");
        tree.insert(&key(RUN, 2)[..], &[] as &[u8]).expect("insert");
        tree.insert(&key(FILTER, 2)[..], dangling.clone()).expect("insert");
        let mut chunk = key(CHUNK, 2).to_vec();
        chunk.extend_from_slice(&[0u8; 16]);
        tree.insert(chunk, dangling).expect("insert");
        TraceIndex::default().add_block(&tree, &file, 9, vec![id(77)]).expect("add");
        let index = TraceIndex::default();
        assert!(index.blocks_of(&tree, &file, &id(5)).expect("lookup").is_empty());
        assert_eq!(index.blocks_of(&tree, &file, &id(77)).expect("lookup"), vec![9], "a readable list beside them is found");
    }
}
