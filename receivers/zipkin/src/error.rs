//! What can be wrong with a request, worded for the sender: every variant becomes the body of
//! a 400 (or 413/415) answer, so the message says what was wrong and, where it helps, where.

use std::fmt;

/// The four Zipkin encodings this receiver reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    V2Json,
    V2Proto,
    V1Json,
    V1Thrift,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V2Json => "Zipkin v2 JSON",
            Self::V2Proto => "Zipkin v2 protobuf (ListOfSpans)",
            Self::V1Json => "Zipkin v1 JSON",
            Self::V1Thrift => "Zipkin v1 Thrift (binary protocol list of Span)",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A body that could not be read as the format it claimed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are not the encoding at all (bad JSON, truncated protobuf, garbage Thrift).
    #[error("cannot decode the {format} body: {reason}")]
    Syntax { format: Format, reason: String },
    /// The encoding is fine but one span is unusable (bad id, bad IP address, ...).
    #[error("cannot decode the {format} body: span {index}: {reason}")]
    Span { format: Format, index: usize, reason: String },
}

impl DecodeError {
    pub fn syntax(format: Format, reason: impl fmt::Display) -> Self {
        Self::Syntax { format, reason: reason.to_string() }
    }

    pub fn span(format: Format, index: usize, reason: impl fmt::Display) -> Self {
        Self::Span { format, index, reason: reason.to_string() }
    }
}

/// Why a request was refused before its spans reached the pipeline.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("unsupported Content-Encoding \"{0}\" (supported: gzip, deflate, zstd, identity)")]
    UnsupportedEncoding(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("request body is larger than max_request_body_size ({limit} bytes; a compressed body counts at its decompressed size)")]
    TooLarge { limit: usize },
    #[error("cannot read the request body: {0}")]
    Body(String),
    #[error("cannot decompress the {encoding} body: {source}")]
    Decompress { encoding: &'static str, source: std::io::Error },
    #[error(transparent)]
    Decode(#[from] DecodeError),
}
