//! What loading `redact` as a plugin costs against linking it: 1,000-span batches through
//! the same processor, once called directly (linked) and once through the C ABI of the real
//! cdylib (encode the batch to protobuf, call, plugin decodes / processes / encodes, host
//! decodes the result). Criterion's throughput line gives the per-span figure.
//!
//! `cargo bench -p tracegate-example-redact-processor` (the cdylib is built with the bench).
//!
//! Measured (2-core machine shared with ~8 builds, so absolute numbers are noisy; two
//! patterns, four string attributes per span, one in ten spans with a match):
//!
//! | path   | per 1,000-span batch | per span | spans/s |
//! | ---    | ---                  | ---      | ---     |
//! | linked | 1.08-1.42 ms         | ~1.1-1.4 µs | ~0.7-0.93 M |
//! | loaded | 9.6 ms               | ~9.6 µs  | ~104 k  |
//!
//! So the ABI costs ~8 ms per 1,000-span batch (~8 µs per span) here: four protobuf passes
//! (host encode, plugin decode, plugin encode, host decode) of a batch with ~200 B of
//! attributes per span, plus their allocations, dwarf the regex work. Ways to cut it, not done
//! yet: a processor status "unchanged" so the host skips the last decode and keeps its own
//! batch; or, for a processor that only edits attribute values, a field-level edit list
//! instead of the whole batch coming back.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use prost::Message;
use tracegate_core::plugins::dynamic::request_bytes;
use tracegate_core::Traces;
use tracegate_example_redact_processor::{Config, Redact};
use tracegate_plugin_abi::proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use tracegate_plugin_abi::proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use tracegate_plugin_abi::{ExportTraceServiceRequest, LoadedPlugin, PluginComponent, PluginProcessor};

const SPANS: usize = 1000;

fn batch() -> ExportTraceServiceRequest {
    let attr = |k: &str, v: String| KeyValue { key: k.into(), value: Some(AnyValue { value: Some(Value::StringValue(v)) }), ..Default::default() };
    let spans = (0..SPANS)
        .map(|i| Span {
            trace_id: vec![1; 16],
            span_id: (i as u64 + 1).to_be_bytes().to_vec(),
            name: format!("GET /orders/{i}"),
            start_time_unix_nano: 1_700_000_000_000_000_000 + i as u64,
            end_time_unix_nano: 1_700_000_000_000_100_000 + i as u64,
            attributes: vec![
                attr("http.url", format!("https://shop.example/orders/{i}?user=bob{i}@example.com")),
                attr("card", if i % 10 == 0 { "4111-1111-1111-1111".into() } else { "none".into() }),
                attr("http.method", "GET".into()),
                attr("peer.service", "payments".into()),
            ],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans { scope_spans: vec![ScopeSpans { spans, ..Default::default() }], ..Default::default() }],
    }
}

const CONFIG_JSON: &str = r#"{"patterns": ["\\d{4}-\\d{4}-\\d{4}-\\d{4}", "[a-z0-9]+@[a-z.]+"]}"#;

/// Cargo builds the crate's cdylib next to this bench binary (target/<profile>/deps), and
/// `cargo build` copies it one level up; either will do.
fn cdylib() -> PathBuf {
    let exe = std::env::current_exe().expect("bench binary path");
    let deps = exe.parent().expect("target/<profile>/deps");
    let name = format!("{}tracegate_example_redact_processor{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX);
    let candidates = [deps.join(&name), deps.parent().map(|p| p.join(&name)).unwrap_or_default()];
    let found = candidates.iter().find(|p| p.is_file()).cloned();
    found.unwrap_or_else(|| panic!("{} is missing; `cargo bench -p tracegate-example-redact-processor` builds it", candidates[0].display()))
}

fn bench(c: &mut Criterion) {
    let request = batch();
    let mut group = c.benchmark_group("redact_1000_spans");
    group.throughput(Throughput::Elements(SPANS as u64));

    let config: Config = serde_yaml_ng::from_str(CONFIG_JSON).expect("config");
    let linked = Redact::new(config).expect("valid config");
    group.bench_function("linked", |b| {
        b.iter_batched(|| request.clone(), |r| linked.process(r).expect("processed"), BatchSize::LargeInput)
    });

    let plugin = LoadedPlugin::load(&cdylib()).expect("plugin loads");
    let instance = plugin.components()[0].create(CONFIG_JSON.as_bytes()).expect("created");
    let traces = Traces::from(request.clone());
    group.bench_function("loaded", |b| {
        b.iter(|| {
            let bytes = request_bytes(&traces);
            let out = instance.call(&bytes).expect("processed");
            ExportTraceServiceRequest::decode(&*out).expect("decodes")
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
