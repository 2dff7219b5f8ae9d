//! Hand-built OTLP: two services, every attribute type, events, links, parent references,
//! a 64-bit and a 128-bit trace id, and one resource repeated to test process sharing.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use tower::ServiceExt;
use tracegate_core::{Exporter, Traces};
use tracegate_exporter_memory::MemoryStore;

use crate::{router, ApiState};

/// The 64-bit trace: high half zero.
pub const TRACE_A: [u8; 16] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xa1];
pub const TRACE_A_HEX: &str = "00000000000000a1";
/// The 128-bit trace.
pub const TRACE_B: [u8; 16] = [1, 2, 3, 4, 5, 6, 7, 8, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18];
pub const TRACE_B_HEX: &str = "01020304050607081112131415161718";

pub fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

pub fn s(v: &str) -> Value {
    Value::StringValue(v.into())
}

/// One hour ago, whole microseconds, so the default two-day search window holds the data.
pub fn base_nanos() -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_micros() as u64;
    (now - 3_600_000_000) * 1000
}

pub fn resource(attrs: Vec<KeyValue>, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource { attributes: attrs, ..Default::default() }),
        scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
        ..Default::default()
    }
}

pub fn span(trace: [u8; 16], id: u8, parent: u8, name: &str, kind: i32, start: u64, dur_us: u64) -> Span {
    Span {
        trace_id: trace.to_vec(),
        span_id: vec![0, 0, 0, 0, 0, 0, 0, id],
        parent_span_id: if parent == 0 { Vec::new() } else { vec![0, 0, 0, 0, 0, 0, 0, parent] },
        name: name.into(),
        kind,
        start_time_unix_nano: start,
        end_time_unix_nano: start + dur_us * 1000,
        ..Default::default()
    }
}

pub fn frontend() -> Vec<KeyValue> {
    vec![kv("service.name", s("frontend")), kv("host.name", s("h1"))]
}

pub fn backend() -> Vec<KeyValue> {
    vec![kv("service.name", s("backend")), kv("host.name", s("h2"))]
}

pub fn batch(t: u64) -> Traces {
    let mut root = span(TRACE_A, 1, 0, "GET /", 2, t, 10_000);
    root.flags = 1;
    root.status = Some(Status { code: 1, ..Default::default() });
    root.attributes = vec![
        kv("http.method", s("GET")),
        kv("ok", Value::BoolValue(true)),
        kv("n", Value::IntValue(42)),
        kv("ratio", Value::DoubleValue(1.5)),
        kv("whole", Value::DoubleValue(2.0)),
        kv("raw", Value::BytesValue(vec![1, 2, 3])),
    ];
    root.events = vec![Event {
        time_unix_nano: t + 1_000_000,
        name: "retry".into(),
        attributes: vec![kv("attempt", Value::IntValue(2))],
        ..Default::default()
    }];
    let mut call = span(TRACE_A, 2, 1, "query", 3, t + 1_000_000, 4_000);
    call.links = vec![Link { trace_id: TRACE_B.to_vec(), span_id: vec![0, 0, 0, 0, 0, 0, 0, 9], ..Default::default() }];
    let db = span(TRACE_A, 3, 2, "SELECT", 2, t + 2_000_000, 2_000);
    let late = span(TRACE_A, 4, 1, "render", 1, t + 6_000_000, 1_000);
    let cleanup = span(TRACE_B, 9, 0, "cleanup", 1, t + 100_000_000, 50_000);
    Traces::new(vec![
        resource(frontend(), vec![root, call]),
        resource(backend(), vec![db, cleanup]),
        // The same process again: it must share the first key.
        resource(frontend(), vec![late]),
    ])
}

/// A memory store with [`batch`] written, and the base time.
pub async fn store() -> (MemoryStore, u64) {
    let store = MemoryStore::new(1000);
    let t = base_nanos();
    store.export(batch(t)).await.expect("memory export");
    (store, t)
}

pub async fn app_with(store: &MemoryStore, max_clock_skew: Duration, base: Option<&str>) -> axum::Router {
    let state = Arc::new(ApiState { reader: Arc::new(store.clone()), max_clock_skew, live: Default::default(), bounds: Default::default() });
    router(state, base)
}

pub async fn app() -> (axum::Router, u64) {
    let (store, t) = store().await;
    (app_with(&store, Duration::ZERO, None).await, t)
}

pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

pub async fn get(app: &axum::Router, uri: &str) -> Reply {
    let request = Request::get(uri).body(Body::empty()).expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    Reply { status, content_type, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
}

pub fn error_envelope(code: u16, msg: &str) -> String {
    let msg = serde_json::to_string(msg).unwrap_or_default();
    format!("{{\"data\":null,\"total\":0,\"limit\":0,\"offset\":0,\"errors\":[{{\"code\":{code},\"msg\":{msg}}}]}}\n")
}

pub fn micros(nanos: u64) -> u64 {
    nanos / 1000
}

/// Go-style check of a 400 envelope.
pub async fn assert_bad_request(app: &axum::Router, uri: &str, msg: &str) {
    let reply = get(app, uri).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{uri}: {}", reply.body);
    assert_eq!(reply.content_type, "text/plain; charset=utf-8", "{uri}");
    assert_eq!(reply.body, error_envelope(400, msg), "{uri}");
}
