#![allow(clippy::unwrap_used)]

use std::time::Duration;

use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use super::*;

fn batch(name: &str, spans: usize) -> Traces {
    let spans = (0..spans)
        .map(|i| Span {
            name: format!("{name}-{i}"),
            trace_id: vec![1; 16],
            span_id: (i as u64 + 1).to_be_bytes().to_vec(),
            ..Default::default()
        })
        .collect();
    Traces::new(vec![ResourceSpans {
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }])
}

fn first_name(t: &Traces) -> String {
    t.resource_spans()[0].scope_spans[0].spans[0].name.clone()
}

#[tokio::test]
async fn batches_come_back_in_order_with_their_content() {
    let dir = tempfile::tempdir().unwrap();
    let q = DiskQueue::open(dir.path(), 10, false).unwrap();
    q.try_push(batch("a", 3)).unwrap();
    q.try_push(batch("b", 2)).unwrap();
    let (ida, a) = q.pop().await.unwrap();
    let (idb, b) = q.pop().await.unwrap();
    assert_eq!((first_name(&a), a.span_count()), ("a-0".to_string(), 3));
    assert_eq!((first_name(&b), b.span_count()), ("b-0".to_string(), 2));
    assert_eq!(
        a.resource_spans(),
        batch("a", 3).resource_spans(),
        "a batch must come back exactly as it went in"
    );
    q.ack(ida);
    q.ack(idb);
    assert!(q.is_empty());
}

#[tokio::test]
async fn unacknowledged_batches_survive_a_reopen_and_acknowledged_ones_do_not() {
    let dir = tempfile::tempdir().unwrap();
    {
        let q = DiskQueue::open(dir.path(), 10, false).unwrap();
        for name in ["a", "b", "c", "d"] {
            q.try_push(batch(name, 1)).unwrap();
        }
        let (ida, _) = q.pop().await.unwrap();
        let (_idb, _) = q.pop().await.unwrap(); // popped, never acked: as if the process died mid-send
        let (idc, _) = q.pop().await.unwrap();
        q.ack(ida);
        q.ack(idc); // out of order: the floor stays at b
    } // dropped without close: a crash
    let q = DiskQueue::open(dir.path(), 10, false).unwrap();
    assert_eq!(
        q.len(),
        3,
        "b (in flight), c (acked above the floor, redelivered) and d"
    );
    let mut names = Vec::new();
    while let Ok(Some((id, t))) = tokio::time::timeout(Duration::from_millis(50), q.pop()).await {
        names.push(first_name(&t));
        q.ack(id);
    }
    assert_eq!(names, ["b-0", "c-0", "d-0"]);
    drop(q);
    let q = DiskQueue::open(dir.path(), 10, false).unwrap();
    assert!(
        q.is_empty(),
        "everything was acknowledged before the second reopen"
    );
}

#[tokio::test]
async fn a_torn_write_loses_only_the_torn_batch() {
    let dir = tempfile::tempdir().unwrap();
    {
        let q = DiskQueue::open(dir.path(), 10, false).unwrap();
        q.try_push(batch("a", 1)).unwrap();
        q.try_push(batch("b", 1)).unwrap();
    }
    let seg = log::segment_path(dir.path(), 1);
    let len = std::fs::metadata(&seg).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let q = DiskQueue::open(dir.path(), 10, false).unwrap();
    let (_, a) = q.pop().await.unwrap();
    assert_eq!(first_name(&a), "a-0");
    assert_eq!(q.len(), 1, "only the torn batch is gone");
    q.try_push(batch("c", 1)).unwrap();
    drop(q);
    let q = DiskQueue::open(dir.path(), 10, false).unwrap();
    assert_eq!(
        q.len(),
        2,
        "a (never acked) and c, written after the truncation"
    );
}

/// A damaged record in the middle of the newest segment used to be taken for an interrupted
/// write: the segment was truncated there and every batch after it lost.
#[tokio::test]
async fn damage_in_the_middle_loses_only_the_damaged_batch_and_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    {
        let q = DiskQueue::open(dir.path(), 10, false).unwrap();
        for name in ["a", "b", "c", "d"] {
            q.try_push(batch(name, 1)).unwrap();
        }
    }
    let seg = log::segment_path(dir.path(), 1);
    let mut bytes = std::fs::read(&seg).unwrap();
    let b = log::scan_segment(&seg, 1).unwrap().records[1];
    bytes[(b.offset as usize) + log::HEADER + 3] ^= 0xff; // inside b's payload
    std::fs::write(&seg, &bytes).unwrap();

    let names = |q: DiskQueue| async move {
        let mut names = Vec::new();
        while let Ok(Some((id, t))) = tokio::time::timeout(Duration::from_millis(50), q.pop()).await {
            names.push(first_name(&t));
            q.ack(id);
        }
        names
    };
    let q = DiskQueue::open(dir.path(), 10, false).unwrap();
    assert_eq!(q.lost_at_open(), 1, "the damaged batch is counted as lost");
    assert_eq!(std::fs::read(&seg).unwrap().len(), bytes.len(), "not truncated");
    q.try_push(batch("e", 1)).unwrap();
    assert_eq!(names(q).await, ["a-0", "c-0", "d-0", "e-0"], "everything but b is delivered");
    let q = DiskQueue::open(dir.path(), 10, false).unwrap();
    assert!(q.is_empty(), "and stays delivered");
    assert_eq!(q.lost_at_open(), 0, "b was below the delivered floor: nothing is lost any more");
}

#[tokio::test]
async fn full_means_pending_plus_in_flight_and_an_ack_makes_room() {
    let dir = tempfile::tempdir().unwrap();
    let q = Arc::new(DiskQueue::open(dir.path(), 2, false).unwrap());
    q.try_push(batch("a", 1)).unwrap();
    q.try_push(batch("b", 1)).unwrap();
    let (id, _) = q.pop().await.unwrap();
    assert!(
        q.try_push(batch("c", 1)).is_err(),
        "a popped batch still holds its place on disk"
    );
    let waiter = {
        let q = q.clone();
        tokio::spawn(async move {
            q.push_wait(batch("c", 1), Duration::from_secs(30))
                .await
                .is_ok()
        })
    };
    tokio::task::yield_now().await;
    q.ack(id);
    assert!(waiter.await.unwrap(), "the ack must wake a blocked push");
    assert!(q
        .push_wait(batch("d", 1), Duration::from_millis(20))
        .await
        .is_err());
}

#[tokio::test]
async fn delivered_segments_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let q = DiskQueue::open(dir.path(), 10_000, false).unwrap();
    // ~2 MB per batch, so a few batches fill a segment.
    let big = batch(&"x".repeat(20_000), 100);
    for _ in 0..12 {
        q.try_push(big.clone()).unwrap();
    }
    assert!(log::list_segments(dir.path()).unwrap().len() >= 2);
    while let Ok(Some((id, _))) = tokio::time::timeout(Duration::from_millis(50), q.pop()).await {
        q.ack(id);
    }
    assert_eq!(
        log::list_segments(dir.path()).unwrap().len(),
        1,
        "only the segment being written remains"
    );
}

#[tokio::test]
async fn close_refuses_pushes_and_ends_pops() {
    let dir = tempfile::tempdir().unwrap();
    let q = DiskQueue::open(dir.path(), 10, false).unwrap();
    q.try_push(batch("a", 1)).unwrap();
    q.close();
    assert!(q.try_push(batch("b", 1)).is_err());
    assert!(
        q.pop().await.is_some(),
        "what is queued is still handed out after close"
    );
    assert!(q.pop().await.is_none());
}

/// Found by the fuzz target `disk_queue`: a readable record numbered `u64::MAX` made
/// reopening panic (`seq + 1` overflowed). Numbers past `log::MAX_SEQ` are damage now, in
/// records and in the ack file, and the queue opens with what else it has.
#[tokio::test]
async fn impossible_sequence_numbers_are_damage_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let payload = batch("x", 1).encode_request();
    let mut segment = log::encode_record(u64::MAX, &payload);
    segment.extend_from_slice(&log::encode_record(3, &payload));
    std::fs::write(log::segment_path(dir.path(), 1), &segment).unwrap();
    let mut ack = u64::MAX.to_le_bytes().to_vec();
    ack.extend_from_slice(&crc32fast::hash(&ack).to_le_bytes());
    std::fs::write(dir.path().join("ack"), &ack).unwrap();
    let q = DiskQueue::open(dir.path(), 10, false).unwrap();
    assert_eq!(q.len(), 1, "the record numbered 3 is kept");
    q.try_push(batch("y", 1)).unwrap();
    let (_, first) = q.pop().await.unwrap();
    assert_eq!(first_name(&first), "x-0");
    let (_, second) = q.pop().await.unwrap();
    assert_eq!(first_name(&second), "y-0");
}
