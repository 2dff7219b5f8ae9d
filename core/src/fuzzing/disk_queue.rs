//! The `disk_queue` target: reopening a persistent queue whose files hold any bytes.
//!
//! The input becomes the queue's directory: a first byte of flags, then (flag 1) a 12-byte
//! `ack` file, then the segment bytes; flag 2 splits those at a position given by the next
//! two bytes into two segments (an older one and the newest, which reopening may truncate).
//! The queue is opened; when it found a batch (or a loss), or flag 4 is set, one known batch
//! is appended after whatever was found, everything is popped and acknowledged, and the
//! queue is opened again. What must hold: no panic, both opens succeed (whatever the bytes,
//! and the directory's lock is free again once a queue is dropped), every batch handed out
//! reads back as OTLP, the batch appended comes back last and intact, and after everything
//! was acknowledged the reopened queue is empty.

use std::path::Path;
use std::time::Duration;

use futures::executor::block_on;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use crate::data::Traces;
use crate::queue::QueueBackend;
use crate::queue::disk::{lock, log};
use crate::queue::DiskQueue;

/// The fuzz target `disk_queue`; `dir` is an empty scratch directory it may fill and empty.
pub fn disk_queue(dir: &Path, data: &[u8]) {
    let Some((&flags, mut rest)) = data.split_first() else { return };
    clear(dir);
    if flags & 1 != 0 {
        let Some((ack, after)) = rest.split_at_checked(12) else { return };
        write(&dir.join("ack"), ack);
        rest = after;
    }
    if flags & 2 != 0 && rest.len() >= 2 {
        let at = usize::from(u16::from_le_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let (older, newer) = rest[2..].split_at(at);
        write(&log::segment_path(dir, 1), older);
        write(&log::segment_path(dir, 2), newer);
    } else {
        write(&log::segment_path(dir, 1), rest);
    }

    // Damage in the files is never a reason not to open (a failed open would skip every check).
    let queue = open(dir, "open");
    // Most mutations leave no readable record (a checksum covers each): the rest of the
    // cycle would then repeat what such inputs all do, at a few dozen file system calls
    // each, so it runs for them only when flag 4 asks.
    if queue.is_empty() && queue.lost_at_open() == 0 && flags & 4 == 0 {
        return;
    }
    let mine = known_batch();
    let appended = queue.try_push(mine.clone()).is_ok();
    queue.close();
    let mut last = None;
    while let Some((id, traces)) = block_on(queue.pop()) {
        last = Some(traces.to_request());
        queue.ack(id);
    }
    if appended {
        assert_eq!(last, Some(mine.to_request()), "the batch appended after reopening comes back last");
    }
    assert_eq!(queue.len(), 0, "every batch popped and acknowledged");
    // Dropping the queue lets go of the directory's lock, so it reopens in this process.
    drop(queue);
    let again = open(dir, "reopen after its own cycle");
    assert_eq!(again.len(), 0, "batches redelivered after everything was acknowledged");
}

/// Opens the queue in `dir`, or fails the target. A lock found held is tried again for up to
/// a second first: the queues of this process are dropped by then, and the flock goes with the
/// last reference to the lock file's open file, but once (2026-12-07, one reopen in 1.6M
/// executions, not again when that input was replayed 180 000 times) a reopen right after the
/// drop found it still held. The cause is not known; a reference held for a moment outside
/// this process (a reader of `/proc/<pid>/fd` takes one) would delay the release so. A lock
/// that is never let go of still fails the target, and a retry is written to the fuzzer's
/// log (stderr) so a run's figures can say how often it happened.
fn open(dir: &Path, what: &str) -> DiskQueue {
    let mut retries = 0;
    loop {
        match DiskQueue::open(dir, usize::MAX, false) {
            Ok(queue) => {
                if retries > 0 {
                    eprintln!("disk_queue: {what}: the directory's lock was still held; free after {retries} retries of 1 ms");
                }
                return queue;
            }
            Err(e) if lock::is_held_elsewhere(&e) && retries < 1000 => {
                retries += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("the queue does not {what}: {e}"),
        }
    }
}

fn known_batch() -> Traces {
    let span = Span { trace_id: vec![1; 16], span_id: vec![2; 8], name: "fuzz".into(), ..Default::default() };
    let scope = ScopeSpans { spans: vec![span], ..Default::default() };
    Traces::from(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans { scope_spans: vec![scope], ..Default::default() }],
    })
}

fn clear(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn write(path: &Path, bytes: &[u8]) {
    if let Err(e) = std::fs::write(path, bytes) {
        panic!("cannot write the fuzz input to {}: {e}", path.display());
    }
}
