//! What the fuzz targets `otlp_json` and `otlp_http_body` call (see `tracegate_core::fuzzing`
//! and docs/fuzzing.md), public so the tests replay the committed inputs through it.

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use tracegate_pdata::fuzzing::depth;
use tracegate_pdata::validate::{validate_request, MAX_DEPTH};

use crate::decode::{Compression, DecodeError, Format};
use crate::ingest::Incoming;

/// The decompressed-size limit the body target runs with (the receiver's is configurable;
/// a small one lets the fuzzer reach it).
pub const BODY_LIMIT: usize = 64 * 1024;

/// The fuzz target `otlp_json`: an OTLP/JSON body. Whatever decodes must, once in the
/// pipeline as protobuf, pass the in-place check with the same span count (or be nested
/// deeper than the check follows, when prost's decode takes over).
pub fn otlp_json(data: &[u8]) {
    let Ok(request) = crate::json::decode_request(data) else { return };
    let bytes = request.encode_to_vec();
    match validate_request(&bytes) {
        Ok(summary) => assert_eq!(summary.spans, spans(&request), "spans after JSON -> protobuf"),
        Err(_) => assert!(depth(&request) > MAX_DEPTH, "the check declined prost's encoding of a JSON request"),
    }
}

fn spans(request: &ExportTraceServiceRequest) -> usize {
    request.resource_spans.iter().flat_map(|rs| &rs.scope_spans).map(|ss| ss.spans.len()).sum()
}

/// The fuzz target `otlp_http_body`: the first byte picks the `Content-Encoding` (bits 0-1)
/// and the `Content-Type` (bit 2), the rest is the body, taken as the HTTP route takes it.
pub fn otlp_http_body(data: &[u8]) {
    if let Some((format, Ok(body))) = http_decompress(data) {
        http_decode(format, body);
    }
}

/// The decompression step alone (the fuzz target measures its memory): what comes out is
/// never larger than [`BODY_LIMIT`].
pub fn http_decompress(data: &[u8]) -> Option<(Format, Result<Bytes, DecodeError>)> {
    let (&flags, body) = data.split_first()?;
    let compression = [Compression::Identity, Compression::Gzip, Compression::Deflate, Compression::Zstd]
        [usize::from(flags & 3)];
    let format = if flags & 4 == 0 { Format::Protobuf } else { Format::Json };
    let out = compression.decompress(Bytes::copy_from_slice(body), BODY_LIMIT);
    if let Ok(bytes) = &out {
        assert!(bytes.len() <= BODY_LIMIT, "{compression:?} gave {} bytes over the limit", bytes.len());
    }
    Some((format, out))
}

/// The decoding step: a checked batch counts what it holds.
pub fn http_decode(format: Format, body: Bytes) {
    match format.decode(body) {
        Ok(Incoming::Checked(traces)) => {
            let _ = traces.span_count();
        }
        Ok(Incoming::Decoded(_)) | Err(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use tracegate_core::fuzzing::{replay, sample_request, write_seed};

    use super::*;

    #[test]
    fn otlp_json_inputs_replay() {
        replay("otlp_json", otlp_json);
    }

    #[test]
    fn otlp_http_body_inputs_replay() {
        replay("otlp_http_body", otlp_http_body);
    }

    /// A body that inflates past the limit is refused, and what is accepted is never larger.
    #[test]
    fn a_body_inflating_past_the_limit_is_refused() {
        let big = vec![b'x'; BODY_LIMIT + 1];
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&big).expect("gzip");
        let body = Bytes::from(gz.finish().expect("gzip"));
        let err = Compression::Gzip.decompress(body, BODY_LIMIT).expect_err("over the limit");
        assert!(matches!(err, DecodeError::TooLarge { limit: BODY_LIMIT }), "{err}");
        let exact = zstd::encode_all(&big[..BODY_LIMIT], 3).expect("zstd");
        let out = Compression::Zstd.decompress(exact.into(), BODY_LIMIT).expect("at the limit");
        assert_eq!(out.len(), BODY_LIMIT);
    }

    #[test]
    #[ignore = "writes fuzz/seeds; run by hand when a format changes"]
    fn write_fuzz_seeds() {
        let json = serde_json::to_vec(&sample_request()).expect("JSON");
        write_seed("otlp_json", "sample", &json);
        write_seed(
            "otlp_json",
            "spec-shaped",
            br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"my.service"}}]},"scopeSpans":[{"scope":{"name":"my.library","version":"1.0.0"},"spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174","parentSpanId":"EEE19B7EC3C1B173","name":"I'm a server span","startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000","kind":2,"attributes":[{"key":"my.span.attr","value":{"intValue":"42"}},{"key":"d","value":{"doubleValue":1.5}},{"key":"a","value":{"arrayValue":{"values":[{"boolValue":true}]}}}],"status":{"code":2,"message":"oops"}}]}]}]}"#,
        );
        let proto = sample_request().encode_to_vec();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&proto).expect("gzip");
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        zlib.write_all(&json).expect("deflate");
        let zstd = zstd::encode_all(&proto[..], 3).expect("zstd");
        for (name, flags, body) in [
            ("identity-protobuf", 0u8, proto.clone()),
            ("gzip-protobuf", 1, gz.finish().expect("gzip")),
            ("deflate-json", 2 | 4, zlib.finish().expect("deflate")),
            ("zstd-protobuf", 3, zstd),
        ] {
            let mut seed = vec![flags];
            seed.extend_from_slice(&body);
            write_seed("otlp_http_body", name, &seed);
        }
    }
}
