//! The running processor: spans go into the [`TraceBuffer`] as they arrive; a timer task
//! decides due traces every tick and sends the sampled ones on, regrouped by resource and
//! scope. A batch the next component refuses with a retryable error stays at the front of the
//! release queue and is sent again on the next tick; while that lasts, new data is refused
//! with a retryable error, so the back-pressure reaches the client instead of spans being
//! dropped. Shutdown decides everything pending and sends it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use prometheus::{IntCounter, IntGauge, Opts};
use tokio::task::JoinHandle;
use tracegate_core::component::{ComponentError, ConsumeError, Consumer, Host, Lifecycle, Processor};
use tracegate_core::data::Traces;
use tracegate_core::factory::CreateContext;
use tracegate_core::id::ComponentId;
use tracegate_core::telemetry::ProcessorMetrics;

use crate::buffer::{DecideOutcome, TraceBuffer};
use crate::policy::{decide, EvalContext, NamedPolicy, PolicyError};
use crate::trace_data::{regroup, Piece};
use crate::TailSamplingConfig;

struct State {
    buffer: TraceBuffer,
    policies: Vec<NamedPolicy>,
}

/// This processor's own metrics, beside the engine's incoming/outgoing/dropped.
struct TailMetrics {
    dropped_too_early: Option<IntCounter>,
    traces_held: Option<IntGauge>,
}

impl TailMetrics {
    fn new(ctx: &CreateContext) -> Self {
        let labels = |o: Opts| o.const_label("processor", ctx.id.to_string()).const_label("pipeline", ctx.pipeline.clone().unwrap_or_default());
        let reg = ctx.telemetry.metrics.registry();
        let dropped_too_early = IntCounter::with_opts(labels(Opts::new(
            "tracegate_processor_tail_sampling_sampling_trace_dropped_too_early",
            "Traces evicted before their decision because num_traces were held.",
        )))
        .ok()
        .filter(|c| reg.register(Box::new(c.clone())).is_ok());
        let traces_held = IntGauge::with_opts(labels(Opts::new(
            "tracegate_processor_tail_sampling_traces_held",
            "Traces in the tail_sampling table (pending and recently decided).",
        )))
        .ok()
        .filter(|g| reg.register(Box::new(g.clone())).is_ok());
        Self { dropped_too_early, traces_held }
    }
}

pub struct TailSamplingProcessor {
    id: ComponentId,
    decision_wait: Duration,
    tick: Duration,
    first_match: bool,
    next: Arc<dyn Consumer>,
    metrics: ProcessorMetrics,
    tail_metrics: TailMetrics,
    state: Mutex<State>,
    /// Sampled batches waiting to be sent, oldest first, with their span counts.
    release: Mutex<VecDeque<(Traces, usize)>>,
    /// Serializes sending, so batches leave in order.
    sending: tokio::sync::Mutex<()>,
    /// Set while the next component refuses; new data is refused meanwhile.
    next_refusing: AtomicBool,
    stopped: AtomicBool,
    timer: Mutex<Option<JoinHandle<()>>>,
    me: Weak<Self>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn unix_second() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

impl TailSamplingProcessor {
    pub fn new(ctx: &CreateContext, config: &TailSamplingConfig, next: Arc<dyn Consumer>) -> Result<Arc<Self>, PolicyError> {
        let policies = config.policies.iter().map(NamedPolicy::from_config).collect::<Result<Vec<_>, _>>()?;
        let wait = config.decision_wait.get();
        let expected = config.expected_new_traces_per_sec.saturating_mul(wait.as_secs().max(1));
        let buffer = TraceBuffer::new(
            usize::try_from(config.num_traces).unwrap_or(usize::MAX),
            usize::try_from(expected).unwrap_or(usize::MAX),
            config.decision_cache.sampled_cache_size,
            config.decision_cache.non_sampled_cache_size,
        );
        // Decisions are due within a tenth of the wait (at most a second, as the Collector's
        // one-second ticks), so a scaled-down wait in tests still decides promptly.
        let tick = (wait / 10).clamp(Duration::from_millis(10), Duration::from_secs(1));
        Ok(Arc::new_cyclic(|me| Self {
            id: ctx.id.clone(),
            decision_wait: wait,
            tick,
            first_match: config.sample_on_first_match,
            next,
            metrics: ctx.processor_metrics(),
            tail_metrics: TailMetrics::new(ctx),
            state: Mutex::new(State { buffer, policies }),
            release: Mutex::new(VecDeque::new()),
            sending: tokio::sync::Mutex::new(()),
            next_refusing: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            timer: Mutex::new(None),
            me: me.clone(),
        }))
    }

    /// Decides due traces (all of them with `wait = None`) and queues the sampled spans.
    fn decide_due(&self, wait: Option<Duration>) {
        // tokio's clock, so tests can move time; the same instant as std's otherwise.
        let now = tokio::time::Instant::now().into_std();
        let now_second = unix_second();
        let first_match = self.first_match;
        let out: DecideOutcome = {
            let mut st = lock(&self.state);
            let State { buffer, policies } = &mut *st;
            let out = buffer.decide_due(now, wait, |id, trace| decide(policies, &EvalContext { trace_id: id, trace, now_second }, first_match));
            if let Some(g) = &self.tail_metrics.traces_held {
                g.set(buffer.len() as i64);
            }
            out
        };
        if out.dropped_spans > 0 {
            self.metrics.dropped.inc_by(out.dropped_spans as u64);
        }
        if out.sampled_traces + out.not_sampled_traces > 0 {
            tracing::debug!(processor = %self.id, sampled = out.sampled_traces, not_sampled = out.not_sampled_traces, "traces decided");
        }
        self.queue(out.sampled);
    }

    fn queue(&self, pieces: Vec<Piece>) {
        if pieces.is_empty() {
            return;
        }
        // One batch per tenant: sampled spans leave as the tenant's they arrived as.
        let mut by_tenant: Vec<(Option<Arc<str>>, Vec<Piece>)> = Vec::new();
        for piece in pieces {
            let tenant = piece.resource.tenant.clone();
            match by_tenant.iter_mut().find(|(t, _)| *t == tenant) {
                Some((_, group)) => group.push(piece),
                None => by_tenant.push((tenant, vec![piece])),
            }
        }
        let mut release = lock(&self.release);
        for (tenant, pieces) in by_tenant {
            let spans = pieces.iter().map(|p| p.spans.len()).sum();
            release.push_back((Traces::new(regroup(pieces)).with_tenant(tenant), spans));
        }
    }

    /// Sends queued batches in order until one is refused with a retryable error.
    async fn send_released(&self) {
        let _one_sender = self.sending.lock().await;
        loop {
            let Some((batch, spans)) = lock(&self.release).pop_front() else {
                self.next_refusing.store(false, Ordering::Release);
                return;
            };
            match self.next.consume(batch.clone()).await {
                Ok(()) => {}
                Err(ConsumeError::Permanent(msg)) => {
                    self.metrics.dropped.inc_by(spans as u64);
                    tracing::error!(processor = %self.id, spans, "next component rejected sampled spans permanently; dropped: {msg}");
                }
                Err(err) => {
                    if !self.next_refusing.swap(true, Ordering::AcqRel) {
                        tracing::warn!(processor = %self.id, spans, "next component refused sampled spans; holding them to send again: {err}");
                    }
                    lock(&self.release).push_front((batch, spans));
                    return;
                }
            }
        }
    }

    async fn run_timer(self: Arc<Self>) {
        let mut every = tokio::time::interval(self.tick);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if self.stopped.load(Ordering::Acquire) {
                return;
            }
            self.decide_due(Some(self.decision_wait));
            self.send_released().await;
        }
    }
}

#[async_trait]
impl Consumer for TailSamplingProcessor {
    async fn consume(&self, traces: Traces) -> Result<(), ConsumeError> {
        if traces.is_empty() {
            return Ok(());
        }
        if self.next_refusing.load(Ordering::Acquire) {
            return Err(ConsumeError::retryable(format!(
                "processor {} cannot send sampled spans on (the next component refuses them); try again later",
                self.id
            )));
        }
        let tenant = traces.tenant().cloned();
        let out = lock(&self.state).buffer.add_of_tenant(traces.into_resource_spans(), tenant, tokio::time::Instant::now().into_std());
        let dropped = out.late_dropped + out.evicted_spans;
        if dropped > 0 {
            self.metrics.dropped.inc_by(dropped as u64);
        }
        if out.evicted_traces > 0 {
            if let Some(c) = &self.tail_metrics.dropped_too_early {
                c.inc_by(out.evicted_traces as u64);
            }
            tracing::warn!(processor = %self.id, traces = out.evicted_traces, spans = out.evicted_spans, "num_traces reached; oldest undecided traces dropped");
        }
        self.queue(out.late_sampled);
        if self.stopped.load(Ordering::Acquire) {
            // After shutdown there is no timer: decide at once rather than hold spans forever.
            self.decide_due(None);
            self.send_released().await;
        }
        Ok(())
    }
}

#[async_trait]
impl Lifecycle for TailSamplingProcessor {
    async fn start(&self, _host: Arc<dyn Host>) -> Result<(), ComponentError> {
        if let Some(me) = self.me.upgrade() {
            *lock(&self.timer) = Some(tokio::spawn(me.run_timer()));
        }
        Ok(())
    }

    /// Stops the timer, decides every pending trace and sends what is sampled.
    async fn shutdown(&self) -> Result<(), ComponentError> {
        if self.stopped.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        if let Some(timer) = lock(&self.timer).take() {
            timer.abort();
        }
        self.decide_due(None);
        self.send_released().await;
        let left: usize = lock(&self.release).drain(..).map(|(_, n)| n).sum();
        if left > 0 {
            self.metrics.dropped.inc_by(left as u64);
            tracing::error!(processor = %self.id, spans = left, "next component refused sampled spans at shutdown; spans lost");
        }
        Ok(())
    }
}

impl Processor for TailSamplingProcessor {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use opentelemetry_proto::tonic::trace::v1::Status;
    use tracegate_core::data::{ResourceSpans, ScopeSpans, Span};
    use tracegate_core::telemetry::Telemetry;
    use tracegate_core::testing::{parse_config, TestHost};

    /// Records batches; refuses the first `refuse` calls with a retryable error.
    #[derive(Default)]
    struct Sink {
        got: Mutex<Vec<Traces>>,
        refuse: AtomicUsize,
    }

    #[async_trait]
    impl Consumer for Sink {
        async fn consume(&self, t: Traces) -> Result<(), ConsumeError> {
            if self.refuse.load(Ordering::SeqCst) > 0 {
                self.refuse.fetch_sub(1, Ordering::SeqCst);
                return Err(ConsumeError::retryable("busy"));
            }
            lock(&self.got).push(t);
            Ok(())
        }
    }

    impl Sink {
        fn trace_ids(&self) -> Vec<u8> {
            let mut ids: Vec<u8> = lock(&self.got)
                .iter()
                .flat_map(|t| t.resource_spans().to_vec())
                .flat_map(|r| r.scope_spans)
                .flat_map(|s| s.spans)
                .map(|s| s.trace_id[0])
                .collect();
            ids.sort_unstable();
            ids
        }
    }

    fn make(yaml: &str) -> (Arc<TailSamplingProcessor>, Arc<Sink>, ProcessorMetrics) {
        let cfg: TailSamplingConfig = parse_config(yaml).unwrap();
        let ctx = CreateContext::new(ComponentId::new("tail_sampling", None), Telemetry::new());
        let sink = Arc::new(Sink::default());
        let p = TailSamplingProcessor::new(&ctx, &cfg, sink.clone()).unwrap();
        (p, sink, ctx.processor_metrics())
    }

    fn spans(ids: &[(u8, bool)]) -> Traces {
        let spans = ids
            .iter()
            .map(|(id, error)| Span {
                trace_id: vec![*id; 16],
                span_id: vec![1; 8],
                status: error.then(|| Status { code: 2, message: String::new() }),
                ..Default::default()
            })
            .collect();
        Traces::new(vec![ResourceSpans { scope_spans: vec![ScopeSpans { spans, ..Default::default() }], ..Default::default() }])
    }

    const ERRORS: &str = "{decision_wait: 1s, policies: [{name: e, type: status_code, status_code: {status_codes: [ERROR]}}]}";

    #[tokio::test(start_paused = true)]
    async fn decides_whole_traces_after_the_wait() {
        let (p, sink, m) = make(ERRORS);
        p.start(TestHost::new()).await.unwrap();
        p.consume(spans(&[(1, false), (2, false)])).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        p.consume(spans(&[(1, true), (2, false)])).await.unwrap();
        assert!(sink.trace_ids().is_empty(), "nothing before decision_wait");
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(sink.trace_ids(), vec![1, 1], "the error trace, both spans, in one batch");
        assert_eq!(lock(&sink.got).len(), 1);
        assert_eq!(m.dropped.get(), 2);
        // A late span follows its trace's decision.
        p.consume(spans(&[(1, false), (2, true)])).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(sink.trace_ids(), vec![1, 1, 1]);
        assert_eq!(m.dropped.get(), 3);
        p.shutdown().await.unwrap();
        p.shutdown().await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn sampled_spans_leave_in_batches_of_the_tenant_they_arrived_as() {
        let (p, sink, _) = make("{decision_wait: 1s, policies: [{name: all, type: always_sample}]}");
        p.start(TestHost::new()).await.unwrap();
        p.consume(spans(&[(1, false)]).with_tenant(Some(Arc::from("acme")))).await.unwrap();
        p.consume(spans(&[(2, false)]).with_tenant(Some(Arc::from("globex")))).await.unwrap();
        p.consume(spans(&[(3, false)])).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let mut got: Vec<(Option<String>, u8)> = lock(&sink.got)
            .iter()
            .map(|t| (t.tenant().map(|t| t.to_string()), t.resource_spans()[0].scope_spans[0].spans[0].trace_id[0]))
            .collect();
        got.sort();
        assert_eq!(got, [(None, 3), (Some("acme".into()), 1), (Some("globex".into()), 2)]);
        p.shutdown().await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn refused_batches_are_kept_and_sent_again() {
        let (p, sink, m) = make("{decision_wait: 1s, policies: [{name: all, type: always_sample}]}");
        sink.refuse.store(3, Ordering::SeqCst);
        p.start(TestHost::new()).await.unwrap();
        p.consume(spans(&[(1, false), (2, false)])).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1150)).await;
        // The first send was refused: the processor now pushes back on new data.
        let refused = p.consume(spans(&[(3, false)])).await;
        assert!(matches!(refused, Err(ConsumeError::Retryable(_))), "{refused:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(sink.trace_ids(), vec![1, 2]);
        p.consume(spans(&[(3, false)])).await.unwrap();
        p.shutdown().await.unwrap();
        assert_eq!(sink.trace_ids(), vec![1, 2, 3], "shutdown decides and sends what is pending");
        assert_eq!(m.dropped.get(), 0);
    }

    #[tokio::test]
    async fn shutdown_without_start_flushes() {
        let (p, sink, _) = make(ERRORS);
        p.consume(spans(&[(1, true), (2, false)])).await.unwrap();
        p.consume(Traces::default()).await.unwrap();
        p.shutdown().await.unwrap();
        assert_eq!(sink.trace_ids(), vec![1]);
    }

    #[tokio::test]
    async fn a_full_table_drops_the_oldest_and_counts_it() {
        let (p, sink, m) = make("{num_traces: 2, policies: [{name: all, type: always_sample}]}");
        p.consume(spans(&[(1, false), (1, false), (2, false), (3, false)])).await.unwrap();
        assert_eq!(m.dropped.get(), 2, "trace 1 (two spans) evicted undecided");
        assert_eq!(p.tail_metrics.dropped_too_early.as_ref().unwrap().get(), 1);
        p.shutdown().await.unwrap();
        assert_eq!(sink.trace_ids(), vec![2, 3]);
    }
}
