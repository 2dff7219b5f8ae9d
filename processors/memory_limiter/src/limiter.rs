//! The limiter: a task measures memory every `check_interval` and flips one flag; `consume`
//! reads the flag and either passes the batch on or refuses it.
//!
//! Refusing costs one atomic load per batch, so the limiter can sit first in every pipeline.
//! A refused batch is not dropped: it is answered with `ConsumeError::Retryable`, which the
//! receivers turn into gRPC UNAVAILABLE / HTTP 503 (the client retries with back-off) or, for
//! UDP, a counted `tracegate_receiver_refused_spans`. So refused spans are not counted in
//! `tracegate_processor_dropped_spans`; the limiter keeps its own count and logs it when the
//! refusing stops.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::task::JoinHandle;
use tracegate_core::component::{ComponentError, ConsumeError, Consumer, Host, Lifecycle, Processor};
use tracegate_core::data::Traces;

use crate::memory::{Limits, MemoryProbe};

const MIB: u64 = 1024 * 1024;

/// The Collector's `ErrDataRefused` text.
pub const REFUSED: &str = "data refused due to high memory usage";

/// What one measurement found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Normal,
    /// At or above the soft limit: refusing.
    Soft,
    /// At or above the hard limit: refusing, and warned.
    Hard,
}

pub struct MemoryLimiter {
    id: String,
    limits: Limits,
    check_interval: Duration,
    probe: Arc<dyn MemoryProbe>,
    next: Arc<dyn Consumer>,
    must_refuse: AtomicBool,
    /// Whether the last measurement was over the hard limit (warned once per crossing, not
    /// on every check).
    over_hard: AtomicBool,
    /// Spans refused since the refusing began (reset when it stops, after being logged).
    refused_spans: AtomicU64,
    /// `tracegate_processor_refused_spans` of this processor.
    refused_total: prometheus::IntCounter,
    checker: Mutex<Option<JoinHandle<()>>>,
}

impl MemoryLimiter {
    pub fn new(
        id: String,
        limits: Limits,
        check_interval: Duration,
        probe: Arc<dyn MemoryProbe>,
        next: Arc<dyn Consumer>,
        refused_total: prometheus::IntCounter,
    ) -> Arc<Self> {
        tracing::info!(
            processor = %id,
            limit_mib = limits.hard / MIB,
            spike_limit_mib = (limits.hard - limits.soft) / MIB,
            check_interval = ?check_interval,
            "memory limiter configured (judging the span data the pipelines hold)"
        );
        Arc::new(Self {
            id,
            limits,
            check_interval,
            probe,
            next,
            must_refuse: AtomicBool::new(false),
            over_hard: AtomicBool::new(false),
            refused_spans: AtomicU64::new(0),
            refused_total,
            checker: Mutex::new(None),
        })
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Whether new data is being refused now.
    pub fn is_refusing(&self) -> bool {
        self.must_refuse.load(Ordering::Acquire)
    }

    /// Spans refused since this limiter was created.
    pub fn refused_total(&self) -> u64 {
        self.refused_total.get()
    }

    /// Measures once and updates the refusing flag; logs each change of state.
    pub fn check(&self) -> Level {
        let used = match self.probe.used_bytes() {
            Ok(used) => used,
            Err(e) => {
                // Without a figure, keep the last decision rather than guess either way.
                tracing::warn!(processor = %self.id, "cannot measure memory use: {e}");
                return if self.is_refusing() { Level::Soft } else { Level::Normal };
            }
        };
        let level = if used >= self.limits.hard {
            Level::Hard
        } else if used >= self.limits.soft {
            Level::Soft
        } else {
            Level::Normal
        };
        let cur_mem_mib = used / MIB;
        let hard = level == Level::Hard;
        if hard && !self.over_hard.swap(hard, Ordering::AcqRel) {
            // The Collector forces a GC here. Rust frees memory as soon as it is dropped, so
            // there is nothing to collect: what is left is held by queues and batches, which
            // drain once the refusing stops new data coming in.
            tracing::warn!(processor = %self.id, cur_mem_mib, "memory usage is above hard limit; refusing data until the pipeline drains");
        }
        if !hard {
            self.over_hard.store(false, Ordering::Release);
        }
        let refuse = level != Level::Normal;
        let was = self.must_refuse.swap(refuse, Ordering::AcqRel);
        if refuse && !was {
            tracing::warn!(processor = %self.id, cur_mem_mib, "memory usage is above soft limit; refusing data");
        } else if !refuse && was {
            let refused_spans = self.refused_spans.swap(0, Ordering::Relaxed);
            tracing::info!(processor = %self.id, cur_mem_mib, refused_spans, "memory usage back within limits; resuming normal operation");
        } else {
            tracing::debug!(processor = %self.id, cur_mem_mib, "currently used memory");
        }
        level
    }

    async fn run_checks(self: Arc<Self>) {
        let mut ticker = tokio::time::interval(self.check_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            self.check();
        }
    }
}

#[async_trait]
impl Consumer for MemoryLimiter {
    async fn consume(&self, traces: Traces) -> Result<(), ConsumeError> {
        if self.is_refusing() {
            let spans = traces.span_count() as u64;
            self.refused_spans.fetch_add(spans, Ordering::Relaxed);
            self.refused_total.inc_by(spans);
            return Err(ConsumeError::retryable(REFUSED));
        }
        self.next.consume(traces).await
    }
}

/// Starts and stops the checking task; the processor is created with an `Arc` of itself.
pub struct MemoryLimiterProcessor(pub Arc<MemoryLimiter>);

#[async_trait]
impl Consumer for MemoryLimiterProcessor {
    async fn consume(&self, traces: Traces) -> Result<(), ConsumeError> {
        self.0.consume(traces).await
    }
}

#[async_trait]
impl Lifecycle for MemoryLimiterProcessor {
    async fn start(&self, _host: Arc<dyn Host>) -> Result<(), ComponentError> {
        let mut checker = self.0.checker.lock().unwrap_or_else(|p| p.into_inner());
        if checker.is_none() {
            // The first tick measures at once, so a process already over its limit refuses
            // from the first batch.
            *checker = Some(tokio::spawn(self.0.clone().run_checks()));
        }
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ComponentError> {
        let task = self.0.checker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
        let refused = self.0.refused_total();
        if refused > 0 {
            tracing::info!(processor = %self.0.id, refused_spans = refused, "memory limiter stopped");
        }
        Ok(())
    }
}

impl Processor for MemoryLimiterProcessor {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::atomic::AtomicUsize;

    use tracegate_core::testing::{blank_spans, TestHost};

    use super::*;

    /// A probe reporting whatever the test sets (u64::MAX: a read error).
    #[derive(Default)]
    struct FakeProbe(AtomicU64);

    impl FakeProbe {
        fn set_mib(&self, mib: u64) {
            self.0.store(mib * MIB, Ordering::SeqCst);
        }
    }

    impl MemoryProbe for FakeProbe {
        fn used_bytes(&self) -> std::io::Result<u64> {
            match self.0.load(Ordering::SeqCst) {
                u64::MAX => Err(std::io::Error::other("probe broken")),
                v => Ok(v),
            }
        }
    }

    #[derive(Default)]
    struct Counting(AtomicUsize);

    #[async_trait]
    impl Consumer for Counting {
        async fn consume(&self, t: Traces) -> Result<(), ConsumeError> {
            self.0.fetch_add(t.span_count(), Ordering::SeqCst);
            Ok(())
        }
    }

    /// limit 100 MiB, spike 20 MiB: soft limit at 80 MiB.
    fn limiter() -> (Arc<MemoryLimiter>, Arc<FakeProbe>, Arc<Counting>) {
        let probe = Arc::new(FakeProbe::default());
        let next = Arc::new(Counting::default());
        let l = MemoryLimiter::new("memory_limiter".into(), Limits::from_mib(100, 0), Duration::from_secs(1), probe.clone(), next.clone(), prometheus::IntCounter::new("refused", "test").unwrap());
        (l, probe, next)
    }

    #[tokio::test]
    async fn refuses_with_a_retryable_error_above_the_soft_limit_and_resumes_below_it() {
        let (l, probe, next) = limiter();
        probe.set_mib(79);
        assert_eq!(l.check(), Level::Normal);
        l.consume(blank_spans(3)).await.unwrap();
        assert_eq!(next.0.load(Ordering::SeqCst), 3);

        probe.set_mib(80);
        assert_eq!(l.check(), Level::Soft, "the soft limit itself refuses, as the Collector's >=");
        let err = l.consume(blank_spans(5)).await.unwrap_err();
        assert_eq!(err, ConsumeError::Retryable(REFUSED.into()));
        assert_eq!(next.0.load(Ordering::SeqCst), 3, "a refused batch does not reach the next component");

        probe.set_mib(100);
        assert_eq!(l.check(), Level::Hard);
        assert!(l.consume(blank_spans(2)).await.is_err());
        assert_eq!(l.refused_total(), 7);

        probe.set_mib(50);
        assert_eq!(l.check(), Level::Normal);
        l.consume(blank_spans(1)).await.unwrap();
        assert_eq!(next.0.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_failed_measurement_keeps_the_last_decision() {
        let (l, probe, _next) = limiter();
        probe.set_mib(90);
        l.check();
        probe.0.store(u64::MAX, Ordering::SeqCst);
        assert_eq!(l.check(), Level::Soft);
        assert!(l.is_refusing());
        probe.set_mib(10);
        l.check();
        probe.0.store(u64::MAX, Ordering::SeqCst);
        assert_eq!(l.check(), Level::Normal);
        assert!(!l.is_refusing());
    }

    #[tokio::test(start_paused = true)]
    async fn the_checking_task_measures_at_start_and_every_interval_until_shutdown() {
        let (l, probe, _next) = limiter();
        probe.set_mib(95);
        let p = MemoryLimiterProcessor(l.clone());
        p.start(TestHost::new()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(l.is_refusing(), "measured at start");
        probe.set_mib(10);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(l.is_refusing(), "not measured again before check_interval");
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(!l.is_refusing(), "measured again after check_interval");
        p.shutdown().await.unwrap();
        probe.set_mib(95);
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!l.is_refusing(), "no measuring after shutdown");
        p.shutdown().await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn judging_what_the_pipeline_holds_it_accepts_again_within_two_checks_of_draining() {
        // The engine's own count, as the factory wires it: 1 MiB limit, soft at 0.8 MiB.
        let memory = tracegate_core::telemetry::Metrics::new().pipeline_memory();
        let next = Arc::new(Counting::default());
        let interval = Duration::from_secs(1);
        let l = MemoryLimiter::new("memory_limiter".into(), Limits::from_mib(1, 0), interval, Arc::new(crate::PipelineHeld(memory.clone())), next.clone(), prometheus::IntCounter::new("refused", "test").unwrap());
        let p = MemoryLimiterProcessor(l.clone());
        p.start(TestHost::new()).await.unwrap();

        // An overload: the pipeline holds more than the soft limit (a stuck exporter's queue).
        let backlog = memory.hold(900 * 1024);
        tokio::time::sleep(interval * 2).await;
        assert!(l.is_refusing());
        assert_eq!(l.consume(blank_spans(4)).await, Err(ConsumeError::Retryable(REFUSED.into())));

        // It drains: whatever the allocator or caches keep, nothing is held any more.
        drop(backlog);
        tokio::time::sleep(interval * 2).await;
        assert!(!l.is_refusing(), "no wedge: accepting again within two check intervals");
        l.consume(blank_spans(3)).await.unwrap();
        assert_eq!(next.0.load(Ordering::SeqCst), 3);
        p.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn shutdown_without_start_is_safe_and_idempotent() {
        let (l, _probe, _next) = limiter();
        let p = MemoryLimiterProcessor(l);
        p.shutdown().await.unwrap();
        p.shutdown().await.unwrap();
    }
}
