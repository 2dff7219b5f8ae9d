//! Behaviour of the batch processor as a pipeline sees it, with a recording next consumer.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Semaphore;
use tracegate_core::component::{ConsumeError, Consumer, Host, Lifecycle};
use tracegate_core::config::GoDuration;
use tracegate_core::data::{ResourceSpans, ScopeSpans, Span, Traces};
use tracegate_core::testing::blank_spans;
use tracegate_core::ComponentId;
use tracegate_processor_batch::{BatchConfig, BatchProcessor, EARLY_SENDS};

#[derive(Default)]
struct Recorder {
    batches: Mutex<Vec<usize>>,
    /// Each batch received, whole.
    received: Mutex<Vec<Traces>>,
    refuse_next: Mutex<usize>,
    /// When set, each batch waits for a permit: the next component is busy.
    gate: Mutex<Option<Arc<Semaphore>>>,
}

#[async_trait]
impl Consumer for Recorder {
    async fn consume(&self, t: Traces) -> Result<(), ConsumeError> {
        let gate = self.gate.lock().unwrap().clone();
        if let Some(gate) = gate {
            gate.acquire().await.unwrap().forget();
        }
        let mut refuse = self.refuse_next.lock().unwrap();
        if *refuse > 0 {
            *refuse -= 1;
            return Err(ConsumeError::retryable("queue full"));
        }
        self.batches.lock().unwrap().push(t.span_count());
        self.received.lock().unwrap().push(t);
        Ok(())
    }
}

impl Recorder {
    fn sizes(&self) -> Vec<usize> {
        self.batches.lock().unwrap().clone()
    }
}

fn processor(size: usize, max: usize, timeout_ms: u64) -> (Arc<BatchProcessor>, Arc<Recorder>) {
    let rec = Arc::new(Recorder::default());
    let cfg = BatchConfig {
        send_batch_size: size,
        send_batch_max_size: max,
        timeout: GoDuration::from_millis(timeout_ms),
        // The opt-out: senders are answered once the spans are in the buffer.
        wait_for_result: false,
        ..Default::default()
    };
    (
        BatchProcessor::new(ComponentId::parse("batch").unwrap(), cfg, rec.clone()),
        rec,
    )
}

fn no_host() -> Arc<dyn Host> {
    tracegate_core::testing::TestHost::new()
}

#[tokio::test(start_paused = true)]
async fn sends_full_batches_at_once_and_the_rest_after_the_timeout() {
    let (p, rec) = processor(10, 0, 200);
    p.start(no_host()).await.unwrap();
    p.consume(blank_spans(4)).await.unwrap();
    p.consume(blank_spans(4)).await.unwrap();
    assert!(
        rec.sizes().is_empty(),
        "8 < send_batch_size: nothing sent yet"
    );
    p.consume(blank_spans(4)).await.unwrap();
    assert_eq!(
        rec.sizes(),
        vec![12],
        "crossing send_batch_size sends everything held"
    );
    p.consume(blank_spans(3)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(rec.sizes(), vec![12, 3], "timeout sends the partial batch");
    p.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn splits_at_send_batch_max_size() {
    let (p, rec) = processor(10, 10, 200);
    p.start(no_host()).await.unwrap();
    p.consume(blank_spans(25)).await.unwrap();
    assert_eq!(rec.sizes(), vec![10, 10]);
    p.shutdown().await.unwrap();
    assert_eq!(rec.sizes(), vec![10, 10, 5], "shutdown flushes the rest");
}

/// A batch as the OTLP receiver hands it on: request bytes, checked, not decoded.
fn named_bytes(names: &[&str]) -> Traces {
    use prost::Message;
    let span = |n: &&str| Span {
        name: n.to_string(),
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        ..Default::default()
    };
    let decoded = Traces::new(vec![ResourceSpans {
        scope_spans: vec![ScopeSpans {
            spans: names.iter().map(span).collect(),
            ..Default::default()
        }],
        ..Default::default()
    }]);
    let bytes = bytes::Bytes::from(decoded.to_request().encode_to_vec());
    let summary = tracegate_pdata::validate::validate_request(&bytes).unwrap();
    Traces::from_checked(bytes, summary)
}

fn names(t: &Traces) -> Vec<String> {
    t.resource_spans()
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.name.clone())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn batches_of_bytes_are_joined_as_bytes_in_order() {
    let (p, rec) = processor(5, 0, 200);
    p.start(no_host()).await.unwrap();
    p.consume(named_bytes(&["a", "b"])).await.unwrap();
    p.consume(named_bytes(&["c", "d", "e"])).await.unwrap();
    let sent = rec.received.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].is_encoded(), "joined without decoding");
    assert_eq!(names(&sent[0]), ["a", "b", "c", "d", "e"]);
    p.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn splitting_bytes_keeps_every_span_in_order() {
    let (p, rec) = processor(4, 4, 200);
    p.start(no_host()).await.unwrap();
    p.consume(named_bytes(&["a", "b", "c"])).await.unwrap();
    p.consume(named_bytes(&["d", "e", "f"])).await.unwrap();
    p.shutdown().await.unwrap();
    let sent: Vec<_> = rec.received.lock().unwrap().iter().map(names).collect();
    assert_eq!(sent, [vec!["a", "b", "c", "d"], vec!["e", "f"]]);
}

#[tokio::test(start_paused = true)]
async fn holds_refused_batches_and_refuses_new_data_when_full() {
    let (p, rec) = processor(10, 0, 100);
    p.start(no_host()).await.unwrap();
    *rec.refuse_next.lock().unwrap() = usize::MAX; // the next component is down
    p.consume(blank_spans(10))
        .await
        .expect("accepted: the batch is held, not lost");
    assert!(rec.sizes().is_empty());
    p.consume(blank_spans(10)).await.expect("room for one more batch");
    let refused = p.consume(blank_spans(1)).await.unwrap_err();
    assert!(matches!(refused, ConsumeError::Retryable(_)), "{refused:?}");
    *rec.refuse_next.lock().unwrap() = 0; // it comes back
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        rec.sizes().iter().sum::<usize>(),
        20,
        "every accepted span arrives once"
    );
    p.consume(blank_spans(1))
        .await
        .expect("accepted again once drained");
    p.shutdown().await.unwrap();
    assert_eq!(rec.sizes().iter().sum::<usize>(), 21);
}

#[tokio::test]
async fn shutdown_without_start_is_safe_and_idempotent() {
    let (p, _rec) = processor(10, 0, 100);
    p.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
}

fn waiting_processor(
    size: usize,
    max: usize,
    timeout_ms: u64,
) -> (Arc<BatchProcessor>, Arc<Recorder>) {
    let rec = Arc::new(Recorder::default());
    let cfg = BatchConfig {
        send_batch_size: size,
        send_batch_max_size: max,
        timeout: GoDuration::from_millis(timeout_ms),
        wait_for_result: true,
        ..Default::default()
    };
    (
        BatchProcessor::new(ComponentId::parse("batch").unwrap(), cfg, rec.clone()),
        rec,
    )
}

/// Starts `consume(blank_spans(n))` in its own task and lets it run until it waits.
async fn sender(p: &Arc<BatchProcessor>, n: usize) -> tokio::task::JoinHandle<Result<(), ConsumeError>> {
    let task = tokio::spawn({
        let p = p.clone();
        async move { p.consume(blank_spans(n)).await }
    });
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    task
}

fn busy(rec: &Recorder) -> Arc<Semaphore> {
    let gate = Arc::new(Semaphore::new(0));
    *rec.gate.lock().unwrap() = Some(gate.clone());
    gate
}

#[test]
fn waiting_for_the_result_is_the_default() {
    assert!(BatchConfig::default().wait_for_result);
    assert_eq!(EARLY_SENDS, 2);
}

#[tokio::test(start_paused = true)]
async fn wait_for_result_sends_at_once_while_the_next_component_is_idle() {
    let (p, rec) = waiting_processor(8192, 0, 10_000);
    p.start(no_host()).await.unwrap();
    let started = tokio::time::Instant::now();
    p.consume(blank_spans(4)).await.unwrap();
    assert_eq!(rec.sizes(), vec![4], "answered once accepted");
    assert_eq!(started.elapsed(), Duration::ZERO, "without waiting for the timeout");
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn wait_for_result_groups_the_requests_that_arrive_while_the_next_component_is_busy() {
    let (p, rec) = waiting_processor(8192, 0, 60_000);
    p.start(no_host()).await.unwrap();
    let gate = busy(&rec);
    let mut senders = Vec::new();
    for _ in 0..EARLY_SENDS + 3 {
        senders.push(sender(&p, 1).await);
    }
    assert!(senders.iter().all(|s| !s.is_finished()), "nobody is answered before their batch is accepted");
    gate.add_permits(100);
    for s in senders {
        assert_eq!(s.await.unwrap(), Ok(()));
    }
    let mut sizes = rec.sizes();
    sizes.sort_unstable();
    assert_eq!(
        sizes,
        vec![1, 1, 3],
        "two sent at once, the three that waited for the busy component went together"
    );
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn wait_for_result_hands_a_refusal_to_every_sender_in_the_batch_and_keeps_nothing() {
    let (p, rec) = waiting_processor(6, 4, 60_000);
    p.start(no_host()).await.unwrap();
    let gate = busy(&rec);
    // Two senders occupy the early sends; then a (3) and b (3) reach send_batch_size and are
    // cut into batches of 4 (a:3, b:1) and 2 (b).
    let early = [sender(&p, 1).await, sender(&p, 1).await];
    let a = sender(&p, 3).await;
    let b = sender(&p, 3).await;
    gate.add_permits(2);
    for s in early {
        assert_eq!(s.await.unwrap(), Ok(()));
    }
    *rec.refuse_next.lock().unwrap() = 1; // the batch of 4 is refused
    gate.add_permits(100);
    assert_eq!(a.await.unwrap(), Err(ConsumeError::retryable("queue full")));
    assert_eq!(
        b.await.unwrap(),
        Err(ConsumeError::retryable("queue full")),
        "b had a span in the refused batch"
    );
    assert_eq!(rec.sizes(), vec![1, 1, 2]);
    p.shutdown().await.unwrap();
    assert_eq!(
        rec.sizes(),
        vec![1, 1, 2],
        "a refused batch is not held for a resend: its senders retry"
    );
}

#[tokio::test(start_paused = true)]
async fn batches_of_different_tenants_are_never_joined_and_keep_their_tenant() {
    let tenant = |t: &str| Some(Arc::<str>::from(t));
    let (p, rec) = processor(10, 7, 200);
    p.start(no_host()).await.unwrap();
    p.consume(blank_spans(3).with_tenant(tenant("acme"))).await.unwrap();
    p.consume(blank_spans(2).with_tenant(tenant("globex"))).await.unwrap();
    p.consume(blank_spans(1)).await.unwrap();
    p.consume(blank_spans(5).with_tenant(tenant("acme"))).await.unwrap();
    p.shutdown().await.unwrap();
    let received = rec.received.lock().unwrap().clone();
    let shape: Vec<(Option<String>, usize)> = received.iter().map(|t| (t.tenant().map(|t| t.to_string()), t.span_count())).collect();
    // The first cut holds 7 spans (send_batch_max_size): acme 3 + 1 of the 5, globex 2,
    // untenanted 1; the rest of acme's 5 follows at shutdown.
    assert_eq!(
        shape,
        [(Some("acme".into()), 4), (Some("globex".into()), 2), (None, 1), (Some("acme".into()), 4)],
    );
    assert_eq!(shape.iter().map(|(_, n)| n).sum::<usize>(), 11, "no span lost");
}
