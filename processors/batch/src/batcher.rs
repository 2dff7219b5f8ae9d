//! The batching state machine: a buffer, a size trigger in the caller's task, and a timer task.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracegate_core::component::{
    ComponentError, ConsumeError, Consumer, Host, Lifecycle, Processor,
};
use tracegate_core::data::Traces;
use tracegate_core::id::ComponentId;
use tracegate_core::telemetry::LogLimit;

use crate::split::split_off_parts;
use crate::waiters::{settle, Owners, WaiterRef};
use crate::BatchConfig;

#[derive(Default)]
struct Buffer {
    /// The batches received, in order; joined only when sent, so batches that arrived as
    /// bytes leave as one run of bytes (`Traces::concat`).
    batch: Vec<Traces>,
    spans: usize,
    /// Which request owns which spans; filled only with `wait_for_result`.
    owners: Owners,
    /// Batches cut and not yet answered by the next component (counted with
    /// `wait_for_result`): below [`EARLY_SENDS`], waiting senders are not kept waiting for a
    /// full batch or the timeout.
    in_flight: usize,
}

/// With `wait_for_result`, what is held is sent at once (not at `send_batch_size` or after
/// `timeout`) while fewer than this many batches are on their way. A lone request is then
/// answered after one store write instead of the timeout, and under load the requests that
/// arrive while the store is busy travel together in the next batch: the batch size adapts
/// to the store's pace (group commit). Two, so that one batch can be encoded while another is
/// being synced.
pub const EARLY_SENDS: usize = 2;

/// A batch cut from the buffer, with the requests waiting on its spans.
struct Cut {
    batch: Vec<Traces>,
    spans: usize,
    owners: Vec<(WaiterRef, usize)>,
}

pub struct BatchProcessor {
    id: ComponentId,
    config: BatchConfig,
    next: Arc<dyn Consumer>,
    // A std mutex: it is never held across an await, and it is cheaper than tokio's.
    buffer: Mutex<Buffer>,
    /// Wakes the timer when a batch starts (the buffer goes from empty to non-empty).
    batch_started: Notify,
    stopped: AtomicBool,
    timer: Mutex<Option<JoinHandle<()>>>,
    /// Lets `start(&self)` hand the timer task an owning handle.
    me: Weak<Self>,
    /// One line per interval for refused batches: under overload every batch is refused for
    /// the same reason, and the receivers count every refused span.
    refusal_log: LogLimit,
}

impl BatchProcessor {
    pub fn new(id: ComponentId, config: BatchConfig, next: Arc<dyn Consumer>) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            me: me.clone(),
            id,
            config,
            next,
            buffer: Mutex::new(Buffer::default()),
            batch_started: Notify::new(),
            stopped: AtomicBool::new(false),
            timer: Mutex::new(None),
            refusal_log: LogLimit::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buffer> {
        self.buffer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Above this many held spans new data is refused (only reachable while the next
    /// component refuses batches, since a full batch is sent as soon as it is complete).
    fn capacity(&self) -> usize {
        self.config
            .send_batch_size
            .max(self.config.send_batch_max_size)
            .max(1)
            * 2
    }

    /// Cuts batches out of the buffer: complete ones only, or everything when `all`.
    fn take_batches(&self, buf: &mut Buffer, all: bool) -> Vec<Cut> {
        let size = self.config.send_batch_size;
        let max = self.config.send_batch_max_size;
        let mut out = Vec::new();
        loop {
            let complete = size > 0 && buf.spans >= size;
            if buf.spans == 0 || !(complete || all || self.config.timeout.is_zero()) {
                break;
            }
            let n = if max > 0 {
                buf.spans.min(max)
            } else {
                buf.spans
            };
            let batch = if n == buf.spans {
                std::mem::take(&mut buf.batch)
            } else {
                split_off_parts(&mut buf.batch, n)
            };
            buf.spans -= n;
            if self.config.wait_for_result {
                buf.in_flight += 1;
            }
            out.push(Cut {
                batch,
                spans: n,
                owners: buf.owners.take(n),
            });
        }
        out
    }

    /// With `wait_for_result`: everything held, if fewer than [`EARLY_SENDS`] batches are on
    /// their way (see there).
    fn take_early(&self, buf: &mut Buffer) -> Vec<Cut> {
        if !self.config.wait_for_result || buf.in_flight >= EARLY_SENDS {
            return Vec::new();
        }
        self.take_batches(buf, true)
    }

    /// Sends batches in order. A retryable refusal puts that batch and the ones after it back
    /// at the front of the buffer, for the timer to send again; with `wait_for_result` it is
    /// handed to the waiting senders instead, whose clients retry.
    async fn send(&self, batches: Vec<Cut>) {
        if self.config.wait_for_result {
            self.send_and_settle(batches).await;
            self.send_what_arrived_meanwhile();
            return;
        }
        // Batches of different tenants are never joined (the Collector's batch processor keeps
        // one batcher per `metadata_keys` value; here a cut is split by tenant when sent).
        let mut iter = batches.into_iter().flat_map(|cut| Traces::group_by_tenant(cut.batch)).map(|batch| {
            let spans = batch.iter().map(Traces::span_count).sum::<usize>();
            Cut { batch, spans, owners: Vec::new() }
        });
        while let Some(Cut {
            batch,
            spans,
            owners: _,
        }) = iter.next()
        {
            let traces = Traces::concat(batch);
            match self.next.consume(traces.clone()).await {
                Ok(()) => {}
                Err(ConsumeError::Permanent(msg)) => {
                    tracing::error!(processor = %self.id, spans, "next component rejected a batch permanently; dropped: {msg}");
                }
                Err(err) => {
                    if let Some(unlogged) = self.refusal_log.check() {
                        tracing::warn!(processor = %self.id, spans, unlogged, "next component refused a batch; holding it to send again: {err}");
                    }
                    let mut returned = vec![traces];
                    let mut returned_spans = spans;
                    for cut in iter.by_ref() {
                        returned.extend(cut.batch);
                        returned_spans += cut.spans;
                    }
                    let mut buf = self.lock();
                    returned.append(&mut buf.batch);
                    buf.batch = returned;
                    buf.spans += returned_spans;
                    drop(buf);
                    self.batch_started.notify_one();
                    return;
                }
            }
        }
    }

    /// With `wait_for_result`: sends each batch and answers its senders.
    async fn send_and_settle(&self, batches: Vec<Cut>) {
        for Cut {
            batch,
            spans,
            owners,
        } in batches
        {
            // One send per tenant; the senders hear the first refusal (their clients retry
            // the whole request, as they would after any refusal).
            let mut outcome = Ok(());
            for group in Traces::group_by_tenant(batch) {
                let sent = self.next.consume(Traces::concat(group)).await;
                if outcome.is_ok() {
                    outcome = sent;
                }
            }
            self.lock().in_flight -= 1;
            if let Err(err) = &outcome {
                if let Some(unlogged) = self.refusal_log.check() {
                    tracing::warn!(processor = %self.id, spans, unlogged, "next component refused a batch; its senders are told: {err}");
                }
            }
            settle(&owners, &outcome);
        }
    }

    /// With `wait_for_result`, once a batch was answered: what arrived while it was on its way
    /// is sent now (`take_early`), in a task of its own, so that the sender whose batch was
    /// just answered is not kept waiting for other senders' batches.
    fn send_what_arrived_meanwhile(&self) {
        let Some(me) = self.me.upgrade() else { return };
        if self.lock().spans == 0 {
            return;
        }
        tokio::spawn(async move {
            loop {
                let batches = {
                    let mut buf = me.lock();
                    me.take_early(&mut buf)
                };
                if batches.is_empty() {
                    return;
                }
                me.send_and_settle(batches).await;
            }
        });
    }

    async fn run_timer(self: Arc<Self>) {
        loop {
            self.batch_started.notified().await;
            if self.stopped.load(Ordering::Acquire) {
                return;
            }
            tokio::time::sleep(self.config.timeout.get()).await;
            let batches = {
                let mut buf = self.lock();
                self.take_batches(&mut buf, true)
            };
            self.send(batches).await;
        }
    }
}

#[async_trait]
impl Consumer for BatchProcessor {
    async fn consume(&self, traces: Traces) -> Result<(), ConsumeError> {
        let spans = traces.span_count();
        if spans == 0 {
            return Ok(());
        }
        if self.stopped.load(Ordering::Acquire) {
            return self.next.consume(traces).await;
        }
        let mut answer = None;
        let ready = {
            let mut buf = self.lock();
            if buf.spans >= self.capacity() {
                return Err(ConsumeError::retryable(format!(
                    "processor {} holds {} spans the next component has not accepted yet; try again later",
                    self.id, buf.spans
                )));
            }
            let was_empty = buf.spans == 0;
            buf.batch.push(traces);
            buf.spans += spans;
            if self.config.wait_for_result {
                let (waiter, rx) = WaiterRef::new(spans);
                buf.owners.push(waiter, spans);
                answer = Some(rx);
            }
            if was_empty {
                self.batch_started.notify_one();
            }
            let mut ready = self.take_batches(&mut buf, false);
            ready.extend(self.take_early(&mut buf));
            ready
        };
        self.send(ready).await;
        match answer {
            None => Ok(()),
            Some(rx) => rx.await.unwrap_or_else(|_| {
                Err(ConsumeError::retryable(format!(
                    "processor {} stopped before the batch was sent",
                    self.id
                )))
            }),
        }
    }
}

#[async_trait]
impl Lifecycle for BatchProcessor {
    async fn start(&self, _host: Arc<dyn Host>) -> Result<(), ComponentError> {
        if let (Some(me), false) = (self.me.upgrade(), self.config.timeout.is_zero()) {
            *self.timer.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(tokio::spawn(me.run_timer()));
        }
        Ok(())
    }

    /// Stops the timer and sends everything held.
    async fn shutdown(&self) -> Result<(), ComponentError> {
        if self.stopped.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        if let Some(timer) = self.timer.lock().unwrap_or_else(|p| p.into_inner()).take() {
            timer.abort();
        }
        let batches = {
            let mut buf = self.lock();
            self.take_batches(&mut buf, true)
        };
        self.send(batches).await;
        let left = self.lock().spans;
        if left > 0 {
            tracing::error!(processor = %self.id, spans = left, "could not flush at shutdown; spans lost");
        }
        Ok(())
    }
}

impl Processor for BatchProcessor {}
