//! Test spans in OTLP, built the way real SDKs send them: random-looking 16-byte trace ids and
//! 8-byte span ids, one `ResourceSpans` per service carrying `service.name` and other process
//! attributes, one `ScopeSpans` per instrumentation scope inside it, and times relative to now
//! (a store may bound queries by its retention).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::{status, ResourceSpans, ScopeSpans, Span, Status};
use tracegate_core::storage::TraceId;
use tracegate_core::Traces;

/// Deterministic id source (splitmix64), so failures reproduce.
pub struct Ids(u64);

impl Ids {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn trace_id(&mut self) -> TraceId {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.next_u64().to_be_bytes());
        id[8..].copy_from_slice(&self.next_u64().to_be_bytes());
        id
    }

    pub fn span_id(&mut self) -> [u8; 8] {
        self.next_u64().to_be_bytes()
    }
}

/// An attribute value as a test writes it.
#[derive(Clone, Debug)]
pub enum Val {
    Str(&'static str),
    Int(i64),
    Bool(bool),
    Double(f64),
}

fn kv(key: &str, v: &Val) -> KeyValue {
    let value = match v {
        Val::Str(s) => any_value::Value::StringValue((*s).to_string()),
        Val::Int(i) => any_value::Value::IntValue(*i),
        Val::Bool(b) => any_value::Value::BoolValue(*b),
        Val::Double(f) => any_value::Value::DoubleValue(*f),
    };
    KeyValue { key: key.to_string(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

fn kvs(attrs: &[(&'static str, Val)]) -> Vec<KeyValue> {
    attrs.iter().map(|(k, v)| kv(k, v)).collect()
}

/// The instrumentation scope a span was recorded with.
#[derive(Clone, Debug)]
pub struct TestScope {
    pub name: &'static str,
    pub version: &'static str,
    pub attrs: Vec<(&'static str, Val)>,
}

impl Default for TestScope {
    fn default() -> Self {
        Self { name: "conformance", version: "", attrs: Vec::new() }
    }
}

/// A link from a span to another span, with its attributes.
#[derive(Clone, Debug)]
pub struct TestLink {
    pub trace_id: TraceId,
    pub span_id: [u8; 8],
    pub attrs: Vec<(&'static str, Val)>,
}

/// One span of a test, with the process (resource) and scope it belongs to.
#[derive(Clone, Debug)]
pub struct TestSpan {
    pub trace_id: TraceId,
    pub span_id: [u8; 8],
    pub parent: Option<[u8; 8]>,
    pub service: String,
    pub resource_attrs: Vec<(&'static str, Val)>,
    pub name: String,
    pub kind: SpanKind,
    pub start: SystemTime,
    pub duration: Duration,
    pub attrs: Vec<(&'static str, Val)>,
    pub events: Vec<(&'static str, Vec<(&'static str, Val)>)>,
    pub links: Vec<TestLink>,
    pub scope: TestScope,
    pub error: bool,
}

impl TestSpan {
    pub fn new(ids: &mut Ids, trace_id: TraceId, service: &str, name: &str, start: SystemTime) -> Self {
        Self {
            trace_id,
            span_id: ids.span_id(),
            parent: None,
            service: service.to_string(),
            resource_attrs: vec![("host.name", Val::Str("host-1"))],
            name: name.to_string(),
            kind: SpanKind::Server,
            start,
            duration: Duration::from_millis(10),
            attrs: vec![("http.method", Val::Str("GET"))],
            events: Vec::new(),
            links: Vec::new(),
            scope: TestScope::default(),
            error: false,
        }
    }

    pub fn child_of(mut self, parent: &TestSpan) -> Self {
        self.parent = Some(parent.span_id);
        self
    }

    pub fn kind(mut self, kind: SpanKind) -> Self {
        self.kind = kind;
        self
    }

    pub fn duration(mut self, d: Duration) -> Self {
        self.duration = d;
        self
    }

    pub fn attr(mut self, key: &'static str, v: Val) -> Self {
        self.attrs.push((key, v));
        self
    }

    pub fn resource_attr(mut self, key: &'static str, v: Val) -> Self {
        self.resource_attrs.push((key, v));
        self
    }

    pub fn event(mut self, name: &'static str, attrs: Vec<(&'static str, Val)>) -> Self {
        self.events.push((name, attrs));
        self
    }

    /// A link to `span_id` of `trace_id` carrying `attrs`.
    pub fn link(mut self, trace_id: TraceId, span_id: [u8; 8], attrs: Vec<(&'static str, Val)>) -> Self {
        self.links.push(TestLink { trace_id, span_id, attrs });
        self
    }

    pub fn scope(mut self, scope: TestScope) -> Self {
        self.scope = scope;
        self
    }

    pub fn start(mut self, start: SystemTime) -> Self {
        self.start = start;
        self
    }

    fn to_otlp(&self) -> Span {
        let start = nanos(self.start);
        Span {
            trace_id: self.trace_id.to_vec(),
            span_id: self.span_id.to_vec(),
            parent_span_id: self.parent.map(|p| p.to_vec()).unwrap_or_default(),
            name: self.name.clone(),
            kind: self.kind as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: start + self.duration.as_nanos() as u64,
            attributes: kvs(&self.attrs),
            events: self
                .events
                .iter()
                .map(|(name, attrs)| Event {
                    time_unix_nano: start + 1000,
                    name: (*name).to_string(),
                    attributes: kvs(attrs),
                    dropped_attributes_count: 0,
                })
                .collect(),
            links: self
                .links
                .iter()
                .map(|l| Link {
                    trace_id: l.trace_id.to_vec(),
                    span_id: l.span_id.to_vec(),
                    attributes: kvs(&l.attrs),
                    ..Default::default()
                })
                .collect(),
            status: self.error.then(|| Status { code: status::StatusCode::Error as i32, message: "boom".into() }),
            ..Default::default()
        }
    }
}

pub fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// One batch, one `ResourceSpans` per distinct (service, resource attributes) and in it one
/// `ScopeSpans` per distinct scope, as an SDK per process would send them.
pub fn batch(spans: &[TestSpan]) -> Traces {
    let mut out: Vec<(String, ResourceSpans)> = Vec::new();
    for s in spans {
        let key = format!("{}|{:?}", s.service, s.resource_attrs);
        let idx = match out.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                let mut attrs = vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue { value: Some(any_value::Value::StringValue(s.service.clone())) }),
                    ..Default::default()
                }];
                attrs.extend(kvs(&s.resource_attrs));
                let resource = Some(Resource { attributes: attrs, ..Default::default() });
                out.push((key, ResourceSpans { resource, scope_spans: Vec::new(), schema_url: String::new() }));
                out.len() - 1
            }
        };
        let scope = InstrumentationScope {
            name: s.scope.name.into(),
            version: s.scope.version.into(),
            attributes: kvs(&s.scope.attrs),
            ..Default::default()
        };
        let scopes = &mut out[idx].1.scope_spans;
        let at = match scopes.iter().position(|ss| ss.scope.as_ref() == Some(&scope)) {
            Some(i) => i,
            None => {
                scopes.push(ScopeSpans { scope: Some(scope), spans: Vec::new(), schema_url: String::new() });
                scopes.len() - 1
            }
        };
        scopes[at].spans.push(s.to_otlp());
    }
    Traces::new(out.into_iter().map(|(_, rs)| rs).collect())
}

/// Every span of a stored trace as (span id, service, name), sorted, for comparisons.
pub fn span_keys(t: &Traces) -> Vec<([u8; 8], String, String)> {
    let mut keys = Vec::new();
    for rs in t.resource_spans() {
        let service = rs
            .resource
            .as_ref()
            .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| match &v.value {
                Some(any_value::Value::StringValue(s)) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_default();
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                let mut id = [0u8; 8];
                if span.span_id.len() == 8 {
                    id.copy_from_slice(&span.span_id);
                }
                keys.push((id, service.clone(), span.name.clone()));
            }
        }
    }
    keys.sort();
    keys
}

/// The (span id, service, name) keys of test spans, sorted.
pub fn expected_keys(spans: &[&TestSpan]) -> Vec<([u8; 8], String, String)> {
    let mut keys: Vec<_> = spans.iter().map(|s| (s.span_id, s.service.clone(), s.name.clone())).collect();
    keys.sort();
    keys
}
