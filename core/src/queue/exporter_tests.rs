//! Tests of `exporter`.

#![allow(clippy::unwrap_used)]
use std::sync::atomic::{AtomicBool, AtomicUsize};

use tokio::sync::Notify;

use super::*;
use crate::component::Lifecycle;
use crate::testing::blank_spans;

/// Stores batches; `durable` says what its success promises; `hold` keeps an export
/// waiting until notified; `fail` refuses. Also the destination of `retire`'s tests.
#[derive(Default)]
pub(super) struct Store {
    pub(super) durable: bool,
    pub(super) hold: bool,
    pub(super) release: Notify,
    pub(super) fail: AtomicBool,
    pub(super) stored: AtomicUsize,
    /// Export attempts, failed ones included.
    pub(super) attempts: AtomicUsize,
}

impl Lifecycle for Store {}

#[async_trait]
impl Exporter for Store {
    async fn export(&self, traces: Traces) -> Result<(), ConsumeError> {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        if self.hold {
            self.release.notified().await;
        }
        if self.fail.load(Ordering::Relaxed) {
            return Err(ConsumeError::retryable("disk trouble"));
        }
        self.stored.fetch_add(traces.span_count(), Ordering::Relaxed);
        Ok(())
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn durable_on_success(&self) -> bool {
        self.durable
    }
}

fn wrap(store: Arc<Store>) -> Arc<QueuedExporter> {
    let id = ComponentId::new("store", None);
    QueuedExporter::new(id, store, ExporterSettings::default(), &Telemetry::new())
}

#[tokio::test]
async fn a_durable_exporter_answers_the_sender_only_once_the_batch_is_stored() {
    let store = Arc::new(Store {
        durable: true,
        ..Store::default()
    });
    let queued = wrap(store.clone());
    queued.consume(blank_spans(3)).await.unwrap();
    assert_eq!(store.stored.load(Ordering::Relaxed), 3, "stored before the answer");

    // A failure is the sender's answer (it retries), not a batch kept in memory.
    store.fail.store(true, Ordering::Relaxed);
    assert_eq!(
        queued.consume(blank_spans(2)).await,
        Err(ConsumeError::retryable("disk trouble"))
    );
    store.fail.store(false, Ordering::Relaxed);
    queued.shutdown(Instant::now()).await.unwrap();
    assert_eq!(store.stored.load(Ordering::Relaxed), 3, "nothing retried behind the sender's back");
}

/// Durable once started, as `jaeger_storage_exporter` over a sled backend: it learns what
/// its store promises when it finds the store.
struct DurableOnceStarted {
    started: AtomicBool,
    store: Arc<Store>,
}

#[async_trait]
impl Lifecycle for DurableOnceStarted {
    async fn start(&self, _host: Arc<dyn Host>) -> Result<(), ComponentError> {
        self.started.store(true, Ordering::Relaxed);
        Ok(())
    }
}

#[async_trait]
impl Exporter for DurableOnceStarted {
    async fn export(&self, traces: Traces) -> Result<(), ConsumeError> {
        self.store.export(traces).await
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn durable_on_success(&self) -> bool {
        self.started.load(Ordering::Relaxed)
    }
}

#[tokio::test]
async fn an_exporter_durable_only_after_its_start_still_answers_once_stored() {
    let store = Arc::new(Store { hold: true, ..Store::default() });
    let exporter = Arc::new(DurableOnceStarted { started: AtomicBool::new(false), store: store.clone() });
    let queued = QueuedExporter::new(ComponentId::new("store", None), exporter, ExporterSettings::default(), &Telemetry::new());
    queued.start(crate::testing::TestHost::new()).await.unwrap();
    let sent = {
        let queued = queued.clone();
        tokio::spawn(async move { queued.consume(blank_spans(4)).await })
    };
    // The sender waits on the held export: no memory queue answered it.
    while queued.held_now() < 4 {
        tokio::task::yield_now().await;
    }
    assert!(!sent.is_finished());
    store.release.notify_one();
    sent.await.unwrap().unwrap();
    assert_eq!(store.stored.load(Ordering::Relaxed), 4);
    queued.shutdown(Instant::now()).await.unwrap();
}

fn durable_with(queue: &str) -> (Arc<Store>, Arc<QueuedExporter>) {
    let store = Arc::new(Store {
        durable: true,
        hold: true,
        ..Store::default()
    });
    let settings: ExporterSettings =
        serde_yaml_ng::from_str(&format!("{{sending_queue: {queue}}}")).unwrap();
    let id = ComponentId::new("store", None);
    let queued = QueuedExporter::new(id, store.clone(), settings, &Telemetry::new());
    (store, queued)
}

#[tokio::test]
async fn a_durable_exporter_refuses_what_does_not_fit_in_queue_size_while_it_is_busy() {
    let (store, queued) = durable_with("{sizer: items, queue_size: 10}");
    let first = {
        let queued = queued.clone();
        tokio::spawn(async move { queued.consume(blank_spans(8)).await })
    };
    while queued.held_now() < 8 {
        tokio::task::yield_now().await;
    }
    let err = queued.consume(blank_spans(3)).await.unwrap_err();
    assert!(
        matches!(err, ConsumeError::Retryable(ref m) if m.contains("is full (8 of 10 spans)")),
        "{err:?}"
    );
    assert_eq!(queued.metrics.enqueue_failed.get(), 3);
    store.release.notify_one();
    first.await.unwrap().unwrap();
    assert_eq!(queued.held_now(), 0, "room given back once exported");
    assert_eq!(store.stored.load(Ordering::Relaxed), 8, "only the accepted batch is stored");
}

#[tokio::test]
async fn drop_newest_is_the_only_way_to_answer_ok_for_a_batch_that_is_dropped() {
    let (store, queued) = durable_with("{sizer: items, queue_size: 10, when_full: drop_newest}");
    let first = {
        let queued = queued.clone();
        tokio::spawn(async move { queued.consume(blank_spans(8)).await })
    };
    while queued.held_now() < 8 {
        tokio::task::yield_now().await;
    }
    queued.consume(blank_spans(3)).await.unwrap();
    assert_eq!(queued.metrics.enqueue_failed.get(), 3, "dropped, and counted");
    store.release.notify_one();
    first.await.unwrap().unwrap();
    assert_eq!(store.stored.load(Ordering::Relaxed), 8);
}

#[tokio::test]
async fn has_room_for_says_whether_a_refusing_queue_would_take_the_batch() {
    let store = Arc::new(Store { hold: true, ..Store::default() });
    let settings: ExporterSettings =
        serde_yaml_ng::from_str("{sending_queue: {sizer: items, queue_size: 10, num_consumers: 1}}").unwrap();
    let queued = QueuedExporter::new(ComponentId::new("store", None), store.clone(), settings, &Telemetry::new());
    queued.start(crate::testing::TestHost::new()).await.unwrap();
    assert!(queued.has_room_for(&blank_spans(50)), "an empty queue takes even a batch larger than itself");
    queued.consume(blank_spans(8)).await.unwrap();
    assert!(queued.has_room_for(&blank_spans(2)));
    assert!(!queued.has_room_for(&blank_spans(3)));
    assert!(queued.consume(blank_spans(3)).await.is_err(), "the hint agrees with the queue");
    store.release.notify_one();
    queued.shutdown(Instant::now() + Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn a_forwarding_exporter_is_answered_when_its_memory_queue_holds_the_batch() {
    let store = Arc::new(Store {
        hold: true,
        ..Store::default()
    });
    let queued = wrap(store.clone());
    queued.start(crate::testing::TestHost::new()).await.unwrap();
    queued.consume(blank_spans(3)).await.unwrap();
    assert_eq!(store.stored.load(Ordering::Relaxed), 0, "answered while still queued");
    store.release.notify_one();
    queued.shutdown(Instant::now() + Duration::from_secs(5)).await.unwrap();
    assert_eq!(store.stored.load(Ordering::Relaxed), 3);
}
