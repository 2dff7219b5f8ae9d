//! The database handle shared by every exporter and reader of one path in this process.
//!
//! sled allows one open `Db` per directory per process (it holds a file lock), and two
//! handles would also mean two caches. A process-wide registry keyed by the canonical path
//! hands out the same [`Shared`] to a second exporter on the same path and to the query
//! extension's reader; the database closes when the last holder drops it.
//!
//! Opening lists tree names and opens the partition trees, nothing else: start-up cost grows
//! with the number of partitions (retention / partition length), never with the data.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use crate::block_cache::BlockCache;
use crate::block_file::{BlockFile, BlockFileError};
use crate::deps::DepTracker;
use crate::ingest::Ingest;
use crate::trace_index::TraceIndex;
use crate::wal::{Wal, SEALED_KEY};
use crate::write::WriteSettings;

/// Decompressed bytes of recently read blocks kept in memory (an 8192-span block of the
/// shipped batch size decodes to ~1 MB).

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database at \"{path}\": {message}")]
    Open { path: String, message: String },
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    #[error("{0}")]
    Codec(#[from] crate::codec::CodecError),
    #[error(
        "the database at \"{path}\" was written in storage format {found}; this build reads format {supported} only (and upgrades formats 2 to 6 to it). \
         Move it aside (or point `path` elsewhere) and start with an empty directory"
    )]
    Format { path: String, found: u32, supported: u32 },
    #[error("background task failed: {0}")]
    Join(String),
    #[error("{0}")]
    Wal(#[from] crate::wal::WalError),
    #[error("{0}")]
    BlockFile(#[from] BlockFileError),
    #[error("cannot sync the store's files at \"{path}\": {source}")]
    Sync { path: String, source: std::io::Error },
    /// Blocks of acknowledged spans could not be written yet (see [`crate::ingest`]): new
    /// batches are refused, retryably, until they are.
    #[error("the store is behind: {0}")]
    Behind(String),
}

/// One time partition: spans whose start falls in `[start, end)` (Unix seconds).
#[derive(Clone)]
pub struct Partition {
    pub start: u64,
    pub end: u64,
    /// Compressed blocks keyed by sequence number (big-endian u64), and `s`+seq -> the
    /// block's search summary. Summaries live here rather than among the small index keys:
    /// sled rewrites whole leaves, and ~12 KB summaries in the index tree's leaves made every
    /// consolidation of a leaf of trace keys rewrite them too (165 -> 144 B/span on disk).
    pub blocks: sled::Tree,
    /// `d`+parent+0+child -> count (u64 LE); in format 2 also `t`+trace id+seq -> ().
    pub index: sled::Tree,
    /// Which blocks hold a trace (its keys live in `blocks`; see [`crate::trace_index`]).
    pub traces: Arc<TraceIndex>,
    /// The compressed blocks themselves and the trace index's lists, chunks and filters,
    /// which `blocks` points into ([`crate::block_file`]).
    pub file: Arc<BlockFile>,
    /// The search summaries (format 7), one after another in the order of their blocks, so a
    /// search reads many with one read ([`crate::summary_scan`]).
    pub summaries: Arc<BlockFile>,
}

impl Partition {
    fn new(db: &sled::Db, dir: &Path, start: u64, end: u64) -> Result<Self, sled::Error> {
        let (b, x) = names(start, end);
        let file = Arc::new(BlockFile::new(crate::block_file::path_of(dir, start, end)));
        let summaries = Arc::new(BlockFile::new(crate::block_file::summaries_path_of(dir, start, end)));
        Ok(Self { start, end, blocks: db.open_tree(b)?, index: db.open_tree(x)?, traces: Arc::default(), file, summaries })
    }
}

/// sled stores a log entry above a quarter of a segment as a file of its own (a blob) and
/// everything smaller inline in its log. With the default 512 KiB segment a ~60 KB block went
/// into the log first and again into a blob when its leaf was consolidated; with 128 KiB
/// segments a block is written once, as a blob, and only keys and summaries use the log.
/// (Since format 4 blocks are in files, [`crate::block_file`]; new databases keep this size,
/// under which summaries stay in the log.)
const SEGMENT_BYTES: usize = 128 * 1024;

/// The segment size a database at `dir` was created with (sled refuses to open it with
/// another), or [`SEGMENT_BYTES`] for a new one.
fn segment_bytes(dir: &Path) -> usize {
    // The file ends in a binary checksum, so it is not UTF-8 as a whole.
    let conf = String::from_utf8_lossy(&std::fs::read(dir.join("conf")).unwrap_or_default()).into_owned();
    conf.lines()
        .filter_map(|l| l.strip_prefix("segment_size: "))
        .find_map(|v| v.trim().parse::<usize>().ok())
        .filter(|n| n.is_power_of_two() && (256..=1 << 24).contains(n))
        .unwrap_or(SEGMENT_BYTES)
}

pub struct Shared {
    pub db: sled::Db,
    /// The write-ahead log and the open block ([`crate::ingest`]).
    pub ingest: Ingest,
    /// How this database is written (from the config of the exporter that opened it).
    pub settings: WriteSettings,
    /// Decoded blocks recently read (searches and trace fetches): the process's block cache (`block_cache::shared`), where this store's blocks are
    /// keyed by `store_id`.
    pub blocks_cache: &'static BlockCache,
    /// Chunks of the summary files recently searched ([`crate::summary_cache`]), keyed by
    /// `store_id` too.
    pub summary_cache: &'static crate::summary_cache::SummaryCache,
    pub store_id: u64,
    /// The first block sequence number whose attribute keys are in the key catalog.
    pub catalog_from: u64,
    /// Global: `o`+service+0+operation+0+kind -> ().
    pub meta: sled::Tree,
    pub partitions: Mutex<BTreeMap<u64, Partition>>,
    /// Operation keys already written by this process, so a batch rewrites none.
    pub known_ops: Mutex<HashSet<Vec<u8>>>,
    pub deps: Mutex<DepTracker>,
    /// RED metrics of the spans written ([`crate::red_metrics`]).
    pub red: crate::red_metrics::RedMetrics,
    /// Held while a block and its summary are inserted. Blocks are built concurrently, but
    /// concurrent inserts of these large values into one tree made sled rewrite whole
    /// multi-megabyte nodes as blobs again and again: measured flat out with 10 queue
    /// consumers, blob files grew from ~240 KB to ~2 MB each and disk from ~55 to ~95 B/span,
    /// against ~55 with one consumer. It also makes each block file's appends one at a time.
    pub block_insert: Mutex<()>,
    pub path: PathBuf,
    /// The latest span start written so far, recorded in each summary (`Summary::bound`).
    /// Starts from the newest summary of each partition, so it covers earlier runs too.
    pub bound: AtomicU64,
}

/// Numbers the stores opened by this process, for their keys in the shared block cache.
static NEXT_STORE_ID: AtomicU64 = AtomicU64::new(0);

fn registry() -> &'static Mutex<HashMap<PathBuf, Weak<Shared>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<PathBuf, Weak<Shared>>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

fn names(start: u64, end: u64) -> (String, String) {
    (format!("b/{start:012}-{end:012}"), format!("x/{start:012}-{end:012}"))
}

fn parse_name(name: &[u8]) -> Option<(u64, u64)> {
    let s = std::str::from_utf8(name).ok()?.strip_prefix("b/")?;
    let (a, b) = s.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// `meta` key holding the format version (u32 LE) the database was created with.
const FORMAT_KEY: &[u8] = b"format";

/// Refuses a database of another format (old databases are not converted: format 1 had no
/// version key, so a database with data and no key is format 1); stamps a new one, and
/// restamps one of [`crate::codec::UPGRADES_FORMATS`] (readable as it is; see there).
fn check_format(db: &sled::Db, meta: &sled::Tree, path: &Path) -> Result<(), StoreError> {
    let supported = crate::codec::FORMAT_VERSION;
    let found = match meta.get(FORMAT_KEY)? {
        Some(v) => v.as_ref().try_into().map(u32::from_le_bytes).unwrap_or(0),
        None if meta.is_empty() && !db.tree_names().iter().any(|n| parse_name(n).is_some()) => {
            meta.insert(FORMAT_KEY, &supported.to_le_bytes())?;
            supported
        }
        None => 1,
    };
    if crate::codec::UPGRADES_FORMATS.contains(&found) {
        meta.insert(FORMAT_KEY, &supported.to_le_bytes())?;
        tracing::info!(path = %path.display(), from = found, to = supported, "storage format upgraded in place (older blocks are read as they are)");
        return Ok(());
    }
    if found != supported {
        return Err(StoreError::Format { path: path.display().to_string(), found, supported });
    }
    Ok(())
}

/// How long opening waits for a lock held by a handle that is still closing.
const LOCK_WAIT: Duration = Duration::from_secs(3);

/// Opens sled, waiting while the directory's lock is held. sled releases its lock only when
/// its last internal reference drops, and its background threads (the flusher, the pool that
/// ran the final `flush_async`) may keep one a moment after the last `Db` of this process is
/// gone: a reopen right after a close would otherwise fail at random. Another process holding
/// the lock still fails, after the wait, with a message that says so.
fn open_sled(path: &Path, cache_bytes: u64) -> Result<sled::Db, String> {
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        let opened = sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .mode(sled::Mode::HighThroughput)
            .segment_size(segment_bytes(path))
            .open();
        match opened {
            // sled reports a held lock only as text (an `Other` I/O error), so that is what is matched.
            Err(sled::Error::Io(e)) if e.to_string().starts_with("could not acquire lock") => {
                if Instant::now() >= deadline {
                    return Err(format!(
                        "another process holds its lock (is a second tracegate using this path?): {e}"
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other.map_err(|e| e.to_string()),
        }
    }
}

impl Drop for Shared {
    /// A closed store's blocks leave the process-wide cache with it.
    fn drop(&mut self) {
        self.blocks_cache.forget_store(self.store_id);
        self.summary_cache.forget_store(self.store_id);
    }
}

impl Shared {
    /// The shared handle for `path`, opening the database if this process has not.
    ///
    /// A new database handle replays the write-ahead log (batches acknowledged but not yet in
    /// blocks when the last process stopped) before it is handed out.
    pub fn open(path: &Path, cache_bytes: u64, settings: WriteSettings) -> Result<Arc<Self>, StoreError> {
        let err = |m: String| StoreError::Open { path: path.display().to_string(), message: m };
        std::fs::create_dir_all(path).map_err(|e| err(e.to_string()))?;
        let canonical = path.canonicalize().map_err(|e| err(e.to_string()))?;
        let mut reg = registry().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(shared) = reg.get(&canonical).and_then(Weak::upgrade) {
            return Ok(shared);
        }
        let db = open_sled(&canonical, cache_bytes).map_err(err)?;
        let meta = db.open_tree("meta").map_err(|e| err(e.to_string()))?;
        check_format(&db, &meta, &canonical)?;
        let catalog_from = crate::catalog::catalog_from(&db, &meta).map_err(|e| err(e.to_string()))?;
        let mut partitions = BTreeMap::new();
        let mut bound = 0;
        for name in db.tree_names() {
            if let Some((start, end)) = parse_name(&name) {
                let p = Partition::new(&db, &canonical, start, end).map_err(|e| err(e.to_string()))?;
                if let Some((_, newest)) = p.blocks.scan_prefix([b's']).next_back().transpose().map_err(|e| err(e.to_string()))? {
                    // Unreadable: assume anything, so no search stops early on its account.
                    let newest = p.summaries.resolve(&newest).map_err(|e| err(e.to_string()))?;
                    bound = crate::summary::SummaryView::parse(&newest).map_or(u64::MAX, |s| s.bound).max(bound);
                }
                partitions.insert(start, p);
            }
        }
        let sealed = meta.get(SEALED_KEY).map_err(|e| err(e.to_string()))?.and_then(|v| v.as_ref().try_into().ok()).map_or(0, u64::from_be_bytes);
        let (wal, segments) = Wal::open(&canonical.join("wal"), sealed)?;
        let shared = Arc::new(Self {
            ingest: Ingest::new(wal, sealed),
            settings,
            db,
            meta,
            partitions: Mutex::new(partitions),
            known_ops: Mutex::default(),
            block_insert: Mutex::default(),
            deps: Mutex::default(),
            red: Default::default(),
            blocks_cache: crate::block_cache::shared(),
            summary_cache: crate::summary_cache::shared(),
            store_id: NEXT_STORE_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            catalog_from,
            path: canonical.clone(),
            bound: AtomicU64::new(bound),
        });
        shared.ingest.replay(&shared, segments, &settings.options())?;
        reg.retain(|_, w| w.strong_count() > 0);
        reg.insert(canonical, Arc::downgrade(&shared));
        Ok(shared)
    }

    /// The partition holding `start_secs`, created on first use. An existing partition that
    /// covers the time wins, whatever its length, so changing `partition` is safe.
    pub fn partition_for(&self, start_secs: u64, len: u64) -> Result<Partition, StoreError> {
        let mut parts = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, p)) = parts.range(..=start_secs).next_back() {
            if start_secs < p.end {
                return Ok(p.clone());
            }
        }
        let mut start = start_secs - start_secs % len;
        let mut end = start + len;
        // Never overlap a neighbour created with another length.
        if let Some((_, prev)) = parts.range(..=start_secs).next_back() {
            start = start.max(prev.end);
        }
        if let Some((next, _)) = parts.range(start_secs + 1..).next() {
            end = end.min(*next);
        }
        let p = Partition::new(&self.db, &self.path, start, end)?;
        parts.insert(start, p.clone());
        Ok(p)
    }

    /// Partitions overlapping `[from, to)` (Unix seconds), newest first.
    pub fn partitions_between(&self, from: u64, to: u64) -> Vec<Partition> {
        let parts = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        parts.values().rev().filter(|p| p.end > from && p.start < to).cloned().collect()
    }

    /// Drops every partition that ended at or before `cutoff` (Unix seconds). Whole trees go;
    /// no key is read. Returns how many partitions were dropped.
    pub fn drop_before(&self, cutoff: u64) -> Result<usize, StoreError> {
        let expired: Vec<Partition> = {
            let mut parts = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
            let keys: Vec<u64> = parts.values().filter(|p| p.end <= cutoff).map(|p| p.start).collect();
            keys.iter().filter_map(|k| parts.remove(k)).collect()
        };
        for p in &expired {
            let (b, x) = names(p.start, p.end);
            self.db.drop_tree(x)?;
            self.db.drop_tree(b)?;
            p.file.remove()?;
            p.summaries.remove()?;
            self.blocks_cache.forget_partition(self.store_id, p.start);
            self.summary_cache.forget_partition(self.store_id, p.start);
        }
        Ok(expired.len())
    }
}
