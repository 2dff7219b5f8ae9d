//! Applies the per-span decision to a batch. Decisions are made on the shared batch first;
//! only when a span is dropped or its tracestate changes is the batch made mutable (copied
//! if someone else holds it), so a batch that is kept whole costs no copy.

use std::sync::Arc;

use async_trait::async_trait;
use tracegate_core::component::{Capabilities, ConsumeError, Consumer, Lifecycle, Processor};
use tracegate_core::data::Traces;
use tracegate_core::id::ComponentId;
use tracegate_core::telemetry::ProcessorMetrics;

use crate::sampler::{Decision, Sampler};

pub struct ProbabilisticSamplerProcessor {
    id: ComponentId,
    sampler: Sampler,
    next: Arc<dyn Consumer>,
    metrics: ProcessorMetrics,
}

impl ProbabilisticSamplerProcessor {
    pub fn new(id: ComponentId, sampler: Sampler, next: Arc<dyn Consumer>, metrics: ProcessorMetrics) -> Self {
        Self { id, sampler, next, metrics }
    }

    /// Samples a batch in place; returns the number of spans dropped.
    pub fn sample(&self, traces: &mut Traces) -> usize {
        let decisions: Vec<Decision> = traces
            .resource_spans()
            .iter()
            .flat_map(|rs| rs.scope_spans.iter())
            .flat_map(|ss| ss.spans.iter())
            .map(|s| self.sampler.decide(s))
            .collect();
        if decisions.iter().all(|d| *d == Decision::Keep) {
            return 0;
        }
        let mut decisions = decisions.into_iter();
        let mut dropped = 0;
        let batch = traces.make_mut();
        for rs in batch.iter_mut() {
            for ss in rs.scope_spans.iter_mut() {
                ss.spans.retain_mut(|span| match decisions.next() {
                    Some(Decision::Keep) | None => true,
                    Some(Decision::KeepWithTraceState(ts)) => {
                        span.trace_state = ts;
                        true
                    }
                    Some(Decision::Drop) => {
                        dropped += 1;
                        false
                    }
                });
            }
            rs.scope_spans.retain(|ss| !ss.spans.is_empty());
        }
        batch.retain(|rs| !rs.scope_spans.is_empty());
        dropped
    }
}

#[async_trait]
impl Consumer for ProbabilisticSamplerProcessor {
    fn capabilities(&self) -> Capabilities {
        Capabilities { mutates_data: true }
    }

    async fn consume(&self, mut traces: Traces) -> Result<(), ConsumeError> {
        let dropped = self.sample(&mut traces);
        if dropped > 0 {
            self.metrics.dropped.inc_by(dropped as u64);
            tracing::trace!(processor = %self.id, dropped, "sampled out");
        }
        if traces.resource_spans().is_empty() {
            return Ok(());
        }
        self.next.consume(traces).await
    }
}

impl Lifecycle for ProbabilisticSamplerProcessor {}

impl Processor for ProbabilisticSamplerProcessor {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use std::sync::Mutex;
    use tracegate_core::data::{ResourceSpans, ScopeSpans, Span};
    use tracegate_core::factory::CreateContext;
    use tracegate_core::telemetry::Telemetry;

    use crate::ProbabilisticSamplerConfig;

    #[derive(Default)]
    struct Sink(Mutex<Vec<Traces>>);

    #[async_trait]
    impl Consumer for Sink {
        async fn consume(&self, t: Traces) -> Result<(), ConsumeError> {
            self.0.lock().unwrap().push(t);
            Ok(())
        }
    }

    fn processor(cfg: ProbabilisticSamplerConfig) -> (ProbabilisticSamplerProcessor, Arc<Sink>, ProcessorMetrics) {
        let ctx = CreateContext::new(ComponentId::new("probabilistic_sampler", None), Telemetry::new());
        let sink = Arc::new(Sink::default());
        let m = ctx.processor_metrics();
        (ProbabilisticSamplerProcessor::new(ctx.id.clone(), Sampler::from_config(&cfg), sink.clone(), m.clone()), sink, m)
    }

    /// `traces` traces of `per` spans each, spread over two resources.
    fn batch(traces: u64, per: u64) -> Traces {
        let span = |t: u64, s: u64| Span { trace_id: (t.wrapping_mul(0x9e37_79b9_7f4a_7c15) as u128 * 0x1_0000_0001).to_be_bytes().to_vec(), span_id: (s + 1).to_be_bytes().to_vec(), ..Default::default() };
        let rs = |half: u64| ResourceSpans {
            scope_spans: vec![ScopeSpans { spans: (1..=traces).flat_map(|t| (0..per).filter(move |s| s % 2 == half).map(move |s| span(t, s))).collect(), ..Default::default() }],
            ..Default::default()
        };
        Traces::new(vec![rs(0), rs(1)])
    }

    #[tokio::test]
    async fn keeps_whole_traces_and_counts_the_dropped() {
        let (p, sink, m) = processor(ProbabilisticSamplerConfig { sampling_percentage: 25.0, hash_seed: 1, ..Default::default() });
        p.consume(batch(4000, 4)).await.unwrap();
        let out = sink.0.lock().unwrap();
        let mut per_trace = std::collections::HashMap::<Vec<u8>, usize>::new();
        for t in out.iter() {
            for s in t.resource_spans().iter().flat_map(|r| r.scope_spans.iter()).flat_map(|s| s.spans.iter()) {
                *per_trace.entry(s.trace_id.clone()).or_default() += 1;
            }
        }
        assert!(per_trace.values().all(|n| *n == 4), "a trace was split");
        assert!((850..1150).contains(&per_trace.len()), "{} of 4000 traces kept", per_trace.len());
        assert_eq!(m.dropped.get() as usize, (4000 - per_trace.len()) * 4);
    }

    #[tokio::test]
    async fn a_batch_kept_whole_is_not_copied() {
        let (p, sink, m) = processor(ProbabilisticSamplerConfig { sampling_percentage: 100.0, hash_seed: 1, ..Default::default() });
        let input = batch(10, 2);
        p.consume(input.clone()).await.unwrap();
        assert!(sink.0.lock().unwrap()[0].shares_with(&input));
        assert_eq!(m.dropped.get(), 0);
    }

    #[tokio::test]
    async fn nothing_kept_sends_nothing_and_empty_batches_pass() {
        let (p, sink, m) = processor(ProbabilisticSamplerConfig { sampling_percentage: 0.0, ..Default::default() });
        p.consume(batch(10, 2)).await.unwrap();
        assert!(sink.0.lock().unwrap().is_empty());
        assert_eq!(m.dropped.get(), 20);
        p.consume(Traces::default()).await.unwrap();
    }
}
