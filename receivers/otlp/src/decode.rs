//! Turning an OTLP/HTTP request body into an export request: which encoding the
//! `Content-Type` names, undoing `Content-Encoding`, and decoding.
//!
//! Every step is bounded by the configured body size *after* decompression too: a few KiB
//! of gzip can expand to gigabytes, and the limit must hold for what we allocate, not for
//! what was sent. Every failure is a [`DecodeError`] whose message tells the sender what to
//! fix; no input panics.

use std::io::Read;

use bytes::Bytes;

use crate::ingest::{check_protobuf, Incoming};

/// The two OTLP/HTTP encodings. Responses use the request's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Protobuf,
    Json,
}

impl Format {
    /// Reads the media type, ignoring parameters (`; charset=utf-8`) and case.
    /// `application/protobuf` is accepted beside the spec's `application/x-protobuf` because
    /// some clients send the newer registered name.
    pub fn from_content_type(value: &str) -> Option<Self> {
        let media = value
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match media.as_str() {
            "application/x-protobuf" | "application/protobuf" => Some(Self::Protobuf),
            "application/json" => Some(Self::Json),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
        }
    }

    /// Protobuf is checked in place and usually stays bytes; JSON is always decoded.
    pub fn decode(self, body: Bytes) -> Result<Incoming, DecodeError> {
        match self {
            Self::Protobuf => check_protobuf(body).map_err(DecodeError::Protobuf),
            Self::Json => crate::json::decode_request(&body)
                .map(Incoming::from)
                .map_err(DecodeError::Json),
        }
    }
}

/// Supported `Content-Encoding`s (the Collector also has snappy and lz4, which OTel SDKs
/// do not send).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Identity,
    Gzip,
    /// HTTP's `deflate`, which is zlib-wrapped.
    Deflate,
    Zstd,
}

impl Compression {
    pub fn from_header(value: Option<&str>) -> Result<Self, DecodeError> {
        let Some(value) = value else {
            return Ok(Self::Identity);
        };
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "identity" => Ok(Self::Identity),
            "gzip" | "x-gzip" => Ok(Self::Gzip),
            "deflate" => Ok(Self::Deflate),
            "zstd" => Ok(Self::Zstd),
            other => Err(DecodeError::UnsupportedEncoding(other.to_string())),
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
    pub fn decompress(self, body: Bytes, limit: usize) -> Result<Bytes, DecodeError> {
        let read = |reader: &mut dyn Read| read_bounded(reader, limit, self.name());
        match self {
            Self::Identity if body.len() > limit => Err(DecodeError::TooLarge { limit }),
            Self::Identity => Ok(body),
            Self::Gzip => read(&mut flate2::read::MultiGzDecoder::new(&body[..])),
            Self::Deflate => read(&mut flate2::read::ZlibDecoder::new(&body[..])),
            Self::Zstd => {
                let mut decoder = zstd::stream::read::Decoder::new(&body[..])
                    .map_err(|e| DecodeError::decompress("zstd", e))?;
                // A frame may ask for a window of up to 128 MiB that the decoder allocates up
                // front. An honest frame of at most `limit` bytes needs no window above the
                // next power of two over `limit`, but streaming encoders pick the window from
                // their level without knowing the size (up to 8 MiB below level 20), so never
                // go under that.
                decoder
                    .window_log_max(window_log_for(limit))
                    .map_err(|e| DecodeError::decompress("zstd", e))?;
                read(&mut decoder)
            }
        }
    }
}

fn window_log_for(limit: usize) -> u32 {
    let bits = usize::BITS - limit.saturating_sub(1).leading_zeros();
    bits.clamp(23, 27)
}

/// Reads at most `limit + 1` bytes (one more tells an oversized body). The buffer doubles as
/// it fills but never past `limit + 1` bytes: `read_to_end` rounds its capacity up to the next
/// power of two, up to twice the limit, and `Bytes` keeps that whole allocation for as long as
/// the batch lives (the fuzz target `otlp_http_body` measures the heap this takes).
fn read_bounded(
    reader: &mut dyn Read,
    limit: usize,
    encoding: &'static str,
) -> Result<Bytes, DecodeError> {
    const FIRST: usize = 8 * 1024;
    let most = limit.saturating_add(1);
    let mut out: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    while out.len() < most {
        let n = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n.min(most - out.len()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(DecodeError::decompress(encoding, e)),
        };
        if out.capacity() - out.len() < n {
            let grown = out.capacity().saturating_mul(2).max(FIRST).max(out.len() + n).min(most);
            out.reserve_exact(grown - out.len());
        }
        out.extend_from_slice(&chunk[..n]);
    }
    if out.len() > limit {
        return Err(DecodeError::TooLarge { limit });
    }
    Ok(out.into())
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unsupported Content-Encoding \"{0}\" (supported: gzip, zstd, deflate, identity)")]
    UnsupportedEncoding(String),
    #[error("request body is larger than max_request_body_size ({limit} bytes; a compressed body counts at its decompressed size)")]
    TooLarge { limit: usize },
    #[error("cannot read the request body: {0}")]
    Body(String),
    #[error("cannot decompress the {encoding} body: {source}")]
    Decompress {
        encoding: &'static str,
        source: std::io::Error,
    },
    #[error("cannot decode the protobuf body as ExportTraceServiceRequest: {0}")]
    Protobuf(prost::DecodeError),
    #[error("cannot decode the OTLP/JSON body: {0}")]
    Json(serde_json::Error),
}

impl DecodeError {
    fn decompress(encoding: &'static str, source: std::io::Error) -> Self {
        Self::Decompress { encoding, source }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Write;

    pub fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn content_types_are_read_like_http_does() {
        assert_eq!(
            Format::from_content_type("application/x-protobuf"),
            Some(Format::Protobuf)
        );
        assert_eq!(
            Format::from_content_type("Application/JSON; charset=utf-8"),
            Some(Format::Json)
        );
        assert_eq!(Format::from_content_type("text/plain"), None);
        assert_eq!(Format::from_content_type(""), None);
    }

    #[test]
    fn encodings_round_trip() {
        let data = b"hello otlp".repeat(100);
        let z = zstd::encode_all(&data[..], 3).unwrap();
        let mut d = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        d.write_all(&data).unwrap();
        let d = d.finish().unwrap();
        for (enc, body) in [
            ("gzip", gzip(&data)),
            ("zstd", z),
            ("deflate", d),
            ("identity", data.clone()),
        ] {
            let c = Compression::from_header(Some(enc)).unwrap();
            assert_eq!(
                &c.decompress(body.into(), data.len()).unwrap()[..],
                &data[..],
                "{enc}"
            );
        }
        assert!(matches!(
            Compression::from_header(Some("br")),
            Err(DecodeError::UnsupportedEncoding(e)) if e == "br"
        ));
    }

    #[test]
    fn bombs_stop_at_the_limit() {
        let bomb = vec![0u8; 10 * 1024 * 1024];
        let gz = gzip(&bomb);
        assert!(gz.len() < 64 * 1024);
        let err = Compression::Gzip
            .decompress(gz.into(), 1024 * 1024)
            .unwrap_err();
        assert!(
            matches!(err, DecodeError::TooLarge { limit: 1048576 }),
            "{err}"
        );
        let z = zstd::encode_all(&bomb[..], 1).unwrap();
        let err = Compression::Zstd
            .decompress(z.into(), 1024 * 1024)
            .unwrap_err();
        assert!(matches!(err, DecodeError::TooLarge { .. }), "{err}");
        let err = Compression::Identity
            .decompress(bomb.into(), 1024)
            .unwrap_err();
        assert!(matches!(err, DecodeError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let garbage = Bytes::from_static(b"\xff\x00not compressed at all\x13\x37");
        for c in [Compression::Gzip, Compression::Deflate, Compression::Zstd] {
            assert!(c.decompress(garbage.clone(), 1024).is_err(), "{c:?}");
        }
        assert!(Format::Protobuf.decode(garbage.clone()).is_err());
        assert!(Format::Json.decode(garbage).is_err());
        // Truncated gzip.
        let gz = gzip(b"some payload that is long enough");
        assert!(Compression::Gzip
            .decompress(Bytes::copy_from_slice(&gz[..gz.len() / 2]), 1024)
            .is_err());
    }

    #[test]
    fn zstd_window_follows_the_limit() {
        assert_eq!(window_log_for(20 * 1024 * 1024), 25);
        assert_eq!(window_log_for(1024 * 1024), 23);
        assert_eq!(window_log_for(1), 23);
        assert_eq!(window_log_for(usize::MAX), 27);
    }
}
