//! Builds realistic OTLP batches once, up front, so the send loop only copies bytes.
//!
//! A batch is one `ExportTraceServiceRequest`: one resource (service.name and a few host/SDK
//! attributes), one scope, and `spans` spans grouped into traces of `spans_per_trace`
//! consecutive spans (a root SERVER span, children pointing at an earlier span of the same
//! trace). Attributes use semantic-convention keys with mixed string/int/bool/double values.
//!
//! The Jaeger and Zipkin encoders translate these same spans, so every protocol carries the
//! same shape of data (`realistic` is the other shape, `otlp` the encoder).

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};
use prost::Message;
use rand::distr::Alphanumeric;
use rand::Rng;

/// The shape of the spans to generate.
#[derive(Debug, Clone, Copy)]
pub struct SpanShape {
    pub spans_per_trace: usize,
    pub attributes: usize,
    /// Target encoded size of one span; one attribute is padded to reach it.
    pub span_size: Option<usize>,
}

enum Value {
    Str(&'static [&'static str]),
    Int(&'static [i64]),
    IntRange(i64, i64),
    Bool,
    Double(f64, f64),
}

/// Semantic-convention keys in the order they are handed out; beyond its end spans get
/// `app.attr_<n>` string attributes.
const CATALOGUE: &[(&str, Value)] = &[
    (
        "http.method",
        Value::Str(&["GET", "POST", "PUT", "DELETE", "PATCH"]),
    ),
    (
        "http.route",
        Value::Str(&[
            "/api/users/{id}",
            "/api/orders",
            "/api/cart/{id}/items",
            "/healthz",
        ]),
    ),
    (
        "http.status_code",
        Value::Int(&[200, 200, 200, 201, 204, 400, 404, 500, 503]),
    ),
    (
        "net.peer.name",
        Value::Str(&[
            "users-db",
            "orders.internal",
            "cache-1",
            "payments.example.com",
        ]),
    ),
    (
        "db.system",
        Value::Str(&["postgresql", "redis", "mysql", "mongodb"]),
    ),
    ("net.peer.port", Value::Int(&[443, 5432, 6379, 8080, 27017])),
    ("http.response_content_length", Value::IntRange(0, 100_000)),
    ("cache.hit", Value::Bool),
    ("sampling.priority", Value::Double(0.0, 1.0)),
    (
        "db.statement",
        Value::Str(&[
            "SELECT * FROM users WHERE id = $1",
            "GET session:*",
            "INSERT INTO orders VALUES ($1, $2)",
        ]),
    ),
    (
        "http.user_agent",
        Value::Str(&[
            "Mozilla/5.0 (X11; Linux x86_64)",
            "curl/8.5.0",
            "okhttp/4.12.0",
        ]),
    ),
    ("thread.id", Value::IntRange(1, 64)),
    ("rpc.system", Value::Str(&["grpc", "apache_dubbo"])),
    ("messaging.system", Value::Str(&["kafka", "rabbitmq"])),
    ("error", Value::Bool),
    ("http.request.duration_ms", Value::Double(0.1, 2500.0)),
];

const OPERATIONS: &[&str] = &[
    "GET /api/users/{id}",
    "POST /api/orders",
    "SELECT users",
    "redis GET",
    "CartService/AddItem",
    "render",
    "kafka.produce orders",
    "validate",
];

/// Key of the attribute that `--span-size` pads.
pub const PADDING_KEY: &str = "app.payload";

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn attribute(index: usize, rng: &mut impl Rng) -> KeyValue {
    let Some((key, kind)) = CATALOGUE.get(index) else {
        let v: String = (0..12)
            .map(|_| char::from(rng.sample(Alphanumeric)))
            .collect();
        return kv(
            &format!("app.attr_{index}"),
            any_value::Value::StringValue(v),
        );
    };
    let value = match kind {
        Value::Str(options) => any_value::Value::StringValue(pick(options, rng).to_string()),
        Value::Int(options) => any_value::Value::IntValue(pick(options, rng)),
        Value::IntRange(lo, hi) => any_value::Value::IntValue(rng.random_range(*lo..=*hi)),
        Value::Bool => any_value::Value::BoolValue(rng.random()),
        Value::Double(lo, hi) => any_value::Value::DoubleValue(rng.random_range(*lo..*hi)),
    };
    kv(key, value)
}

fn pick<T: Copy>(options: &[T], rng: &mut impl Rng) -> T {
    options[rng.random_range(0..options.len())]
}

fn resource() -> Resource {
    let s = |v: &str| any_value::Value::StringValue(v.to_owned());
    Resource {
        attributes: vec![
            kv("service.name", s("loadgen-checkout")),
            kv("service.version", s("1.4.2")),
            kv("host.name", s("loadgen-host-1")),
            kv("deployment.environment", s("bench")),
            kv("telemetry.sdk.language", s("rust")),
            kv(
                "process.pid",
                any_value::Value::IntValue(i64::from(std::process::id())),
            ),
        ],
        ..Default::default()
    }
}

/// Builds one request with exactly `spans` spans; roots start in the second before `now`.
pub fn generate_request(
    shape: &SpanShape,
    spans: usize,
    now: u64,
    rng: &mut impl Rng,
) -> ExportTraceServiceRequest {
    let per_trace = shape.spans_per_trace.max(1);
    let mut out = Vec::with_capacity(spans);
    let mut trace_id = [0u8; 16];
    for i in 0..spans {
        let pos = i % per_trace;
        if pos == 0 {
            rng.fill_bytes(&mut trace_id);
        }
        let trace_start = out.len() - pos;
        let mut span_id = [0u8; 8];
        rng.fill_bytes(&mut span_id);
        // Children point at any earlier span of their trace, so traces have depth and fan-out.
        let parent: Option<&Span> = (pos > 0).then(|| &out[trace_start + rng.random_range(0..pos)]);
        let (parent_id, start, kind) = match parent {
            Some(p) => (
                p.span_id.clone(),
                p.start_time_unix_nano
                    .saturating_add(rng.random_range(10_000..1_000_000)),
                span::SpanKind::Client,
            ),
            None => (
                Vec::new(),
                now.saturating_sub(rng.random_range(0..1_000_000_000)),
                span::SpanKind::Server,
            ),
        };
        let failed = rng.random_ratio(1, 20);
        let mut s = Span {
            trace_id: trace_id.to_vec(),
            span_id: span_id.to_vec(),
            parent_span_id: parent_id,
            name: pick(OPERATIONS, rng).to_owned(),
            kind: kind as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: start.saturating_add(rng.random_range(50_000..50_000_000)),
            attributes: (0..shape.attributes).map(|a| attribute(a, rng)).collect(),
            status: Some(Status {
                code: if failed {
                    status::StatusCode::Error
                } else {
                    status::StatusCode::Unset
                } as i32,
                message: if failed {
                    "upstream returned 503".to_owned()
                } else {
                    String::new()
                },
            }),
            flags: 0x100, // SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK: the parent is known to be local
            ..Default::default()
        };
        if let Some(target) = shape.span_size {
            pad_span(&mut s, target, rng);
        }
        out.push(s);
    }
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource()),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "tracegate-loadgen".to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    ..Default::default()
                }),
                spans: out,
                schema_url: String::new(),
            }],
            schema_url: "https://opentelemetry.io/schemas/1.26.0".to_owned(),
        }],
    }
}

/// Replaces the last attribute with a string padded so the encoded span is `target` bytes
/// (or as close as varint length prefixes allow). A span already larger stays as it is.
fn pad_span(s: &mut Span, target: usize, rng: &mut impl Rng) {
    let Some(last) = s.attributes.last_mut() else {
        return;
    };
    *last = kv(PADDING_KEY, any_value::Value::StringValue(String::new()));
    let mut pad_len = target.saturating_sub(s.encoded_len());
    if pad_len == 0 {
        return;
    }
    // Random text so compression ratios stay realistic; growing the string may widen a couple
    // of length prefixes, so correct once or twice.
    let text: String = (0..pad_len)
        .map(|_| char::from(rng.sample(Alphanumeric)))
        .collect();
    for _ in 0..3 {
        set_padding(s, &text[..pad_len]);
        let len = s.encoded_len();
        if len <= target {
            break;
        }
        pad_len = pad_len.saturating_sub(len - target);
    }
}

/// Grows (with random text, so compression ratios stay realistic) or shrinks a padding string
/// to `len` bytes; the Jaeger and Zipkin encoders use it to pad for their own format.
pub fn resize_padding(text: &mut String, mut len: usize, rng: &mut impl Rng) {
    if len <= text.len() {
        while !text.is_char_boundary(len) {
            len -= 1;
        }
        text.truncate(len);
    } else {
        text.extend((text.len()..len).map(|_| char::from(rng.sample(Alphanumeric))));
    }
}

fn set_padding(s: &mut Span, text: &str) {
    if let Some(last) = s.attributes.last_mut() {
        *last = kv(PADDING_KEY, any_value::Value::StringValue(text.to_owned()));
    }
}

#[cfg(test)]
#[path = "generator_tests.rs"]
mod tests;
