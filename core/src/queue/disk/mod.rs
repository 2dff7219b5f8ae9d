//! [`DiskQueue`]: the sending queue kept in files, so batches accepted by the pipeline
//! survive a restart, a crash (kill -9) and a long backend outage. Delivery is at least once.
//!
//! Batches are appended to segment files (see [`log`]); only a small index of where each one
//! lives is in memory, so a queue of many gigabytes costs a few dozen bytes per batch of RAM.
//! `pop` reads a batch back; it stays on disk until `ack`. Workers acknowledge out of order,
//! so the queue persists a *floor*: every batch below it is delivered. After a crash, batches
//! at or above the floor are delivered again (duplicates, never losses; the stores are
//! idempotent on span id). Segments wholly below the floor are deleted.
//!
//! Writes go to the OS page cache, which a killed process does not lose; `fsync: true` on the
//! `file_storage` extension also survives a power cut, at the price of a sync per batch.
//! The append happens on the caller's thread: a buffered write of one batch is microseconds,
//! and keeping `try_push` synchronous keeps the backend contract the same as memory's.
//!
//! One queue instance per directory: opening takes the directory's lock ([`lock`]) before
//! reading anything, and a second open while it is held fails, naming the directory. The
//! lock goes with [`QueueBackend::release`] (after a shutdown's drain) or when the queue is
//! dropped, and with the process.

pub mod lock;
pub mod log;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;

use self::lock::DirLock;
use self::log::RecordRef;
use super::backend::{QueueBackend, QueueFull};
use super::Sizer;
use crate::data::Traces;

/// A new segment is started once the current one is this large.
const SEGMENT_BYTES: u64 = 8 << 20;

#[derive(Debug, thiserror::Error)]
#[error("persistent queue in {dir}: {source}")]
pub struct DiskQueueError {
    pub dir: PathBuf,
    #[source]
    pub source: io::Error,
}

struct Writer {
    segment: u64,
    file: File,
    len: u64,
}

struct State {
    writer: Option<Writer>,
    /// Read handles by segment (the writer's segment included once written to).
    readers: HashMap<u64, Arc<File>>,
    /// Not yet handed out, oldest first.
    pending: VecDeque<RecordRef>,
    /// Handed out by `pop`, not yet acknowledged, with their sizes.
    in_flight: BTreeMap<u64, u64>,
    /// What the pending and in-flight batches amount to, in the sizer's unit.
    used: u64,
    /// Highest sequence number in each segment.
    segments: BTreeMap<u64, u64>,
    next_seq: u64,
    next_segment: u64,
    floor: u64,
    closed: bool,
    /// Let go of ([`QueueBackend::release`]): another instance may own the files now.
    released: bool,
}

pub struct DiskQueue {
    dir: PathBuf,
    sizer: Sizer,
    capacity: u64,
    fsync: bool,
    state: Mutex<State>,
    /// Signalled when a batch is added or the queue closes.
    arrived: Notify,
    /// Signalled when an ack makes room.
    room: Notify,
    /// Undelivered batches that reopening found lost to damage in the files.
    lost_at_open: u64,
    /// The directory's lock, held from open until released or dropped.
    lock: Mutex<Option<DirLock>>,
}

impl DiskQueue {
    /// Opens (or creates) the queue of at most `capacity` batches in `dir` and takes back
    /// every batch not yet delivered. Fails when another instance holds the directory.
    pub fn open(dir: &Path, capacity: usize, fsync: bool) -> Result<Self, DiskQueueError> {
        Self::open_sized(dir, Sizer::Requests, capacity as u64, fsync)
    }

    /// As [`DiskQueue::open`], the capacity counted by `sizer`: `requests` or `bytes` (the
    /// records' payload, the batches' protobuf). `items` would need every record read back at
    /// start-up to count its spans, so validation refuses it with `storage`.
    pub fn open_sized(
        dir: &Path,
        sizer: Sizer,
        capacity: u64,
        fsync: bool,
    ) -> Result<Self, DiskQueueError> {
        let err = |source| DiskQueueError {
            dir: dir.to_path_buf(),
            source,
        };
        // Before anything is read: what another instance is writing is not ours to read.
        let lock = DirLock::acquire(dir)?;
        let floor = match log::read_ack(dir) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "persistent queue: unreadable ack file; redelivering everything on disk");
                0
            }
        };
        let mut state = State {
            writer: None,
            readers: HashMap::new(),
            pending: VecDeque::new(),
            in_flight: BTreeMap::new(),
            used: 0,
            segments: BTreeMap::new(),
            next_seq: floor,
            next_segment: 1,
            floor,
            closed: false,
            released: false,
        };
        let segments = log::list_segments(dir).map_err(err)?;
        let newest = segments.last().copied();
        // The sequence number the next readable record should have; a larger one means the
        // batches in between were lost to damage (sequence numbers are consecutive).
        let mut expected: Option<u64> = None;
        let mut lost = 0u64;
        for segment in segments {
            state.next_segment = segment + 1;
            let path = log::segment_path(dir, segment);
            let scanned = log::scan_segment(&path, segment).map_err(err)?;
            for damage in &scanned.skipped {
                tracing::error!(segment = %path.display(), offset = damage.offset, bytes = damage.len, "persistent queue: damage in the middle of a segment ({}); skipped it and kept the records after it", damage.why);
            }
            if let Some((at, why)) = &scanned.damaged_tail {
                if Some(segment) == newest {
                    tracing::warn!(segment = %path.display(), offset = at, "persistent queue: {why} at the end of the newest segment, with no readable record after it (an interrupted write); truncating it there");
                    std::fs::OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .and_then(|f| f.set_len(*at))
                        .map_err(err)?;
                } else {
                    tracing::warn!(segment = %path.display(), offset = at, "persistent queue: {why}, with no readable record after it up to the end of this older segment (a failed append, or damage; batches lost, if any, are counted below)");
                }
            }
            for r in &scanned.records {
                if let Some(e) = expected.filter(|e| r.seq > *e) {
                    lost += r.seq - e.max(floor).min(r.seq);
                }
                expected = Some(r.seq + 1);
            }
            let live: Vec<RecordRef> = scanned
                .records
                .into_iter()
                .filter(|r| r.seq >= floor)
                .collect();
            match live.last() {
                None => {
                    let _ = std::fs::remove_file(&path);
                }
                Some(last) => {
                    state.next_seq = state.next_seq.max(last.seq + 1);
                    state.segments.insert(segment, last.seq);
                    state
                        .readers
                        .insert(segment, Arc::new(File::open(&path).map_err(err)?));
                    state.pending.extend(live);
                }
            }
        }
        if lost > 0 {
            tracing::error!(dir = %dir.display(), batches = lost, "persistent queue: batches accepted but not yet delivered were lost to damage in the queue files; the rest is delivered");
        }
        if !state.pending.is_empty() {
            tracing::info!(dir = %dir.display(), batches = state.pending.len(), "persistent queue: resuming delivery of batches kept on disk");
        }
        state.used = state.pending.iter().map(|r| record_size(sizer, r)).sum();
        Ok(Self {
            dir: dir.to_path_buf(),
            sizer,
            capacity: capacity.max(1),
            fsync,
            state: Mutex::new(state),
            arrived: Notify::new(),
            room: Notify::new(),
            lost_at_open: lost,
            lock: Mutex::new(Some(lock)),
        })
    }

    /// Batches not yet delivered that reopening found lost to damage in the files (gaps in
    /// the sequence numbers of the readable records, at or above the delivered floor).
    pub fn lost_at_open(&self) -> u64 {
        self.lost_at_open
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn append(&self, state: &mut State, batch: &Traces) -> io::Result<()> {
        // A batch still in its received bytes is written as they are.
        let payload = batch.encode_request();
        let seq = state.next_seq;
        let record = log::encode_record(seq, &payload);
        if state.writer.as_ref().is_none_or(|w| w.len >= SEGMENT_BYTES) {
            let segment = state.next_segment;
            let file = log::create_segment(&self.dir, segment)?;
            state.readers.insert(segment, Arc::new(file.try_clone()?));
            state.writer = Some(Writer {
                segment,
                file,
                len: 0,
            });
            state.next_segment += 1;
        }
        let Some(w) = state.writer.as_mut() else {
            return Err(io::Error::other("no segment open"));
        };
        let offset = w.len;
        if let Err(e) = w.file.write_all(&record).and_then(|()| {
            if self.fsync {
                w.file.sync_data()
            } else {
                Ok(())
            }
        }) {
            // A partial append would corrupt what follows; start a fresh segment next time and
            // let reopening truncate this one.
            state.writer = None;
            return Err(e);
        }
        w.len += record.len() as u64;
        state.segments.insert(w.segment, seq);
        let stored = RecordRef {
            seq,
            segment: w.segment,
            offset,
            len: payload.len() as u32,
        };
        state.used += record_size(self.sizer, &stored);
        state.pending.push_back(stored);
        state.next_seq += 1;
        Ok(())
    }

    /// Raises the floor past every delivered batch, persists it, deletes spent segments.
    fn advance_floor(&self, state: &mut State) {
        let lowest_open = state
            .in_flight
            .keys()
            .next()
            .copied()
            .into_iter()
            .chain(state.pending.front().map(|r| r.seq))
            .min();
        let floor = lowest_open.unwrap_or(state.next_seq);
        if floor <= state.floor || state.released {
            return;
        }
        if let Err(e) = log::write_ack(&self.dir, floor, self.fsync) {
            tracing::error!(dir = %self.dir.display(), error = %e, "persistent queue: cannot record delivered batches; they will be sent again after a restart");
            return;
        }
        state.floor = floor;
        let writing = state.writer.as_ref().map(|w| w.segment);
        let spent: Vec<u64> = state
            .segments
            .iter()
            .filter(|(s, last)| **last < floor && Some(**s) != writing)
            .map(|(s, _)| *s)
            .collect();
        for segment in spent {
            state.segments.remove(&segment);
            state.readers.remove(&segment);
            if let Err(e) = std::fs::remove_file(log::segment_path(&self.dir, segment)) {
                tracing::warn!(segment, error = %e, "persistent queue: cannot delete a delivered segment");
            }
        }
    }

    fn held(state: &State) -> usize {
        state.pending.len() + state.in_flight.len()
    }
}

/// A stored batch's size in `sizer` units (`items` is refused with a disk queue: counted as
/// `requests`).
fn record_size(sizer: Sizer, record: &RecordRef) -> u64 {
    match sizer {
        Sizer::Bytes => u64::from(record.len),
        Sizer::Requests | Sizer::Items => 1,
    }
}

#[async_trait]
impl QueueBackend for DiskQueue {
    fn try_push(&self, batch: Traces) -> Result<(), QueueFull> {
        let size = match self.sizer {
            Sizer::Bytes => batch.encoded_len() as u64,
            Sizer::Requests | Sizer::Items => 1,
        };
        let mut state = self.lock();
        // As the memory queue: a batch larger than the whole queue gets in alone.
        let fits = state.used == 0 || state.used.saturating_add(size) <= self.capacity;
        if state.closed || !fits {
            return Err(QueueFull(batch));
        }
        if let Err(e) = self.append(&mut state, &batch) {
            tracing::error!(dir = %self.dir.display(), error = %e, "persistent queue: cannot write a batch");
            return Err(QueueFull(batch));
        }
        drop(state);
        self.arrived.notify_one();
        Ok(())
    }

    async fn push_wait(&self, batch: Traces, wait: Duration) -> Result<(), QueueFull> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut batch = batch;
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            match self.try_push(batch) {
                Ok(()) => return Ok(()),
                Err(QueueFull(b)) if self.lock().closed => return Err(QueueFull(b)),
                Err(QueueFull(b)) => batch = b,
            }
            if tokio::time::timeout_at(deadline, room).await.is_err() {
                return Err(QueueFull(batch));
            }
        }
    }

    async fn pop(&self) -> Option<(u64, Traces)> {
        loop {
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let next = {
                let mut state = self.lock();
                // The files may be another instance's now: what is left is theirs.
                if state.released {
                    return None;
                }
                match state.pending.pop_front() {
                    Some(rec) => {
                        state.in_flight.insert(rec.seq, record_size(self.sizer, &rec));
                        Some((rec, state.readers.get(&rec.segment).cloned()))
                    }
                    None if state.closed => return None,
                    None => None,
                }
            };
            let Some((rec, file)) = next else {
                arrived.await;
                continue;
            };
            // Another batch may be waiting for a second worker.
            self.arrived.notify_one();
            let decoded = file
                .ok_or_else(|| io::Error::other("segment file is gone"))
                .and_then(|f| log::read_payload(&f, &rec))
                .and_then(|b| {
                    // Read back as bytes too: an exporter that forwards OTLP never decodes it.
                    Traces::from_protobuf(b.into())
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
                });
            match decoded {
                Ok(traces) => return Some((rec.seq, traces)),
                Err(e) => {
                    tracing::error!(dir = %self.dir.display(), seq = rec.seq, error = %e, "persistent queue: skipping a batch that cannot be read back");
                    self.ack(rec.seq);
                }
            }
        }
    }

    fn ack(&self, id: u64) {
        let mut state = self.lock();
        if let Some(size) = state.in_flight.remove(&id) {
            state.used = state.used.saturating_sub(size);
            self.advance_floor(&mut state);
            drop(state);
            self.room.notify_one();
        }
    }

    fn len(&self) -> usize {
        Self::held(&self.lock())
    }

    fn size(&self) -> u64 {
        self.lock().used
    }

    fn capacity(&self) -> u64 {
        self.capacity
    }

    fn close(&self) {
        self.lock().closed = true;
        self.arrived.notify_waiters();
        self.room.notify_waiters();
    }

    fn is_persistent(&self) -> bool {
        true
    }

    /// Closes the queue, lets go of its files and its directory's lock: what it still holds
    /// stays on disk, for the instance that opens the directory next.
    fn release(&self) {
        {
            let mut state = self.lock();
            state.closed = true;
            state.released = true;
            state.writer = None;
            state.readers.clear();
        }
        self.arrived.notify_waiters();
        self.room.notify_waiters();
        self.lock.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    fn remove_files(&self) -> io::Result<()> {
        let mut state = self.lock();
        if !state.closed || Self::held(&state) > 0 {
            return Err(io::Error::other("the queue is open or still holds batches"));
        }
        state.writer = None;
        state.readers.clear();
        state.segments.clear();
        std::fs::remove_dir_all(&self.dir)
    }
}

#[cfg(test)]
mod tests;
