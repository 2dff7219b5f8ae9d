//! What checking an OTLP request in place costs against decoding it with prost, per span, on
//! load-generator-like spans (10 attributes of mixed types, one resource, 1000 spans).
//! `cargo bench -p tracegate-pdata --bench otlp_wire`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use tracegate_pdata::validate::validate_request;

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

fn request(spans: usize) -> Vec<u8> {
    let span = |i: usize| Span {
        trace_id: (i as u128 + 1).to_be_bytes().to_vec(),
        span_id: (i as u64 + 1).to_be_bytes().to_vec(),
        parent_span_id: (i as u64).to_be_bytes().to_vec(),
        name: format!("GET /api/v1/items/{}", i % 20),
        kind: 2,
        start_time_unix_nano: 1_700_000_000_000_000_000 + i as u64,
        end_time_unix_nano: 1_700_000_000_000_500_000 + i as u64,
        attributes: vec![
            kv("http.method", Value::StringValue("GET".into())),
            kv("http.route", Value::StringValue("/api/v1/items/{id}".into())),
            kv("http.status_code", Value::IntValue(200)),
            kv("net.peer.name", Value::StringValue("db-7.internal".into())),
            kv("db.system", Value::StringValue("postgresql".into())),
            kv("user.id", Value::StringValue(format!("user-{}", i % 5000))),
            kv("retry", Value::BoolValue(false)),
            kv("ratio", Value::DoubleValue(0.25)),
            kv("thread.id", Value::IntValue(i as i64 % 64)),
            kv("component", Value::StringValue("http-server".into())),
        ],
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", Value::StringValue("checkout".into()))],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans { spans: (0..spans).map(span).collect(), ..Default::default() }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn bench(c: &mut Criterion) {
    let bytes = request(1000);
    let mut group = c.benchmark_group("otlp_request_1000_spans");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("validate_in_place", |b| b.iter(|| validate_request(&bytes).map(|s| s.spans)));
    group.bench_function("prost_decode", |b| {
        b.iter(|| ExportTraceServiceRequest::decode(bytes.as_slice()).map(|r| r.resource_spans.len()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
