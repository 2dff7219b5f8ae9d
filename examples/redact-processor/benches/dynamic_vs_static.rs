//! What loading `redact` as a plugin costs against linking it: 1,000-span batches through
//! the same processor, once called directly (linked) and once through the C ABI of the real
//! cdylib (encode the batch to protobuf, call, plugin decodes / processes / encodes, host
//! decodes the result). Criterion's throughput line gives the per-span figure.
//!
//! `cargo bench -p tracegate-example-redact-processor` (the cdylib is built with the bench).

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use prost::Message;
use tracegate_core::plugins::dynamic::encode_request;
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

fn cdylib() -> PathBuf {
    let exe = std::env::current_exe().expect("bench binary path");
    let profile = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>/deps");
    let name = format!("{}tracegate_example_redact_processor{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX);
    let path = profile.join(name);
    assert!(path.is_file(), "{} is missing; `cargo bench -p tracegate-example-redact-processor` builds it", path.display());
    path
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
            let bytes = encode_request(&traces);
            let out = instance.call(&bytes).expect("processed");
            ExportTraceServiceRequest::decode(&*out).expect("decodes")
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
