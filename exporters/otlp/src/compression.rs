//! Request compression shared by both exporters.
//!
//! The Collector compresses with gzip unless told otherwise, and backends behind it expect
//! that, so gzip is the default here too. gRPC compression is done by tonic (the
//! `grpc-encoding` header and per-message flag); HTTP bodies are compressed here and marked
//! with `Content-Encoding`.

use bytes::Bytes;
use std::io::Write;

use serde::{Deserialize, Serialize};
use tonic::codec::CompressionEncoding;

/// `compression:` in both exporters' configs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    Gzip,
    Zstd,
    /// The Collector treats an empty string as "no compression"; so do we.
    #[serde(alias = "")]
    None,
}

impl Compression {
    /// What tonic should compress requests with, if anything.
    pub fn grpc_encoding(self) -> Option<CompressionEncoding> {
        match self {
            Compression::Gzip => Some(CompressionEncoding::Gzip),
            Compression::Zstd => Some(CompressionEncoding::Zstd),
            Compression::None => None,
        }
    }

    /// The HTTP `Content-Encoding` value for a body compressed this way.
    pub fn content_encoding(self) -> Option<&'static str> {
        match self {
            Compression::Gzip => Some("gzip"),
            Compression::Zstd => Some("zstd"),
            Compression::None => None,
        }
    }

    /// Compresses an HTTP body. Compressing into memory only fails on allocation trouble,
    /// but the error is still returned rather than assumed away.
    pub fn compress(self, body: Bytes) -> std::io::Result<Bytes> {
        match self {
            Compression::None => Ok(body),
            Compression::Gzip => {
                // Default level: the Collector's choice, a good ratio at low CPU cost.
                let mut enc = flate2::write::GzEncoder::new(
                    Vec::with_capacity(body.len() / 4),
                    flate2::Compression::default(),
                );
                enc.write_all(&body)?;
                enc.finish().map(Bytes::from)
            }
            Compression::Zstd => {
                zstd::bulk::compress(&body, zstd::DEFAULT_COMPRESSION_LEVEL).map(Bytes::from)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn gzip_and_zstd_round_trip() {
        let body = b"spans spans spans spans spans".repeat(100);
        let body = Bytes::from(body);
        let gz = Compression::Gzip.compress(body.clone()).unwrap();
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, body);
        assert!(gz.len() < body.len());

        let zs = Compression::Zstd.compress(body.clone()).unwrap();
        assert_eq!(zstd::stream::decode_all(&zs[..]).unwrap(), body);

        assert_eq!(Compression::None.compress(body.clone()).unwrap(), body);
    }

    #[test]
    fn names_as_the_collector_writes_them() {
        let parse = |s: &str| serde_yaml_ng::from_str::<Compression>(s);
        assert_eq!(parse("gzip").unwrap(), Compression::Gzip);
        assert_eq!(parse("zstd").unwrap(), Compression::Zstd);
        assert_eq!(parse("none").unwrap(), Compression::None);
        assert_eq!(parse("\"\"").unwrap(), Compression::None);
        let err = parse("snappy").unwrap_err().to_string();
        assert!(err.contains("gzip") && err.contains("zstd"), "{err}");
    }
}
