//! What `GET /api/traces/{id}` costs for a 10,000-span trace (issue 5: the web UI should open
//! one in under a second, and the API's answer was the bottleneck): 10 services of 1,000 spans,
//! 10 attributes per span, two events on every fifth span, a tree four wide. Each request goes
//! through the real router with `oneshot`, as the crate's tests do, so the figure holds the
//! store read, the OTLP -> Jaeger UI conversion, the clock-skew pass, serialization and the
//! body collection — everything but the socket.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use http_body_util::BodyExt;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::Event;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use tower::ServiceExt;
use tracegate_core::{Exporter, Traces};
use tracegate_exporter_memory::MemoryStore;
use tracegate_extension_jaeger_query::{router, ApiState};

const SERVICES: usize = 10;
const SPANS_PER_SERVICE: usize = 1_000;
const SPANS: usize = SERVICES * SPANS_PER_SERVICE;
const TRACE_ID: [u8; 16] = [0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36];
const TRACE_HEX: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

fn span_id(i: usize) -> Vec<u8> {
    (i as u64 + 1).to_be_bytes().to_vec()
}

/// The big trace, one hour old so the default search window holds it.
fn big_trace() -> Traces {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let base = (now.as_micros() as u64 - 3_600_000_000) * 1000;
    let resources = (0..SERVICES)
        .map(|svc| {
            let spans = (0..SPANS_PER_SERVICE)
                .map(|j| {
                    let i = j * SERVICES + svc;
                    let start = base + i as u64 * 10_000;
                    let mut attributes: Vec<KeyValue> = (0..6).map(|a| kv(&format!("attr.{a}"), Value::StringValue(format!("value-{i}-{a}")))).collect();
                    attributes.push(kv("http.status_code", Value::IntValue(200)));
                    attributes.push(kv("retry", Value::BoolValue(i.is_multiple_of(7))));
                    attributes.push(kv("ratio", Value::DoubleValue(i as f64 / 3.0)));
                    attributes.push(kv("payload", Value::BytesValue(vec![1, 2, 3, 4])));
                    let events = if i.is_multiple_of(5) {
                        (0..2)
                            .map(|e| Event {
                                time_unix_nano: start + 1000 * (e + 1),
                                name: format!("event {e}"),
                                attributes: vec![kv("level", Value::StringValue("info".into()))],
                                ..Default::default()
                            })
                            .collect()
                    } else {
                        Vec::new()
                    };
                    Span {
                        trace_id: TRACE_ID.to_vec(),
                        span_id: span_id(i),
                        parent_span_id: if i == 0 { Vec::new() } else { span_id((i - 1) / 4) },
                        name: format!("operation {}", i % 50),
                        kind: 2,
                        start_time_unix_nano: start,
                        end_time_unix_nano: start + 5_000_000,
                        attributes,
                        events,
                        ..Default::default()
                    }
                })
                .collect();
            ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![
                        kv("service.name", Value::StringValue(format!("service-{svc}"))),
                        kv("host.name", Value::StringValue(format!("host-{svc}"))),
                        kv("ip", Value::StringValue(format!("10.0.0.{svc}"))),
                    ],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
                ..Default::default()
            }
        })
        .collect();
    Traces::new(resources)
}

async fn fetch(app: &axum::Router, uri: &str) -> usize {
    let request = Request::get(uri).body(Body::empty()).unwrap_or_default();
    let Ok(response) = app.clone().oneshot(request).await;
    assert_eq!(response.status(), StatusCode::OK, "{uri}");
    response.into_body().collect().await.map(|b| b.to_bytes().len()).unwrap_or(0)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap_or_else(|e| panic!("runtime: {e}"));
    let store = MemoryStore::new(10);
    rt.block_on(store.export(big_trace())).unwrap_or_else(|e| panic!("memory export: {e}"));
    // A non-zero maximum so the clock-skew pass runs, as it does with Jaeger's defaults off.
    let state = Arc::new(ApiState { reader: Arc::new(store), max_clock_skew: Duration::from_secs(1), live: Default::default(), bounds: Default::default() });
    let app = router(state, None);
    let one = format!("/api/traces/{TRACE_HEX}");
    let bytes = rt.block_on(fetch(&app, &one));
    eprintln!("one 10k-span trace: {bytes} bytes of JSON");

    let mut group = c.benchmark_group("api_traces_10k_spans");
    group.throughput(Throughput::Elements(SPANS as u64));
    group.sample_size(20);
    for (name, uri) in [
        ("get", one.clone()),
        ("get_raw", format!("{one}?raw=true")),
        ("get_pretty", format!("{one}?prettyPrint=true")),
        ("search", "/api/traces?service=service-3&limit=20".to_string()),
    ] {
        group.bench_function(name, |b| b.iter(|| rt.block_on(fetch(&app, &uri))));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
