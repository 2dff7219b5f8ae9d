//! The persistent sending queue (`sending_queue.storage`): enqueue + dequeue + ack of one
//! 1000-span batch of 10-attribute spans, and the disk bytes it takes per span.
//!
//! Before timing, 100 batches are queued without being taken and the queue directory is
//! measured: that is the footprint of a backlog (printed as bytes per span). The timed loop
//! then pushes, pops and acknowledges one batch at a time, which is the steady state of a
//! healthy backend: an append, a read back with the in-place check, and an ack-file rename
//! per batch (no fsync; `fsync: true` adds one sync per batch and per ack), plus a protobuf
//! encode for a batch that is not still in its received bytes.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use tracegate_core::data::{ResourceSpans, ScopeSpans, Span, Traces};
use tracegate_core::queue::{DiskQueue, QueueBackend};

fn batch(seed: u64) -> Traces {
    let attr = |k: String, v: String| KeyValue {
        key: k,
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(v)) }),
        ..Default::default()
    };
    let spans = (0..1000u64)
        .map(|i| Span {
            trace_id: (seed * 1000 + i / 10).to_be_bytes().repeat(2),
            span_id: (seed * 1000 + i).to_be_bytes().to_vec(),
            name: format!("GET /api/items/{}", i % 20),
            start_time_unix_nano: 1_700_000_000_000_000_000 + i * 1000,
            end_time_unix_nano: 1_700_000_000_000_000_000 + i * 1000 + 250_000,
            attributes: (0..10).map(|a| attr(format!("attr.{a}"), format!("value {} of moderate size", i % 50))).collect(),
            ..Default::default()
        })
        .collect();
    Traces::new(vec![ResourceSpans { scope_spans: vec![ScopeSpans { spans, ..Default::default() }], ..Default::default() }])
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(Result::ok).filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");

    let backlog = DiskQueue::open(&dir.path().join("backlog"), 1000, false).expect("open");
    let spans: usize = (0..100).map(|seed| {
        let b = batch(seed);
        let n = b.span_count();
        backlog.try_push(b).expect("room");
        n
    }).sum();
    let bytes = dir_bytes(&dir.path().join("backlog"));
    eprintln!("disk_queue backlog: {spans} spans in {bytes} bytes = {:.1} B/span", bytes as f64 / spans as f64);

    let queue = DiskQueue::open(&dir.path().join("steady"), 1000, false).expect("open");
    let input = batch(7);
    let mut group = c.benchmark_group("disk_queue");
    group.throughput(Throughput::Elements(input.span_count() as u64));
    // A decoded batch (from a Jaeger or Zipkin receiver, or changed by a processor) is
    // encoded on the way in; a batch the OTLP receiver passed on as bytes is written as is.
    let as_bytes = Traces::from_protobuf(input.encode_request()).expect("valid");
    for (name, input) in [("push_pop_ack_1000_spans_decoded", input), ("push_pop_ack_1000_spans_bytes", as_bytes)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                queue.try_push(input.clone()).expect("room");
                let (id, out) = rt.block_on(queue.pop()).expect("a batch");
                assert_eq!(out.span_count(), 1000);
                queue.ack(id);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
