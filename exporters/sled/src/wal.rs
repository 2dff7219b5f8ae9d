//! The write-ahead log: what makes an acknowledged batch survive kill -9 without making the
//! store write small blocks.
//!
//! # Why a log beside sled
//!
//! A block holds the spans of many batches: the larger it is, the better zstd shares its
//! strings (8192 spans: ~48 B/span) and the fewer summaries, filters and sled blobs a search
//! reads. Syncing sled per batch (the first durable design) forced a block per batch, and the
//! batch processor's early sends made those batches small: 62-65 B/span and about a third
//! less ingest per CPU second. Here a batch is appended, as the OTLP request bytes it already
//! is, to a plain file and synced (concurrent batches share one `fdatasync`, see
//! [`Wal::sync_to`]); that is the acknowledgment. Blocks are cut from the log's tail at full
//! size or after `seal_interval` ([`crate::open_block`]) and written to sled without a sync;
//! sled's own flush makes them durable, and only then are the log segments they came from
//! deleted ([`Wal::truncate_to`]).
//!
//! # Format
//!
//! Segments `wal/<first offset, 20 digits>.wal`; offsets count bytes across all segments
//! ever written, so a position names a record without naming its file. A record is
//! `len: u32 LE, crc32: u32 LE, payload` (payload: one `ExportTraceServiceRequest`), the
//! checksum taken over the record's offset (u64 LE) and then the payload. `meta` holds the
//! offset up to which the log's records are in sealed blocks ([`SEALED_KEY`]); on open, the
//! records after it are replayed into blocks. A record cut short or failing its checksum at
//! the end of the last segment is a write interrupted by the crash, never acknowledged (the
//! sync had not returned), and is cut off; one inside an earlier segment (synced before the
//! next segment began, and ending where the next one starts) is damage, logged with what it
//! loses. Segments `.log` are from builds before recycling: the same records, checksummed
//! over the payload alone; they are still read, and replaced as they are sealed.
//!
//! # Recycled segments
//!
//! A full segment whose records are all sealed is not deleted but kept as a spare
//! (`wal/spare-1`, `wal/spare-2`), and the next segment is a spare renamed: its records
//! overwrite pages the filesystem has already allocated (and usually still caches). A new
//! file made the kernel allocate, zero and map every page, and deleting it truncated them
//! again: in a profile of the all-in-one's fill, ~4% of the gateway's CPU in
//! `ext4_da_write_begin` and ~1.5% in `unlink`; the file's size no longer changes either, so
//! `fdatasync` has no size to journal. What is left after the last record is an older use's
//! bytes: the offset in each checksum is what stops a read there, since those records were
//! written at other offsets. The price is up to two segments of disk (128 MiB) while spans
//! arrive; a store idle for a few seconds deletes its spares
//! ([`Wal::drop_spares_if_idle`]), and a segment cut short (an idle store's rotation) is
//! deleted as before.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Where, in `meta`, the offset up to which the log is in sealed blocks is kept (u64 BE).
pub const SEALED_KEY: &[u8] = b"wal_sealed";

/// A segment is closed (synced, and a new one begun) past this size.
const SEGMENT_BYTES: u64 = 64 << 20;

const HEADER: usize = 8;

/// A record larger than this is not one this log wrote (a request is bounded far below it).
const MAX_RECORD: u32 = 1 << 30;

#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("write-ahead log {path}: {source}")]
    Io { path: String, source: io::Error },
}

impl WalError {
    fn io(path: &Path, source: io::Error) -> Self {
        WalError::Io { path: path.display().to_string(), source }
    }

    /// The I/O error underneath, for callers that classify it (no space, permissions).
    pub fn io_error(&self) -> &io::Error {
        match self {
            WalError::Io { source, .. } => source,
        }
    }
}

/// A record read back: the log offset just past it, and its payload.
pub type Record = (u64, Vec<u8>);

/// The segment being appended to.
struct Tail {
    file: Arc<File>,
    path: PathBuf,
    /// Offset of the segment's first byte.
    start: u64,
    /// Offset just past the last record written.
    end: u64,
    /// A spare renamed: an older use's bytes follow the records.
    recycled: bool,
    /// When the last record was appended (to this segment or, carried over, an earlier one).
    last_append: std::time::Instant,
}

pub struct Wal {
    dir: PathBuf,
    tail: Mutex<Tail>,
    /// First offsets of the segments before the tail, not yet deleted (oldest first).
    closed: Mutex<VecDeque<u64>>,
    /// Every record ending at or before this offset is on disk.
    durable: AtomicU64,
    /// One sync at a time; the others wait and usually find their record covered.
    turn: tokio::sync::Mutex<()>,
    /// [`SEGMENT_BYTES`], smaller in tests.
    segment_bytes: u64,
}

fn segment_path(dir: &Path, start: u64) -> PathBuf {
    dir.join(format!("{start:020}.wal"))
}

/// A segment as builds before recycling named it.
fn legacy_segment_path(dir: &Path, start: u64) -> PathBuf {
    dir.join(format!("{start:020}.log"))
}

/// Sealed full segments kept for reuse (see "Recycled segments"). Two: the log is cut back
/// every half second, a few segments at a time under full load, and one spare left most new
/// segments to be new files.
const SPARES: usize = 2;

/// Where the spares are kept.
fn spare_paths(dir: &Path) -> [PathBuf; SPARES] {
    [dir.join("spare-1"), dir.join("spare-2")]
}

/// Segments in `dir`, by first offset: `.wal`, and `.log` from builds before recycling.
fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, WalError> {
    let mut found = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| WalError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| WalError::io(dir, e))?;
        let name = entry.file_name();
        let Some(start) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".wal").or_else(|| n.strip_suffix(".log")))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        found.push((start, entry.path()));
    }
    found.sort_unstable();
    Ok(found)
}

/// A record's checksum: over its offset, then its payload (`.wal`), or over the payload
/// alone (`.log`, written before segments were recycled).
fn checksum(offset: Option<u64>, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    if let Some(offset) = offset {
        h.update(&offset.to_le_bytes());
    }
    h.update(payload);
    h.finalize()
}

/// Whether a segment's records carry their offset in their checksum.
fn offset_in_checksum(path: &Path) -> bool {
    path.extension().is_none_or(|e| e != "log")
}

/// Reads one segment's records with the offset each ends at. A record cut short or failing
/// its checksum ends the read: in the last segment (`end` None) that is a write the crash
/// interrupted (never acknowledged: its sync had not returned), or a recycled file's older
/// bytes; in an earlier segment, which was synced before the next began at `end`, stopping
/// short of `end` is damage, logged with how much it loses.
pub fn read_records(path: &Path, start: u64, end: Option<u64>) -> Result<Vec<Record>, WalError> {
    let (records, valid) = read_valid(path, start)?;
    let lost = end.map_or(0, |end| end.saturating_sub(valid));
    if lost > 0 {
        tracing::error!(
            segment = %path.display(), lost_bytes = lost,
            "write-ahead log segment damaged in the middle; the records after the damage are lost"
        );
    }
    Ok(records)
}

/// The valid records of a segment, and the offset where they end.
fn read_valid(path: &Path, start: u64) -> Result<(Vec<Record>, u64), WalError> {
    let seeded = offset_in_checksum(path);
    let mut bytes = Vec::new();
    File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(|e| WalError::io(path, e))?;
    let mut records = Vec::new();
    let mut at = 0usize;
    while let Some(header) = bytes.get(at..at + HEADER) {
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if len > MAX_RECORD {
            break;
        }
        let Some(payload) = bytes.get(at + HEADER..at + HEADER + len as usize) else { break };
        if checksum(seeded.then_some(start + at as u64), payload) != crc {
            break;
        }
        at += HEADER + len as usize;
        records.push((start + at as u64, payload.to_vec()));
    }
    Ok((records, start + at as u64))
}

impl Wal {
    /// Opens the log in `dir`; returns it with the segments already there (by first
    /// offset), whose records past the sealed offset the caller replays. The last segment is
    /// cut back to its last valid record (an interrupted write), and appends go to a new
    /// segment after it, or after `sealed` if that is further.
    pub fn open(dir: &Path, sealed: u64) -> Result<(Self, Vec<(u64, PathBuf)>), WalError> {
        std::fs::create_dir_all(dir).map_err(|e| WalError::io(dir, e))?;
        let mut found = segments(dir)?;
        let mut end = sealed;
        if let Some((start, path)) = found.last().cloned() {
            let (_, valid_end) = read_valid(&path, start)?;
            end = end.max(valid_end);
            if valid_end == start {
                // Begun and never written: the new tail takes its place.
                std::fs::remove_file(&path).map_err(|e| WalError::io(&path, e))?;
                found.pop();
            } else {
                OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_len(valid_end - start).and_then(|_| f.sync_all()))
                    .map_err(|e| WalError::io(&path, e))?;
            }
        }
        let wal = Wal::begin(dir, end)?;
        *wal.closed.lock().unwrap_or_else(|p| p.into_inner()) = found.iter().map(|(s, _)| *s).collect();
        Ok((wal, found))
    }

    fn begin(dir: &Path, start: u64) -> Result<Self, WalError> {
        let tail = Self::new_tail(dir, start, false)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            durable: AtomicU64::new(start),
            tail: Mutex::new(tail),
            closed: Mutex::default(),
            turn: tokio::sync::Mutex::new(()),
            segment_bytes: SEGMENT_BYTES,
        })
    }

    /// Begins the segment starting at `start`: a spare renamed (with `reuse`), or a new file.
    /// Only a segment begun because the last one filled up reuses one; an idle store's
    /// rotation, or an open, begins a small new file, which is what an idle store keeps.
    fn new_tail(dir: &Path, start: u64, reuse: bool) -> Result<Tail, WalError> {
        let path = segment_path(dir, start);
        let spare = spare_paths(dir).into_iter().find(|spare| reuse && spare.exists());
        let recycled = spare.is_some();
        let file = match spare.map(|spare| std::fs::rename(spare, &path)) {
            // Written from its first byte; what lies past the last record is read as stale.
            Some(Ok(())) => OpenOptions::new().write(true).open(&path),
            None | Some(Err(_)) => OpenOptions::new().create(true).write(true).truncate(true).open(&path),
        }
        .map_err(|e| WalError::io(&path, e))?;
        // The file's name must survive a crash too, or its synced records are unreachable.
        File::open(dir).and_then(|d| d.sync_all()).map_err(|e| WalError::io(dir, e))?;
        Ok(Tail { file: Arc::new(file), path, start, end: start, recycled, last_append: std::time::Instant::now() })
    }

    /// Appends one record per payload; returns the offset after the last one. Not durable
    /// until [`Wal::sync_to`] that offset. Blocking (file writes).
    pub fn append(&self, payloads: &[&[u8]]) -> Result<u64, WalError> {
        let mut tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        tail.last_append = std::time::Instant::now();
        if tail.end - tail.start >= self.segment_bytes {
            self.close_tail(&mut tail, true)?;
        }
        for payload in payloads {
            let len = u32::try_from(payload.len()).ok().filter(|l| *l <= MAX_RECORD).ok_or_else(|| {
                WalError::io(&tail.path, io::Error::new(io::ErrorKind::InvalidInput, "record larger than 1 GiB"))
            })?;
            let mut header = [0u8; HEADER];
            header[..4].copy_from_slice(&len.to_le_bytes());
            header[4..].copy_from_slice(&checksum(Some(tail.end), payload).to_le_bytes());
            let written = (&*tail.file).write_all(&header).and_then(|_| (&*tail.file).write_all(payload));
            if let Err(e) = written {
                // Part of a record may be in the file: cut it off, so the next record starts
                // on a boundary (a failed cut leaves a record that fails its checksum, which a
                // reopen stops at, as at a crash). The write position goes back there too:
                // the file is not opened for appending, so the next record would otherwise
                // land past a hole as long as the failed write, which a reopen reads as a
                // damaged record and stops at, losing every record after it (a disk that
                // filled mid-record did exactly that, tests/disk_full.rs).
                let at = tail.end - tail.start;
                let _ = tail.file.set_len(at);
                let _ = (&*tail.file).seek(SeekFrom::Start(at));
                return Err(WalError::io(&tail.path, e));
            }
            tail.end += (HEADER + payload.len()) as u64;
        }
        Ok(tail.end)
    }

    /// Returns once every record ending at or before `offset` is on disk. Concurrent callers
    /// share syncs: whoever holds the turn syncs everything appended so far.
    pub async fn sync_to(&self, offset: u64) -> Result<(), WalError> {
        if self.durable.load(Ordering::Acquire) >= offset {
            return Ok(());
        }
        let _turn = self.turn.lock().await;
        if self.durable.load(Ordering::Acquire) >= offset {
            return Ok(());
        }
        let (file, path, end) = {
            let tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
            (tail.file.clone(), tail.path.clone(), tail.end)
        };
        // A segment closed since `offset` was appended was synced when it closed.
        let synced = tokio::task::spawn_blocking(move || file.sync_data())
            .await
            .map_err(|e| WalError::io(&path, io::Error::other(e.to_string())))?;
        synced.map_err(|e| WalError::io(&path, e))?;
        self.durable.fetch_max(end, Ordering::AcqRel);
        Ok(())
    }

    /// Deletes the segments whose every record ends at or before `sealed` (the caller made
    /// the blocks holding them durable first). The segment being appended to stays.
    pub fn truncate_to(&self, sealed: u64) -> Result<usize, WalError> {
        let current = self.tail.lock().unwrap_or_else(|p| p.into_inner()).start;
        let mut closed = self.closed.lock().unwrap_or_else(|p| p.into_inner());
        let mut removed = 0;
        while let Some(&start) = closed.front() {
            // A segment ends where the next one starts.
            let end = closed.get(1).copied().unwrap_or(current);
            if end > sealed {
                break;
            }
            let path = segment_path(&self.dir, start);
            // A full segment becomes a spare while there is room; any other is deleted.
            let free = spare_paths(&self.dir).into_iter().find(|spare| !spare.exists());
            let recycled = end - start >= self.segment_bytes && free.is_some_and(|spare| std::fs::rename(&path, spare).is_ok());
            if !recycled {
                for path in [path, legacy_segment_path(&self.dir, start)] {
                    match std::fs::remove_file(&path) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Err(WalError::io(&path, e)),
                    }
                }
            }
            closed.pop_front();
            removed += 1;
        }
        Ok(removed)
    }

    /// Deletes the spare segments once nothing has been appended for `idle`: they only pay
    /// while segments are being filled, and an idle store keeps no log behind its blocks.
    /// Returns how many were deleted.
    pub fn drop_spares_if_idle(&self, idle: std::time::Duration) -> Result<usize, WalError> {
        if self.tail.lock().unwrap_or_else(|p| p.into_inner()).last_append.elapsed() < idle {
            return Ok(0);
        }
        let mut dropped = 0;
        for spare in spare_paths(&self.dir) {
            match std::fs::remove_file(&spare) {
                Ok(()) => dropped += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(WalError::io(&spare, e)),
            }
        }
        Ok(dropped)
    }

    /// Starts a new segment if the current one holds anything, so that everything written
    /// so far can be truncated once sealed (at shutdown and after recovery).
    pub fn rotate(&self) -> Result<(), WalError> {
        let mut tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        if tail.end == tail.start {
            return Ok(());
        }
        self.close_tail(&mut tail, false)
    }

    /// Syncs the tail and begins a new segment after it: a closed segment is complete on
    /// disk, so only the last segment can ever hold an interrupted write.
    fn close_tail(&self, tail: &mut Tail, reuse: bool) -> Result<(), WalError> {
        tail.file.sync_data().map_err(|e| WalError::io(&tail.path, e))?;
        let (start, end, last_append) = (tail.start, tail.end, tail.last_append);
        *tail = Tail { last_append, ..Self::new_tail(&self.dir, end, reuse)? };
        self.durable.fetch_max(end, Ordering::AcqRel);
        self.closed.lock().unwrap_or_else(|p| p.into_inner()).push_back(start);
        Ok(())
    }

    /// Whether some closed segment holds only records ending at or before `sealed`.
    pub fn has_closed_below(&self, sealed: u64) -> bool {
        let current = self.tail.lock().unwrap_or_else(|p| p.into_inner()).start;
        let closed = self.closed.lock().unwrap_or_else(|p| p.into_inner());
        !closed.is_empty() && closed.get(1).copied().unwrap_or(current) <= sealed
    }

    /// Whether the segment being appended to is a reused one (its file is a full segment's
    /// size whatever its records: an idle store rotates it away).
    pub fn tail_recycled(&self) -> bool {
        self.tail.lock().unwrap_or_else(|p| p.into_inner()).recycled
    }

    /// Bytes in the segment being appended to.
    pub fn tail_bytes(&self) -> u64 {
        let tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        tail.end - tail.start
    }

    /// Offset just past the last record appended.
    pub fn end(&self) -> u64 {
        self.tail.lock().unwrap_or_else(|p| p.into_inner()).end
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Reopens the log and reads back the records past `sealed`, as the store's replay does.
    fn reopen(dir: &Path, sealed: u64) -> (Wal, Vec<Record>) {
        let (wal, found) = Wal::open(dir, sealed).unwrap();
        let mut records = Vec::new();
        for (i, (start, path)) in found.iter().enumerate() {
            let end = found.get(i + 1).map(|(next, _)| *next);
            records.extend(read_records(path, *start, end).unwrap().into_iter().filter(|(e, _)| *e > sealed));
        }
        (wal, records)
    }

    /// A log whose segments close past `bytes`.
    fn reopen_small(dir: &Path, sealed: u64, bytes: u64) -> (Wal, Vec<Record>) {
        let (mut wal, records) = reopen(dir, sealed);
        wal.segment_bytes = bytes;
        (wal, records)
    }

    fn file_names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    }

    /// A full sealed segment is kept as the spare and becomes the next segment; its older
    /// records (valid checksums, other offsets) are never read back, in the tail or in a
    /// closed segment, and are not reported as damage.
    #[tokio::test]
    async fn a_full_sealed_segment_is_reused_and_its_old_records_are_never_read() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = reopen_small(dir.path(), 0, 4096);
        let old = [7u8; 1000];
        let mut end = 0;
        // Three full segments of five records, then a short one.
        for _ in 0..16 {
            end = wal.append(&[&old]).unwrap();
        }
        wal.rotate().unwrap();
        assert!(wal.has_closed_below(end));
        assert_eq!(wal.truncate_to(end).unwrap(), 4, "every closed segment is sealed");
        let names = file_names(dir.path());
        assert_eq!(names.len(), 3, "two full ones are spares, the third and the short one deleted: {names:?}");
        assert!(names.contains(&"spare-1".to_string()) && names.contains(&"spare-2".to_string()), "{names:?}");

        // The segment begun when this one fills is a spare renamed: a record, then stale bytes.
        let first = [9u8; 1000];
        for _ in 0..5 {
            wal.append(&[&first]).unwrap();
        }
        assert!(file_names(dir.path()).contains(&"spare-1".to_string()), "not taken by a segment not yet full");
        // As long as an old record, so an old one starts right after it.
        let new_payload = [8u8; 1000];
        let new = wal.append(&[&new_payload]).unwrap();
        assert!(!file_names(dir.path()).contains(&"spare-1".to_string()), "taken, first come");
        assert!(wal.tail_recycled());
        wal.sync_to(new).await.unwrap();
        let reused = wal.tail.lock().unwrap().path.clone();
        assert!(std::fs::metadata(&reused).unwrap().len() > 4096, "an older use's bytes follow the record");
        drop(wal);
        let (wal, records) = reopen_small(dir.path(), end, 4096);
        assert_eq!(payloads(&records), [&first[..], &first, &first, &first, &first, &new_payload]);

        // Closed, the reused segment still holds exactly its own record.
        let later = wal.append(&[b"later"]).unwrap();
        wal.sync_to(later).await.unwrap();
        drop(wal);
        let (_, records) = reopen(dir.path(), end);
        assert_eq!(payloads(&records), [&first[..], &first, &first, &first, &first, &new_payload, b"later"]);
    }

    /// Spares are kept while records arrive and deleted once the log has been idle.
    #[test]
    fn spares_go_once_the_log_is_idle() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = reopen_small(dir.path(), 0, 4096);
        let mut end = 0;
        for _ in 0..6 {
            end = wal.append(&[&[7u8; 1000]]).unwrap();
        }
        wal.rotate().unwrap();
        wal.truncate_to(end).unwrap();
        let spares = |dir: &Path| file_names(dir).iter().filter(|n| n.starts_with("spare")).count();
        assert_eq!(spares(dir.path()), 1);
        assert_eq!(wal.drop_spares_if_idle(std::time::Duration::from_secs(60)).unwrap(), 0, "appended just now");
        assert_eq!(spares(dir.path()), 1);
        assert_eq!(wal.drop_spares_if_idle(std::time::Duration::ZERO).unwrap(), 1);
        assert_eq!(spares(dir.path()), 0);
    }

    /// Segments written before recycling (`.log`, checksums over the payload alone) are read.
    #[tokio::test]
    async fn segments_from_before_recycling_are_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut old = Vec::new();
        for payload in [&b"one"[..], b"two"] {
            old.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            old.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
            old.extend_from_slice(payload);
        }
        std::fs::write(dir.path().join(format!("{:020}.log", 0)), &old).unwrap();
        let (wal, records) = reopen(dir.path(), 0);
        assert_eq!(payloads(&records), [&b"one"[..], b"two"]);
        let next = wal.append(&[b"three"]).unwrap();
        wal.sync_to(next).await.unwrap();
        assert_eq!(wal.truncate_to(old.len() as u64).unwrap(), 1);
        assert!(!dir.path().join(format!("{:020}.log", 0)).exists(), "sealed, the old segment goes");
        drop(wal);
        let (_, records) = reopen(dir.path(), old.len() as u64);
        assert_eq!(payloads(&records), [&b"three"[..]]);
    }

    fn payloads(records: &[Record]) -> Vec<&[u8]> {
        records.iter().map(|(_, p)| p.as_slice()).collect()
    }

    #[tokio::test]
    async fn records_after_the_sealed_offset_come_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, records) = reopen(dir.path(), 0);
        assert!(records.is_empty());
        let first = wal.append(&[b"one", b"two"]).unwrap();
        let second = wal.append(&[b"three"]).unwrap();
        wal.sync_to(second).await.unwrap();
        drop(wal);

        let (_wal, records) = reopen(dir.path(), 0);
        assert_eq!(payloads(&records), [&b"one"[..], b"two", b"three"]);
        let (_wal, records) = reopen(dir.path(), first);
        assert_eq!(payloads(&records), [&b"three"[..]], "records before the sealed offset are not replayed");
        assert_eq!(records[0].0, second);
    }

    #[tokio::test]
    async fn an_interrupted_last_write_is_cut_off_and_appends_continue_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = reopen(dir.path(), 0);
        let end = wal.append(&[b"kept"]).unwrap();
        wal.sync_to(end).await.unwrap();
        drop(wal);
        // Half a record, as a kill in the middle of a write leaves it.
        let (_, path) = segments(dir.path()).unwrap().pop().unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[9, 0, 0, 0, 1, 2]).unwrap();
        drop(f);

        let (wal, records) = reopen(dir.path(), 0);
        assert_eq!(payloads(&records), [&b"kept"[..]]);
        assert_eq!(wal.end(), end, "appends start where the valid records end");
        let next = wal.append(&[b"next"]).unwrap();
        wal.sync_to(next).await.unwrap();
        drop(wal);
        let (_, records) = reopen(dir.path(), 0);
        assert_eq!(payloads(&records), [&b"kept"[..], b"next"], "the cut-off write is not read as damage later");
    }

    #[tokio::test]
    async fn sealed_segments_are_deleted_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = reopen(dir.path(), 0);
        let a = wal.append(&[b"a"]).unwrap();
        wal.rotate().unwrap();
        let b = wal.append(&[b"b"]).unwrap();
        wal.rotate().unwrap();
        assert!(wal.has_closed_below(a));
        assert_eq!(wal.truncate_to(a).unwrap(), 1, "the first segment is sealed");
        assert!(!wal.has_closed_below(a));
        assert_eq!(wal.truncate_to(a).unwrap(), 0);
        drop(wal);
        let (_, records) = reopen(dir.path(), a);
        assert_eq!(records.iter().map(|(e, _)| *e).collect::<Vec<_>>(), [b]);
    }

    #[tokio::test]
    async fn concurrent_appends_share_syncs() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = reopen(dir.path(), 0);
        let wal = Arc::new(wal);
        let tasks: Vec<_> = (0..32u32)
            .map(|i| {
                let wal = wal.clone();
                tokio::spawn(async move {
                    let end = wal.append(&[&i.to_le_bytes()]).unwrap();
                    wal.sync_to(end).await.unwrap();
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(wal.durable.load(Ordering::Acquire), wal.end());
        drop(wal);
        let (_, records) = reopen(dir.path(), 0);
        assert_eq!(records.len(), 32);
    }
}
