//! Cost per span of `probabilistic_sampler` on 10-attribute spans.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use tracegate_core::data::{ResourceSpans, ScopeSpans, Span, Traces};
use tracegate_core::factory::CreateContext;
use tracegate_core::telemetry::Telemetry;
use tracegate_core::{ComponentId, Consumer, ConsumeError};
use tracegate_processor_probabilistic_sampler::{ProbabilisticSamplerConfig, ProbabilisticSamplerProcessor, Sampler};

struct Sink;

#[async_trait::async_trait]
impl Consumer for Sink {
    async fn consume(&self, _t: Traces) -> Result<(), ConsumeError> {
        Ok(())
    }
}

fn batch(spans: usize) -> Traces {
    let spans = (0..spans)
        .map(|i| {
            let trace = (i as u128 / 5).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
            Span {
                trace_id: trace.to_be_bytes().to_vec(),
                span_id: (i as u64 + 1).to_be_bytes().to_vec(),
                name: "GET /api".into(),
                attributes: (0..10)
                    .map(|a| KeyValue { key: format!("attr.{a}"), value: Some(AnyValue { value: Some(Value::StringValue(format!("value-{a}"))) }), ..Default::default() })
                    .collect(),
                ..Default::default()
            }
        })
        .collect();
    Traces::new(vec![ResourceSpans { scope_spans: vec![ScopeSpans { spans, ..Default::default() }], ..Default::default() }])
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("probabilistic_sampler");
    group.throughput(Throughput::Elements(1000));
    for (name, cfg) in [
        ("hash_seed_25pct", ProbabilisticSamplerConfig { sampling_percentage: 25.0, hash_seed: 22, ..Default::default() }),
        ("proportional_25pct", ProbabilisticSamplerConfig { sampling_percentage: 25.0, ..Default::default() }),
        ("hash_seed_100pct", ProbabilisticSamplerConfig { sampling_percentage: 100.0, hash_seed: 22, ..Default::default() }),
    ] {
        let ctx = CreateContext::new(ComponentId::new("probabilistic_sampler", None), Telemetry::new());
        let metrics = ctx.processor_metrics();
        let p = ProbabilisticSamplerProcessor::new(ctx.id.clone(), Sampler::from_config(&cfg), Arc::new(Sink), metrics);
        let input = batch(1000);
        // A fresh, unshared copy per iteration, returned so its drop is not timed: the
        // figure is the decision and the in-place removal, not freeing spans.
        group.bench_function(name, |b| {
            b.iter_batched(
                || Traces::new(input.resource_spans().to_vec()),
                |mut t| {
                    p.sample(&mut t);
                    t
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
