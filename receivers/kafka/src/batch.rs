//! One pipeline batch: the messages already fetched, decoded together, the offsets they
//! reached, and its delivery into the pipeline with retry.
//!
//! The offsets are stored (for the next commit) only after [`deliver`] returns
//! [`Delivered::Accepted`] or [`Delivered::Refused`]: a batch the pipeline could not take yet
//! is retried with backoff, never skipped, and if the receiver stops (or the process dies)
//! meanwhile, the uncommitted messages are read again on the next start. A batch refused for
//! good (a permanent error) is counted and passed over, since retrying it would stall the
//! partition forever.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracegate_core::telemetry::ReceiverMetrics;
use tracegate_core::{ConsumeError, Consumer};
use tracegate_kafka::encoding::{Decoded, Encoding};

/// First wait after the pipeline refused a batch; doubles up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(100);
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Messages gathered into one batch, and the offset each partition reached.
pub struct Batch {
    encoding: Encoding,
    decoded: Decoded,
    /// Partition -> offset of the last message taken (decoded or skipped as malformed).
    pub offsets: BTreeMap<i32, i64>,
    pub messages: usize,
}

impl Batch {
    pub fn new(encoding: Encoding) -> Self {
        Self { encoding, decoded: Decoded::default(), offsets: BTreeMap::new(), messages: 0 }
    }

    /// Adds one message. A message that does not decode is counted as malformed and its
    /// offset still advances: it is skipped, never retried.
    pub fn push(&mut self, partition: i32, offset: i64, payload: &[u8], malformed: &Malformed) {
        self.messages += 1;
        let slot = self.offsets.entry(partition).or_insert(offset);
        *slot = (*slot).max(offset);
        if let Err(e) = self.decoded.push(self.encoding, payload) {
            malformed.record(partition, offset, &e);
        }
    }

    pub fn spans(&self) -> usize {
        self.decoded.spans()
    }

    pub fn into_traces(self) -> (tracegate_core::Traces, BTreeMap<i32, i64>) {
        (self.decoded.finish(), self.offsets)
    }
}

/// Counts malformed messages (`tracegate_receiver_dropped_packets{reason="malformed"}`) and
/// logs them without flooding: the 1st, 2nd, 4th, 8th, ...
pub struct Malformed {
    metrics: ReceiverMetrics,
    seen: AtomicU64,
}

impl Malformed {
    pub fn new(metrics: &ReceiverMetrics) -> Self {
        Self { metrics: metrics.clone(), seen: AtomicU64::new(0) }
    }

    fn record(&self, partition: i32, offset: i64, error: &dyn std::fmt::Display) {
        self.metrics.dropped_malformed.inc();
        let n = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            tracing::warn!(partition, offset, malformed_so_far = n, "skipping a message that does not decode: {error}");
        }
    }
}

/// What became of a batch.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivered {
    /// The pipeline took it.
    Accepted,
    /// The pipeline refused it for good; it is passed over.
    Refused,
    /// The receiver is stopping and the pipeline had not taken it yet.
    Stopped,
}

/// Offers the batch to the pipeline until it is taken, refused for good, or `stop` is set.
pub async fn deliver(
    next: &Arc<dyn Consumer>,
    traces: tracegate_core::Traces,
    metrics: &ReceiverMetrics,
    stop: &mut watch::Receiver<bool>,
) -> Delivered {
    let spans = traces.span_count();
    if spans == 0 {
        return Delivered::Accepted;
    }
    let mut wait = FIRST_BACKOFF;
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let error = match next.consume(traces.clone()).await {
            Ok(()) => {
                metrics.accepted.inc_by(spans as u64);
                if attempts > 1 {
                    tracing::info!(spans, attempts, "the pipeline accepted the batch after retrying");
                }
                return Delivered::Accepted;
            }
            Err(e) => e,
        };
        if let ConsumeError::Permanent(why) = &error {
            metrics.refused.inc_by(spans as u64);
            tracing::error!(spans, "the pipeline refused a batch for good; skipping it: {why}");
            return Delivered::Refused;
        }
        let pause = error.retry_after().map_or(wait, |after| after.max(wait));
        if attempts == 1 || attempts.is_power_of_two() {
            tracing::warn!(spans, attempts, "the pipeline refused a batch; retrying in {pause:?} (offsets wait): {error}");
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.wait_for(|s| *s) => return Delivered::Stopped,
        }
        wait = (wait * 2).min(MAX_BACKOFF);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use tracegate_core::telemetry::Telemetry;
    use tracegate_core::Traces;

    use super::*;

    /// Answers each call with the next scripted outcome, then accepts.
    struct Scripted(Mutex<Vec<Result<(), ConsumeError>>>, AtomicU64);

    #[async_trait]
    impl Consumer for Scripted {
        async fn consume(&self, _t: Traces) -> Result<(), ConsumeError> {
            self.1.fetch_add(1, Ordering::Relaxed);
            let mut script = self.0.lock().unwrap_or_else(|p| p.into_inner());
            if script.is_empty() { Ok(()) } else { script.remove(0) }
        }
    }

    fn one_span() -> Traces {
        let payload = tracegate_kafka::encoding::encode(Encoding::OtlpProto, &sample(), false, 1 << 20).expect("encodes");
        tracegate_kafka::encoding::decode(Encoding::OtlpProto, &payload[0].payload).expect("decodes")
    }

    pub(crate) fn sample() -> Traces {
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
        Traces::new(vec![ResourceSpans {
            scope_spans: vec![ScopeSpans { spans: vec![Span { trace_id: vec![1; 16], span_id: vec![2; 8], ..Default::default() }], ..Default::default() }],
            ..Default::default()
        }])
    }

    fn setup(script: Vec<Result<(), ConsumeError>>) -> (Arc<Scripted>, Arc<dyn Consumer>, ReceiverMetrics) {
        let scripted = Arc::new(Scripted(Mutex::new(script), AtomicU64::new(0)));
        let metrics = Telemetry::new().metrics.receiver("kafka", "kafka");
        (scripted.clone(), scripted, metrics)
    }

    #[tokio::test]
    async fn a_refusing_pipeline_is_retried_until_it_accepts() {
        let busy = ConsumeError::Throttled { retry_after: None, message: "busy".into() };
        let (scripted, next, metrics) = setup(vec![Err(ConsumeError::retryable("down")), Err(busy)]);
        let (_tx, mut stop) = watch::channel(false);
        assert_eq!(deliver(&next, one_span(), &metrics, &mut stop).await, Delivered::Accepted);
        assert_eq!(scripted.1.load(Ordering::Relaxed), 3);
        assert_eq!((metrics.accepted.get(), metrics.refused.get()), (1, 0));
    }

    #[tokio::test]
    async fn a_permanent_refusal_is_counted_and_passed_over() {
        let (_, next, metrics) = setup(vec![Err(ConsumeError::permanent("never"))]);
        let (_tx, mut stop) = watch::channel(false);
        assert_eq!(deliver(&next, one_span(), &metrics, &mut stop).await, Delivered::Refused);
        assert_eq!((metrics.accepted.get(), metrics.refused.get()), (0, 1));
    }

    #[tokio::test]
    async fn stopping_while_retrying_leaves_the_batch_undelivered() {
        let (_, next, metrics) = setup(vec![Err(ConsumeError::retryable("down")); 100]);
        let (tx, mut stop) = watch::channel(false);
        let stopper = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let _ = tx.send(true);
        });
        assert_eq!(deliver(&next, one_span(), &metrics, &mut stop).await, Delivered::Stopped);
        stopper.await.expect("stopper");
        assert_eq!(metrics.accepted.get(), 0);
    }

    #[test]
    fn malformed_messages_are_counted_and_their_offsets_still_advance() {
        let metrics = Telemetry::new().metrics.receiver("kafka", "kafka");
        let malformed = Malformed::new(&metrics);
        let good = tracegate_kafka::encoding::encode(Encoding::OtlpJson, &sample(), false, 1 << 20).expect("encodes");
        let mut batch = Batch::new(Encoding::OtlpJson);
        batch.push(0, 7, &good[0].payload, &malformed);
        batch.push(0, 8, b"{not json", &malformed);
        batch.push(1, 3, &good[0].payload, &malformed);
        assert_eq!((batch.spans(), batch.messages), (2, 3));
        assert_eq!(metrics.dropped_malformed.get(), 1);
        let (traces, offsets) = batch.into_traces();
        assert_eq!(traces.span_count(), 2);
        assert_eq!(offsets, BTreeMap::from([(0, 8), (1, 3)]));
    }
}
