//! Ingest: batches go to the write-ahead log ([`crate::wal`]) and into the open block; full
//! (or old enough) open blocks are sealed into sled in the order they were cut.
//!
//! # The order that makes the log safe to truncate
//!
//! Appending a batch to the log and adding it to the open block happen under one lock, so the
//! open block always holds exactly the log's records between two offsets. Each cut block
//! gets a ticket; blocks are sealed concurrently (encoding is the expensive part), but the
//! sealed offset in `meta` ([`crate::wal::SEALED_KEY`]) only advances over an unbroken run
//! of finished tickets, after their blocks were inserted. A crash between a block's insert
//! and the offset's flush replays that block's records at open: byte-identical spans, which
//! reads merge (a retried batch looks the same), and dependency counts that count them twice.
//!
//! # What the open block holds
//!
//! Each batch in the form it came in (`batch_index::Part`): a batch of bytes as its request bytes,
//! a decoded batch (Jaeger, Zipkin, OTLP/JSON, changed by a processor) as its `Traces`, the
//! shared structs. A decoded batch is encoded once for the log; that encoding is the log's
//! record, which durability needs, and is dropped once appended: the block writer reads the
//! structs. The price is memory: in the ingest bench's
//! shape (10 attributes a span) a span takes 464 B as request bytes and ~1,420 B as structs
//! (allocated capacity, before the allocator's rounding), so an open block of 8192 decoded
//! spans holds ~11 MiB where its encoding held ~3.6 MiB, and so does each cut block until it
//! is written. A store fed by the OTLP receiver keeps bytes and holds what it did.
//!
//! # What a reader sees
//!
//! A read first seals the open block and waits for the blocks cut before it
//! ([`Ingest::seal_for_read`]), so every acknowledged span is visible to the next query, as
//! before the log. Queries during heavy ingest therefore make blocks smaller; the UI's
//! cadence (a query every few seconds) does not matter.
//!
//! # When sealing fails
//!
//! A block that cannot be written (disk full, an I/O error) keeps its place in the order and
//! is retried by the exporter's background task; until it is written, appends are refused
//! with a retryable error, so the log cannot grow without bound behind a store that cannot
//! keep up.

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use prost::Message;
use tracegate_core::data::encode_resource_spans;
use tracegate_core::Traces;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use crate::batch_index::{index, BatchIndex, Part};
use crate::codec::CodecError;
use crate::db::{Shared, StoreError};
use crate::wal::{Wal, SEALED_KEY};
use crate::write::{write_parts, WriteOptions};

/// A block cut from the log, waiting to be (or being) written.
pub struct Cut {
    ticket: u64,
    parts: Vec<Part>,
    /// Log offset just past its last record.
    end: u64,
}

#[derive(Default)]
struct Open {
    parts: Vec<Part>,
    spans: usize,
    since: Option<Instant>,
    end: u64,
    /// The ticket the next cut block gets.
    next_ticket: u64,
}

impl Open {
    fn cut(&mut self) -> Option<Cut> {
        if self.parts.is_empty() {
            return None;
        }
        let cut = Cut { ticket: self.next_ticket, parts: std::mem::take(&mut self.parts), end: self.end };
        self.next_ticket += 1;
        self.spans = 0;
        self.since = None;
        Some(cut)
    }
}

#[derive(Default)]
struct Order {
    /// Every ticket below this one is written.
    written_below: u64,
    /// Written tickets above an unwritten one, with their log offsets.
    written: BTreeMap<u64, u64>,
    /// Cut blocks whose write failed, to be retried.
    failed: BTreeMap<u64, Cut>,
}

pub struct Ingest {
    wal: Wal,
    open: Mutex<Open>,
    order: Mutex<Order>,
    order_changed: Condvar,
}

/// What an append did: the log offset to sync to before acknowledging, the block it cut (the
/// caller seals it), and how many of its spans are past retention (they are not stored).
pub struct Appended {
    pub end: u64,
    pub cut: Option<Cut>,
    pub past_retention: usize,
}

/// How long a read waits for blocks being written by others before reading what is there.
const READ_WAIT: Duration = Duration::from_secs(5);

impl Ingest {
    pub fn new(wal: Wal, sealed: u64) -> Self {
        let open = Open { end: sealed.max(wal.end()), ..Open::default() };
        Self { wal, open: Mutex::new(open), order: Mutex::default(), order_changed: Condvar::new() }
    }

    pub fn wal(&self) -> &Wal {
        &self.wal
    }

    /// Appends a batch to the log and the open block; cuts the block when it reaches
    /// `block_spans`. Blocking (a file write). Refused while a cut block cannot be written.
    pub fn append(&self, traces: &Traces, block_spans: usize, opts: &WriteOptions) -> Result<Appended, StoreError> {
        if let Some(error) = self.failing() {
            return Err(StoreError::Behind(error));
        }
        let (parts, past_retention) = readable_parts(traces, opts)?;
        let spans = traces.span_count();
        // A batch of structs is encoded for the log, its durable record; the block is written
        // from the structs, so the encoding goes once the log has it.
        let encoded;
        let payloads: Vec<&[u8]> = match &parts {
            Parts::Requests(requests) => requests.iter().map(|p| p.as_ref()).collect(),
            Parts::Decoded(_) => {
                encoded = encode_resource_spans(traces.resource_spans());
                vec![encoded.as_slice()]
            }
        };
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let end = self.wal.append(&payloads)?;
        match parts {
            Parts::Requests(requests) => open.parts.extend(requests.into_iter().map(Part::Request)),
            Parts::Decoded(traces) => open.parts.push(Part::Decoded(traces)),
        }
        open.spans += spans;
        open.end = end;
        open.since.get_or_insert_with(Instant::now);
        let cut = if open.spans >= block_spans { open.cut() } else { None };
        Ok(Appended { end, cut, past_retention })
    }

    /// Cuts the open block if it has waited `max_age` (the background task's timer).
    pub fn cut_due(&self, max_age: Duration) -> Option<Cut> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        match open.since {
            Some(since) if since.elapsed() >= max_age => open.cut(),
            _ => None,
        }
    }

    /// Writes a cut block into sled and advances the sealed offset. On failure the block is
    /// kept for [`Ingest::retry_failed`].
    pub fn seal(&self, shared: &Shared, cut: Cut, opts: &WriteOptions) -> Result<(), StoreError> {
        match write_readable(shared, &cut.parts, opts) {
            Ok(_) => self.written(shared, cut.ticket, cut.end),
            Err(e) => {
                let mut order = self.order.lock().unwrap_or_else(|p| p.into_inner());
                order.failed.insert(cut.ticket, cut);
                self.order_changed.notify_all();
                Err(e)
            }
        }
    }

    /// Writes the blocks whose earlier write failed, oldest first; stops at the first that
    /// fails again. Returns how many were written.
    pub fn retry_failed(&self, shared: &Shared, opts: &WriteOptions) -> Result<usize, StoreError> {
        let mut done = 0;
        loop {
            let next = self.order.lock().unwrap_or_else(|p| p.into_inner()).failed.pop_first();
            let Some((_, cut)) = next else { return Ok(done) };
            self.seal(shared, cut, opts)?;
            done += 1;
        }
    }

    fn failing(&self) -> Option<String> {
        let order = self.order.lock().unwrap_or_else(|p| p.into_inner());
        (!order.failed.is_empty()).then(|| format!("{} block(s) of acknowledged spans wait to be written", order.failed.len()))
    }

    fn written(&self, shared: &Shared, ticket: u64, end: u64) -> Result<(), StoreError> {
        let mut order = self.order.lock().unwrap_or_else(|p| p.into_inner());
        order.written.insert(ticket, end);
        let mut sealed = None;
        loop {
            let below = order.written_below;
            let Some(end) = order.written.remove(&below) else { break };
            order.written_below += 1;
            sealed = Some(end);
        }
        let result = match sealed {
            // Under the lock, so that offsets reach `meta` in order.
            Some(end) => shared.meta.insert(SEALED_KEY, &end.to_be_bytes()).map(|_| ()).map_err(StoreError::from),
            None => Ok(()),
        };
        self.order_changed.notify_all();
        result
    }

    /// Seals the open block and waits (up to [`READ_WAIT`]) until every block cut so far is
    /// written, so that a read sees every acknowledged span.
    pub fn seal_for_read(&self, shared: &Shared, opts: &WriteOptions) -> Result<(), StoreError> {
        let (cut, last_ticket) = {
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            let cut = open.cut();
            (cut, open.next_ticket)
        };
        if let Some(cut) = cut {
            self.seal(shared, cut, opts)?;
        }
        let deadline = Instant::now() + READ_WAIT;
        let mut order = self.order.lock().unwrap_or_else(|p| p.into_inner());
        while order.written_below < last_ticket {
            let now = Instant::now();
            // A failed block will not be written while we wait; read what is there.
            if now >= deadline || order.failed.keys().next().is_some_and(|t| *t < last_ticket) {
                break;
            }
            order = self.order_changed.wait_timeout(order, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
        Ok(())
    }

    /// Everything cut and written so far: the sealed offset (what the log may be cut to once
    /// sled is flushed).
    pub fn sealed(&self, shared: &Shared) -> u64 {
        shared.meta.get(SEALED_KEY).ok().flatten().and_then(|v| v.as_ref().try_into().ok()).map_or(0, u64::from_be_bytes)
    }

    /// Flushes sled, then deletes the log segments whose records are all in flushed blocks.
    pub fn checkpoint(&self, shared: &Shared) -> Result<usize, StoreError> {
        let sealed = self.sealed(shared);
        if !self.wal.has_closed_below(sealed) {
            return Ok(0);
        }
        shared.db.flush()?;
        sync_filesystem(&shared.path)?;
        Ok(self.wal.truncate_to(sealed)?)
    }

    /// When every record is in a block and nothing waits in the open block, starts a new
    /// log segment (if the current one holds at least `min_bytes`, or is a reused full-size
    /// file) so that the next checkpoint deletes the old one: an idle store keeps no log
    /// behind its blocks.
    pub fn rotate_if_idle(&self, shared: &Shared, min_bytes: u64) -> Result<(), StoreError> {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if !open.parts.is_empty() || self.sealed(shared) < self.wal.end() || (self.wal.tail_bytes() < min_bytes && !self.wal.tail_recycled()) {
            return Ok(());
        }
        // Under the open block's lock: no append can slip in between the check and the cut.
        self.wal.rotate()?;
        Ok(())
    }

    /// At open: writes the records the log holds past the sealed offset into blocks, flushes,
    /// and deletes the old segments. Returns how many records were replayed.
    pub fn replay(&self, shared: &Shared, segments: Vec<(u64, std::path::PathBuf)>, opts: &WriteOptions) -> Result<usize, StoreError> {
        /// Payload bytes per replayed block: about what an 8192-span block arrives as.
        const REPLAY_BLOCK_BYTES: usize = 4 << 20;
        let sealed = self.sealed(shared);
        let mut replayed = 0;
        for (i, (start, path)) in segments.iter().enumerate() {
            // A segment ends where the next begins; the last one where its records do.
            let end = segments.get(i + 1).map(|(next, _)| *next);
            if end.is_some_and(|end| end <= sealed) {
                continue; // Every record is in a sealed block.
            }
            let records = crate::wal::read_records(path, *start, end)?;
            let mut batch: Vec<Part> = Vec::new();
            let mut bytes = 0;
            let mut end = sealed;
            for (record_end, payload) in records.into_iter().filter(|(e, _)| *e > sealed) {
                bytes += payload.len();
                batch.push(Part::Request(Bytes::from(payload)));
                end = record_end;
                replayed += 1;
                if bytes >= REPLAY_BLOCK_BYTES {
                    self.replay_block(shared, std::mem::take(&mut batch), end, opts)?;
                    bytes = 0;
                }
            }
            if !batch.is_empty() {
                self.replay_block(shared, batch, end, opts)?;
            }
        }
        shared.db.flush()?;
        sync_filesystem(&shared.path)?;
        self.wal.truncate_to(self.sealed(shared))?;
        if replayed > 0 {
            tracing::info!(records = replayed, "acknowledged batches replayed from the write-ahead log into the store");
        }
        Ok(replayed)
    }

    fn replay_block(&self, shared: &Shared, parts: Vec<Part>, end: u64, opts: &WriteOptions) -> Result<(), StoreError> {
        write_readable(shared, &parts, opts)?;
        shared.meta.insert(SEALED_KEY, &end.to_be_bytes())?;
        Ok(())
    }
}

/// Makes the blocks sled wrote durable before their log records go. sled's `flush` syncs its
/// own log but not the blob files its large values (every block) are written to, so a power
/// cut after a plain flush could lose a block whose records were already deleted; `syncfs`
/// writes out every dirty file of the store's filesystem (elsewhere than Linux, the log is
/// cut after sled's flush alone).
fn sync_filesystem(path: &std::path::Path) -> Result<(), StoreError> {
    #[cfg(target_os = "linux")]
    {
        let failed = |source| StoreError::Sync { path: path.display().to_string(), source };
        let dir = std::fs::File::open(path).map_err(failed)?;
        rustix::fs::syncfs(&dir).map_err(|e| failed(e.into()))?;
    }
    #[cfg(not(target_os = "linux"))]
    let _ = path;
    Ok(())
}

/// A batch as the open block keeps it: its request encodings, or its structs.
enum Parts {
    Requests(Vec<Bytes>),
    Decoded(Traces),
}

/// The batch as the block writer will read it, and how many of its spans start before the
/// retention cutoff ([`crate::past_retention`]). A batch of bytes stays its request
/// encodings, a decoded batch (Jaeger, Zipkin, changed by a processor) its structs. Bytes the
/// views refuse (a singular field repeated, which prost merges) are re-encoded when the block
/// is cut ([`Ingest::seal`]), not checked here: that check parsed every span a second time.
fn readable_parts(traces: &Traces, opts: &WriteOptions) -> Result<(Parts, usize), StoreError> {
    let Some(parts) = traces.encoded_parts() else {
        let past = crate::past_retention::in_decoded(traces.resource_spans(), opts);
        return Ok((Parts::Decoded(traces.clone()), past));
    };
    let mut past = 0;
    let mut readable = Vec::with_capacity(parts.len());
    for encoded in parts {
        let part = encoded.bytes.clone();
        // The receiver's check noted the oldest start: when even that is kept, so is every
        // span, and the spans need no walk.
        if !crate::past_retention::is_past(encoded.oldest_start_ns, opts) {
            readable.push(part);
            continue;
        }
        let (part, n) = match crate::past_retention::in_request(&part, opts) {
            Ok(n) => (part, n),
            Err(_) => {
                // Not what prost reads either (a receiver passes only bytes prost decodes):
                // the views' verdict, as before.
                let again = reencoded(&part);
                let n = index([again.as_ref()]).map(|b| past_retention(&b, opts)).map_err(CodecError::from)?;
                (again, n)
            }
        };
        past += n;
        readable.push(part);
    }
    Ok((Parts::Requests(readable), past))
}

/// Spans the writer skips as older than the retention (its own test, see `write::write_parts`).
fn past_retention(batch: &BatchIndex<'_>, opts: &WriteOptions) -> usize {
    batch.spans.iter().filter(|s| crate::past_retention::is_past(s.span.start_time_unix_nano, opts)).count()
}

/// Writes a cut block's batches; if the writer cannot read their requests (bytes the views
/// refuse), writes them again as prost reads and re-encodes them, so a cut block never fails
/// to encode and stays queued forever.
fn write_readable(shared: &Shared, parts: &[Part], opts: &WriteOptions) -> Result<usize, StoreError> {
    match write_parts(shared, parts, *opts) {
        Err(StoreError::Codec(e)) => {
            tracing::debug!(error = %e, "a block's requests re-encoded as prost reads them");
            let again: Vec<Part> = parts
                .iter()
                .map(|p| match p {
                    Part::Request(bytes) => Part::Request(reencoded(bytes)),
                    decoded => decoded.clone(),
                })
                .collect();
            write_parts(shared, &again, *opts)
        }
        other => other,
    }
}

/// Prost's decoding of `bytes` encoded again, which the views read; `bytes` themselves when
/// prost refuses them too (the writer then reports why).
fn reencoded(bytes: &Bytes) -> Bytes {
    match ExportTraceServiceRequest::decode(bytes.as_ref()) {
        Ok(request) => Bytes::from(request.encode_to_vec()),
        Err(_) => bytes.clone(),
    }
}
