//! Zipkin v2 protobuf (`POST /api/v2/spans` with `application/x-protobuf`: one
//! `zipkin.proto3.ListOfSpans`) -> [`model::Span`], with zipkin-go's `zipkin_proto3` rules:
//!
//! - `trace_id` is 8 or 16 big-endian bytes (up to 16 are read, left-padded); `id` must be 8
//!   bytes; `parent_id` empty or 8 bytes;
//! - the timestamp is always taken as given, so a span without one starts at 0 but is not
//!   marked absent (zipkin-go makes `time.Unix(0, 0)`, which is not Go's zero time);
//! - `debug` is the request's `X-B3-Flags: 1`, not the message field, as in the Collector;
//! - ipv4/ipv6 bytes print as Go prints `net.IP`, ports wrap to 16 bits.
//!
//! prost refuses any length prefix longer than what is left of the body, so a hostile body
//! cannot make the decoder allocate more than it sent.

use prost::{encoding, Message};

use crate::error::{DecodeError, Format};
use crate::model::{self, dedupe_tags, go_ip_bytes_string, Annotation, Endpoint, Kind};

/// The messages generated from `proto/zipkin.proto`.
pub mod proto {
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/zipkin.proto3.rs"));
}

/// Decodes a `ListOfSpans` body; `debug` comes from the request's `X-B3-Flags` header.
///
/// The list is walked field by field and each span is decoded and converted on its own, so
/// the generated form of one span at a time is alive: decoding the whole `ListOfSpans` first
/// would turn a body of empty span entries (2 bytes each) into ~250 bytes per entry before
/// the first one could be refused.
pub fn decode(body: &[u8], debug: bool) -> Result<Vec<model::Span>, DecodeError> {
    let syntax = |e: &dyn std::fmt::Display| DecodeError::syntax(Format::V2Proto, format!("ListOfSpans: {e}"));
    let mut buf = body;
    let mut spans = Vec::new();
    while !buf.is_empty() {
        let (tag, wire_type) = encoding::decode_key(&mut buf).map_err(|e| syntax(&e))?;
        if tag != 1 {
            encoding::skip_field(wire_type, tag, &mut buf, encoding::DecodeContext::default())
                .map_err(|e| syntax(&e))?;
            continue;
        }
        if wire_type != encoding::WireType::LengthDelimited {
            return Err(syntax(&format!("field spans has wire type {wire_type:?}, expected length-delimited")));
        }
        let len = encoding::decode_varint(&mut buf).map_err(|e| syntax(&e))?;
        let len = usize::try_from(len)
            .ok()
            .filter(|len| *len <= buf.len())
            .ok_or_else(|| syntax(&"a span is longer than the rest of the body (truncated?)"))?;
        let (message, rest) = buf.split_at(len);
        buf = rest;
        let index = spans.len();
        let span = proto::Span::decode(message).map_err(|e| DecodeError::span(Format::V2Proto, index, e))?;
        spans.push(convert(span, debug).map_err(|reason| DecodeError::span(Format::V2Proto, index, reason))?);
    }
    Ok(spans)
}

fn convert(s: proto::Span, debug: bool) -> Result<model::Span, String> {
    let (trace_id_high, trace_id_low) = match s.trace_id.len() {
        1..=16 => {
            let mut padded = [0u8; 16];
            padded[16 - s.trace_id.len()..].copy_from_slice(&s.trace_id);
            (be_u64(&padded[..8]), be_u64(&padded[8..]))
        }
        n => return Err(format!("invalid TraceID: has length {n} yet wanted length 8 or 16")),
    };
    if trace_id_high == 0 && trace_id_low == 0 {
        return Err("invalid TraceID: all zero".into());
    }
    let id = match s.id.len() {
        8 if s.id.iter().all(|b| *b == 0) => return Err("invalid SpanID: all zero".into()),
        8 => be_u64(&s.id),
        0 => return Err("expected a non-nil SpanID".into()),
        n => return Err(format!("invalid SpanID: has length {n} yet wanted length 8")),
    };
    let parent_id = match s.parent_id.len() {
        0 => None,
        8 => Some(be_u64(&s.parent_id)),
        n => return Err(format!("invalid ParentID: has length {n} yet wanted length 8")),
    };
    let kind = match proto::span::Kind::try_from(s.kind) {
        Ok(proto::span::Kind::Client) => Kind::Client,
        Ok(proto::span::Kind::Server) => Kind::Server,
        Ok(proto::span::Kind::Producer) => Kind::Producer,
        Ok(proto::span::Kind::Consumer) => Kind::Consumer,
        _ => Kind::Unspecified,
    };
    let mut tags: Vec<(String, String)> = s.tags.into_iter().collect();
    dedupe_tags(&mut tags);
    Ok(model::Span {
        trace_id_high,
        trace_id_low,
        id,
        parent_id,
        name: s.name,
        kind,
        timestamp_us: Some(s.timestamp),
        duration_us: s.duration,
        shared: s.shared,
        debug,
        local_endpoint: s.local_endpoint.map(endpoint),
        remote_endpoint: s.remote_endpoint.map(endpoint),
        annotations: s
            .annotations
            .into_iter()
            .map(|a| Annotation { timestamp_us: a.timestamp, value: a.value })
            .collect(),
        tags,
    })
}

fn endpoint(e: proto::Endpoint) -> Endpoint {
    Endpoint {
        service_name: e.service_name,
        ipv4: go_ip_bytes_string(&e.ipv4),
        ipv6: go_ip_bytes_string(&e.ipv6),
        // Go's uint16(int32) conversion keeps the low 16 bits.
        port: e.port as u16,
    }
}

fn be_u64(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[..8]);
    u64::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn span() -> proto::Span {
        proto::Span {
            trace_id: vec![0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2],
            id: vec![0, 0, 0, 0, 0, 0, 0, 3],
            kind: proto::span::Kind::Server as i32,
            timestamp: 0,
            local_endpoint: Some(proto::Endpoint {
                service_name: "api".into(),
                ipv4: vec![10, 0, 0, 1],
                port: 70000,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn encode(spans: Vec<proto::Span>) -> Vec<u8> {
        proto::ListOfSpans { spans }.encode_to_vec()
    }

    #[test]
    fn decodes_ids_endpoints_and_kind() {
        let s = &decode(&encode(vec![span()]), true).unwrap()[0];
        assert_eq!((s.trace_id_high, s.trace_id_low, s.id), (1, 2, 3));
        assert_eq!(s.kind, Kind::Server);
        assert_eq!(s.timestamp_us, Some(0));
        assert!(s.debug);
        let e = s.local_endpoint.as_ref().unwrap();
        assert_eq!((e.ipv4.as_deref(), e.port), (Some("10.0.0.1"), 70000u32 as u16));
        let mut short = span();
        short.trace_id = vec![0xab; 8];
        assert_eq!(decode(&encode(vec![short]), false).unwrap()[0].trace_id_low, 0xabababababababab);
    }

    #[test]
    fn unknown_fields_are_skipped() {
        let mut body = vec![0x10, 0x05, 0x1a, 0x01, 0xff];
        body.extend(encode(vec![span()]));
        assert_eq!(decode(&body, false).unwrap().len(), 1);
    }

    #[test]
    fn bad_bodies_say_why() {
        let mut no_id = span();
        no_id.id.clear();
        let mut long_trace = span();
        long_trace.trace_id = vec![1; 17];
        let mut zero_trace = span();
        zero_trace.trace_id = vec![0; 16];
        let mut bad_parent = span();
        bad_parent.parent_id = vec![1; 3];
        let body = encode(vec![span(), span()]);
        let cases = [
            (encode(vec![no_id]), "span 0: expected a non-nil SpanID"),
            (encode(vec![span(), long_trace]), "span 1: invalid TraceID: has length 17"),
            (encode(vec![bad_parent]), "invalid ParentID: has length 3"),
            (body[..body.len() - 3].to_vec(), "ListOfSpans: a span is longer than the rest of the body"),
            (vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f], "a span is longer than the rest of the body"),
            (vec![0x0a, 0x02, 0x0a, 0xff], "span 0: failed to decode Protobuf message"),
            (vec![0x10, 0x80], "ListOfSpans: failed to decode"),
            (vec![0x0d, 0x01], "wire type ThirtyTwoBit, expected length-delimited"),
            (encode(vec![zero_trace]), "invalid TraceID: all zero"),
        ];
        for (body, want) in cases {
            let e = decode(&body, false).unwrap_err().to_string();
            assert!(e.contains(want), "{e} should contain {want}");
        }
    }
}
