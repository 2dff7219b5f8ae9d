//! A batch is stored the same whichever form it reaches the store in: the request bytes the
//! OTLP receiver checked, or the structs Jaeger, Zipkin and OTLP/JSON are translated into
//! (`crate::write` reads each in its own form).

use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, ArrayValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use tracegate_core::{Exporter, Traces};

use crate::tests::{ago, config};
use crate::SledExporter;

fn kv(k: &str, v: Value) -> KeyValue {
    KeyValue { key: k.into(), value: Some(AnyValue { value: Some(v) }), key_strindex: 0 }
}

fn text(s: impl Into<String>) -> Value {
    Value::StringValue(s.into())
}

/// Spans whose attributes exercise every choice the writer makes: values that repeat (the
/// column cache hits), values that never do (a column stops caching and deduplicating), every
/// value shape, events, links, scopes with attributes, resources with and without attributes.
fn batch() -> Vec<ResourceSpans> {
    let start = ago(120).duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_nanos() as u64;
    let span = |i: u64| {
        let trace = (i % 7) as u8 + 1;
        let mut attributes = vec![
            kv("http.method", text(if i.is_multiple_of(3) { "POST" } else { "GET" })),
            kv("request.id", text(format!("req-{i:06}-{}", i * 7919))),
            // Mostly new values, then repeats: the column stops caching before they come.
            kv("user.id", text(format!("user-{}", i % 97))),
            kv("http.status_code", Value::IntValue(200 + (i % 4) as i64)),
            kv("size", Value::IntValue((i * 104_729) as i64)),
            kv("ratio", Value::DoubleValue(i as f64 / 8.0)),
            kv("cache.hit", Value::BoolValue(i.is_multiple_of(2))),
        ];
        if i.is_multiple_of(5) {
            attributes.push(kv("tags", Value::ArrayValue(ArrayValue { values: vec![AnyValue { value: Some(text("a")) }] })));
            attributes.push(kv("raw", Value::BytesValue(vec![0xab, i as u8])));
            attributes.push(KeyValue { key: "absent".into(), value: None, key_strindex: 0 });
            attributes.push(KeyValue { key: "empty".into(), value: Some(AnyValue { value: None }), key_strindex: 0 });
        }
        Span {
            trace_id: vec![trace; 16],
            span_id: (i + 1).to_be_bytes().to_vec(),
            parent_span_id: if i.is_multiple_of(7) { Vec::new() } else { 1u64.to_be_bytes().to_vec() },
            name: format!("op-{}", i % 9),
            kind: (i % 6) as i32,
            start_time_unix_nano: start + i * 1_000_000,
            end_time_unix_nano: start + i * 1_000_000 + (i % 11) * 250_000,
            attributes,
            events: if i.is_multiple_of(4) {
                vec![Event { time_unix_nano: start + i, name: "retry".into(), attributes: vec![kv("attempt", Value::IntValue(i as i64))], ..Default::default() }]
            } else {
                Vec::new()
            },
            links: if i.is_multiple_of(13) {
                vec![Link { trace_id: vec![9; 16], span_id: vec![1; 8], attributes: vec![kv("reason", text("batch"))], ..Default::default() }]
            } else {
                Vec::new()
            },
            status: (i % 3 == 1).then(|| Status { code: (i % 3) as i32 + 1, message: "oops".into() }),
            trace_state: if i.is_multiple_of(17) { "k=v".into() } else { String::new() },
            flags: if i.is_multiple_of(19) { 257 } else { 0 },
            dropped_attributes_count: (i.is_multiple_of(23)) as u32,
            ..Default::default()
        }
    };
    let scope = InstrumentationScope { name: "lib".into(), version: "1.2".into(), attributes: vec![kv("team", Value::IntValue(7))], dropped_attributes_count: 0 };
    let resource = |service: &str| Resource {
        attributes: vec![kv("service.name", text(service)), kv("host.name", text("h1"))],
        ..Default::default()
    };
    // Past `PAGE_SPANS` (512), so the page table is compared too.
    let mut spans = (0..1200).map(span);
    vec![
        ResourceSpans {
            resource: Some(resource("frontend")),
            scope_spans: vec![
                ScopeSpans { scope: Some(scope.clone()), spans: spans.by_ref().take(150).collect(), schema_url: "s1".into() },
                ScopeSpans { scope: None, spans: spans.by_ref().take(50).collect(), schema_url: String::new() },
            ],
            schema_url: "r1".into(),
        },
        ResourceSpans {
            resource: Some(resource("cart")),
            scope_spans: vec![ScopeSpans { scope: Some(scope), spans: spans.by_ref().take(150).collect(), schema_url: String::new() }],
            schema_url: String::new(),
        },
        ResourceSpans { resource: None, scope_spans: vec![ScopeSpans { scope: None, spans: spans.collect(), schema_url: String::new() }], schema_url: String::new() },
    ]
}

/// Every key and value the store holds: blocks (resolved from their files), summaries, trace
/// index, dependencies, operations and the key catalog.
fn contents(exporter: &SledExporter) -> Vec<(String, Vec<u8>, Vec<u8>)> {
    let shared = exporter.shared_for_test();
    let mut out = Vec::new();
    for p in shared.partitions_between(0, u64::MAX) {
        for entry in p.blocks.iter() {
            let (k, v) = entry.expect("entry");
            let v = if k.len() == 8 { p.file.resolve(&v).expect("block").into_owned() } else { v.to_vec() };
            out.push((format!("blocks {}", p.start), k.to_vec(), v));
        }
        for entry in p.index.iter() {
            let (k, v) = entry.expect("entry");
            out.push((format!("index {}", p.start), k.to_vec(), v.to_vec()));
        }
    }
    for entry in shared.meta.iter() {
        let (k, v) = entry.expect("entry");
        out.push(("meta".into(), k.to_vec(), v.to_vec()));
    }
    out
}

#[tokio::test]
async fn a_batch_of_structs_is_stored_as_its_bytes_would_be() {
    let decoded = Traces::new(batch());
    let bytes = Traces::from_protobuf(decoded.encode_request()).expect("valid OTLP");
    assert!(bytes.is_encoded() && !decoded.is_encoded());
    let mut stored = Vec::new();
    for form in [decoded, bytes] {
        let dir = tempfile::tempdir().expect("temp dir");
        let exporter = SledExporter::open(config(dir.path())).expect("open");
        exporter.export(form).await.expect("export");
        exporter.flush().await.expect("flush");
        stored.push(contents(&exporter));
    }
    assert!(stored[0].iter().any(|(tree, _, _)| tree.starts_with("blocks")), "a block was written");
    assert_eq!(stored[0].len(), stored[1].len());
    for (a, b) in stored[0].iter().zip(&stored[1]) {
        assert_eq!(a, b, "the same keys and values, block bytes included");
    }
}
