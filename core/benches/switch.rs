//! What the reload indirection costs a batch on its way in: a receiver feeds its pipelines
//! through a `Switch` behind the service's `Gate` (one async read-lock acquisition and an
//! `Arc` clone per batch), here against handing the batch to the same consumer directly.
//! `concurrent`: 8 tasks on 2 worker threads pushing at once through one gate, as receivers'
//! connections do.
//!
//! Measured 2026-12-07 on the shared 2-core machine under load (load average ~6; `limits`
//! read OTLP decode at 124-196k spans/s in the same window, ~500k when quiet), 100-span
//! batches: direct 133 ns per batch, through the switch 177 ns; 8 concurrent tasks 170 ns
//! direct, 299 ns through the switch. So the indirection costs ~40-130 ns per batch, against
//! ~2 µs per span to decode it: below 0.1% of a core at 500k spans/s in batches of 100.
//! `cargo bench -p tracegate-core --bench switch`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tracegate_core::component::{ConsumeError, Consumer};
use tracegate_core::data::{ResourceSpans, ScopeSpans, Span, Traces};
use tracegate_core::graph::{Gate, Switch};

#[derive(Default)]
struct Sink(AtomicUsize);

#[async_trait]
impl Consumer for Sink {
    async fn consume(&self, t: Traces) -> Result<(), ConsumeError> {
        self.0.fetch_add(t.span_count(), Ordering::Relaxed);
        Ok(())
    }
}

fn batch() -> Traces {
    let spans = vec![Span::default(); 100];
    Traces::new(vec![ResourceSpans { scope_spans: vec![ScopeSpans { spans, ..Default::default() }], ..Default::default() }])
}

/// Batches pushed per timed iteration, so the runtime's `block_on` is not what is measured.
const PER_ITER: usize = 1000;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().expect("runtime");
    let sink: Arc<dyn Consumer> = Arc::new(Sink::default());
    let switch: Arc<dyn Consumer> = Switch::new(Gate::new(), sink.clone());
    let t = batch();
    let mut g = c.benchmark_group("switch");
    g.throughput(Throughput::Elements(PER_ITER as u64));
    for (name, target) in [("direct", sink.clone()), ("through_switch", switch.clone())] {
        g.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    for _ in 0..PER_ITER {
                        let _ = target.consume(t.clone()).await;
                    }
                })
            })
        });
    }
    for (name, target) in [("concurrent_direct", sink), ("concurrent_through_switch", switch)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let tasks: Vec<_> = (0..8)
                        .map(|_| {
                            let (target, t) = (target.clone(), t.clone());
                            tokio::spawn(async move {
                                for _ in 0..PER_ITER / 8 {
                                    let _ = target.consume(t.clone()).await;
                                }
                            })
                        })
                        .collect();
                    for task in tasks {
                        let _ = task.await;
                    }
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
