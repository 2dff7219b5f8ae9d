//! Ingest cost of one 1000-span batch, by how the batch reaches the exporter: as the OTLP
//! request bytes the receiver checked (`Traces::from_checked`, what the OTLP receiver and the
//! batch processor hand on) or as decoded prost structs (Jaeger and Zipkin receivers, or after
//! a processor changed the batch). Each iteration writes a fresh handle, so a byte batch is
//! never found already decoded. Spans as in `store.rs`: 10 attributes, 10 spans per trace, an
//! event on every 10th span, 5 services, 5 resource attributes.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use criterion::{criterion_group, Criterion, Throughput};
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::Event;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use tracegate_pdata::validate::validate_request;
use tracegate_core::{Exporter, Traces};
use tracegate_exporter_sled::{Config, SledExporter};

const SERVICES: [&str; 5] = ["frontend", "checkout", "payments", "inventory", "shipping"];
const BATCHES: usize = 200;

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

fn make_batch(g: &mut Gen, now_ns: u64) -> Vec<ResourceSpans> {
    let mut per_service: Vec<Vec<Span>> = vec![Vec::new(); SERVICES.len()];
    for _ in 0..100 {
        let trace_id = [g.next().to_be_bytes(), g.next().to_be_bytes()].concat();
        let root = g.next().to_be_bytes().to_vec();
        for i in 0..10u64 {
            let svc = (g.next() % SERVICES.len() as u64) as usize;
            let span_id = if i == 0 { root.clone() } else { g.next().to_be_bytes().to_vec() };
            let start = now_ns - (g.next() % 1_000_000_000);
            let dur = 1_000_000 + (g.next() % 1000).pow(2) * 1000;
            let route = g.next() % 40;
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
                    kv("user.id", s(format!("user-{}", g.next() % 10_000))),
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
    per_service
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
        .collect()
}

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

fn ingest(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let mut g = Gen(7);
    let decoded: Vec<Traces> = (0..BATCHES).map(|_| Traces::new(make_batch(&mut g, now_ns()))).collect();
    let encoded: Vec<Bytes> = decoded.iter().map(Traces::encode_request).collect();
    // The receiver's check, done once: it is not the store's cost.
    let summaries: Vec<_> = encoded.iter().map(|b| validate_request(b).expect("valid request")).collect();
    let mut group = c.benchmark_group("sled_ingest");
    group.throughput(Throughput::Elements(1000));
    for (name, bytes) in [("bytes_1000_span_batch", true), ("decoded_1000_span_batch", false)] {
        let dir = tempfile::tempdir().expect("temp dir");
        let exporter = SledExporter::open(Config { path: dir.path().join("db"), ..Config::default() }).expect("open");
        let mut i = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                let n = i % BATCHES;
                i += 1;
                let batch = if bytes {
                    Traces::from_checked(encoded[n].clone(), summaries[n])
                } else {
                    decoded[n].clone()
                };
                rt.block_on(exporter.export(batch)).expect("export");
            })
        });
    }
    group.finish();
    // Wall time on a shared machine counts other people's work; CPU time of this process
    // (user + system, every thread) per span is the steadier figure.
    for (name, bytes) in [("bytes", true), ("decoded", false)] {
        let dir = tempfile::tempdir().expect("temp dir");
        let exporter = SledExporter::open(Config { path: dir.path().join("db"), ..Config::default() }).expect("open");
        let cpu0 = cpu_time();
        for n in 0..BATCHES {
            let batch = if bytes { Traces::from_checked(encoded[n].clone(), summaries[n]) } else { decoded[n].clone() };
            rt.block_on(exporter.export(batch)).expect("export");
        }
        let us = (cpu_time() - cpu0).as_secs_f64() * 1e6 / (BATCHES * 1000) as f64;
        rt.block_on(exporter.flush()).expect("flush");
        let disk = du(dir.path()) as f64 / (BATCHES * 1000) as f64;
        println!("sled_ingest_cpu_{name} {us:.2} us/span ({:.0} spans per CPU second), disk {disk:.1} B/span", 1e6 / us);
    }
}

/// Bytes a directory takes on disk, recursively.
fn du(path: &std::path::Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(path).into_iter().flatten().flatten() {
        match e.metadata() {
            Ok(m) if m.is_dir() => total += du(&e.path()),
            Ok(m) => total += m.len(),
            Err(_) => {}
        }
    }
    total
}

/// This process's user+system CPU time (Linux `/proc/self/stat`, 10 ms ticks).
fn cpu_time() -> std::time::Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<u64> = after_name.split_whitespace().skip(11).take(2).filter_map(|f| f.parse().ok()).collect();
    std::time::Duration::from_millis(fields.iter().sum::<u64>() * 10)
}

/// `SLED_INGEST_ONLY=bytes:N` (or `decoded:N`): export the first N batches in that form and
/// exit, without criterion, for an instruction count that load on the machine does not move:
/// `valgrind --tool=cachegrind --cache-sim=no target/release/deps/ingest-* --bench` at N and at
/// 0; the difference over N * 1000 spans is the instructions per span (the exporter's
/// background threads included).
fn fixed_run(spec: &str) {
    let (form, n) = spec.split_once(':').unwrap_or((spec, "200"));
    let n: usize = n.parse().expect("SLED_INGEST_ONLY=<bytes|decoded>:<batches>");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let mut g = Gen(7);
    let decoded: Vec<Traces> = (0..BATCHES).map(|_| Traces::new(make_batch(&mut g, now_ns()))).collect();
    let encoded: Vec<Bytes> = decoded.iter().map(Traces::encode_request).collect();
    let summaries: Vec<_> = encoded.iter().map(|b| validate_request(b).expect("valid request")).collect();
    let spans = (BATCHES * 1000) as f64;
    let heap: usize = decoded.iter().map(|t| heap_bytes(t.resource_spans())).sum();
    let wire: usize = encoded.iter().map(Bytes::len).sum();
    eprintln!("per span: {:.0} B as request bytes, {:.0} B as structs (heap by capacity)", wire as f64 / spans, heap as f64 / spans);
    let dir = tempfile::tempdir().expect("temp dir");
    let exporter = SledExporter::open(Config { path: dir.path().join("db"), ..Config::default() }).expect("open");
    for i in 0..n {
        let k = i % BATCHES;
        let batch = if form == "bytes" { Traces::from_checked(encoded[k].clone(), summaries[k]) } else { decoded[k].clone() };
        rt.block_on(exporter.export(batch)).expect("export");
    }
    rt.block_on(exporter.flush()).expect("flush");
}

/// What a batch of structs holds in memory, by allocated capacity (before the allocator's
/// rounding): what the store's open block keeps per decoded batch until the block is cut.
fn heap_bytes(rs: &[ResourceSpans]) -> usize {
    use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
    use std::mem::size_of;
    fn value(v: &Option<AnyValue>) -> usize {
        match v.as_ref().and_then(|v| v.value.as_ref()) {
            Some(V::StringValue(s)) => s.capacity(),
            Some(V::BytesValue(b)) => b.capacity(),
            Some(V::ArrayValue(a)) => a.values.capacity() * size_of::<AnyValue>() + a.values.iter().map(|v| value(&Some(v.clone()))).sum::<usize>(),
            Some(V::KvlistValue(l)) => attrs(&l.values),
            _ => 0,
        }
    }
    fn attrs(kvs: &Vec<KeyValue>) -> usize {
        kvs.capacity() * size_of::<KeyValue>() + kvs.iter().map(|kv| kv.key.capacity() + value(&kv.value)).sum::<usize>()
    }
    let span = |s: &Span| {
        s.trace_id.capacity()
            + s.span_id.capacity()
            + s.parent_span_id.capacity()
            + s.trace_state.capacity()
            + s.name.capacity()
            + attrs(&s.attributes)
            + s.events.capacity() * size_of::<Event>()
            + s.events.iter().map(|e| e.name.capacity() + attrs(&e.attributes)).sum::<usize>()
            + s.links.capacity() * size_of::<opentelemetry_proto::tonic::trace::v1::span::Link>()
            + s.status.as_ref().map_or(0, |st| st.message.capacity())
    };
    std::mem::size_of_val(rs)
        + rs.iter()
            .map(|r| {
                r.resource.as_ref().map_or(0, |res| attrs(&res.attributes))
                    + r.scope_spans.capacity() * size_of::<ScopeSpans>()
                    + r.scope_spans.iter().map(|ss| ss.spans.capacity() * size_of::<Span>() + ss.spans.iter().map(span).sum::<usize>()).sum::<usize>()
            })
            .sum::<usize>()
}

criterion_group!(benches, ingest);

fn main() {
    if let Ok(spec) = std::env::var("SLED_INGEST_ONLY") {
        fixed_run(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
