//! From request to OTLP: which encoding a path and `Content-Type` mean, undoing
//! `Content-Encoding` within the body limit, and [`translate`], the one entry point from
//! bytes to `ResourceSpans` that the server, the benches and the fuzz targets share.
//!
//! Content types follow Zipkin's server and the Collector: protobuf on v2 and Thrift on v1
//! are named explicitly, and everything else (no `Content-Type`, `application/json`, or an
//! arbitrary type) is read as JSON. Only a type that belongs to the other API version
//! (protobuf on v1, Thrift on v2) is refused with 415, since reading it as JSON could only
//! produce a confusing error.

use std::io::Read;

use bytes::Bytes;
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;

use crate::error::{DecodeError, Format, RequestError};
use crate::{to_otlp, v1, v1_json, v1_thrift, v2_json, v2_proto};

/// Translation switches that come from the config or the request.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// The config's `parse_string_tags`.
    pub parse_string_tags: bool,
    /// `X-B3-Flags: 1` on a v2 protobuf request.
    pub debug: bool,
}

/// Decodes `body` as `format` and translates it to OTLP.
pub fn translate(format: Format, body: &[u8], options: Options) -> Result<Vec<ResourceSpans>, DecodeError> {
    Ok(match format {
        Format::V2Json => to_otlp::spans_to_otlp(v2_json::decode(body)?, options.parse_string_tags),
        Format::V2Proto => {
            to_otlp::spans_to_otlp(v2_proto::decode(body, options.debug)?, options.parse_string_tags)
        }
        Format::V1Json => v1::spans_to_otlp(v1_json::decode(body, options.parse_string_tags)?),
        Format::V1Thrift => v1::spans_to_otlp(v1_thrift::decode(body)?),
    })
}

/// The two Zipkin HTTP APIs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    V1,
    V2,
}

impl Api {
    /// The encoding a request with this `Content-Type` carries.
    pub fn format(self, content_type: Option<&str>) -> Result<Format, RequestError> {
        let media = content_type
            .and_then(|v| v.split(';').next())
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let protobuf = matches!(media.as_str(), "application/x-protobuf" | "application/protobuf");
        let thrift = matches!(media.as_str(), "application/x-thrift" | "application/vnd.apache.thrift.binary");
        match (self, protobuf, thrift) {
            (Api::V2, true, _) => Ok(Format::V2Proto),
            (Api::V1, _, true) => Ok(Format::V1Thrift),
            (Api::V2, _, true) => Err(RequestError::UnsupportedMediaType(format!(
                "Content-Type \"{media}\" is Zipkin v1 Thrift: POST it to /api/v1/spans \
                 (/api/v2/spans takes application/json or application/x-protobuf)"
            ))),
            (Api::V1, true, _) => Err(RequestError::UnsupportedMediaType(format!(
                "Content-Type \"{media}\" is Zipkin v2 protobuf: POST it to /api/v2/spans \
                 (/api/v1/spans takes application/json or application/x-thrift)"
            ))),
            (Api::V2, false, false) => Ok(Format::V2Json),
            (Api::V1, false, false) => Ok(Format::V1Json),
        }
    }
}

/// Supported `Content-Encoding`s: what Zipkin reporters send (gzip) and what the Collector
/// also reads (deflate), plus zstd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Identity,
    Gzip,
    /// HTTP `deflate` (zlib-wrapped); the Collector also calls it `zlib`.
    Deflate,
    Zstd,
}

impl Compression {
    pub fn from_header(value: Option<&str>) -> Result<Self, RequestError> {
        match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") | Some("identity") => Ok(Self::Identity),
            Some("gzip") | Some("x-gzip") => Ok(Self::Gzip),
            Some("deflate") | Some("zlib") => Ok(Self::Deflate),
            Some("zstd") => Ok(Self::Zstd),
            Some(other) => Err(RequestError::UnsupportedEncoding(other.to_string())),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Gzip => "gzip",
            Self::Deflate => "deflate",
            Self::Zstd => "zstd",
        }
    }

    /// Decompresses `body`, refusing output larger than `limit` bytes.
    pub fn decompress(self, body: Bytes, limit: usize) -> Result<Bytes, RequestError> {
        let fail = |source| RequestError::Decompress { encoding: self.name(), source };
        match self {
            Self::Identity if body.len() > limit => Err(RequestError::TooLarge { limit }),
            Self::Identity => Ok(body),
            Self::Gzip => read_bounded(&mut flate2::read::MultiGzDecoder::new(&body[..]), limit).map_err(fail)?,
            Self::Deflate => read_bounded(&mut flate2::read::ZlibDecoder::new(&body[..]), limit).map_err(fail)?,
            Self::Zstd => {
                let mut decoder = zstd::stream::read::Decoder::new(&body[..]).map_err(fail)?;
                // A frame may ask for a window of up to 128 MiB, allocated up front; an honest
                // body within the limit never needs more than the next power of two above it
                // (and streaming encoders use up to 8 MiB whatever the size).
                let bits = usize::BITS - limit.saturating_sub(1).leading_zeros();
                decoder.window_log_max(bits.clamp(23, 27)).map_err(fail)?;
                read_bounded(&mut decoder, limit).map_err(fail)?
            }
        }
    }
}

/// Reads at most `limit + 1` bytes, so an oversized result is noticed without being held.
fn read_bounded(reader: &mut dyn Read, limit: usize) -> std::io::Result<Result<Bytes, RequestError>> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader.take(cap).read_to_end(&mut out)?;
    if out.len() > limit {
        return Ok(Err(RequestError::TooLarge { limit }));
    }
    Ok(Ok(out.into()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Write;

    #[test]
    fn content_types_follow_zipkin() {
        assert_eq!(Api::V2.format(None).unwrap(), Format::V2Json);
        assert_eq!(Api::V2.format(Some("text/plain")).unwrap(), Format::V2Json);
        assert_eq!(Api::V2.format(Some("Application/X-Protobuf; x=y")).unwrap(), Format::V2Proto);
        assert_eq!(Api::V1.format(Some("application/json; charset=utf-8")).unwrap(), Format::V1Json);
        assert_eq!(Api::V1.format(Some("application/x-thrift")).unwrap(), Format::V1Thrift);
        assert!(Api::V1.format(Some("application/x-protobuf")).unwrap_err().to_string().contains("/api/v2/spans"));
        assert!(Api::V2.format(Some("application/x-thrift")).unwrap_err().to_string().contains("/api/v1/spans"));
    }

    #[test]
    fn encodings_round_trip_and_bombs_stop_at_the_limit() {
        let data = b"[]".repeat(1000);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        let mut zl = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        zl.write_all(&data).unwrap();
        let zl = zl.finish().unwrap();
        let zs = zstd::encode_all(&data[..], 3).unwrap();
        for (enc, body) in [("gzip", gz.clone()), ("deflate", zl), ("zstd", zs), ("identity", data.clone())] {
            let c = Compression::from_header(Some(enc)).unwrap();
            assert_eq!(&c.decompress(body.into(), data.len()).unwrap()[..], &data[..], "{enc}");
        }
        let err = Compression::Gzip.decompress(gz.into(), 100).unwrap_err();
        assert!(matches!(err, RequestError::TooLarge { limit: 100 }), "{err}");
        let err = Compression::Gzip.decompress(Bytes::from_static(b"not gzip"), 100).unwrap_err();
        assert!(err.to_string().starts_with("cannot decompress the gzip body"), "{err}");
        assert!(Compression::from_header(Some("br")).is_err());
    }
}
