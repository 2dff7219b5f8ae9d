//! Zipkin v1 Thrift (`POST /api/v1/spans` with `application/x-thrift`) -> [`V1Span`].
//!
//! The body is what Jaeger's and the Collector's `DeserializeThrift` read: a binary-protocol
//! list header followed by `zipkincore.Span` structs (the element type is not checked,
//! trailing bytes are ignored). The structs are hand-written after zipkincore.thrift and read
//! with the `thrift` crate's generic [`TInputProtocol`], as generated code does: unknown
//! fields and fields of an unexpected wire type are skipped, missing fields stay zero.
//!
//! Spans with a zero trace id or span id are refused (the Collector passes them on as OTLP
//! spans without ids). Every declared length is capped by [`TConfiguration`] at the body's own size, so no string,
//! list or skip can allocate or loop beyond what the sender actually sent.
//!
//! Binary annotation values are typed per their `AnnotationType` (BOOL, BYTES as base64,
//! I16/I32 read unsigned and I64 signed big-endian, DOUBLE, STRING); a value too short for its
//! type becomes the text `<not enough bytes representing the number>`, as in the Collector.

use thrift::protocol::{TBinaryInputProtocol, TInputProtocol, TType};
use thrift::TConfiguration;

use crate::attrs;
use crate::error::{DecodeError, Format};
use crate::model::go_ip_bytes_string;
use crate::v1::{V1Annotation, V1BinaryAnnotation, V1Endpoint, V1Span};

#[derive(Default)]
struct Endpoint {
    ipv4: i32,
    port: i16,
    service_name: String,
    ipv6: Vec<u8>,
}

#[derive(Default)]
struct Annotation {
    timestamp: i64,
    value: String,
    host: Option<Endpoint>,
}

#[derive(Default)]
struct BinaryAnnotation {
    key: String,
    value: Vec<u8>,
    annotation_type: i32,
    host: Option<Endpoint>,
}

#[derive(Default)]
struct Span {
    trace_id: i64,
    name: String,
    id: i64,
    parent_id: Option<i64>,
    annotations: Vec<Annotation>,
    binary_annotations: Vec<BinaryAnnotation>,
    timestamp: Option<i64>,
    duration: Option<i64>,
    trace_id_high: Option<i64>,
}

/// Decodes a v1 Thrift body.
pub fn decode(body: &[u8]) -> Result<Vec<V1Span>, DecodeError> {
    let syntax = |e: thrift::Error| DecodeError::syntax(Format::V1Thrift, describe(&e));
    let limit = Some(body.len());
    let config = TConfiguration::builder()
        .max_message_size(limit)
        .max_frame_size(limit)
        .max_string_size(limit)
        .max_container_size(limit)
        .build()
        .map_err(syntax)?;
    let mut p = TBinaryInputProtocol::with_config(body, true, config);
    let list = p.read_list_begin().map_err(syntax)?;
    let count = usize::try_from(list.size).unwrap_or(0);
    let mut spans = Vec::with_capacity(count.min(1024));
    for index in 0..count {
        let span = read_span(&mut p).map_err(|e| DecodeError::span(Format::V1Thrift, index, describe(&e)))?;
        // The Collector passes zero ids through (its code says it should not); refusing them
        // keeps every span at least its two ids long, so an empty struct (one STOP byte)
        // cannot become a span.
        if span.trace_id == 0 && span.trace_id_high.unwrap_or(0) == 0 {
            return Err(DecodeError::span(Format::V1Thrift, index, "trace_id is zero"));
        }
        if span.id == 0 {
            return Err(DecodeError::span(Format::V1Thrift, index, "id is zero"));
        }
        spans.push(convert(span));
    }
    Ok(spans)
}

fn describe(e: &thrift::Error) -> String {
    match e {
        thrift::Error::Transport(t) if t.kind == thrift::TransportErrorKind::EndOfFile => {
            "the body ends in the middle of a value (truncated?)".to_string()
        }
        // The kind's text alone ("message too long") hides which length was wrong.
        thrift::Error::Protocol(p) if !p.message.is_empty() => {
            format!("{e}: {} (limits are the body's own size)", p.message)
        }
        other => other.to_string(),
    }
}

/// Reads a struct's fields with `field`, skipping what it does not claim.
fn read_struct<P: TInputProtocol>(
    p: &mut P,
    mut field: impl FnMut(&mut P, i16, TType) -> thrift::Result<bool>,
) -> thrift::Result<()> {
    p.read_struct_begin()?;
    loop {
        let f = p.read_field_begin()?;
        if f.field_type == TType::Stop {
            break;
        }
        if !field(p, f.id.unwrap_or(0), f.field_type)? {
            p.skip(f.field_type)?;
        }
        p.read_field_end()?;
    }
    p.read_struct_end()
}

fn read_list<P: TInputProtocol, T>(
    p: &mut P,
    mut element: impl FnMut(&mut P) -> thrift::Result<T>,
) -> thrift::Result<Vec<T>> {
    let list = p.read_list_begin()?;
    let mut out = Vec::new();
    for _ in 0..list.size {
        if list.element_type == TType::Struct {
            out.push(element(p)?);
        } else {
            p.skip(list.element_type)?;
        }
    }
    p.read_list_end()?;
    Ok(out)
}

/// Thrift strings are bytes; Go keeps them as they are, OTLP needs UTF-8.
fn read_text<P: TInputProtocol>(p: &mut P) -> thrift::Result<String> {
    let bytes = p.read_bytes()?;
    Ok(String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

fn read_endpoint<P: TInputProtocol>(p: &mut P) -> thrift::Result<Endpoint> {
    let mut e = Endpoint::default();
    read_struct(p, |p, id, ty| {
        match (id, ty) {
            (1, TType::I32) => e.ipv4 = p.read_i32()?,
            (2, TType::I16) => e.port = p.read_i16()?,
            (3, TType::String) => e.service_name = read_text(p)?,
            (4, TType::String) => e.ipv6 = p.read_bytes()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(e)
}

fn read_annotation<P: TInputProtocol>(p: &mut P) -> thrift::Result<Annotation> {
    let mut a = Annotation::default();
    read_struct(p, |p, id, ty| {
        match (id, ty) {
            (1, TType::I64) => a.timestamp = p.read_i64()?,
            (2, TType::String) => a.value = read_text(p)?,
            (3, TType::Struct) => a.host = Some(read_endpoint(p)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(a)
}

fn read_binary_annotation<P: TInputProtocol>(p: &mut P) -> thrift::Result<BinaryAnnotation> {
    let mut b = BinaryAnnotation::default();
    read_struct(p, |p, id, ty| {
        match (id, ty) {
            (1, TType::String) => b.key = read_text(p)?,
            (2, TType::String) => b.value = p.read_bytes()?,
            (3, TType::I32) => b.annotation_type = p.read_i32()?,
            (4, TType::Struct) => b.host = Some(read_endpoint(p)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(b)
}

fn read_span<P: TInputProtocol>(p: &mut P) -> thrift::Result<Span> {
    let mut s = Span::default();
    read_struct(p, |p, id, ty| {
        match (id, ty) {
            (1, TType::I64) => s.trace_id = p.read_i64()?,
            (3, TType::String) => s.name = read_text(p)?,
            (4, TType::I64) => s.id = p.read_i64()?,
            (5, TType::I64) => s.parent_id = Some(p.read_i64()?),
            (6, TType::List) => s.annotations = read_list(p, read_annotation)?,
            (8, TType::List) => s.binary_annotations = read_list(p, read_binary_annotation)?,
            (10, TType::I64) => s.timestamp = Some(p.read_i64()?),
            (11, TType::I64) => s.duration = Some(p.read_i64()?),
            (12, TType::I64) => s.trace_id_high = Some(p.read_i64()?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(s)
}

fn convert(s: Span) -> V1Span {
    let high = s.trace_id_high.unwrap_or(0) as u64;
    V1Span {
        trace_id: attrs::trace_id_bytes(high, s.trace_id as u64),
        span_id: attrs::span_id_bytes(s.id as u64),
        parent_id: s.parent_id.map(|p| attrs::span_id_bytes(p as u64)).unwrap_or_default(),
        name: s.name,
        annotations: s
            .annotations
            .into_iter()
            .map(|a| V1Annotation { timestamp: a.timestamp, value: a.value, endpoint: a.host.map(endpoint) })
            .collect(),
        binary_annotations: s.binary_annotations.into_iter().map(binary_annotation).collect(),
        timestamp: s.timestamp,
        duration: s.duration.unwrap_or(0),
        stamp_missing_start: false,
    }
}

fn endpoint(e: Endpoint) -> V1Endpoint {
    V1Endpoint {
        service_name: e.service_name,
        ipv4: if e.ipv4 == 0 { String::new() } else { std::net::Ipv4Addr::from(e.ipv4 as u32).to_string() },
        ipv6: go_ip_bytes_string(&e.ipv6).unwrap_or_default(),
        port: i32::from(e.port),
    }
}

fn binary_annotation(b: BinaryAnnotation) -> V1BinaryAnnotation {
    const SHORT: &str = "<not enough bytes representing the number>";
    let v = &b.value;
    let be = |n: usize| v.get(..n).map(|bytes| bytes.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x)));
    let value = match b.annotation_type {
        0 => attrs::bool_value(v.as_slice() == [1]),
        1 => attrs::string_value(base64(v)),
        2 => be(2).map_or_else(|| attrs::string_value(SHORT.into()), |n| attrs::int_value(n as i64)),
        3 => be(4).map_or_else(|| attrs::string_value(SHORT.into()), |n| attrs::int_value(n as i64)),
        4 => be(8).map_or_else(|| attrs::string_value(SHORT.into()), |n| attrs::int_value(n as i64)),
        5 => be(8).map_or_else(|| attrs::string_value(SHORT.into()), |n| attrs::double_value(f64::from_bits(n))),
        6 => attrs::string_value(String::from_utf8_lossy(v).into_owned()),
        other => attrs::string_value(format!("<unknown zipkin v1 binary annotation type ({other})>")),
    };
    V1BinaryAnnotation {
        key: b.key,
        value,
        text: String::from_utf8_lossy(v).into_owned(),
        host_service: b.host.map(|h| h.service_name),
    }
}

/// Standard base64 with padding, as Go's `base64.StdEncoding`.
fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_go() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(&[0xff, 0xfe, 0xfd, 0xfc]), "//79/A==");
    }
}
