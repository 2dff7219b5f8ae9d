//! The two on-disk encodings, and their readers.
//!
//! - JSON: one OTLP-JSON `ExportTraceServiceRequest` per line (JSON Lines), as the Collector's
//!   file exporter and its `otlpjsonfile` receiver use. `opentelemetry_proto`'s serde support
//!   already follows the OTLP-JSON rules: trace and span ids as lower-case hex, 64-bit
//!   integers (timestamps, `intValue`) as strings, enums as numbers, lowerCamelCase keys.
//! - proto: each request as a 4-byte big-endian length followed by its protobuf bytes, the
//!   framing the Collector's file exporter writes with `format: proto`.
//!
//! The readers exist for tests and tools that read these files back; they return an error
//! for any malformed or truncated input and never panic.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("cannot encode the batch as JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("line {line}: not an OTLP-JSON traces request: {source}")]
    JsonLine { line: usize, source: serde_json::Error },
    #[error("batch of {0} bytes is too large for the 4-byte length prefix")]
    TooLarge(usize),
    #[error("frame at byte {offset}: {why}")]
    Frame { offset: usize, why: String },
}

/// One JSON line, newline included.
pub fn encode_json(request: &ExportTraceServiceRequest) -> Result<Vec<u8>, CodecError> {
    let mut out = serde_json::to_vec(request)?;
    out.push(b'\n');
    Ok(out)
}

/// One length-prefixed protobuf frame.
pub fn encode_proto(request: &ExportTraceServiceRequest) -> Result<Vec<u8>, CodecError> {
    let len = request.encoded_len();
    let prefix = u32::try_from(len).map_err(|_| CodecError::TooLarge(len))?;
    let mut out = Vec::with_capacity(4 + len);
    out.extend_from_slice(&prefix.to_be_bytes());
    // Encoding into a Vec cannot run out of room; the error case is unreachable here.
    request.encode(&mut out).map_err(|e| CodecError::Frame { offset: 0, why: e.to_string() })?;
    Ok(out)
}

/// Every request in a JSON Lines file; blank lines are skipped.
pub fn decode_json_lines(text: &str) -> Result<Vec<ExportTraceServiceRequest>, CodecError> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| serde_json::from_str(line).map_err(|source| CodecError::JsonLine { line: i + 1, source }))
        .collect()
}

/// Every request in a file of length-prefixed protobuf frames.
pub fn decode_proto_frames(mut bytes: &[u8]) -> Result<Vec<ExportTraceServiceRequest>, CodecError> {
    let total = bytes.len();
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let offset = total - bytes.len();
        let frame_err = |why: String| CodecError::Frame { offset, why };
        let (prefix, rest) = bytes
            .split_first_chunk::<4>()
            .ok_or_else(|| frame_err(format!("{} bytes left, too few for a length prefix", bytes.len())))?;
        let len = u32::from_be_bytes(*prefix) as usize;
        if rest.len() < len {
            return Err(frame_err(format!("declares {len} bytes but only {} remain", rest.len())));
        }
        let (body, rest) = rest.split_at(len);
        out.push(ExportTraceServiceRequest::decode(body).map_err(|e| frame_err(e.to_string()))?);
        bytes = rest;
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
    use tracegate_core::data::{ResourceSpans, ScopeSpans, Span};

    use super::*;

    pub(crate) fn request(name: &str, trace_byte: u8) -> ExportTraceServiceRequest {
        let span = Span {
            trace_id: vec![trace_byte; 16],
            span_id: vec![0x0a, 0x0b, 0x0c, 0x0d, 0x01, 0x02, 0x03, 0x04],
            name: name.into(),
            kind: 2,
            start_time_unix_nano: 1_700_000_000_123_456_789,
            end_time_unix_nano: 1_700_000_001_000_000_000,
            attributes: vec![KeyValue {
                key: "http.status_code".into(),
                value: Some(AnyValue { value: Some(Value::IntValue(200)) }),
                ..Default::default()
            }],
            ..Default::default()
        };
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans { spans: vec![span], ..Default::default() }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn json_follows_otlp_json_rules() {
        let line = String::from_utf8(encode_json(&request("GET /", 0x5b)).expect("encodes")).expect("utf-8");
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1, "exactly one line: {line}");
        // Ids in hex, not base64 as proto3's generic JSON mapping would write bytes.
        assert!(line.contains(&format!(r#""traceId":"{}""#, "5b".repeat(16))), "{line}");
        assert!(line.contains(r#""spanId":"0a0b0c0d01020304""#), "{line}");
        // 64-bit integers as strings, enums as numbers, lowerCamelCase keys.
        assert!(line.contains(r#""startTimeUnixNano":"1700000000123456789""#), "{line}");
        assert!(line.contains(r#""intValue":"200""#), "{line}");
        assert!(line.contains(r#""kind":2"#), "{line}");
        assert!(line.contains(r#""resourceSpans":[{"#), "{line}");
    }

    #[test]
    fn both_formats_round_trip() {
        let (a, b) = (request("a", 1), request("b", 2));
        let json = [encode_json(&a).expect("a"), encode_json(&b).expect("b")].concat();
        let text = String::from_utf8(json).expect("utf-8");
        assert_eq!(decode_json_lines(&text).expect("decodes"), vec![a.clone(), b.clone()]);
        let proto = [encode_proto(&a).expect("a"), encode_proto(&b).expect("b")].concat();
        assert_eq!(u32::from_be_bytes([proto[0], proto[1], proto[2], proto[3]]) as usize, a.encoded_len());
        assert_eq!(decode_proto_frames(&proto).expect("decodes"), vec![a, b]);
    }

    #[test]
    fn readers_reject_damaged_files_without_panicking() {
        let frame = encode_proto(&request("a", 1)).expect("encodes");
        for cut in [1, 3, 4, frame.len() - 1] {
            assert!(decode_proto_frames(&frame[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad_len = frame.clone();
        bad_len[..4].copy_from_slice(&u32::MAX.to_be_bytes());
        let err = decode_proto_frames(&bad_len).expect_err("oversized length");
        assert!(err.to_string().starts_with("frame at byte 0: declares 4294967295 bytes"), "{err}");
        assert!(decode_proto_frames(&[0, 0, 0, 2, 0xff, 0xff]).is_err());
        let err = decode_json_lines("{}\n\n{\"resourceSpans\": 5}\n").expect_err("bad second request");
        assert!(err.to_string().starts_with("line 3: "), "{err}");
    }
}
