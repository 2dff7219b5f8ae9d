//! Builds realistic OTLP batches once, up front, so the send loop only copies bytes.
//!
//! A batch is one `ExportTraceServiceRequest`: one resource (service.name and a few host/SDK
//! attributes), one scope, and `spans` spans grouped into traces of `spans_per_trace`
//! consecutive spans (a root SERVER span, children pointing at an earlier span of the same
//! trace). Attributes use semantic-convention keys with mixed string/int/bool/double values.
//!
//! Fresh ids without re-encoding: [`EncodedBatch`] remembers where every span's trace id sits
//! in the encoded bytes, and [`EncodedBatch::patched`] XORs a per-send mask into the first 8
//! bytes of each. All spans of a trace get the same mask, so parent/child links stay intact,
//! and every send of a pooled batch carries trace ids never sent before. Span ids repeat across
//! sends, but only under different trace ids, which is all OTLP asks of them.

use std::collections::HashSet;

use bytes::{Bytes, BytesMut};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status};
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
    ("http.method", Value::Str(&["GET", "POST", "PUT", "DELETE", "PATCH"])),
    ("http.route", Value::Str(&["/api/users/{id}", "/api/orders", "/api/cart/{id}/items", "/healthz"])),
    ("http.status_code", Value::Int(&[200, 200, 200, 201, 204, 400, 404, 500, 503])),
    ("net.peer.name", Value::Str(&["users-db", "orders.internal", "cache-1", "payments.example.com"])),
    ("db.system", Value::Str(&["postgresql", "redis", "mysql", "mongodb"])),
    ("net.peer.port", Value::Int(&[443, 5432, 6379, 8080, 27017])),
    ("http.response_content_length", Value::IntRange(0, 100_000)),
    ("cache.hit", Value::Bool),
    ("sampling.priority", Value::Double(0.0, 1.0)),
    ("db.statement", Value::Str(&["SELECT * FROM users WHERE id = $1", "GET session:*", "INSERT INTO orders VALUES ($1, $2)"])),
    ("http.user_agent", Value::Str(&["Mozilla/5.0 (X11; Linux x86_64)", "curl/8.5.0", "okhttp/4.12.0"])),
    ("thread.id", Value::IntRange(1, 64)),
    ("rpc.system", Value::Str(&["grpc", "apache_dubbo"])),
    ("messaging.system", Value::Str(&["kafka", "rabbitmq"])),
    ("error", Value::Bool),
    ("http.request.duration_ms", Value::Double(0.1, 2500.0)),
];

const OPERATIONS: &[&str] = &[
    "GET /api/users/{id}", "POST /api/orders", "SELECT users", "redis GET", "CartService/AddItem",
    "render", "kafka.produce orders", "validate",
];

/// Key of the attribute that `--span-size` pads.
pub const PADDING_KEY: &str = "app.payload";

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue { key: key.to_owned(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

fn attribute(index: usize, rng: &mut impl Rng) -> KeyValue {
    let Some((key, kind)) = CATALOGUE.get(index) else {
        let v: String = (0..12).map(|_| char::from(rng.sample(Alphanumeric))).collect();
        return kv(&format!("app.attr_{index}"), any_value::Value::StringValue(v));
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
            kv("process.pid", any_value::Value::IntValue(i64::from(std::process::id()))),
        ],
        ..Default::default()
    }
}

/// Builds one request with exactly `spans` spans.
pub fn generate_request(shape: &SpanShape, spans: usize, rng: &mut impl Rng) -> ExportTraceServiceRequest {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
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
            Some(p) => (p.span_id.clone(), p.start_time_unix_nano.saturating_add(rng.random_range(10_000..1_000_000)), span::SpanKind::Client),
            None => (Vec::new(), now.saturating_sub(rng.random_range(0..1_000_000_000)), span::SpanKind::Server),
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
                code: if failed { status::StatusCode::Error } else { status::StatusCode::Unset } as i32,
                message: if failed { "upstream returned 503".to_owned() } else { String::new() },
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
    let Some(last) = s.attributes.last_mut() else { return };
    *last = kv(PADDING_KEY, any_value::Value::StringValue(String::new()));
    let mut pad_len = target.saturating_sub(s.encoded_len());
    if pad_len == 0 {
        return;
    }
    // Random text so compression ratios stay realistic; growing the string may widen a couple
    // of length prefixes, so correct once or twice.
    let text: String = (0..pad_len).map(|_| char::from(rng.sample(Alphanumeric))).collect();
    for _ in 0..3 {
        set_padding(s, &text[..pad_len]);
        let len = s.encoded_len();
        if len <= target {
            break;
        }
        pad_len = pad_len.saturating_sub(len - target);
    }
}

fn set_padding(s: &mut Span, text: &str) {
    if let Some(last) = s.attributes.last_mut() {
        *last = kv(PADDING_KEY, any_value::Value::StringValue(text.to_owned()));
    }
}

/// A request encoded once, plus where its trace ids are so sends can refresh them.
#[derive(Debug, Clone)]
pub struct EncodedBatch {
    pub bytes: Bytes,
    pub spans: u64,
    /// Byte offsets of every `Span.trace_id` value in `bytes`.
    trace_id_offsets: Vec<usize>,
}

impl EncodedBatch {
    pub fn encode(req: &ExportTraceServiceRequest) -> Self {
        let bytes = req.encode_to_vec();
        let spans = req.resource_spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans);
        let ids: HashSet<&[u8]> = spans.clone().map(|s| s.trace_id.as_slice()).collect();
        // `Span.trace_id` is field 1, length-delimited: tag 0x0A then length 0x10. A random
        // 16-byte id matching elsewhere by chance is as likely as guessing it.
        let trace_id_offsets = bytes
            .windows(18)
            .enumerate()
            .filter(|(_, w)| w[0] == 0x0A && w[1] == 0x10 && ids.contains(&w[2..]))
            .map(|(i, _)| i + 2)
            .collect();
        Self { bytes: Bytes::from(bytes), spans: spans.count() as u64, trace_id_offsets }
    }

    /// The batch with every trace id XORed with a mask derived from `round`; round 0 is the
    /// batch as generated. Costs one copy of the bytes.
    pub fn patched(&self, round: u64) -> Bytes {
        if round == 0 {
            return self.bytes.clone();
        }
        let mask = splitmix64(round).to_le_bytes();
        let mut buf = BytesMut::from(&self.bytes[..]);
        for &off in &self.trace_id_offsets {
            if let Some(id) = buf.get_mut(off..off + 8) {
                id.iter_mut().zip(mask).for_each(|(b, m)| *b ^= m);
            }
        }
        buf.freeze()
    }

    /// Compressed copy for senders that compress once up front (ids are not patched then).
    pub fn gzipped(&self) -> std::io::Result<Self> {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&self.bytes)?;
        Ok(Self { bytes: Bytes::from(enc.finish()?), spans: self.spans, trace_id_offsets: Vec::new() })
    }
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
#[path = "generator_tests.rs"]
mod tests;
