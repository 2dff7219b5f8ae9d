//! Jaeger Thrift from the generated spans, for `jaeger-udp-compact` (Agent.emitBatch datagrams)
//! and `jaeger-http` (a binary `Batch` body).
//!
//! The spans are the OTLP generator's, reported the way a Jaeger client would: 128-bit trace
//! ids split into high/low, times in microseconds, attributes as typed tags, `span.kind`
//! (`server`/`client`) and `error=true` as tags, the resource as the `Process`. Encoding uses
//! the translator crate's writers, so what we send is what the jaeger receiver decodes.
//!
//! A Jaeger `Batch` has one `Process`, so a request with several resources (the realistic
//! shape) becomes one batch per resource ([`batches`]), as each service's client would send
//! its own. Events become logs (an `event` field with the name, then the attributes).
//!
//! The encoders note where each span's `traceIdLow`, `startTime`, id-like tag values and log
//! timestamps sit, so sends can patch them (see `encoded`, `restamp`); Thrift writes a
//! struct's fields in field-id order, so that is the order of the needles.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, status, Span as OtlpSpan};
use rand::Rng;
use tracegate_translator_jaeger::thrift::{Batch, Log, Process, Span, Tag};
use tracegate_translator_jaeger::{encode_batch_binary, encode_emit_batch_compact};

use crate::encoded::{varint, zigzag, EncodedBatch, IdEncoding, Needle};
use crate::generator::{resize_padding, PADDING_KEY};
use crate::realistic::masked_value_needle;
use crate::restamp::TimeField;

/// How a batch is written: `encode_emit_batch_compact` or `encode_batch_binary`.
pub type Encoder = fn(&Batch) -> Vec<u8>;

/// A resource as a Jaeger `Process`: `service.name` becomes the service, the rest tags.
pub fn process(resource: Option<&Resource>) -> Process {
    let mut process = Process::default();
    for kv in resource.iter().flat_map(|r| &r.attributes) {
        match (kv.key.as_str(), value(kv)) {
            ("service.name", Some(any_value::Value::StringValue(s))) => {
                process.service_name = s.clone()
            }
            _ => process.tags.extend(tag(kv)),
        }
    }
    process
}

/// One batch per resource of the request, each span as a Jaeger client would report it.
pub fn batches(req: &ExportTraceServiceRequest) -> Vec<Batch> {
    req.resource_spans
        .iter()
        .map(|r| Batch {
            process: process(r.resource.as_ref()),
            spans: r
                .scope_spans
                .iter()
                .flat_map(|s| &s.spans)
                .map(span)
                .collect(),
            ..Batch::default()
        })
        .collect()
}

fn id64(bytes: &[u8]) -> i64 {
    bytes.try_into().map_or(0, i64::from_be_bytes)
}

fn span(s: &OtlpSpan) -> Span {
    let (high, low) = s.trace_id.split_at(s.trace_id.len().min(8));
    let mut tags: Vec<Tag> = s.attributes.iter().filter_map(tag).collect();
    let kind = match span::SpanKind::try_from(s.kind) {
        Ok(span::SpanKind::Server) => Some("server"),
        Ok(span::SpanKind::Client) => Some("client"),
        Ok(span::SpanKind::Producer) => Some("producer"),
        Ok(span::SpanKind::Consumer) => Some("consumer"),
        _ => None,
    };
    tags.extend(kind.map(|k| Tag::string("span.kind", k)));
    if s.status
        .as_ref()
        .is_some_and(|st| st.code == status::StatusCode::Error as i32)
    {
        tags.push(Tag::bool("error", true));
    }
    Span {
        trace_id_low: id64(low),
        trace_id_high: id64(high),
        span_id: id64(&s.span_id),
        parent_span_id: if s.parent_span_id.is_empty() {
            0
        } else {
            id64(&s.parent_span_id)
        },
        operation_name: s.name.clone(),
        flags: 1, // sampled
        start_time: micros(s.start_time_unix_nano),
        duration: i64::try_from(s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano) / 1000)
            .unwrap_or(0),
        tags,
        logs: s.events.iter().map(log).collect(),
        ..Span::default()
    }
}

fn micros(nanos: u64) -> i64 {
    i64::try_from(nanos / 1000).unwrap_or(i64::MAX)
}

fn log(e: &span::Event) -> Log {
    Log {
        timestamp: micros(e.time_unix_nano),
        fields: std::iter::once(Tag::string("event", e.name.clone()))
            .chain(e.attributes.iter().filter_map(tag))
            .collect(),
    }
}

fn value(kv: &KeyValue) -> Option<&any_value::Value> {
    kv.value.as_ref()?.value.as_ref()
}

fn tag(kv: &KeyValue) -> Option<Tag> {
    let key = kv.key.clone();
    Some(match value(kv)? {
        any_value::Value::StringValue(v) => Tag::string(key, v.clone()),
        any_value::Value::BoolValue(v) => Tag::bool(key, *v),
        any_value::Value::IntValue(v) => Tag::long(key, *v),
        any_value::Value::DoubleValue(v) => Tag::double(key, *v),
        any_value::Value::BytesValue(v) => Tag::binary(key, v.clone()),
        // The generator makes no arrays or maps; a client would flatten them to strings.
        _ => return None,
    })
}

/// What one span adds to an encoded batch. The list header does not grow from 0 to 1 element
/// in either protocol, so the difference is exact. Takes and gives back the span to avoid a
/// clone.
pub fn span_len(span: Span, encode: Encoder) -> (Span, usize) {
    let empty = encode(&Batch::default()).len();
    let mut probe = Batch {
        spans: vec![span],
        ..Batch::default()
    };
    let len = encode(&probe).len().saturating_sub(empty);
    (probe.spans.pop().unwrap_or_default(), len)
}

/// Resizes the `app.payload` tag so the span encodes to about `target` bytes in this format
/// (the generator padded it for OTLP protobuf, whose size differs a little).
pub fn pad(mut span: Span, target: usize, encode: Encoder, rng: &mut impl Rng) -> Span {
    let Some(index) = span.tags.iter().position(|t| t.key == PADDING_KEY) else {
        return span;
    };
    // A couple of rounds: a string's length prefix may widen or narrow by a byte.
    for _ in 0..3 {
        let (measured, len) = span_len(span, encode);
        span = measured;
        let Some(text) = span.tags[index].v_str.as_mut() else {
            break;
        };
        let wanted = (text.len() + target).saturating_sub(len);
        if len == target || wanted == text.len() {
            break;
        }
        resize_padding(text, wanted, rng);
    }
    span
}

/// Where a span's patchable fields sit, in field-id order: `traceIdLow` (1), `startTime` (8),
/// string tags (10), log timestamps (11, field 1 of `Log`). `header` is how a format writes the
/// field header of an i64 field given its id, `value` how it writes the i64.
fn span_needles<'a>(
    s: &'a Span,
    header: fn(u8) -> Vec<u8>,
    value: fn(i64) -> Vec<u8>,
    ids: IdEncoding,
    times: TimeField,
) -> impl Iterator<Item = Needle> + 'a {
    let id = value(s.trace_id_low);
    // A compact varint keeps its last byte (see `IdEncoding::Varint`).
    let patch_len = if ids == IdEncoding::Varint {
        id.len() - 1
    } else {
        id.len()
    };
    let at = header(1).len();
    let trace_id = Needle::id([header(1), id].concat(), at, patch_len, ids);
    let start = Needle::time(&header(8), &value(s.start_time), times);
    let values = s
        .tags
        .iter()
        .filter_map(|t| masked_value_needle(&t.key, t.v_str.as_deref()?));
    let logs = s
        .logs
        .iter()
        .map(move |l| Needle::time(&header(1), &value(l.timestamp), times));
    [trace_id, start].into_iter().chain(values).chain(logs)
}

/// Compact Thrift: a field header is one byte, (id delta << 4) | type, and i64 is type 6.
/// `traceIdLow` (1) follows the struct start, `startTime` (8) follows `flags` (7, always
/// written), a log's `timestamp` (1) starts its struct: each a delta of 1, so 0x16.
fn compact_header(_id: u8) -> Vec<u8> {
    vec![0x16]
}

fn compact_i64(v: i64) -> Vec<u8> {
    varint(zigzag(v))
}

/// Binary Thrift: type byte 0x0A (i64), the field id as a big-endian i16, the value big-endian.
fn binary_header(id: u8) -> Vec<u8> {
    vec![0x0A, 0x00, id]
}

fn binary_i64(v: i64) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

/// An `Agent.emitBatch` datagram in compact Thrift.
pub fn encode_datagram(batch: &Batch, max_packet: usize) -> Result<EncodedBatch, String> {
    let bytes = encode_emit_batch_compact(batch);
    if bytes.len() > max_packet {
        return Err(format!(
            "packed a {}-byte datagram, above --max-packet-size {max_packet}",
            bytes.len()
        ));
    }
    let needles = batch.spans.iter().flat_map(|s| {
        span_needles(
            s,
            compact_header,
            compact_i64,
            IdEncoding::Varint,
            TimeField::VarintMicros,
        )
    });
    EncodedBatch::locate(bytes, batch.spans.len() as u64, needles)
}

/// A binary-Thrift `Batch` for `POST /api/traces`.
pub fn encode_body(batch: &Batch) -> Result<EncodedBatch, String> {
    let needles = batch.spans.iter().flat_map(|s| {
        span_needles(
            s,
            binary_header,
            binary_i64,
            IdEncoding::Raw,
            TimeField::FixedBeMicros,
        )
    });
    EncodedBatch::locate(
        encode_batch_binary(batch),
        batch.spans.len() as u64,
        needles,
    )
}

#[cfg(test)]
#[path = "jaeger_tests.rs"]
mod tests;
