//! Reloading a running service: what is kept, what is replaced and in which order, and that
//! batches sent throughout arrive exactly once.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use support::World;
use tracegate_core::graph::Service;
use tracegate_core::testing::blank_spans;
use tracegate_core::Consumer;

const BASE: &str = r#"
receivers: { test/r: {}, test/only_b: {} }
processors: { test/p: {} }
exporters: { test/e1: {}, test/e2: {} }
service:
  pipelines:
    traces/a: { receivers: [test/r], processors: [test/p], exporters: [test/e1] }
    traces/b: { receivers: [test/r, test/only_b], exporters: [test/e2] }
"#;

/// Bounds a wait for something that happens promptly; never a measure of speed.
const HANG_GUARD: std::time::Duration = std::time::Duration::from_secs(60);

/// Spans every instance ever created under `id` received.
fn delivered(w: &World, id: &str) -> usize {
    w.exporters.0.lock().unwrap().iter().filter(|e| e.id == id).map(|e| e.spans()).sum()
}

fn instances(w: &World, id: &str) -> usize {
    w.exporters.0.lock().unwrap().iter().filter(|e| e.id == id).count()
}

fn position(log: &[String], line: &str, nth: usize) -> usize {
    log.iter().enumerate().filter(|(_, l)| l.as_str() == line).nth(nth).map(|(i, _)| i).unwrap_or_else(|| panic!("{line:?} #{nth} not in {log:#?}"))
}

/// Batches of one span sent into a receiver's pipelines one after another, counted, until
/// stopped: the traffic a reload must not lose.
struct Sender {
    sent: Arc<AtomicUsize>,
    done: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Sender {
    fn start(next: Arc<dyn Consumer>) -> Self {
        let (sent, done) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let task = {
            let (sent, done) = (sent.clone(), done.clone());
            tokio::spawn(async move {
                while !done.load(Ordering::Relaxed) {
                    next.consume(blank_spans(1)).await.expect("never refused");
                    sent.fetch_add(1, Ordering::Relaxed);
                    tokio::task::yield_now().await;
                }
            })
        };
        Self { sent, done, task }
    }

    /// Returns once `n` more batches were taken.
    async fn more(&self, n: usize) {
        let before = self.sent.load(Ordering::Relaxed);
        while self.sent.load(Ordering::Relaxed) < before + n {
            tokio::task::yield_now().await;
        }
    }

    /// Stops sending; how many batches were taken in all.
    async fn stop(self) -> usize {
        self.done.store(true, Ordering::Relaxed);
        self.task.await.unwrap();
        self.sent.load(Ordering::Relaxed)
    }
}

#[tokio::test]
async fn a_processor_added_rebuilds_only_its_pipeline_and_keeps_receivers_and_exporters() {
    let w = World::new();
    let svc = Service::build(&w.config(BASE).unwrap(), w.telemetry.clone()).unwrap();
    svc.start().await.unwrap();
    let next = w.receiver("test/r").next.clone();
    next.consume(blank_spans(2)).await.unwrap();

    let changed = BASE.replace(
        "processors: { test/p: {} }",
        "processors: { test/p: {}, test/q: {} }",
    ).replace("processors: [test/p], exporters: [test/e1]", "processors: [test/p, test/q], exporters: [test/e1]");
    let outcome = svc.reload(&w.config(&changed).unwrap()).await.unwrap();
    assert!(!outcome.is_unchanged());
    assert_eq!(w.receivers.0.lock().unwrap().len(), 2, "receivers are not recreated");
    assert_eq!((instances(&w, "test/e1"), instances(&w, "test/e2")), (1, 1), "exporters are kept");
    let log = w.log();
    assert!(position(&log, "start processor test/p", 1) > position(&log, "start processor test/q", 0), "downstream first");
    assert!(!log.contains(&"stop receiver test/r".to_string()), "{log:#?}");

    // The same receiver handle now feeds the new chain.
    next.consume(blank_spans(3)).await.unwrap();
    assert!(w.log().contains(&"process test/q".to_string()));
    svc.shutdown().await;
    assert_eq!((delivered(&w, "test/e1"), delivered(&w, "test/e2")), (5, 5));
}

#[tokio::test]
async fn a_changed_exporter_starts_before_its_old_instance_stops_and_no_batch_is_lost() {
    let w = World::new();
    let svc = Arc::new(Service::build(&w.config(BASE).unwrap(), w.telemetry.clone()).unwrap());
    svc.start().await.unwrap();
    let next = w.receiver("test/r").next.clone();

    // Batches keep coming while the config changes three times.
    let sender = Sender::start(next);
    let versions = [
        BASE.replace("test/e1: {}", "test/e1: { behaviour: [ok] }"),
        BASE.replace("test/e1: {}", "test/e1: { behaviour: [ok, ok] }").replace("test/p: {}", "test/p: { mutate: true }"),
        BASE.to_string(),
    ];
    for v in &versions {
        sender.more(50).await;
        svc.reload(&w.config(v).unwrap()).await.unwrap();
    }
    let sent = sender.stop().await;
    svc.shutdown().await;

    assert_eq!(instances(&w, "test/e1"), 4, "e1 replaced three times");
    assert_eq!(instances(&w, "test/e2"), 1, "e2 kept");
    let log = w.log();
    for n in 0..3 {
        assert!(position(&log, "start exporter test/e1", n + 1) < position(&log, "stop exporter test/e1", n), "new instance #{} started before the old stopped", n + 1);
    }
    assert_eq!(delivered(&w, "test/e1"), sent, "every batch through pipeline a arrived once");
    assert_eq!(delivered(&w, "test/e2"), sent, "and through pipeline b");
}

#[tokio::test]
async fn removed_and_added_receivers_start_and_stop_and_unchanged_reloads_are_counted() {
    let w = World::new();
    let svc = Service::build(&w.config(BASE).unwrap(), w.telemetry.clone()).unwrap();
    svc.start().await.unwrap();
    let same = svc.reload(&w.config(BASE).unwrap()).await.unwrap();
    assert!(same.is_unchanged(), "{same:?}");

    let changed = BASE.replace("test/only_b: {}", "test/new: {}").replace("[test/r, test/only_b]", "[test/r, test/new]");
    svc.reload(&w.config(&changed).unwrap()).await.unwrap();
    let log = w.log();
    assert!(log.contains(&"stop receiver test/only_b".to_string()) && log.contains(&"start receiver test/new".to_string()), "{log:#?}");
    assert!(!log.contains(&"stop receiver test/r".to_string()));
    w.receiver("test/new").next.consume(blank_spans(4)).await.unwrap();
    svc.shutdown().await;
    assert_eq!(delivered(&w, "test/e2"), 4);
    assert_eq!(w.metric("tracegate_config_reloads_total{result=\"unchanged\"}"), 1.0);
    assert_eq!(w.metric("tracegate_config_reloads_total{result=\"applied\"}"), 1.0);
}

#[tokio::test]
async fn a_part_that_cannot_start_fails_the_reload_and_the_previous_graph_keeps_running() {
    let w = World::new();
    let svc = Service::build(&w.config(BASE).unwrap(), w.telemetry.clone()).unwrap();
    svc.start().await.unwrap();
    let broken = BASE.replace("test/p: {}", "test/p: { mutate: true }").replace(
        "service:",
        "extensions: { file_storage/bad: { directory: /dev/null/queues, create_directory: false } }\nservice:\n  extensions: [file_storage/bad]",
    );
    let err = svc.reload(&w.config(&broken).unwrap()).await.expect_err("cannot start");
    assert!(err.to_string().contains("file_storage/bad"), "{err}");
    w.receiver("test/r").next.consume(blank_spans(2)).await.expect("the old graph still answers");
    svc.shutdown().await;
    assert_eq!(delivered(&w, "test/e1"), 2);
    assert_eq!(w.metric("tracegate_config_reloads_total{result=\"failed\"}"), 1.0);
}

#[tokio::test]
async fn a_replaced_extension_replaces_the_exporters_that_found_it_and_only_those() {
    let w = World::new();
    let dir = tempfile::tempdir().unwrap();
    let config = |sub: &str| {
        format!(
            r#"
receivers: {{ test/r: {{}} }}
exporters:
  test/e1: {{ sending_queue: {{ storage: file_storage }} }}
  test/e2: {{}}
extensions: {{ file_storage: {{ directory: "{}" }} }}
service:
  extensions: [file_storage]
  pipelines:
    traces: {{ receivers: [test/r], exporters: [test/e1, test/e2] }}
"#,
            dir.path().join(sub).display()
        )
    };
    let svc = Service::build(&w.config(&config("one")).unwrap(), w.telemetry.clone()).unwrap();
    svc.start().await.unwrap();
    w.receiver("test/r").next.consume(blank_spans(2)).await.unwrap();
    let outcome = svc.reload(&w.config(&config("two")).unwrap()).await.unwrap();
    assert!(outcome.started.contains(&"extension \"file_storage\"".to_string()), "{outcome:?}");
    assert_eq!((instances(&w, "test/e1"), instances(&w, "test/e2")), (2, 1), "{outcome:?}");
    w.receiver("test/r").next.consume(blank_spans(3)).await.unwrap();
    svc.shutdown().await;
    assert_eq!((delivered(&w, "test/e1"), delivered(&w, "test/e2")), (5, 5));
    assert!(dir.path().join("two").is_dir(), "the new instance uses the new directory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_exporter_with_a_persistent_queue_is_replaced_behind_the_gate_and_its_new_instance_delivers_the_backlog() {
    let w = World::new();
    let dir = tempfile::tempdir().unwrap();
    let config = |behaviour: &str| {
        format!(
            r#"
receivers: {{ test/r: {{}} }}
exporters:
  test/e1: {{ behaviour: [{behaviour}], sending_queue: {{ storage: file_storage }} }}
extensions: {{ file_storage: {{ directory: "{}" }} }}
service:
  shutdown_timeout: 10m
  extensions: [file_storage]
  pipelines:
    traces: {{ receivers: [test/r], exporters: [test/e1] }}
"#,
            dir.path().display()
        )
    };
    // The old instance's backend is down: everything it is given waits in its queue on disk.
    let svc = Arc::new(Service::build(&w.config(&config("retryable")).unwrap(), w.telemetry.clone()).unwrap());
    svc.start().await.unwrap();
    let next = w.receiver("test/r").next.clone();
    let sender = Sender::start(next);
    sender.more(200).await;
    // The fix of the endpoint, as a user would reload it, while batches keep coming. The old
    // instance must not drain its backlog into the dead backend (up to shutdown_timeout, ten
    // minutes) while the gate holds every batch: the new instance delivers it.
    let fixed = w.config(&config("ok")).unwrap();
    let outcome = tokio::time::timeout(HANG_GUARD, svc.reload(&fixed)).await.expect("the reload waited for the old queue to drain into a dead backend").unwrap();
    assert!(outcome.started.contains(&"exporter \"test/e1\"".to_string()), "{outcome:?}");
    sender.more(200).await;
    let sent = sender.stop().await;
    svc.shutdown().await;

    let log = w.log();
    assert!(
        position(&log, "stop exporter test/e1", 0) < position(&log, "start exporter test/e1", 1),
        "the old instance let go of the queue before the new one opened it: {log:#?}"
    );
    // Instances: the old one, the one that could not open the queue beside it, the new one.
    let by_instance: Vec<usize> = w.exporters.0.lock().unwrap().iter().map(|e| e.spans()).collect();
    assert_eq!(by_instance, [0, 0, sent], "the new instance delivered the old one's backlog and the rest, each batch once");
}
