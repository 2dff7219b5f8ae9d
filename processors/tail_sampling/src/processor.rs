//! The running processor: spans go into the [`TraceBuffer`] as they arrive (as OTLP bytes,
//! see [`crate::ingest`]); a timer task decides due traces every tick and sends the sampled
//! ones on as request bytes, a slice at a time (each slice sent before the next is decided, so
//! what is being released stays small). A batch the next component refuses with a retryable error stays
//! at the front of the release queue and is sent again on the next tick; while that lasts,
//! new data is refused with a retryable error, so the back-pressure reaches the client instead
//! of spans being dropped. New data is refused too while the table alone is over
//! `max_memory_mib` (see [`crate::buffer`]). Shutdown decides everything pending, spilled or
//! not, and sends it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tokio::task::JoinHandle;
use tracegate_core::component::{ComponentError, ConsumeError, Consumer, Host, Lifecycle, Processor};
use tracegate_core::data::Traces;
use tracegate_core::factory::CreateContext;
use tracegate_core::id::ComponentId;
use tracegate_core::telemetry::ProcessorMetrics;

use crate::buffer::{AddOutcome, BudgetOutcome, DecideOutcome, TraceBuffer};
use crate::config::{SpillConfig, TailSampling};
use crate::ingest::{decode_request, Batch};
use crate::metrics::TailMetrics;
use crate::policy::{decide, EvalContext, NamedPolicy};
use crate::spill::Spill;

struct State {
    buffer: TraceBuffer,
    policies: Vec<NamedPolicy>,
}

pub struct TailSamplingProcessor {
    id: ComponentId,
    pipeline: String,
    decision_wait: Duration,
    tick: Duration,
    first_match: bool,
    spill: Option<SpillConfig>,
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
    /// Wakes the timer to stop; shutdown then waits for it rather than aborting it, since an
    /// abort in the middle of a send would drop the batch being handed to the next component.
    stop_timer: tokio::sync::Notify,
    timer: Mutex<Option<JoinHandle<()>>>,
    /// When a spill or budget drop was last logged: at most one WARN per 10 s.
    last_warn: Mutex<Option<Instant>>,
    me: Weak<Self>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn unix_second() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

impl TailSamplingProcessor {
    /// A processor for one pipeline, with its own copy of the compiled policies.
    pub fn new(ctx: &CreateContext, validated: TailSampling, next: Arc<dyn Consumer>) -> Arc<Self> {
        let TailSampling { config, policies } = validated;
        let config = &config;
        let wait = config.decision_wait.get();
        let expected = config.expected_new_traces_per_sec.saturating_mul(wait.as_secs().max(1));
        let budget = (config.max_memory_mib > 0).then(|| usize::try_from(config.max_memory_mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX));
        let buffer = TraceBuffer::new(
            usize::try_from(config.num_traces).unwrap_or(usize::MAX),
            usize::try_from(expected).unwrap_or(usize::MAX),
            config.decision_cache.sampled_cache_size,
            config.decision_cache.non_sampled_cache_size,
        )
        .with_memory_budget(budget);
        // Decisions are due within a tenth of the wait (at most a second, as the Collector's
        // one-second ticks), so a scaled-down wait in tests still decides promptly.
        let tick = (wait / 10).clamp(Duration::from_millis(10), Duration::from_secs(1));
        Arc::new_cyclic(|me| Self {
            id: ctx.id.clone(),
            pipeline: ctx.pipeline.clone().unwrap_or_default(),
            decision_wait: wait,
            tick,
            first_match: config.sample_on_first_match,
            spill: config.spill.clone(),
            next,
            metrics: ctx.processor_metrics(),
            tail_metrics: TailMetrics::new(ctx),
            state: Mutex::new(State { buffer, policies }),
            release: Mutex::new(VecDeque::new()),
            sending: tokio::sync::Mutex::new(()),
            next_refusing: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            stop_timer: tokio::sync::Notify::new(),
            timer: Mutex::new(None),
            last_warn: Mutex::new(None),
            me: me.clone(),
        })
    }

    /// Decides due traces (all of them with `wait = None`), one slice of them, and sends the
    /// sampled spans on; slice after slice until none is due, or until the next component
    /// refuses (the due traces then wait, held and counted, for the next tick).
    async fn decide_and_send(&self, wait: Option<Duration>) {
        loop {
            let more = self.decide_due(wait);
            self.send_released().await;
            if !more {
                return;
            }
            if self.next_refusing.load(Ordering::Acquire) {
                if wait.is_some() {
                    return;
                }
                // Deciding everything (shutdown) while the next component refuses: what it
                // refused is lost, and is let go slice by slice rather than piled up (spilled
                // traces would otherwise all come back into memory).
                self.drop_released();
            }
        }
    }

    /// Drops the sampled batches waiting to be sent, counted as lost (shutdown only).
    fn drop_released(&self) {
        let left: usize = lock(&self.release).drain(..).map(|(_, n)| n).sum();
        if left > 0 {
            self.metrics.dropped.inc_by(left as u64);
            tracing::error!(processor = %self.id, spans = left, "next component refused sampled spans at shutdown; spans lost");
        }
    }

    /// Decides one slice of the due traces and queues the sampled spans; true if due traces
    /// are left.
    fn decide_due(&self, wait: Option<Duration>) -> bool {
        // tokio's clock, so tests can move time; the same instant as std's otherwise.
        let now = tokio::time::Instant::now().into_std();
        let now_second = unix_second();
        let first_match = self.first_match;
        let out: DecideOutcome = {
            let mut st = lock(&self.state);
            let State { buffer, policies } = &mut *st;
            let out = buffer.decide_due(now, wait, |id, trace| decide(policies, &EvalContext { trace_id: id, trace, now_second }, first_match));
            self.tail_metrics.observe(buffer);
            out
        };
        let dropped = out.dropped_spans + out.lost_spans;
        if dropped > 0 {
            self.metrics.dropped.inc_by(dropped as u64);
        }
        if let Some(e) = &out.read_error {
            self.warn(|| tracing::warn!(processor = %self.id, lost_spans = out.lost_spans, "spilled spans could not be read back; dropped: {e}"));
        }
        if out.sampled_traces + out.not_sampled_traces > 0 {
            tracing::debug!(processor = %self.id, sampled = out.sampled_traces, not_sampled = out.not_sampled_traces, "traces decided");
        }
        let more = out.more;
        self.queue(out.sampled.finish());
        more
    }

    fn queue(&self, batches: Vec<(Traces, usize)>) {
        if !batches.is_empty() {
            lock(&self.release).extend(batches);
        }
    }

    /// Logs at most once per 10 s (a full disk fails every spill).
    fn warn(&self, log: impl FnOnce()) {
        let now = Instant::now();
        let mut last = lock(&self.last_warn);
        if last.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(10)) {
            *last = Some(now);
            log();
        }
    }

    fn report_budget(&self, out: &BudgetOutcome) {
        if out.dropped_traces == 0 {
            return;
        }
        self.metrics.dropped.inc_by(out.dropped_spans as u64);
        if let Some(c) = &self.tail_metrics.budget_dropped_traces {
            c.inc_by(out.dropped_traces as u64);
        }
        match &out.spill_error {
            Some(e) => self.warn(|| {
                tracing::warn!(processor = %self.id, traces = out.dropped_traces, spans = out.dropped_spans, "max_memory_mib reached and the spill failed; oldest undecided traces dropped: {e}")
            }),
            None => self.warn(|| {
                tracing::warn!(processor = %self.id, traces = out.dropped_traces, spans = out.dropped_spans, "max_memory_mib reached and no spill is configured; oldest undecided traces dropped")
            }),
        }
    }

    fn report_add(&self, out: AddOutcome) {
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
        self.report_budget(&out.budget);
        self.queue(out.late_sampled.finish());
    }

    /// Holds a batch's spans; `Err` (retryable) when the table is over its budget.
    fn hold(&self, traces: &Traces) -> Result<Vec<AddOutcome>, ConsumeError> {
        let tenant = traces.tenant().cloned();
        let now = tokio::time::Instant::now().into_std();
        let mut st = lock(&self.state);
        let buffer = &mut st.buffer;
        if buffer.over_budget() {
            let freed = buffer.keep_to_budget();
            self.report_budget(&freed);
            if buffer.over_budget() {
                self.tail_metrics.observe(buffer);
                return Err(ConsumeError::retryable(format!(
                    "processor {}: max_memory_mib is taken by the ids of pending traces; try again once some are decided",
                    self.id
                )));
            }
        }
        let mut outcomes = Vec::new();
        match traces.encoded_parts() {
            Some(parts) => {
                for part in parts {
                    match Batch::from_request(&part.bytes, tenant.clone()) {
                        Ok(batch) => outcomes.push(buffer.add(&batch, now)),
                        // The views refuse what prost merges; prost's decode of such a request
                        // is held instead (encoded again, span by span).
                        Err(_) => match decode_request(&part.bytes) {
                            Some(rs) => {
                                let mut scratch = Vec::new();
                                outcomes.push(buffer.add(&Batch::from_decoded(&rs, tenant.clone(), &mut scratch), now));
                            }
                            None => {
                                self.metrics.dropped.inc_by(part.spans as u64);
                                tracing::error!(processor = %self.id, spans = part.spans, "checked OTLP bytes failed to decode; spans dropped");
                            }
                        },
                    }
                }
            }
            None => {
                let mut scratch = Vec::new();
                outcomes.push(buffer.add(&Batch::from_decoded(traces.resource_spans(), tenant, &mut scratch), now));
            }
        }
        self.tail_metrics.observe(buffer);
        Ok(outcomes)
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
            tokio::select! {
                _ = every.tick() => {}
                _ = self.stop_timer.notified() => return,
            }
            if self.stopped.load(Ordering::Acquire) {
                return;
            }
            self.decide_and_send(Some(self.decision_wait)).await;
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
        match self.hold(&traces) {
            Ok(outcomes) => outcomes.into_iter().for_each(|o| self.report_add(o)),
            Err(e) => {
                self.metrics.refused.inc_by(traces.span_count() as u64);
                return Err(e);
            }
        }
        if self.stopped.load(Ordering::Acquire) {
            // After shutdown there is no timer: decide at once rather than hold spans forever.
            self.decide_and_send(None).await;
        }
        Ok(())
    }
}

#[async_trait]
impl Lifecycle for TailSamplingProcessor {
    /// Opens the spill (a start error if its directory cannot be used) and starts the timer.
    async fn start(&self, host: Arc<dyn Host>) -> Result<(), ComponentError> {
        if let Some(spill) = &self.spill {
            let dir = crate::spill_dir::resolve(spill, host.as_ref(), &self.id, &self.pipeline)?;
            let opened = tokio::task::spawn_blocking(move || Spill::open(&dir)).await.map_err(ComponentError::other)?;
            let spill = opened.map_err(|e| ComponentError::other(format!("tail_sampling spill: {e}")))?;
            tracing::info!(processor = %self.id, directory = %spill.directory().display(), "pending traces past max_memory_mib spill here");
            lock(&self.state).buffer.set_spill(spill);
        }
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
        // A tick in progress finishes its send (a permit is stored if the timer is not
        // waiting now, so it stops at its next look).
        self.stop_timer.notify_one();
        let timer = lock(&self.timer).take();
        if let Some(timer) = timer {
            let _ = timer.await;
        }
        self.decide_and_send(None).await;
        self.drop_released();
        Ok(())
    }
}

impl Processor for TailSamplingProcessor {}

#[cfg(test)]
#[path = "processor_tests.rs"]
mod tests;
