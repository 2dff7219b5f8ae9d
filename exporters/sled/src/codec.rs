//! Bytes on disk: blocks of spans grouped by trace, their search summaries, and the text form
//! of attribute values that tag queries compare against.
//!
//! A block (before zstd) is a table of contents, `u32 n` then `n x (trace id [16], u32 len)`,
//! followed by one OTLP `ExportTraceServiceRequest` encoding per trace. `get_trace` therefore
//! decompresses one block but decodes only its trace's segment. Segments are encoded straight
//! from the batch by reference (no span is cloned): the wrappers are written by hand with
//! prost's field helpers and each `Span` is encoded as it is.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, Span};
use prost::encoding::{encode_key, encode_varint, message, string, WireType};
use prost::Message;

/// Largest block we agree to decompress: a guard against a corrupt length prefix.
const MAX_BLOCK: usize = 512 << 20;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("corrupt block: {0}")]
    Corrupt(&'static str),
    #[error("cannot decompress block: {0}")]
    Zstd(#[from] std::io::Error),
    #[error("cannot decode spans: {0}")]
    Decode(#[from] prost::DecodeError),
}

/// Where one span sits in a batch: resource, scope, span index.
pub type SpanRef = (usize, usize, usize);

/// Encodes one trace's spans (all from `batch`) as an `ExportTraceServiceRequest`.
pub fn encode_segment(batch: &[ResourceSpans], spans: &[SpanRef], out: &mut Vec<u8>) {
    let mut i = 0;
    let mut rs_body = Vec::new();
    let mut ss_body = Vec::new();
    while i < spans.len() {
        let r = spans[i].0;
        let rs = &batch[r];
        rs_body.clear();
        if let Some(res) = &rs.resource {
            message::encode(1, res, &mut rs_body);
        }
        while i < spans.len() && spans[i].0 == r {
            let s = spans[i].1;
            let ss = &rs.scope_spans[s];
            ss_body.clear();
            if let Some(scope) = &ss.scope {
                message::encode(1, scope, &mut ss_body);
            }
            while i < spans.len() && spans[i].0 == r && spans[i].1 == s {
                message::encode(2, &ss.spans[spans[i].2], &mut ss_body);
                i += 1;
            }
            if !ss.schema_url.is_empty() {
                string::encode(3, &ss.schema_url, &mut ss_body);
            }
            length_delimited(2, &ss_body, &mut rs_body);
        }
        if !rs.schema_url.is_empty() {
            string::encode(3, &rs.schema_url, &mut rs_body);
        }
        length_delimited(1, &rs_body, out);
    }
}

fn length_delimited(tag: u32, body: &[u8], out: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(body.len() as u64, out);
    out.extend_from_slice(body);
}

/// Builds a compressed block from per-trace segments.
pub fn encode_block(segments: &[([u8; 16], Vec<u8>)], level: i32) -> std::io::Result<Vec<u8>> {
    let body: usize = segments.iter().map(|(_, s)| s.len()).sum();
    let mut raw = Vec::with_capacity(4 + segments.len() * 20 + body);
    raw.extend_from_slice(&(segments.len() as u32).to_le_bytes());
    for (id, seg) in segments {
        raw.extend_from_slice(id);
        raw.extend_from_slice(&(seg.len() as u32).to_le_bytes());
    }
    for (_, seg) in segments {
        raw.extend_from_slice(seg);
    }
    let mut out = Vec::with_capacity(raw.len() / 4 + 16);
    out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    out.extend_from_slice(&zstd::bulk::compress(&raw, level)?);
    Ok(out)
}

/// A decompressed block: its table of contents and segment bytes.
pub struct Block {
    raw: Vec<u8>,
    toc: Vec<([u8; 16], usize, usize)>,
}

impl Block {
    pub fn decode(stored: &[u8]) -> Result<Self, CodecError> {
        let (len, frame) = split_u32(stored).ok_or(CodecError::Corrupt("short header"))?;
        if len as usize > MAX_BLOCK {
            return Err(CodecError::Corrupt("declared size too large"));
        }
        let raw = zstd::bulk::decompress(frame, len as usize)?;
        let (n, mut rest) = split_u32(&raw).ok_or(CodecError::Corrupt("no table of contents"))?;
        let mut toc = Vec::new();
        let mut offset = 4 + (n as usize).checked_mul(20).ok_or(CodecError::Corrupt("count"))?;
        for _ in 0..n {
            if rest.len() < 20 {
                return Err(CodecError::Corrupt("truncated table of contents"));
            }
            let mut id = [0u8; 16];
            id.copy_from_slice(&rest[..16]);
            let (seg_len, tail) = split_u32(&rest[16..]).ok_or(CodecError::Corrupt("toc"))?;
            rest = tail;
            let end = offset.checked_add(seg_len as usize).filter(|e| *e <= raw.len());
            let end = end.ok_or(CodecError::Corrupt("segment beyond block"))?;
            toc.push((id, offset, end));
            offset = end;
        }
        Ok(Self { raw, toc })
    }

    /// The spans of one trace in this block.
    pub fn trace(&self, id: &[u8; 16]) -> Result<Vec<ResourceSpans>, CodecError> {
        let mut out = Vec::new();
        for (tid, start, end) in &self.toc {
            if tid == id {
                out.extend(ExportTraceServiceRequest::decode(&self.raw[*start..*end])?.resource_spans);
            }
        }
        Ok(out)
    }

    /// Every trace's segment bytes, undecoded.
    pub fn segments(&self) -> impl Iterator<Item = (&[u8; 16], &[u8])> + '_ {
        self.toc.iter().map(|(id, start, end)| (id, &self.raw[*start..*end]))
    }

    pub fn decode_segment(segment: &[u8]) -> Result<Vec<ResourceSpans>, CodecError> {
        Ok(ExportTraceServiceRequest::decode(segment)?.resource_spans)
    }
}

fn split_u32(b: &[u8]) -> Option<(u32, &[u8])> {
    let head: [u8; 4] = b.get(..4)?.try_into().ok()?;
    Some((u32::from_le_bytes(head), &b[4..]))
}

/// The resource's `service.name`, or "" when it has none.
pub fn service_of(rs: &ResourceSpans) -> &str {
    rs.resource
        .as_ref()
        .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| match &v.value {
            Some(any_value::Value::StringValue(s)) => Some(s.as_str()),
            _ => None,
        })
        .unwrap_or("")
}

/// An attribute value as a tag query spells it (Jaeger compares tag values as text).
pub fn value_text(v: &AnyValue) -> Option<String> {
    match v.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        any_value::Value::BoolValue(b) => Some(b.to_string()),
        any_value::Value::DoubleValue(d) => Some(d.to_string()),
        any_value::Value::BytesValue(b) => Some(b.iter().map(|x| format!("{x:02x}")).collect()),
        _ => None,
    }
}

/// Jaeger's name for an OTLP span kind; "" for unspecified.
pub fn kind_name(kind: i32) -> &'static str {
    match kind {
        1 => "internal",
        2 => "server",
        3 => "client",
        4 => "producer",
        5 => "consumer",
        _ => "",
    }
}

/// Tags Jaeger shows for a span that OTLP carries as fields: `span.kind`, `otel.status_code`
/// and `error=true`, so `error=true` searches work on OTLP data.
pub fn derived_tags(span: &Span) -> impl Iterator<Item = (&'static str, &'static str)> {
    let kind = Some(kind_name(span.kind)).filter(|k| !k.is_empty()).map(|k| ("span.kind", k));
    let code = span.status.as_ref().map(|s| s.code).unwrap_or(0);
    let status = match code {
        1 => Some(("otel.status_code", "OK")),
        2 => Some(("otel.status_code", "ERROR")),
        _ => None,
    };
    let error = (code == 2).then_some(("error", "true"));
    kind.into_iter().chain(status).chain(error)
}

/// Unix nanoseconds of a span's start and its duration.
pub fn start_and_duration(span: &Span) -> (u64, u64) {
    (span.start_time_unix_nano, span.end_time_unix_nano.saturating_sub(span.start_time_unix_nano))
}
