//! Jaeger Thrift from the generated spans, for `jaeger-udp-compact` (Agent.emitBatch datagrams)
//! and `jaeger-http` (a binary `Batch` body).
//!
//! The spans are the OTLP generator's, reported the way a Jaeger client would: 128-bit trace
//! ids split into high/low, times in microseconds, attributes as typed tags, `span.kind`
//! (`server`/`client`) and `error=true` as tags, the resource as the `Process`. Encoding uses
//! the translator crate's writers, so what we send is what the jaeger receiver decodes.
//!
//! A UDP datagram cannot be split by the network layer for us (and Jaeger's agent refuses
//! anything above its `max_packet_size`), so [`Packer`] measures each span's encoded size and
//! fills a datagram until the next span would not fit.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{span, status, Span as OtlpSpan};
use rand::Rng;
use tracegate_translator_jaeger::thrift::{Batch, Process, Span, Tag};
use tracegate_translator_jaeger::{encode_batch_binary, encode_emit_batch_compact};

use crate::encoded::{varint, zigzag, EncodedBatch, IdEncoding, Needle};
use crate::generator::{resize_padding, PADDING_KEY};

/// How a batch is written: `encode_emit_batch_compact` or `encode_batch_binary`.
pub type Encoder = fn(&Batch) -> Vec<u8>;

/// The resource as a Jaeger `Process`: `service.name` becomes the service, the rest tags.
pub fn process(req: &ExportTraceServiceRequest) -> Process {
    let attrs = req
        .resource_spans
        .iter()
        .filter_map(|r| r.resource.as_ref())
        .flat_map(|r| &r.attributes);
    let mut process = Process::default();
    for kv in attrs {
        match (kv.key.as_str(), value(kv)) {
            ("service.name", Some(any_value::Value::StringValue(s))) => {
                process.service_name = s.clone()
            }
            _ => process.tags.extend(tag(kv)),
        }
    }
    process
}

/// Every span of the request, in order, as a Jaeger client would report it.
pub fn spans(req: &ExportTraceServiceRequest) -> Vec<Span> {
    req.resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(span)
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
        start_time: i64::try_from(s.start_time_unix_nano / 1000).unwrap_or(i64::MAX),
        duration: i64::try_from(s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano) / 1000)
            .unwrap_or(0),
        tags,
        ..Span::default()
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

/// Fills `Agent.emitBatch` datagrams in order: a span goes into the current datagram unless
/// that would exceed `max_packet` bytes or `max_spans` spans.
pub struct Packer {
    process: Process,
    max_packet: usize,
    max_spans: usize,
    /// The datagram with no spans.
    base: usize,
    current: Vec<Span>,
    current_len: usize,
    done: Vec<Batch>,
}

impl Packer {
    pub fn new(process: Process, max_packet: usize, max_spans: usize) -> Self {
        let base = encode_emit_batch_compact(&Batch {
            process: process.clone(),
            ..Batch::default()
        })
        .len();
        Self {
            process,
            max_packet,
            max_spans: max_spans.max(1),
            base,
            current: Vec::new(),
            current_len: 0,
            done: Vec::new(),
        }
    }

    /// A compact list header holds up to 14 elements in its one byte; beyond, the count
    /// follows as a varint.
    fn datagram_len(&self, spans: usize, spans_len: usize) -> usize {
        let header_extra = if spans < 15 {
            0
        } else {
            varint(spans as u64).len()
        };
        self.base + spans_len + header_extra
    }

    pub fn push(&mut self, span: Span) -> Result<(), String> {
        let (span, len) = span_len(span, encode_emit_batch_compact);
        let alone = self.datagram_len(1, len);
        if alone > self.max_packet {
            return Err(format!(
                "a span encodes to {len} bytes, so even a datagram of one span is {alone} bytes, above --max-packet-size {}; lower --span-size or --attributes",
                self.max_packet
            ));
        }
        let n = self.current.len();
        if n > 0
            && (n >= self.max_spans
                || self.datagram_len(n + 1, self.current_len + len) > self.max_packet)
        {
            self.flush();
        }
        self.current.push(span);
        self.current_len += len;
        Ok(())
    }

    /// The datagrams completed so far (all but the one being filled).
    pub fn take_full(&mut self) -> Vec<Batch> {
        std::mem::take(&mut self.done)
    }

    fn flush(&mut self) {
        let spans = std::mem::take(&mut self.current);
        self.current_len = 0;
        self.done.push(Batch {
            process: self.process.clone(),
            spans,
            ..Batch::default()
        });
    }

    pub fn finish(mut self) -> Vec<Batch> {
        if !self.current.is_empty() {
            self.flush();
        }
        self.done
    }
}

/// An `Agent.emitBatch` datagram. In compact Thrift a span starts with field 1 (`traceIdLow`,
/// i64): header byte 0x16, then the zigzag varint of the id.
pub fn encode_datagram(batch: &Batch, max_packet: usize) -> Result<EncodedBatch, String> {
    let bytes = encode_emit_batch_compact(batch);
    if bytes.len() > max_packet {
        return Err(format!(
            "packed a {}-byte datagram, above --max-packet-size {max_packet}",
            bytes.len()
        ));
    }
    let needles = batch.spans.iter().map(|s| {
        let id = varint(zigzag(s.trace_id_low));
        let patch_len = id.len() - 1;
        Needle {
            bytes: [&[0x16][..], &id].concat(),
            id_at: 1,
            patch_len,
        }
    });
    EncodedBatch::locate(bytes, batch.spans.len() as u64, IdEncoding::Varint, needles)
}

/// A binary-Thrift `Batch` for `POST /api/traces`. A span starts with field 1 (`traceIdLow`):
/// type byte 0x0A (i64), field id 0x0001, then the id in 8 big-endian bytes.
pub fn encode_body(batch: &Batch) -> Result<EncodedBatch, String> {
    let needles = batch.spans.iter().map(|s| Needle {
        bytes: [&[0x0A, 0x00, 0x01][..], &s.trace_id_low.to_be_bytes()].concat(),
        id_at: 3,
        patch_len: 8,
    });
    EncodedBatch::locate(
        encode_batch_binary(batch),
        batch.spans.len() as u64,
        IdEncoding::Raw,
        needles,
    )
}

#[cfg(test)]
#[path = "jaeger_tests.rs"]
mod tests;
