//! Cost per span of the batch processor on spans with 10 attributes: requests of 100 spans
//! (a typical SDK export) merged into batches of 8192 and, in the second case, split again
//! at 1000 — the buffer moves, the split and the hand-off to the next component.

use std::sync::Arc;

use async_trait::async_trait;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use tracegate_core::component::{ConsumeError, Consumer};
use tracegate_core::data::{ResourceSpans, ScopeSpans, Span, Traces};
use tracegate_core::ComponentId;
use tracegate_processor_batch::{BatchConfig, BatchProcessor};

const SPANS_PER_REQUEST: usize = 100;
const REQUESTS: usize = 100;

struct Nop;

#[async_trait]
impl Consumer for Nop {
    async fn consume(&self, t: Traces) -> Result<(), ConsumeError> {
        drop(t);
        Ok(())
    }
}

fn kv(key: String, value: Value) -> KeyValue {
    KeyValue { key, value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

fn request(seq: usize) -> Traces {
    let spans = (0..SPANS_PER_REQUEST)
        .map(|i| Span {
            trace_id: vec![seq as u8; 16],
            span_id: (i as u64 + 1).to_be_bytes().to_vec(),
            name: format!("op-{}", i % 10),
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_001_000_000,
            attributes: (0..10).map(|a| kv(format!("attr.{a}"), Value::StringValue(format!("value-{a}-{i}")))).collect(),
            ..Default::default()
        })
        .collect();
    Traces::new(vec![ResourceSpans {
        resource: Some(Resource { attributes: vec![kv("service.name".into(), Value::StringValue("bench".into()))], ..Default::default() }),
        scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
        ..Default::default()
    }])
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mut group = c.benchmark_group("batch");
    group.throughput(Throughput::Elements((SPANS_PER_REQUEST * REQUESTS) as u64));
    for (name, max) in [("merge_8192", 0), ("merge_8192_split_1000", 1000)] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let cfg = BatchConfig { send_batch_max_size: max, ..Default::default() };
                    let p = BatchProcessor::new(ComponentId::parse("batch").expect("id"), cfg, Arc::new(Nop));
                    (p, (0..REQUESTS).map(request).collect::<Vec<_>>())
                },
                |(p, requests)| {
                    rt.block_on(async {
                        for r in requests {
                            p.consume(r).await.expect("accepted");
                        }
                    });
                    p
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
