//! The one error a Jaeger payload can produce: it could not be decoded.

/// A Jaeger payload that is not what it claims to be. The message says what was wrong, so a
/// receiver can log it once and count the datagram or body as malformed.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are not valid Thrift (truncated, a length larger than the input, bad UTF-8, ...).
    #[error("malformed thrift: {0}")]
    Thrift(String),
    /// A field the Jaeger IDL marks `required` is absent.
    #[error("missing required field {field} in {strukt}")]
    MissingField {
        strukt: &'static str,
        field: &'static str,
    },
    /// A field has the wrong Thrift type or an impossible value.
    #[error("invalid {strukt}.{field}: {reason}")]
    InvalidField {
        strukt: &'static str,
        field: &'static str,
        reason: String,
    },
    /// The datagram is a Thrift message, but not `Agent.emitBatch`.
    #[error("unexpected thrift message {name:?} (expected a oneway emitBatch call)")]
    UnexpectedMessage { name: String },
}

impl From<::thrift::Error> for DecodeError {
    fn from(e: ::thrift::Error) -> Self {
        DecodeError::Thrift(e.to_string())
    }
}
