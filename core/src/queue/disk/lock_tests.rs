//! One queue instance per directory: a second open is refused and says why; the directory
//! opens again once the first instance let go of it, was dropped, or its process was killed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use super::is_held_elsewhere;
use crate::data::Traces;
use crate::queue::{DiskQueue, QueueBackend};

/// Bounds a wait for something that happens promptly; never a measure of speed.
const HANG_GUARD: Duration = Duration::from_secs(60);

/// The child process of the kill test: the directory it is given by this variable.
const CHILD_DIR: &str = "TRACEGATE_TEST_LOCK_CHILD_DIR";

fn batch() -> Traces {
    let span = Span { trace_id: vec![1; 16], span_id: vec![2; 8], name: "kept".into(), ..Default::default() };
    Traces::new(vec![ResourceSpans {
        scope_spans: vec![ScopeSpans { spans: vec![span], ..Default::default() }],
        ..Default::default()
    }])
}

fn second_open_error(dir: &Path) -> String {
    let Err(e) = DiskQueue::open(dir, 10, false) else { panic!("a second instance opened {}", dir.display()) };
    assert!(is_held_elsewhere(&e), "{e}");
    e.to_string()
}

#[test]
fn a_second_open_of_a_held_directory_fails_and_names_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("exporter_otlp__traces");
    let first = DiskQueue::open(&dir, 10, false).unwrap();
    first.try_push(batch()).unwrap();
    let e = second_open_error(&dir);
    assert!(e.contains(&dir.display().to_string()) && e.contains("another running instance holds it"), "{e}");
    // The first instance is untouched by the attempt.
    assert_eq!(first.len(), 1);
}

#[test]
fn the_directory_opens_again_once_released_or_dropped_and_keeps_what_was_queued() {
    let tmp = tempfile::tempdir().unwrap();
    let first = DiskQueue::open(tmp.path(), 10, false).unwrap();
    first.try_push(batch()).unwrap();
    first.release();
    assert!(first.try_push(batch()).is_err(), "a released queue takes nothing more");
    let second = DiskQueue::open(tmp.path(), 10, false).expect("released: the next instance opens it");
    assert_eq!(second.len(), 1, "what the first held waits for the second");
    second_open_error(tmp.path());
    drop(second);
    let third = DiskQueue::open(tmp.path(), 10, false).expect("dropped: the next instance opens it");
    assert_eq!(third.len(), 1);
    drop(first);
}

/// Run as a child process by the next test (ignored on its own): opens the queue, queues one
/// batch, says so, and waits to be killed.
#[test]
#[ignore = "the child process of a_lock_left_by_a_killed_process_does_not_block_a_restart"]
fn child_holds_the_queue_until_killed() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else { return };
    let dir = Path::new(&dir);
    let queue = DiskQueue::open(dir, 10, false).unwrap();
    queue.try_push(batch()).unwrap();
    std::fs::write(dir.join("child-ready"), b"").unwrap();
    std::thread::sleep(HANG_GUARD * 2);
    drop(queue);
}

#[test]
fn a_lock_left_by_a_killed_process_does_not_block_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("q");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "queue::disk::lock::tests::child_holds_the_queue_until_killed", "--ignored", "--nocapture"])
        .env(CHILD_DIR, &dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let began = Instant::now();
    while !dir.join("child-ready").exists() {
        if began.elapsed() > HANG_GUARD || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            panic!("the child never opened the queue");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    second_open_error(&dir);
    child.kill().unwrap(); // SIGKILL: no destructor, no unlock; the lock file stays
    child.wait().unwrap();
    assert!(dir.join(super::LOCK_FILE).exists());
    let restarted = DiskQueue::open(&dir, 10, false).expect("the kernel let go of a dead process's lock");
    assert_eq!(restarted.len(), 1, "the batch the killed process queued is delivered after the restart");
}
