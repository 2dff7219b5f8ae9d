//! Decode + translate throughput of Jaeger Thrift, in spans/s.
//!
//! A realistic batch: 1000 spans, each with 10 tags of mixed types, a CHILD_OF reference and
//! (every 10th span) a 3-field log; a process with 5 tags. `decode_translate/*` is what a
//! receiver pays per batch; `decode_only` and `translate_only` split the compact figure.
//!
//! The machine is shared, so wall-clock figures swing with other load. Before the criterion runs,
//! the bench also prints spans per CPU-second of this thread (from /proc/thread-self/stat), which
//! other processes disturb far less.
//!
//! The allocator is the binary's (mimalloc): decoding is allocation-heavy (a String per tag key
//! and value), and with glibc malloc the figures are ~20-30% lower.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tracegate_translator_jaeger::thrift::{Batch, Log, Process, Span, SpanRef, SpanRefType, Tag};
use tracegate_translator_jaeger::{
    decode_batch_binary, decode_emit_batch_binary, decode_emit_batch_compact, encode_batch_binary,
    encode_emit_batch_binary, encode_emit_batch_compact, thrift_to_otlp,
};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SPANS: usize = 1000;

fn batch() -> Batch {
    let spans = (0..SPANS as i64)
        .map(|i| Span {
            trace_id_low: 0x5eed_0000 + i / 20,
            trace_id_high: 0x0102_0304_0506_0708,
            span_id: 0x1000 + i,
            parent_span_id: 0x0fff + i,
            operation_name: format!("GET /api/v1/items/{}", i % 17),
            references: vec![SpanRef {
                ref_type: SpanRefType::ChildOf,
                trace_id_low: 0x5eed_0000 + i / 20,
                trace_id_high: 0x0102_0304_0506_0708,
                span_id: 0x0fff + i,
            }],
            flags: 1,
            start_time: 1_700_000_000_000_000 + i * 37,
            duration: 1_200 + i % 300,
            tags: vec![
                Tag::string("span.kind", if i % 2 == 0 { "server" } else { "client" }),
                Tag::string("http.method", "GET"),
                Tag::string(
                    "http.url",
                    "http://inventory.internal:8080/api/v1/items?limit=50",
                ),
                Tag::long("http.status_code", 200),
                Tag::string("component", "net/http"),
                Tag::string("peer.service", "inventory"),
                Tag::long("db.rows", i % 50),
                Tag::double("sampler.param", 0.25),
                Tag::bool("cache.hit", i % 3 == 0),
                Tag::string("internal.span.format", "jaeger"),
            ],
            logs: if i % 10 == 0 {
                vec![Log {
                    timestamp: 1_700_000_000_000_500 + i * 37,
                    fields: vec![
                        Tag::string("event", "retry"),
                        Tag::string("message", "upstream timed out, retrying"),
                        Tag::long("attempt", 2),
                    ],
                }]
            } else {
                Vec::new()
            },
        })
        .collect();
    Batch {
        process: Process {
            service_name: "checkout".into(),
            tags: vec![
                Tag::string("jaeger.version", "Go-2.30.0"),
                Tag::string("hostname", "checkout-7d9f8b6c5-x2k4q"),
                Tag::string("ip", "10.42.3.17"),
                Tag::string("client-uuid", "5f0c8e3a9b1d2c47"),
                Tag::bool("sampler.debug", false),
            ],
        },
        spans,
        seq_no: None,
        stats: None,
    }
}

fn bench(c: &mut Criterion) {
    let b = batch();
    let compact = encode_emit_batch_compact(&b);
    let binary = encode_emit_batch_binary(&b);
    let http = encode_batch_binary(&b);
    // Check once, before timing, that each encoding decodes to the full batch.
    for (name, n) in [
        (
            "compact",
            decode_emit_batch_compact(&compact).map(|b| b.spans.len()),
        ),
        (
            "binary",
            decode_emit_batch_binary(&binary).map(|b| b.spans.len()),
        ),
        ("http", decode_batch_binary(&http).map(|b| b.spans.len())),
    ] {
        assert_eq!(n.ok(), Some(SPANS), "{name} did not decode");
    }
    eprintln!(
        "payload bytes: compact {}, binary {}, http binary {}",
        compact.len(),
        binary.len(),
        http.len()
    );

    type Run<'a> = (&'a str, Box<dyn Fn() -> usize + 'a>);
    let runs: [Run; 3] = [
        (
            "compact",
            Box::new(|| {
                decode_emit_batch_compact(&compact)
                    .map(thrift_to_otlp)
                    .map_or(0, |r| r.len())
            }),
        ),
        (
            "binary",
            Box::new(|| {
                decode_emit_batch_binary(&binary)
                    .map(thrift_to_otlp)
                    .map_or(0, |r| r.len())
            }),
        ),
        (
            "http binary",
            Box::new(|| {
                decode_batch_binary(&http)
                    .map(thrift_to_otlp)
                    .map_or(0, |r| r.len())
            }),
        ),
    ];
    for (name, run) in runs {
        if let Some(per_cpu_second) = spans_per_cpu_second(run) {
            eprintln!("decode+translate {name}: {per_cpu_second:.0} spans per CPU-second");
        }
    }

    let mut g = c.benchmark_group("decode_translate");
    g.throughput(Throughput::Elements(SPANS as u64));
    g.bench_function("thrift_compact_emit_batch", |bench| {
        bench.iter(|| decode_emit_batch_compact(&compact).map(thrift_to_otlp))
    });
    g.bench_function("thrift_binary_emit_batch", |bench| {
        bench.iter(|| decode_emit_batch_binary(&binary).map(thrift_to_otlp))
    });
    g.bench_function("thrift_binary_http_batch", |bench| {
        bench.iter(|| decode_batch_binary(&http).map(thrift_to_otlp))
    });
    g.finish();

    let mut g = c.benchmark_group("split_compact");
    g.throughput(Throughput::Elements(SPANS as u64));
    g.bench_function("decode_only", |bench| {
        bench.iter(|| decode_emit_batch_compact(&compact))
    });
    g.bench_function("translate_only", |bench| {
        bench.iter_batched(|| b.clone(), thrift_to_otlp, BatchSize::SmallInput)
    });
    g.finish();
}

/// Runs `f` (one 1000-span batch per call) for about 2 CPU-seconds of this thread.
fn spans_per_cpu_second(f: Box<dyn Fn() -> usize + '_>) -> Option<f64> {
    let start = thread_cpu_seconds()?;
    let mut batches = 0u64;
    while thread_cpu_seconds()? - start < 2.0 {
        for _ in 0..20 {
            std::hint::black_box(f());
        }
        batches += 20;
    }
    Some(batches as f64 * SPANS as f64 / (thread_cpu_seconds()? - start))
}

/// utime + stime of the calling thread, in seconds (Linux clock ticks are 1/100 s).
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

criterion_group!(benches, bench);
criterion_main!(benches);
