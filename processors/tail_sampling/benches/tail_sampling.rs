//! `tail_sampling`'s memory per held trace and its cost per span.
//!
//! `cargo bench -p tracegate-processor-tail-sampling` (`-- --memory-only` prints the memory
//! figures and skips the timed benches).
//!
//! Memory: 100k traces of 5 spans with 10 attributes each (the shape the figures in
//! docs/configuration.md have always used), fed as the OTLP receiver hands batches on
//! (request bytes of 1000 traces, checked, not decoded), held at once. Printed, not timed:
//! the RSS growth per trace and the table's own account of its bytes (what `max_memory_mib`
//! bounds), each against the traces' OTLP-encoded size (the request bytes / traces); the
//! target is at most 1.5x. For comparison, the RSS the same traces cost as decoded prost
//! structs (how the table held them before it held bytes).
//!
//! Time: buffering, deciding with 4 policies and releasing 1000 spans; deciding 100k held
//! traces; and the same with a memory budget 1/10 of the data, so that nine in ten traces go
//! through the spill (written, read back, decided).
//!
//! It runs on jemalloc with the binary's options (`.cargo/config.toml`), so the RSS is what
//! the gateway's allocator makes of these allocations.

use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, BatchSize, Criterion, Throughput};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Status;
use prost::Message;
use tracegate_core::data::{ResourceSpans, ScopeSpans, Span};
use tracegate_processor_tail_sampling::spill::Spill;
use tracegate_processor_tail_sampling::{decide, Batch, EvalContext, NamedPolicy, PolicyConfig, TraceBuffer};

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const SPANS_PER_TRACE: u64 = 5;
const TRACES: u64 = 100_000;
const PER_REQUEST: u64 = 1000;

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

/// The same traces as an export request's bytes.
fn request(first: u64, traces: u64) -> Bytes {
    Bytes::from(ExportTraceServiceRequest { resource_spans: batch(first, traces) }.encode_to_vec())
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

/// Lets jemalloc give back what the previous step freed (its decay is 1 s with the binary's
/// options), so one figure does not carry the last one's garbage.
fn settle() {
    std::thread::sleep(Duration::from_millis(2500));
}

fn hold_all(buffer: &mut TraceBuffer, now: Instant) -> usize {
    let mut encoded = 0;
    for i in 0..TRACES / PER_REQUEST {
        // Made one at a time and dropped after, as a receiver's request would be: the growth
        // is what holding the traces costs, not the input.
        let bytes = request(i * PER_REQUEST, PER_REQUEST);
        encoded += bytes.len();
        let b = Batch::from_request(&bytes, None).expect("bench request");
        buffer.add(&b, now);
    }
    encoded
}

fn print_memory() {
    settle();
    let before = rss_bytes();
    let mut buffer = TraceBuffer::new(TRACES as usize, 0, 0, 0);
    let encoded = hold_all(&mut buffer, Instant::now());
    settle();
    let grown = rss_bytes().saturating_sub(before);
    let per_trace = |b: usize| b as f64 / TRACES as f64;
    let otlp = per_trace(encoded);
    println!(
        "tail_sampling memory, {} traces x {} spans (10 attributes) held as bytes: OTLP-encoded {:.0} B/trace; \
         RSS +{} MiB = {:.0} B/trace ({:.2}x OTLP); accounted (max_memory_mib counts this) {:.0} B/trace ({:.2}x OTLP), \
         of which spans {:.0} B/trace",
        buffer.len(),
        SPANS_PER_TRACE,
        otlp,
        grown >> 20,
        per_trace(grown),
        per_trace(grown) / otlp,
        per_trace(buffer.held_bytes()),
        per_trace(buffer.held_bytes()) / otlp,
        per_trace(buffer.span_bytes()),
    );
    drop(buffer);
    settle();
    let before = rss_bytes();
    let mut structs: Vec<ResourceSpans> = Vec::new();
    for i in 0..TRACES / PER_REQUEST {
        let bytes = request(i * PER_REQUEST, PER_REQUEST);
        structs.extend(ExportTraceServiceRequest::decode(bytes).expect("decodes").resource_spans);
    }
    settle();
    let grown = rss_bytes().saturating_sub(before);
    println!(
        "for comparison, the same traces as decoded prost structs: RSS +{} MiB = {:.0} B/trace ({:.2}x OTLP)",
        grown >> 20,
        per_trace(grown),
        per_trace(grown) / otlp
    );
    drop(structs);
}

/// Decides everything held, slice after slice, building the outgoing batches as the processor
/// does.
fn decide_all_due(buffer: &mut TraceBuffer, now: Instant, policies: &mut [NamedPolicy]) -> usize {
    let mut batches = 0;
    loop {
        let out = buffer.decide_due(now, None, |id, trace| decide(policies, &EvalContext { trace_id: id, trace, now_second: 1 }, false));
        let more = out.more;
        batches += out.sampled.finish().len();
        if !more {
            return batches;
        }
    }
}

fn per_span(c: &mut Criterion) {
    let mut group = c.benchmark_group("tail_sampling");
    const N: u64 = 200;
    group.throughput(Throughput::Elements(N * SPANS_PER_TRACE));
    let input = request(0, N);
    let mut policies = four_policies();
    group.bench_function("hold_decide_release_1000_spans_4_policies", |b| {
        b.iter_batched(
            || input.clone(),
            |bytes| {
                let mut buffer = TraceBuffer::new(50_000, 0, 0, 0);
                let now = Instant::now();
                buffer.add(&Batch::from_request(&bytes, None).expect("bench request"), now);
                decide_all_due(&mut buffer, now, &mut policies)
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn decide_all(c: &mut Criterion) {
    let mut policies = four_policies();
    let now = Instant::now();
    c.bench_function("tail_sampling/decide_100k_held_traces", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut buffer = TraceBuffer::new(TRACES as usize, 0, 0, 0);
                hold_all(&mut buffer, now);
                let t = Instant::now();
                decide_all_due(&mut buffer, now, &mut policies);
                total += t.elapsed();
            }
            total
        })
    });
}

fn through_the_spill(c: &mut Criterion) {
    let mut group = c.benchmark_group("tail_sampling");
    const N: u64 = 10_000;
    group.throughput(Throughput::Elements(N * SPANS_PER_TRACE));
    let requests: Vec<Bytes> = (0..N / PER_REQUEST).map(|i| request(i * PER_REQUEST, PER_REQUEST)).collect();
    let data: usize = requests.iter().map(Bytes::len).sum();
    let mut policies = four_policies();
    let dir = tempfile::tempdir().expect("temporary directory");
    group.bench_function("hold_spill_read_back_decide_50k_spans_budget_a_tenth", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut buffer = TraceBuffer::new(TRACES as usize, 0, 0, 0).with_memory_budget(Some(data / 10));
                buffer.set_spill(Spill::open(dir.path()).expect("spill"));
                let now = Instant::now();
                let t = Instant::now();
                for bytes in &requests {
                    buffer.add(&Batch::from_request(bytes, None).expect("bench request"), now);
                }
                decide_all_due(&mut buffer, now, &mut policies);
                total += t.elapsed();
                assert!(buffer.spill_totals().read_back_traces > N / 2, "the spill was used");
            }
            total
        })
    });
    group.finish();
}

fn memory(_: &mut Criterion) {
    print_memory();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(5));
    targets = memory, per_span, decide_all, through_the_spill
}

fn main() {
    if std::env::args().any(|a| a == "--memory-only") {
        print_memory();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
