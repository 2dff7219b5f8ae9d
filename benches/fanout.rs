//! Fan-out of one 1000-span batch to 3 exporters' consumers.
//!
//! `shared`: the engine's fan-out, which hands each branch the same `Arc` (checked before
//! timing: every branch must see the very batch the caller sent). `deep_copy`: what a fan-out
//! that copied the batch per branch would cost, for comparison.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use tracegate_core::component::{ConsumeError, Consumer};
use tracegate_core::data::{ResourceSpans, ScopeSpans, Span, Traces};
use tracegate_core::graph::Fanout;

struct Sink {
    spans: AtomicUsize,
    first: std::sync::Mutex<Option<Traces>>,
}

#[async_trait]
impl Consumer for Sink {
    async fn consume(&self, t: Traces) -> Result<(), ConsumeError> {
        self.spans.fetch_add(t.span_count(), Ordering::Relaxed);
        let mut first = self.first.lock().unwrap_or_else(|p| p.into_inner());
        if first.is_none() {
            *first = Some(t);
        }
        Ok(())
    }
}

fn batch() -> Traces {
    let attr = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.into())) }),
        ..Default::default()
    };
    let spans = (0..1000u64)
        .map(|i| Span {
            trace_id: (i / 10).to_be_bytes().repeat(2),
            span_id: i.to_be_bytes().to_vec(),
            name: format!("GET /api/items/{}", i % 20),
            attributes: (0..10).map(|a| attr(&format!("attr.{a}"), "some value of moderate size")).collect(),
            ..Default::default()
        })
        .collect();
    Traces::new(vec![ResourceSpans {
        scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
        ..Default::default()
    }])
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let sinks: Vec<Arc<Sink>> = (0..3)
        .map(|_| Arc::new(Sink { spans: AtomicUsize::new(0), first: Default::default() }))
        .collect();
    let fanout = Fanout::of(sinks.iter().map(|s| s.clone() as Arc<dyn Consumer>).collect());
    let input = batch();

    rt.block_on(fanout.consume(input.clone())).expect("consume");
    for s in &sinks {
        let seen = s.first.lock().unwrap_or_else(|p| p.into_inner()).take();
        assert!(seen.is_some_and(|t| t.shares_with(&input)), "fan-out copied the batch");
    }

    let mut group = c.benchmark_group("fanout_3_exporters");
    group.throughput(Throughput::Elements(input.span_count() as u64));
    group.bench_function("shared", |b| {
        b.iter(|| rt.block_on(fanout.consume(input.clone())).expect("consume"))
    });
    group.bench_function("deep_copy", |b| {
        b.iter(|| {
            rt.block_on(async {
                for s in &sinks {
                    let copy = Traces::new(input.resource_spans().to_vec());
                    s.consume(copy).await.expect("consume");
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
