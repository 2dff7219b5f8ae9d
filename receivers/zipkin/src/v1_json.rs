//! Zipkin v1 JSON (`POST /api/v1/spans`, a JSON list of v1 spans) -> [`V1Span`], with the
//! Collector's rules: `traceId` is exactly 16 or 32 hex digits and not zero, `id` and
//! `parentId` exactly 16 and not zero; times are signed epoch microseconds.
//!
//! Binary annotation values are strings in Zipkin's v1 JSON, typed by `parse_string_tags`.
//! py_zipkin and other v1 reporters also send `true` for the `sa`/`ca` address annotations,
//! which the Collector's decoder refuses outright; tracegate takes booleans and numbers as
//! typed values, the way the v1 Thrift decoder types them, so those batches are not lost.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};

use crate::attrs;
use crate::error::{DecodeError, Format};
use crate::v1::{V1Annotation, V1BinaryAnnotation, V1Endpoint, V1Span};

#[derive(Deserialize)]
struct JsonSpan {
    #[serde(rename = "traceId")]
    trace_id: Option<String>,
    name: Option<String>,
    #[serde(rename = "parentId")]
    parent_id: Option<String>,
    id: Option<String>,
    timestamp: Option<i64>,
    duration: Option<i64>,
    annotations: Option<Vec<Option<JsonAnnotation>>>,
    #[serde(rename = "binaryAnnotations")]
    binary_annotations: Option<Vec<Option<JsonBinaryAnnotation>>>,
}

#[derive(Deserialize)]
struct JsonEndpoint {
    #[serde(rename = "serviceName")]
    service_name: Option<String>,
    ipv4: Option<String>,
    ipv6: Option<String>,
    port: Option<i32>,
}

#[derive(Deserialize)]
struct JsonAnnotation {
    timestamp: Option<i64>,
    value: Option<String>,
    endpoint: Option<JsonEndpoint>,
}

#[derive(Deserialize)]
struct JsonBinaryAnnotation {
    key: Option<String>,
    value: Option<BinaryValue>,
    endpoint: Option<JsonEndpoint>,
}

enum BinaryValue {
    Str(String),
    Bool(bool),
    Int(i64),
    Double(f64),
}

impl<'de> Deserialize<'de> for BinaryValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = BinaryValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, boolean or number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<BinaryValue, E> {
                Ok(BinaryValue::Str(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<BinaryValue, E> {
                Ok(BinaryValue::Str(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<BinaryValue, E> {
                Ok(BinaryValue::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<BinaryValue, E> {
                Ok(BinaryValue::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<BinaryValue, E> {
                Ok(i64::try_from(v).map_or(BinaryValue::Double(v as f64), BinaryValue::Int))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<BinaryValue, E> {
                Ok(BinaryValue::Double(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// Decodes a v1 JSON body.
pub fn decode(body: &[u8], parse_string_tags: bool) -> Result<Vec<V1Span>, DecodeError> {
    crate::v2_json::decode_list(body, Format::V1Json, |s: JsonSpan| convert(s, parse_string_tags))
}

fn convert(s: JsonSpan, parse_string_tags: bool) -> Result<V1Span, String> {
    let trace_id = hex_id(s.trace_id.as_deref().unwrap_or(""), &[16, 32])
        .map_err(|e| format!("zipkinV1 span traceId: {e}"))?;
    let span_id = hex_id(s.id.as_deref().unwrap_or(""), &[16]).map_err(|e| format!("zipkinV1 span id: {e}"))?;
    let parent_id = match s.parent_id.as_deref() {
        None | Some("") => Vec::new(),
        Some(p) => hex_id(p, &[16]).map_err(|e| format!("zipkinV1 span parentId: {e}"))?,
    };
    let annotations = s
        .annotations
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .map(|a| V1Annotation {
            timestamp: a.timestamp.unwrap_or(0),
            value: a.value.unwrap_or_default(),
            endpoint: a.endpoint.map(endpoint),
        })
        .collect();
    let binary_annotations = s
        .binary_annotations
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .map(|b| binary_annotation(b, parse_string_tags))
        .collect();
    Ok(V1Span {
        trace_id,
        span_id,
        parent_id,
        name: s.name.unwrap_or_default(),
        annotations,
        binary_annotations,
        timestamp: s.timestamp.filter(|t| *t != 0),
        duration: s.duration.unwrap_or(0),
        stamp_missing_start: true,
    })
}

fn endpoint(e: JsonEndpoint) -> V1Endpoint {
    V1Endpoint {
        service_name: e.service_name.unwrap_or_default(),
        ipv4: e.ipv4.unwrap_or_default(),
        ipv6: e.ipv6.unwrap_or_default(),
        port: e.port.unwrap_or(0),
    }
}

fn binary_annotation(b: JsonBinaryAnnotation, parse_string_tags: bool) -> V1BinaryAnnotation {
    let (value, text) = match b.value {
        None => (attrs::tag_value(String::new(), parse_string_tags), String::new()),
        Some(BinaryValue::Str(s)) => (attrs::tag_value(s.clone(), parse_string_tags), s),
        Some(BinaryValue::Bool(v)) => (attrs::bool_value(v), v.to_string()),
        Some(BinaryValue::Int(v)) => (attrs::int_value(v), v.to_string()),
        Some(BinaryValue::Double(v)) => (attrs::double_value(v), v.to_string()),
    };
    let host_service = b
        .endpoint
        .and_then(|e| e.service_name)
        .filter(|name| !name.is_empty());
    V1BinaryAnnotation { key: b.key.unwrap_or_default(), value, text, host_service }
}

/// A hex id of one of the allowed lengths (in digits), not all zero; a 16-digit trace id
/// fills the low half of 16 bytes.
fn hex_id(text: &str, lengths: &[usize]) -> Result<Vec<u8>, String> {
    if !lengths.contains(&text.len()) {
        return Err(match lengths {
            [16] => "hex Id has wrong length (expected 16)".to_string(),
            _ => "hex traceId span has wrong length (expected 16 or 32)".to_string(),
        });
    }
    let mut out = Vec::with_capacity(16);
    if lengths.len() > 1 && text.len() == 16 {
        out.resize(8, 0);
    }
    for pair in text.as_bytes().chunks(2) {
        let digit = |b: u8| (b as char).to_digit(16).ok_or_else(|| format!("invalid hex character {:?} in \"{text}\"", b as char));
        out.push((digit(pair[0])? * 16 + digit(pair[1])?) as u8);
    }
    if out.iter().all(|b| *b == 0) {
        return Err("ID is zero".to_string());
    }
    Ok(out)
}
