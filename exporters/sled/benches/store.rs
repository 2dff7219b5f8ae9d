//! Store figures: ingest throughput and disk bytes per span (criterion), then query latency
//! percentiles on a store of `SLED_BENCH_SPANS` spans (default 1M) built once, printed as
//! `name value unit` lines (criterion's mean-of-iterations shape does not give p99).
//!
//! Spans look like `../shared/tools/limits`'s: 10 attributes (6 strings of 8-40 B, 2 ints, a
//! bool, a double) under semconv keys, 10 spans per trace, an event on every 10th span, 5
//! resource attributes; 1000-span batches.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{criterion_group, Criterion, Throughput};
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::Event;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use tracegate_core::storage::{TraceQuery, TraceReader};
use tracegate_core::{Exporter, Traces};
use tracegate_exporter_sled::{Config, SledExporter};

const SERVICES: [&str; 5] = ["frontend", "checkout", "payments", "inventory", "shipping"];

struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn kv(k: &str, v: Value) -> KeyValue {
    KeyValue { key: k.into(), value: Some(AnyValue { value: Some(v) }), ..Default::default() }
}

fn s(v: String) -> Value {
    Value::StringValue(v)
}

/// One 1000-span batch (one resource per service), spans starting around `now_ns`.
fn make_batch(g: &mut Gen, now_ns: u64) -> Traces {
    let mut per_service: Vec<Vec<Span>> = vec![Vec::new(); SERVICES.len()];
    for _ in 0..100 {
        let (hi, lo) = (g.next(), g.next());
        let trace_id = [hi.to_be_bytes(), lo.to_be_bytes()].concat();
        let root = g.next().to_be_bytes().to_vec();
        for i in 0..10u64 {
            let svc = (g.next() % SERVICES.len() as u64) as usize;
            let span_id = if i == 0 { root.clone() } else { g.next().to_be_bytes().to_vec() };
            let start = now_ns - (g.next() % 1_000_000_000);
            let dur = 1_000_000 + (g.next() % 1000).pow(2) * 1000; // 1 ms .. ~1 s, skewed short
            let route = g.next() % 40;
            let user = g.next() % 10_000;
            let mut span = Span {
                trace_id: trace_id.clone(),
                span_id,
                parent_span_id: if i == 0 { Vec::new() } else { root.clone() },
                name: format!("GET /api/v1/route{route}"),
                kind: if i == 0 { 2 } else { 3 },
                start_time_unix_nano: start,
                end_time_unix_nano: start + dur,
                attributes: vec![
                    kv("http.request.method", s("GET".into())),
                    kv("url.path", s(format!("/api/v1/route{route}/items/{}", g.next() % 100_000))),
                    kv("http.route", s(format!("/api/v1/route{route}/items/:id"))),
                    kv("user.id", s(format!("user-{user}"))),
                    kv("net.peer.name", s(format!("{}.svc.cluster.local", SERVICES[(route % 5) as usize]))),
                    kv("user_agent.original", s("Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0".into())),
                    kv("http.response.status_code", Value::IntValue(if g.next().is_multiple_of(50) { 500 } else { 200 })),
                    kv("http.response.body.size", Value::IntValue((g.next() % 20_000) as i64)),
                    kv("cache.hit", Value::BoolValue(g.next().is_multiple_of(2))),
                    kv("sampling.ratio", Value::DoubleValue(0.25)),
                ],
                ..Default::default()
            };
            if i == 9 {
                span.events.push(Event {
                    time_unix_nano: start + 10,
                    name: "exception".into(),
                    attributes: vec![
                        kv("exception.type", s("java.io.IOException".into())),
                        kv("exception.message", s(format!("connection reset by peer {}", g.next() % 100))),
                    ],
                    dropped_attributes_count: 0,
                });
            }
            per_service[svc].push(span);
        }
    }
    let rs = per_service
        .into_iter()
        .enumerate()
        .map(|(i, spans)| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", s(SERVICES[i].into())),
                    kv("service.version", s("1.4.2".into())),
                    kv("host.name", s(format!("node-{i}.example.internal"))),
                    kv("telemetry.sdk.language", s("java".into())),
                    kv("k8s.pod.name", s(format!("{}-7f9c6d-x2k{i}", SERVICES[i]))),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            schema_url: String::new(),
        })
        .collect();
    Traces::new(rs)
}

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

fn du(path: &std::path::Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(path) {
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => total += du(&e.path()),
                Ok(m) => total += std::os::unix::fs::MetadataExt::blocks(&m) * 512,
                Err(_) => {}
            }
        }
    }
    total
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime")
}

fn ingest(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let exporter = SledExporter::open(Config { path: dir.path().join("db"), ..Config::default() }).expect("open");
    let mut g = Gen(7);
    let batches: Vec<Traces> = (0..200).map(|_| make_batch(&mut g, now_ns())).collect();
    let mut i = 0;
    let mut written = 0u64;
    let mut group = c.benchmark_group("sled");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("ingest_1000_span_batch", |b| {
        b.iter(|| {
            let batch = batches[i % batches.len()].clone();
            i += 1;
            written += 1000;
            rt.block_on(exporter.export(batch)).expect("export");
        })
    });
    group.finish();
    rt.block_on(exporter.flush()).expect("flush");
    // The batches repeat (every 200th is a retry of an earlier one), so count distinct spans.
    let distinct = written.min(200_000);
    if distinct == 0 {
        return; // filtered out by a criterion argument
    }
    println!("sled_disk_per_span {:.1} bytes/span ({} spans written)", du(dir.path()) as f64 / distinct as f64, written);
}

/// This process's user+system CPU time (Linux `/proc/self/stat`, 10 ms ticks), so figures
/// taken on a loaded machine can be read per CPU second as well as per wall second.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<u64> = after_name.split_whitespace().skip(11).take(2).filter_map(|f| f.parse().ok()).collect();
    Duration::from_millis(fields.iter().sum::<u64>() * 10)
}

fn percentiles(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let p = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!("{name}_p50 {:.3} ms", p(0.5).as_secs_f64() * 1e3);
    println!("{name}_p99 {:.3} ms", p(0.99).as_secs_f64() * 1e3);
}

/// Builds the big store once, then times queries one at a time.
fn queries() {
    let spans: usize = std::env::var("SLED_BENCH_SPANS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let level = std::env::var("SLED_BENCH_LEVEL").ok().and_then(|v| v.parse().ok()).unwrap_or(Config::default().compression_level);
    let config = Config { path: dir.path().join("db"), compression_level: level, ..Config::default() };
    let exporter = SledExporter::open(config).expect("open");
    let mut g = Gen(11);
    let mut trace_ids = Vec::new();
    let base = now_ns() - 30 * 60 * 1_000_000_000;
    let batches = spans / 1000;
    let t0 = Instant::now();
    let cpu0 = cpu_time();
    for n in 0..batches {
        // Spread over 30 minutes of start times.
        let batch = make_batch(&mut g, base + (n as u64) * 1_800_000_000_000 / batches as u64);
        if n % 10 == 0 {
            let t = &batch.resource_spans()[0].scope_spans[0].spans[0].trace_id;
            let mut id = [0u8; 16];
            id.copy_from_slice(t);
            trace_ids.push(id);
        }
        rt.block_on(exporter.export(batch)).expect("export");
    }
    rt.block_on(exporter.flush()).expect("flush");
    let fill = t0.elapsed();
    let fill_cpu = cpu_time().saturating_sub(cpu0);
    println!("sled_fill {:.0} spans/s ({} spans)", (batches * 1000) as f64 / fill.as_secs_f64(), batches * 1000);
    // Includes generating the spans (the bench's own work), so the store alone does better.
    println!("sled_fill_per_cpu_second {:.0} spans/s", (batches * 1000) as f64 / fill_cpu.as_secs_f64().max(0.01));
    println!("sled_fill_disk_per_span {:.1} bytes/span", du(dir.path()) as f64 / (batches * 1000) as f64);
    let reader: Arc<dyn TraceReader> = Arc::new(exporter.reader());

    let get: Vec<Duration> = (0..500)
        .map(|i| {
            let id = trace_ids[(g.next() as usize + i) % trace_ids.len()];
            let t = Instant::now();
            let found = rt.block_on(reader.get_trace(id)).expect("get_trace");
            assert!(found.is_some());
            t.elapsed()
        })
        .collect();
    percentiles("get_trace", get);

    let runs: usize = std::env::var("SLED_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(100).max(1);
    let only = std::env::var("SLED_BENCH_ONLY").unwrap_or_default();
    let mut timed = |name: &str, make: &dyn Fn(&mut Gen) -> TraceQuery| {
        if !name.contains(only.as_str()) {
            return;
        }
        let cpu0 = cpu_time();
        let samples = (0..runs)
            .map(|_| {
                let q = make(&mut g);
                let t = Instant::now();
                let ids = rt.block_on(reader.find_trace_ids(&q)).expect("find");
                let elapsed = t.elapsed();
                assert!(ids.len() <= 20);
                elapsed
            })
            .collect();
        println!("{name}_cpu_mean {:.3} ms", cpu_time().saturating_sub(cpu0).as_secs_f64() * 1e3 / runs as f64);
        percentiles(name, samples);
    };
    let svc = |g: &mut Gen| SERVICES[(g.next() % 5) as usize].to_string();
    timed("find_service", &|g| TraceQuery { service: svc(g), limit: 20, ..Default::default() });
    timed("find_service_operation", &|g| TraceQuery {
        service: svc(g),
        operation: Some(format!("GET /api/v1/route{}", g.next() % 40)),
        limit: 20,
        ..Default::default()
    });
    timed("find_service_tag", &|g| TraceQuery {
        service: svc(g),
        tags: [("user.id".to_string(), format!("user-{}", g.next() % 10_000))].into(),
        limit: 20,
        ..Default::default()
    });
    timed("find_service_duration", &|g| TraceQuery {
        service: svc(g),
        duration_min: Some(Duration::from_millis(900)),
        limit: 20,
        ..Default::default()
    });
    drop(reader);
    drop(exporter);
    breakdown(&dir.path().join("db"), (batches * 1000) as f64);
}

/// What the disk figure is made of: logical key+value bytes per kind of entry, per span,
/// against the files' size (the rest is sled's log overhead and space amplification).
fn breakdown(path: &std::path::Path, spans: f64) {
    let conf = String::from_utf8_lossy(&std::fs::read(path.join("conf")).unwrap_or_default()).into_owned();
    let segment = conf.lines().find_map(|l| l.strip_prefix("segment_size: ")?.trim().parse().ok()).unwrap_or(512 * 1024);
    let db = match sled::Config::new().path(path).segment_size(segment).open() {
        Ok(db) => db,
        Err(e) => return println!("sled_breakdown unavailable: {e}"),
    };
    let mut sizes: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    for name in db.tree_names() {
        let Ok(tree) = db.open_tree(&name) else { continue };
        for (k, v) in tree.iter().flatten() {
            let kind = match name.first() {
                // Summary keys are `s`+seq; block keys are the big-endian seq (first byte 0).
                Some(b'b') if k.first() == Some(&b's') => "summaries".to_string(),
                Some(b'b') => "blocks".to_string(),
                Some(b'x') => format!("index_{}", char::from(k.first().copied().unwrap_or(b'?'))),
                _ => String::from_utf8_lossy(&name).into_owned(),
            };
            let e = sizes.entry(kind).or_default();
            e.0 += 1;
            e.1 += (k.len() + v.len()) as u64;
        }
    }
    for (kind, (n, bytes)) in sizes {
        println!("sled_logical_{kind} {:.1} bytes/span ({n} entries)", bytes as f64 / spans);
    }
    drop(db);
    println!("sled_files {:.1} bytes/span", du(path) as f64 / spans);
    for e in std::fs::read_dir(path).into_iter().flatten().flatten() {
        println!("sled_file_{} {:.1} bytes/span", e.file_name().to_string_lossy(), du_one(&e.path()) as f64 / spans);
    }
}

fn du_one(path: &std::path::Path) -> u64 {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => du(path),
        Ok(m) => std::os::unix::fs::MetadataExt::blocks(&m) * 512,
        Err(_) => 0,
    }
}

criterion_group!(benches, ingest);

fn main() {
    benches();
    if std::env::var_os("SLED_BENCH_SKIP_QUERIES").is_none() {
        queries();
    }
    Criterion::default().configure_from_args().final_summary();
}
