//! Cost per span of `tail_sampling` with 4 policies on 10-attribute spans (buffering,
//! deciding, regrouping the kept spans), and the memory each buffered trace costs with
//! 100k traces held. The memory figure is printed (RSS growth / traces), not timed.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Status;
use tracegate_core::data::{ResourceSpans, ScopeSpans, Span};
use tracegate_processor_tail_sampling::{decide, regroup, EvalContext, NamedPolicy, PolicyConfig, TraceBuffer};

const SPANS_PER_TRACE: u64 = 5;

fn kv(key: String, v: Value) -> KeyValue {
    KeyValue { key, value: Some(AnyValue { value: Some(v) }), ..Default::default() }
}

/// `traces` traces of 5 spans with 10 attributes each, one resource, ids from `first`.
fn batch(first: u64, traces: u64) -> Vec<ResourceSpans> {
    let spans = (first..first + traces)
        .flat_map(|t| {
            (0..SPANS_PER_TRACE).map(move |s| {
                let mut attrs: Vec<KeyValue> = (0..8).map(|a| kv(format!("attr.{a}"), Value::StringValue(format!("value-{a}-{}", t % 50)))).collect();
                attrs.push(kv("http.status_code".into(), Value::IntValue(200 + (t % 5) as i64 * 100)));
                attrs.push(kv("http.route".into(), Value::StringValue(format!("/api/v1/items/{}", t % 20))));
                Span {
                    trace_id: (u128::from(t).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)).to_be_bytes().to_vec(),
                    span_id: (t * 8 + s + 1).to_be_bytes().to_vec(),
                    name: "GET /api/v1/items".into(),
                    start_time_unix_nano: 1_700_000_000_000_000_000 + s * 1_000_000,
                    end_time_unix_nano: 1_700_000_000_000_000_000 + (s + 1) * 10_000_000 + (t % 100) * 1_000_000,
                    status: (t % 10 == 0 && s == 2).then(|| Status { code: 2, message: "boom".into() }),
                    attributes: attrs,
                    ..Default::default()
                }
            })
        })
        .collect();
    let resource = Resource { attributes: vec![kv("service.name".into(), Value::StringValue("bench".into()))], ..Default::default() };
    vec![ResourceSpans { resource: Some(resource), scope_spans: vec![ScopeSpans { spans, ..Default::default() }], ..Default::default() }]
}

fn four_policies() -> Vec<NamedPolicy> {
    let yaml = r#"
- {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}
- {name: slow, type: latency, latency: {threshold_ms: 120}}
- {name: routes, type: string_attribute, string_attribute: {key: http.route, values: ['^/api/v1/items/1[0-9]$'], enabled_regex_matching: true}}
- {name: share, type: probabilistic, probabilistic: {sampling_percentage: 10}}
"#;
    let cfgs: Vec<PolicyConfig> = serde_yaml_ng::from_str(yaml).expect("bench policies");
    cfgs.iter().map(|c| NamedPolicy::from_config(c).expect("policy")).collect()
}

fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<usize>().ok()))
        .map_or(0, |pages| pages * 4096)
}

fn per_span(c: &mut Criterion) {
    let mut group = c.benchmark_group("tail_sampling");
    const TRACES: u64 = 200;
    group.throughput(Throughput::Elements(TRACES * SPANS_PER_TRACE));
    let input = batch(0, TRACES);
    let mut policies = four_policies();
    group.bench_function("buffer_decide_release_4_policies", |b| {
        b.iter_batched(
            || input.clone(),
            |spans| {
                let mut buffer = TraceBuffer::new(50_000, 0, 0, 0);
                let now = Instant::now();
                buffer.add(spans, now);
                let out = buffer.decide_due(now, None, |id, trace| decide(&mut policies, &EvalContext { trace_id: id, trace, now_second: 1 }, false));
                regroup(out.sampled)
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn memory(c: &mut Criterion) {
    const TRACES: u64 = 100_000;
    // Batches are made one at a time inside the measured region and moved into the table, as
    // a receiver's would be, so the growth is what holding the traces costs (span data,
    // table, allocator overhead), not the input.
    let before = rss_bytes();
    let mut buffer = TraceBuffer::new(TRACES as usize, 0, 0, 0);
    let now = Instant::now();
    let mut input_bytes = 0usize;
    for i in 0..TRACES / 1000 {
        let b = batch(i * 1000, 1000);
        input_bytes += b.iter().map(prost::Message::encoded_len).sum::<usize>();
        buffer.add(b, now);
    }
    let grown = rss_bytes().saturating_sub(before);
    println!(
        "tail_sampling memory: {} traces x {} spans (10 attributes) held; RSS +{} MiB = {} B/trace ({} B/span); \
         OTLP-encoded size {} B/trace; size_of::<Span>() = {} B",
        buffer.len(),
        SPANS_PER_TRACE,
        grown >> 20,
        grown / TRACES as usize,
        grown / (TRACES * SPANS_PER_TRACE) as usize,
        input_bytes / TRACES as usize,
        std::mem::size_of::<Span>(),
    );
    // Time to decide the whole table, for scale.
    let mut policies = four_policies();
    let mut buffer = Some(buffer);
    c.bench_function("tail_sampling/decide_100k_traces_once", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let Some(mut buf) = buffer.take() else {
                    let mut fresh = TraceBuffer::new(TRACES as usize, 0, 0, 0);
                    for i in 0..TRACES / 1000 {
                        fresh.add(batch(i * 1000, 1000), now);
                    }
                    let t = Instant::now();
                    fresh.decide_due(now, None, |id, trace| decide(&mut policies, &EvalContext { trace_id: id, trace, now_second: 1 }, false));
                    total += t.elapsed();
                    continue;
                };
                let t = Instant::now();
                buf.decide_due(now, None, |id, trace| decide(&mut policies, &EvalContext { trace_id: id, trace, now_second: 1 }, false));
                total += t.elapsed();
            }
            total
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(5));
    targets = memory, per_span
}
criterion_main!(benches);
