//! The pipeline engine without sockets: graph rules, fan-out, queue, retry, shutdown drain.

mod support;

use std::time::Duration;

use support::World;
use tracegate_core::component::ConsumeError;
use tracegate_core::graph::Service;
use tracegate_core::testing::blank_spans;

const TWO_PIPELINES: &str = r#"
receivers: { test/shared: {}, test/only_b: {} }
processors: { test/p: {} }
exporters: { test/e1: {}, test/e2: {} }
service:
  pipelines:
    traces/a: { receivers: [test/shared], processors: [test/p], exporters: [test/e1, test/e2] }
    traces/b: { receivers: [test/shared, test/only_b], processors: [test/p], exporters: [test/e1] }
"#;

#[tokio::test]
async fn shared_receivers_and_exporters_are_one_instance_processors_are_per_pipeline() {
    let w = World::new();
    let cfg = w.config(TWO_PIPELINES).unwrap();
    let svc = Service::build(&cfg, w.telemetry.clone()).unwrap();
    svc.start().await.unwrap();
    assert_eq!(
        w.receivers.0.lock().unwrap().len(),
        2,
        "test/shared is created once"
    );
    assert_eq!(w.exporters.count(), 2, "test/e1 is created once");

    w.receiver("test/shared")
        .next
        .consume(blank_spans(3))
        .await
        .unwrap();
    let processed = w
        .log()
        .iter()
        .filter(|l| l.as_str() == "process test/p")
        .count();
    assert_eq!(
        processed, 2,
        "one processor instance per pipeline, each saw the batch"
    );
    svc.shutdown().await;
    assert_eq!(
        w.exporters.get("test/e1").spans(),
        6,
        "e1 is in both pipelines"
    );
    assert_eq!(w.exporters.get("test/e2").spans(), 3);
}

#[tokio::test]
async fn starts_downstream_first_and_stops_upstream_first() {
    let w = World::new();
    let cfg = w.config(TWO_PIPELINES).unwrap();
    let svc = Service::build(&cfg, w.telemetry.clone()).unwrap();
    svc.start().await.unwrap();
    svc.shutdown().await;
    let log = w.log();
    let pos = |s: &str| {
        log.iter()
            .position(|l| l == s)
            .unwrap_or_else(|| panic!("{s} missing from {log:?}"))
    };
    assert!(pos("start exporter test/e1") < pos("start processor test/p"));
    assert!(pos("start processor test/p") < pos("start receiver test/shared"));
    let last_receiver_stop = pos("stop receiver test/only_b").max(pos("stop receiver test/shared"));
    assert!(last_receiver_stop < pos("stop processor test/p"));
    assert!(pos("stop processor test/p") < pos("stop exporter test/e1"));
}

#[tokio::test]
async fn fanout_shares_the_batch_and_copies_only_for_a_writer() {
    let w = World::new();
    let cfg = w
        .config(
            r#"
receivers: { test: {} }
exporters: { test/a: {}, test/b: {}, test/c: {} }
service: { pipelines: { traces: { receivers: [test], exporters: [test/a, test/b, test/c] } } }
"#,
        )
        .unwrap();
    let svc = Service::build(&cfg, w.telemetry.clone()).unwrap();
    svc.start().await.unwrap();
    let batch = blank_spans(5);
    w.receiver("test")
        .next
        .consume(batch.clone())
        .await
        .unwrap();
    svc.shutdown().await;
    for id in ["test/a", "test/b", "test/c"] {
        let got = w.exporters.get(id).received.lock().unwrap()[0].clone();
        assert!(
            got.shares_with(&batch),
            "{id} got a copy; read-only consumers must share"
        );
    }
}

#[tokio::test]
async fn a_mutating_processor_does_not_change_what_another_pipeline_sees() {
    let w = World::new();
    let cfg = w
        .config(
            r#"
receivers: { test: {} }
processors: { test/m: { mutate: true } }
exporters: { test/plain: {}, test/changed: {} }
service:
  pipelines:
    traces/plain: { receivers: [test], exporters: [test/plain] }
    traces/changed: { receivers: [test], processors: [test/m], exporters: [test/changed] }
"#,
        )
        .unwrap();
    let svc = Service::build(&cfg, w.telemetry.clone()).unwrap();
    svc.start().await.unwrap();
    w.receiver("test").next.consume(blank_spans(1)).await.unwrap();
    svc.shutdown().await;
    let plain = w.exporters.get("test/plain").received.lock().unwrap()[0].clone();
    let changed = w.exporters.get("test/changed").received.lock().unwrap()[0].clone();
    assert_eq!(plain.resource_spans()[0].schema_url, "");
    assert_eq!(changed.resource_spans()[0].schema_url, "test/m");
}

fn one_exporter(exporter_cfg: &str) -> String {
    format!(
        r#"
receivers: {{ test: {{}} }}
exporters:
  test/out: {exporter_cfg}
service: {{ shutdown_timeout: 2s, pipelines: {{ traces: {{ receivers: [test], exporters: [test/out] }} }} }}
"#
    )
}

#[tokio::test(start_paused = true)]
async fn retryable_errors_are_retried_with_backoff_until_delivered() {
    let w = World::new();
    let cfg = w
        .config(&one_exporter(
            "{ behaviour: [retryable, retryable, ok], retry_on_failure: { initial_interval: 100ms, max_interval: 1s, randomization_factor: 0 } }",
        ))
        .unwrap();
    let svc = Service::build(&cfg, w.telemetry.clone()).unwrap();
    svc.start().await.unwrap();
    w.receiver("test").next.consume(blank_spans(4)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let e = w.exporters.get("test/out");
    assert_eq!(e.spans(), 4);
    let at = e.attempts.lock().unwrap().clone();
    assert_eq!(at.len(), 3);
    assert!(
        at[1] - at[0] >= Duration::from_millis(100) && at[2] - at[1] >= Duration::from_millis(150),
        "exponential backoff"
    );
    svc.shutdown().await;
    assert_eq!(
        w.metric("tracegate_exporter_sent_spans{exporter=\"test/out\"}"),
        4.0
    );
}

#[tokio::test(start_paused = true)]
async fn permanent_errors_are_never_retried() {
    let w = World::new();
    let cfg = w
        .config(&one_exporter("{ behaviour: [permanent, ok] }"))
        .unwrap();
    let svc = Service::build(&cfg, w.telemetry.clone()).unwrap();
    svc.start().await.unwrap();
    w.receiver("test").next.consume(blank_spans(2)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        w.exporters.get("test/out").attempts.lock().unwrap().len(),
        1
    );
    svc.shutdown().await;
    assert_eq!(
        w.metric("tracegate_exporter_send_failed_spans{exporter=\"test/out\"}"),
        2.0
    );
}

#[tokio::test(start_paused = true)]
async fn throttled_errors_wait_at_least_the_retry_after() {
    let w = World::new();
    let cfg = w
        .config(&one_exporter(
            "{ behaviour: [\"throttle:3000\", ok], retry_on_failure: { initial_interval: 10ms, max_interval: 20ms } }",
        ))
        .unwrap();
    let svc = Service::build(&cfg, w.telemetry.clone()).unwrap();
    svc.start().await.unwrap();
    w.receiver("test").next.consume(blank_spans(1)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let at = w.exporters.get("test/out").attempts.lock().unwrap().clone();
    assert_eq!(at.len(), 2);
    assert!(
        at[1] - at[0] >= Duration::from_secs(3),
        "waited {:?}",
        at[1] - at[0]
    );
    svc.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn drop_newest_drops_and_counts_without_stalling_the_other_exporter() {
    let w = World::new();
    let cfg = w
        .config(
            r#"
receivers: { test: {} }
exporters:
  test/dead: { behaviour: [hang], sending_queue: { queue_size: 2, num_consumers: 1, when_full: drop_newest } }
  test/live: {}
service: { shutdown_timeout: 1s, pipelines: { traces: { receivers: [test], exporters: [test/dead, test/live] } } }
"#,
        )
        .unwrap();
    let svc = Service::build(&cfg, w.telemetry.clone()).unwrap();
    svc.start().await.unwrap();
    let next = w.receiver("test").next.clone();
    for _ in 0..5 {
        next.consume(blank_spans(10))
            .await
            .expect("drop_newest never refuses");
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        w.exporters.get("test/live").spans(),
        50,
        "the live exporter got everything"
    );
    // One batch is hanging in the worker, one waits in the queue, three were dropped.
    assert_eq!(
        w.metric("tracegate_exporter_enqueue_failed_spans{exporter=\"test/dead\"}"),
        30.0
    );
    svc.shutdown().await;
    assert_eq!(
        svc.undelivered()
            .iter()
            .find(|(id, _)| id.to_string() == "test/dead")
            .unwrap()
            .1,
        20,
        "in-flight and queued are counted at shutdown"
    );
}

#[tokio::test(start_paused = true)]
async fn block_refuses_with_a_retryable_error_once_the_queue_stays_full() {
    let w = World::new();
    let cfg = w
        .config(&one_exporter(
            "{ behaviour: [hang], sending_queue: { queue_size: 2, num_consumers: 1, when_full: block, block_timeout: 50ms } }",
        ))
        .unwrap();
    let svc = Service::build(&cfg, w.telemetry.clone()).unwrap();
    svc.start().await.unwrap();
    let next = w.receiver("test").next.clone();
    next.consume(blank_spans(1)).await.unwrap(); // taken by the worker, which hangs
    tokio::time::sleep(Duration::from_millis(10)).await;
    next.consume(blank_spans(1)).await.unwrap(); // waits in the queue
    let err = next.consume(blank_spans(1)).await.unwrap_err();
    assert!(
        matches!(err, ConsumeError::Retryable(ref m) if m.contains("full")),
        "{err:?}"
    );
    svc.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn by_default_a_full_queue_refuses_at_once_and_delivers_all_it_accepted() {
    let w = World::new();
    // 2 batches of 10 spans fit in 20 spans: the one being exported counts until it is done.
    let cfg = w
        .config(&one_exporter(
            "{ behaviour: [hang, ok], timeout: 1s, retry_on_failure: { initial_interval: 100ms }, sending_queue: { sizer: items, queue_size: 20, num_consumers: 1 } }",
        ))
        .unwrap();
    let svc = Service::build(&cfg, w.telemetry.clone()).unwrap();
    svc.start().await.unwrap();
    let next = w.receiver("test").next.clone();
    next.consume(blank_spans(10)).await.unwrap(); // taken by the worker, which hangs
    tokio::time::sleep(Duration::from_millis(10)).await;
    next.consume(blank_spans(10)).await.unwrap(); // waits in the queue
    let err = next.consume(blank_spans(1)).await.unwrap_err();
    assert!(
        matches!(err, ConsumeError::Retryable(ref m) if m.contains("is full (20 of 20 spans)")),
        "{err:?}"
    );
    assert_eq!(w.metric("tracegate_exporter_enqueue_failed_spans{exporter=\"test/out\"}"), 1.0);
    assert_eq!(w.metric("tracegate_exporter_queue_size{exporter=\"test/out\"}"), 20.0);
    assert_eq!(w.metric("tracegate_exporter_queue_capacity{exporter=\"test/out\"}"), 20.0);
    svc.shutdown().await;
    assert_eq!(w.exporters.get("test/out").spans(), 20, "the hung export was retried; both delivered");
    assert_eq!(svc.undelivered()[0].1, 0);
}

#[tokio::test(start_paused = true)]
async fn shutdown_drains_the_queue_before_stopping_the_exporter() {
    let w = World::new();
    let cfg = w
        .config(&one_exporter(
            "{ behaviour: [retryable, ok], retry_on_failure: { initial_interval: 500ms }, sending_queue: { num_consumers: 1 } }",
        ))
        .unwrap();
    let svc = Service::build(&cfg, w.telemetry.clone()).unwrap();
    svc.start().await.unwrap();
    let next = w.receiver("test").next.clone();
    for _ in 0..10 {
        next.consume(blank_spans(3)).await.unwrap();
    }
    svc.shutdown().await;
    assert_eq!(
        w.exporters.get("test/out").spans(),
        30,
        "everything queued was delivered during shutdown"
    );
    assert_eq!(svc.undelivered()[0].1, 0);
}

#[tokio::test]
async fn shutdown_without_start_is_safe() {
    let w = World::new();
    let cfg = w.config(TWO_PIPELINES).unwrap();
    let svc = Service::build(&cfg, w.telemetry.clone()).unwrap();
    svc.shutdown().await;
    svc.shutdown().await;
}

fn persistent(dir: &std::path::Path, behaviour: &str) -> String {
    format!(
        r#"
receivers: {{ test: {{}} }}
extensions: {{ file_storage: {{ directory: "{}" }} }}
exporters:
  test/out: {{ behaviour: [{behaviour}], retry_on_failure: {{ initial_interval: 10ms, max_interval: 20ms }}, sending_queue: {{ storage: file_storage, num_consumers: 2 }} }}
service: {{ shutdown_timeout: 200ms, extensions: [file_storage], pipelines: {{ traces: {{ receivers: [test], exporters: [test/out] }} }} }}
"#,
        dir.display()
    )
}

#[tokio::test]
async fn a_persistent_queue_keeps_undelivered_batches_for_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::new();
    let svc = Service::build(
        &w.config(&persistent(dir.path(), "retryable")).unwrap(),
        w.telemetry.clone(),
    )
    .unwrap();
    svc.start().await.unwrap();
    for n in 1..=5 {
        w.receiver("test").next.consume(blank_spans(n)).await.unwrap();
    }
    svc.shutdown().await;
    assert_eq!(
        w.exporters.get("test/out").spans(),
        0,
        "the backend was down the whole time"
    );
    assert_eq!(svc.undelivered()[0].1, 0, "kept on disk, not lost");

    let w = World::new();
    let svc = Service::build(
        &w.config(&persistent(dir.path(), "ok")).unwrap(),
        w.telemetry.clone(),
    )
    .unwrap();
    svc.start().await.unwrap();
    let out = w.exporters.get("test/out");
    for _ in 0..500 {
        if out.spans() >= 15 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    svc.shutdown().await;
    assert_eq!(
        out.spans(),
        15,
        "every batch accepted before the restart is delivered after it"
    );
    let w = World::new();
    let svc = Service::build(
        &w.config(&persistent(dir.path(), "ok")).unwrap(),
        w.telemetry.clone(),
    )
    .unwrap();
    svc.start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    svc.shutdown().await;
    assert_eq!(
        w.exporters.get("test/out").spans(),
        0,
        "delivered batches are not sent again"
    );
}

/// The queue-size gauge a user watches must fall back to 0 once everything is delivered; it
/// stayed at the number of batches that had been in flight (1 to num_consumers).
#[tokio::test]
async fn the_persistent_queue_size_gauge_returns_to_zero_after_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::new();
    let svc = Service::build(&w.config(&persistent(dir.path(), "ok")).unwrap(), w.telemetry.clone()).unwrap();
    svc.start().await.unwrap();
    for _ in 0..10 {
        w.receiver("test").next.consume(blank_spans(1)).await.unwrap();
    }
    let out = w.exporters.get("test/out");
    let gauge = "tracegate_exporter_queue_size{exporter=\"test/out\"}";
    for _ in 0..500 {
        if out.spans() == 10 && w.metric(gauge) == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(out.spans(), 10);
    assert_eq!(w.metric(gauge), 0.0, "nothing is queued any more, while the service still runs");
    svc.shutdown().await;
}
