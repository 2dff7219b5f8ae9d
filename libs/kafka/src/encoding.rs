//! The four message encodings, shared by the exporter (which writes them) and the receiver
//! (which reads them), so the two can never drift apart.
//!
//! - `otlp_proto` / `otlp_json`: one `ExportTraceServiceRequest` per message, as the
//!   Collector's kafka exporter writes it. With `partition_traces_by_id` the batch is split
//!   into one message per trace, keyed by the trace id in hex, so Kafka's key hashing puts a
//!   trace's spans on one partition; otherwise one message for the whole batch, with no key.
//! - `jaeger_proto` / `jaeger_json`: one api_v2 `model.Span` per message, its `process`
//!   filled in, keyed by the trace id as Jaeger's `TraceID.String()` prints it: exactly what
//!   Jaeger's collector writes for its ingester, so either side can be a real Jaeger.
//!
//! Decoding returns an error for any byte string that is not a message of the encoding; the
//! receiver counts and skips those.

use std::collections::HashMap;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
use prost::Message;
use serde::{Deserialize, Serialize};
use tracegate_core::Traces;
use tracegate_translator_jaeger::proto;

use crate::jaeger_json;

/// `encoding:` of both the exporter and the receiver.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    #[default]
    OtlpProto,
    OtlpJson,
    JaegerProto,
    JaegerJson,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::OtlpProto => "otlp_proto",
            Encoding::OtlpJson => "otlp_json",
            Encoding::JaegerProto => "jaeger_proto",
            Encoding::JaegerJson => "jaeger_json",
        }
    }

    /// True for the encodings that always write one span per message keyed by trace id.
    pub fn is_jaeger(self) -> bool {
        matches!(self, Encoding::JaegerProto | Encoding::JaegerJson)
    }
}

/// One Kafka message to produce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub key: Option<Vec<u8>>,
    pub payload: Bytes,
    /// Spans in this message, for the exporter's accounting.
    pub spans: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("cannot encode spans as OTLP JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot encode a span as Jaeger JSON: {0}")]
    JaegerJson(String),
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not an OTLP protobuf traces request: {0}")]
    OtlpProto(prost::DecodeError),
    #[error("not an OTLP JSON traces request: {0}")]
    OtlpJson(serde_json::Error),
    #[error("not a Jaeger protobuf span: {0}")]
    JaegerProto(prost::DecodeError),
    #[error("not a Jaeger JSON span: {0}")]
    JaegerJson(String),
}

/// Encodes a batch into the messages to produce. An OTLP message over `max_bytes` is split
/// in two by spans until it fits (or holds one span), so one huge batch does not fail whole;
/// a Jaeger message is always one span.
pub fn encode(
    encoding: Encoding,
    traces: &Traces,
    partition_traces_by_id: bool,
    max_bytes: usize,
) -> Result<Vec<Record>, EncodeError> {
    match encoding {
        Encoding::OtlpProto | Encoding::OtlpJson => {
            if !partition_traces_by_id && encoding == Encoding::OtlpProto {
                // A batch still in the bytes it was received in is sent as they are: each
                // received request a message, small ones joined, big ones cut at resources.
                if let Some(pieces) = traces.split_encoded(max_bytes) {
                    return Ok(pieces
                        .iter()
                        .map(|p| Record { key: None, payload: p.encode_request(), spans: p.span_count() })
                        .collect());
                }
                if let Some(record) = encode_proto_borrowed(traces.resource_spans(), max_bytes) {
                    return Ok(vec![record]);
                }
            }
            let groups: Vec<(Option<Vec<u8>>, Vec<ResourceSpans>)> = if partition_traces_by_id {
                split_by_trace(traces.resource_spans())
                    .into_iter()
                    .map(|(id, rs)| (Some(hex(&id).into_bytes()), rs))
                    .collect()
            } else {
                vec![(None, traces.resource_spans().to_vec())]
            };
            let mut out = Vec::with_capacity(groups.len());
            for (key, rs) in groups {
                encode_otlp(encoding == Encoding::OtlpJson, key, rs, max_bytes, &mut out)?;
            }
            Ok(out)
        }
        Encoding::JaegerProto | Encoding::JaegerJson => {
            let mut out = Vec::with_capacity(traces.span_count());
            for batch in tracegate_translator_jaeger::otlp_to_jaeger(traces.resource_spans()) {
                for mut span in batch.spans {
                    if span.process.is_none() {
                        span.process.clone_from(&batch.process);
                    }
                    let key = Some(jaeger_trace_id_string(&span.trace_id).into_bytes());
                    let payload = if encoding == Encoding::JaegerProto {
                        span.encode_to_vec()
                    } else {
                        jaeger_json::encode_span(&span).map_err(EncodeError::JaegerJson)?
                    };
                    out.push(Record {
                        key,
                        payload: payload.into(),
                        spans: 1,
                    });
                }
            }
            Ok(out)
        }
    }
}

/// The common case without a copy: the request's only field is `repeated ResourceSpans = 1`,
/// so writing each resource as field 1 gives the very bytes of `ExportTraceServiceRequest`.
/// `None` when the batch needs splitting.
fn encode_proto_borrowed(resource_spans: &[ResourceSpans], max_bytes: usize) -> Option<Record> {
    let len: usize = resource_spans
        .iter()
        .map(|rs| prost::encoding::message::encoded_len(1, rs))
        .sum();
    let spans = count(resource_spans);
    if len > max_bytes && spans > 1 {
        return None;
    }
    let payload = tracegate_core::data::encode_resource_spans(resource_spans);
    Some(Record {
        key: None,
        payload: payload.into(),
        spans,
    })
}

fn encode_otlp(
    json: bool,
    key: Option<Vec<u8>>,
    rs: Vec<ResourceSpans>,
    max_bytes: usize,
    out: &mut Vec<Record>,
) -> Result<(), EncodeError> {
    let spans = count(&rs);
    let request = ExportTraceServiceRequest { resource_spans: rs };
    let size = if json {
        None
    } else {
        Some(request.encoded_len())
    };
    if spans > 1 && size.is_some_and(|s| s > max_bytes) {
        let (a, b) = split_half(request.resource_spans, spans / 2);
        encode_otlp(json, key.clone(), a, max_bytes, out)?;
        return encode_otlp(json, key, b, max_bytes, out);
    }
    let payload = if json {
        serde_json::to_vec(&request)?
    } else {
        request.encode_to_vec()
    };
    if json && spans > 1 && payload.len() > max_bytes {
        let (a, b) = split_half(request.resource_spans, spans / 2);
        encode_otlp(json, key.clone(), a, max_bytes, out)?;
        return encode_otlp(json, key, b, max_bytes, out);
    }
    out.push(Record {
        key,
        payload: payload.into(),
        spans,
    });
    Ok(())
}

/// The first `n` spans and the rest, each keeping its resource and scope.
fn split_half(
    resource_spans: Vec<ResourceSpans>,
    mut n: usize,
) -> (Vec<ResourceSpans>, Vec<ResourceSpans>) {
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for mut rs in resource_spans {
        if n == 0 {
            second.push(rs);
            continue;
        }
        let mut rest = ResourceSpans {
            resource: rs.resource.clone(),
            scope_spans: Vec::new(),
            schema_url: rs.schema_url.clone(),
        };
        let mut kept = Vec::new();
        for mut ss in std::mem::take(&mut rs.scope_spans) {
            if n >= ss.spans.len() {
                n -= ss.spans.len();
                kept.push(ss);
            } else if n == 0 {
                rest.scope_spans.push(ss);
            } else {
                let tail = ss.spans.split_off(n);
                n = 0;
                rest.scope_spans.push(ScopeSpans {
                    scope: ss.scope.clone(),
                    spans: tail,
                    schema_url: ss.schema_url.clone(),
                });
                kept.push(ss);
            }
        }
        rs.scope_spans = kept;
        first.push(rs);
        if !rest.scope_spans.is_empty() {
            second.push(rest);
        }
    }
    (first, second)
}

/// Collects decoded messages into one pipeline batch.
///
/// Jaeger spans are gathered and translated in one go at [`Decoded::finish`], so spans of one
/// process (most of a batch) share one `ResourceSpans` instead of one each.
#[derive(Default)]
pub struct Decoded {
    /// OTLP protobuf messages, kept as their bytes (checked, not decoded).
    parts: Vec<Traces>,
    resource_spans: Vec<ResourceSpans>,
    jaeger_spans: Vec<proto::Span>,
    spans: usize,
}

impl Decoded {
    /// Decodes one message and adds its spans; returns how many it held. On error nothing is
    /// added.
    pub fn push(&mut self, encoding: Encoding, payload: &[u8]) -> Result<usize, DecodeError> {
        let n = match encoding {
            Encoding::OtlpProto => {
                let traces = Traces::from_protobuf(Bytes::copy_from_slice(payload))
                    .map_err(DecodeError::OtlpProto)?;
                let n = traces.span_count();
                self.parts.push(traces);
                n
            }
            Encoding::OtlpJson => {
                let request = serde_json::from_slice::<ExportTraceServiceRequest>(payload)
                    .map_err(DecodeError::OtlpJson)?;
                let n = count(&request.resource_spans);
                self.resource_spans.extend(request.resource_spans);
                n
            }
            Encoding::JaegerProto | Encoding::JaegerJson => {
                let span = if encoding == Encoding::JaegerProto {
                    proto::Span::decode(payload).map_err(DecodeError::JaegerProto)?
                } else {
                    jaeger_json::decode_span(payload).map_err(DecodeError::JaegerJson)?
                };
                // A span with every field but its process at the zero value (an empty
                // message decodes to one) is skipped by the translation, as the Collector
                // skips it, so it is not counted either.
                let blank = proto::Span { process: span.process.clone(), ..Default::default() };
                if span == blank {
                    return Ok(0);
                }
                self.jaeger_spans.push(span);
                1
            }
        };
        self.spans += n;
        Ok(n)
    }

    /// Spans added so far.
    pub fn spans(&self) -> usize {
        self.spans
    }

    pub fn finish(mut self) -> Traces {
        if !self.jaeger_spans.is_empty() {
            let batch = proto::Batch {
                spans: self.jaeger_spans,
                process: None,
            };
            self.resource_spans
                .extend(tracegate_translator_jaeger::proto_to_otlp(batch));
        }
        if !self.resource_spans.is_empty() {
            self.parts.push(Traces::new(self.resource_spans));
        }
        Traces::concat(self.parts)
    }
}

/// Decodes one message on its own (tests and tools).
pub fn decode(encoding: Encoding, payload: &[u8]) -> Result<Traces, DecodeError> {
    let mut decoded = Decoded::default();
    decoded.push(encoding, payload)?;
    Ok(decoded.finish())
}

fn count(rs: &[ResourceSpans]) -> usize {
    rs.iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum()
}

/// Splits a batch into one batch per trace id, keeping each span's resource and scope, in the
/// order trace ids first appear.
fn split_by_trace(resource_spans: &[ResourceSpans]) -> Vec<(Vec<u8>, Vec<ResourceSpans>)> {
    let mut order: Vec<(Vec<u8>, Vec<ResourceSpans>)> = Vec::new();
    let mut index: HashMap<&[u8], usize> = HashMap::new();
    for rs in resource_spans {
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                let slot = *index.entry(&span.trace_id).or_insert_with(|| {
                    order.push((span.trace_id.clone(), Vec::new()));
                    order.len() - 1
                });
                let batch = &mut order[slot].1;
                // Spans of one trace usually come together: reuse the last resource/scope when
                // it is this span's, otherwise open a new one with the same metadata.
                let same_resource = batch.last().is_some_and(|last| {
                    last.resource == rs.resource && last.schema_url == rs.schema_url
                });
                if !same_resource {
                    batch.push(ResourceSpans {
                        resource: rs.resource.clone(),
                        scope_spans: Vec::new(),
                        schema_url: rs.schema_url.clone(),
                    });
                }
                let last_rs = batch.last_mut().map(|r| &mut r.scope_spans);
                let Some(scopes) = last_rs else { continue };
                let same_scope = scopes
                    .last()
                    .is_some_and(|last| last.scope == ss.scope && last.schema_url == ss.schema_url);
                if !same_scope {
                    scopes.push(ScopeSpans {
                        scope: ss.scope.clone(),
                        spans: Vec::new(),
                        schema_url: ss.schema_url.clone(),
                    });
                }
                if let Some(scope) = scopes.last_mut() {
                    scope.spans.push(span.clone());
                }
            }
        }
    }
    order
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Jaeger's `TraceID.String()`: the low 64 bits alone (16 hex digits) when the high half is
/// zero, else all 32 digits.
pub fn jaeger_trace_id_string(trace_id: &[u8]) -> String {
    let mut id = [0u8; 16];
    let n = trace_id.len().min(16);
    id[16 - n..].copy_from_slice(&trace_id[trace_id.len() - n..]);
    if id[..8] == [0; 8] {
        hex(&id[8..])
    } else {
        hex(&id)
    }
}

#[cfg(test)]
#[path = "encoding_tests.rs"]
mod tests;
