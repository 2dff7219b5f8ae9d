//! Batch builders and a recording consumer for the tests and benches of the processors built
//! on these rules (small, so always compiled rather than behind a feature).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Status;
use tracegate_core::component::{ConsumeError, Consumer};
use tracegate_core::data::{ResourceSpans, ScopeSpans, Span, Traces};

use crate::value::kv;

pub fn s(v: &str) -> V {
    V::StringValue(v.to_string())
}

pub fn span(name: &str, trace: u8, attrs: &[(&str, V)]) -> Span {
    Span {
        name: name.to_string(),
        trace_id: vec![trace; 16],
        span_id: vec![1; 8],
        kind: 2,
        start_time_unix_nano: 1_000,
        end_time_unix_nano: 2_000,
        attributes: attrs.iter().map(|(k, v)| kv(k, v.clone())).collect(),
        ..Default::default()
    }
}

pub fn with_status(mut sp: Span, code: i32) -> Span {
    sp.status = Some(Status { code, message: String::new() });
    sp
}

pub fn batch(service: &str, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource { attributes: vec![kv("service.name", s(service))], ..Default::default() }),
        scope_spans: vec![ScopeSpans {
            scope: Some(InstrumentationScope { name: "lib".into(), version: "1.0".into(), ..Default::default() }),
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }
}

pub fn get<'a>(a: &'a [KeyValue], key: &str) -> Option<&'a V> {
    crate::value::find(a, key).and_then(crate::value::value_of)
}

pub fn names(t: &Traces) -> Vec<String> {
    t.resource_spans().iter().flat_map(|rs| &rs.scope_spans).flat_map(|ss| &ss.spans).map(|s| s.name.clone()).collect()
}

/// Records every batch it is given.
#[derive(Default)]
pub struct Sink(pub Mutex<Vec<Traces>>);

impl Sink {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
    pub fn batches(&self) -> Vec<Traces> {
        self.0.lock().map(|b| b.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Consumer for Sink {
    async fn consume(&self, traces: Traces) -> Result<(), ConsumeError> {
        if let Ok(mut b) = self.0.lock() {
            b.push(traces);
        }
        Ok(())
    }
}

/// checkout: "GET /cart" (trace 1, `http.method`), "db.query" (trace 1); frontend: "GET /"
/// (trace 2, `http.method`).
pub fn two_services() -> Traces {
    Traces::new(vec![
        batch("checkout", vec![span("GET /cart", 1, &[("http.method", s("GET"))]), span("db.query", 1, &[])]),
        batch("frontend", vec![span("GET /", 2, &[("http.method", s("GET"))])]),
    ])
}

pub fn first_span(t: &Traces) -> &Span {
    &t.resource_spans()[0].scope_spans[0].spans[0]
}

/// The benches' batch: `n` spans of one service with ten attributes each (an URL, an e-mail,
/// a token, a status code as a string: what the actions and conditions work on); every tenth
/// span is a `GET /healthz` with status 500.
pub fn bench_batch(n: usize) -> Traces {
    let spans = (0..n)
        .map(|i| {
            let mut attributes = vec![
                kv("http.method", s("GET")),
                kv("http.url", s(&format!("https://shop.example/cart/{i}?x=1"))),
                kv("http.status_code", s(if i % 10 == 0 { "500" } else { "200" })),
                kv("user.email", s(&format!("user{i}@example.com"))),
                kv("secret.token", s("t0ps3cret")),
            ];
            attributes.extend((5..10).map(|a| kv(&format!("attr.{a}"), s(&format!("value-{a}")))));
            Span {
                trace_id: (i as u128 / 5).to_be_bytes().to_vec(),
                span_id: (i as u64 + 1).to_be_bytes().to_vec(),
                name: if i % 10 == 0 { "GET /healthz".into() } else { "GET /cart".into() },
                kind: 2,
                start_time_unix_nano: 1_000_000,
                end_time_unix_nano: 3_000_000,
                attributes,
                ..Default::default()
            }
        })
        .collect();
    let resource = Resource { attributes: vec![kv("service.name", s("checkout"))], ..Default::default() };
    Traces::new(vec![ResourceSpans { resource: Some(resource), scope_spans: vec![ScopeSpans { spans, ..Default::default() }], ..Default::default() }])
}

/// A copy of `template` no one else holds, so an edit's `make_mut` does not copy (for benches:
/// the copy is made outside the timed part).
pub fn owned(template: &Traces) -> Traces {
    Traces::new(template.resource_spans().to_vec())
}
