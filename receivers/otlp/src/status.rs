//! `google.rpc.Status` and `google.rpc.RetryInfo`, and how a [`ConsumeError`] becomes a
//! protocol answer.
//!
//! The OTLP spec returns failures as a `google.rpc.Status`: inside the gRPC status (the
//! `grpc-status-details-bin` trailer, where OTel SDKs look for `RetryInfo` to learn how long
//! to back off) and as the body of an OTLP/HTTP error response. The three messages are tiny
//! and stable, so they are declared here with prost's derive instead of pulling in a crate of
//! well-known types for them.

use std::time::Duration;

use tracegate_core::ConsumeError;

const RETRY_INFO_TYPE_URL: &str = "type.googleapis.com/google.rpc.RetryInfo";
/// The binary trailer the OpenTelemetry Python SDK reads `RetryInfo` from.
const RETRY_INFO_TRAILER: &str = "google.rpc.retryinfo-bin";

/// `google.rpc.Status`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<ProtoAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoAny {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoDuration {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl RpcStatus {
    pub fn new(code: tonic::Code, message: impl Into<String>) -> Self {
        Self {
            code: code as i32,
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// Adds a `RetryInfo` detail asking the client to wait `delay`.
    pub fn with_retry_delay(mut self, delay: Duration) -> Self {
        let info = RetryInfo {
            retry_delay: Some(ProtoDuration {
                seconds: i64::try_from(delay.as_secs()).unwrap_or(i64::MAX),
                nanos: i32::try_from(delay.subsec_nanos()).unwrap_or(0),
            }),
        };
        self.details.push(ProtoAny {
            type_url: RETRY_INFO_TYPE_URL.to_string(),
            value: prost::Message::encode_to_vec(&info),
        });
        self
    }
}

/// The wait a throttled client is told about when the pipeline gave none. The Collector's
/// OTLP receiver also answers with a fixed short delay; one second keeps clients from
/// spinning without stalling them for long.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// What a pipeline refusal means on the wire, shared by the gRPC and HTTP servers.
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    pub grpc_code: tonic::Code,
    pub http_status: http::StatusCode,
    /// Set for retryable outcomes: how long the client should wait.
    pub retry_after: Option<Duration>,
    pub message: String,
}

impl From<&ConsumeError> for Refusal {
    fn from(e: &ConsumeError) -> Self {
        let message = e.to_string();
        match e {
            ConsumeError::Retryable(_) => Self {
                grpc_code: tonic::Code::Unavailable,
                http_status: http::StatusCode::SERVICE_UNAVAILABLE,
                retry_after: Some(DEFAULT_RETRY_AFTER),
                message,
            },
            ConsumeError::Throttled { retry_after, .. } => Self {
                grpc_code: tonic::Code::ResourceExhausted,
                http_status: http::StatusCode::TOO_MANY_REQUESTS,
                retry_after: Some(retry_after.unwrap_or(DEFAULT_RETRY_AFTER)),
                message,
            },
            ConsumeError::Permanent(_) => Self {
                grpc_code: tonic::Code::InvalidArgument,
                http_status: http::StatusCode::BAD_REQUEST,
                retry_after: None,
                message,
            },
        }
    }
}

impl Refusal {
    /// The body both transports carry: a `google.rpc.Status`, with a `RetryInfo` detail for
    /// every retryable refusal (UNAVAILABLE and RESOURCE_EXHAUSTED). The OTLP spec asks for
    /// it when the server is overloaded ("throttling"), and Go's SDK retries
    /// RESOURCE_EXHAUSTED only with it; an SDK that finds it waits the given delay instead of
    /// its own first backoff.
    pub fn rpc_status(&self) -> RpcStatus {
        let status = RpcStatus::new(self.grpc_code, self.message.clone());
        match self.retry_after {
            Some(d) => status.with_retry_delay(d),
            None => status,
        }
    }

    /// The gRPC status: the `google.rpc.Status` in `grpc-status-details-bin` (where Go's and
    /// Java's SDKs read `RetryInfo`), and the `RetryInfo` alone in the
    /// `google.rpc.retryinfo-bin` trailer, where the Python SDK reads it.
    pub fn to_grpc(&self) -> tonic::Status {
        let status = self.rpc_status();
        let mut metadata = tonic::metadata::MetadataMap::new();
        if let Some(info) = status.details.iter().find(|d| d.type_url == RETRY_INFO_TYPE_URL) {
            metadata.insert_bin(
                RETRY_INFO_TRAILER,
                tonic::metadata::MetadataValue::from_bytes(&info.value),
            );
        }
        let details = prost::Message::encode_to_vec(&status);
        tonic::Status::with_details_and_metadata(
            self.grpc_code,
            self.message.clone(),
            details.into(),
            metadata,
        )
    }

    /// `Retry-After` in whole seconds, rounded up and at least 1: the header has no finer
    /// unit, and 0 would invite an immediate retry loop.
    pub fn retry_after_header(&self) -> Option<u64> {
        self.retry_after.map(|d| {
            let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
            secs.max(1)
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use prost::Message;

    #[test]
    fn throttling_carries_retry_info_the_sdks_can_read() {
        let e = ConsumeError::Throttled {
            retry_after: Some(Duration::from_millis(2500)),
            message: "slow down".into(),
        };
        let r = Refusal::from(&e);
        assert_eq!(r.retry_after_header(), Some(3));
        let status = r.to_grpc();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        let decoded = RpcStatus::decode(status.details()).unwrap();
        assert_eq!(decoded.details[0].type_url, RETRY_INFO_TYPE_URL);
        let info = RetryInfo::decode(decoded.details[0].value.as_slice()).unwrap();
        assert_eq!(
            info.retry_delay,
            Some(ProtoDuration {
                seconds: 2,
                nanos: 500_000_000
            })
        );
    }

    #[test]
    fn unavailable_carries_retry_info_in_the_details_and_in_the_python_sdks_trailer() {
        let status = Refusal::from(&ConsumeError::retryable("sending queue is full")).to_grpc();
        assert_eq!(status.code(), tonic::Code::Unavailable);
        let decoded = RpcStatus::decode(status.details()).unwrap();
        assert_eq!(decoded.details[0].type_url, RETRY_INFO_TYPE_URL);
        let delay = Some(ProtoDuration { seconds: 1, nanos: 0 });
        let info = RetryInfo::decode(decoded.details[0].value.as_slice()).unwrap();
        assert_eq!(info.retry_delay, delay);
        let trailer = status.metadata().get_bin(RETRY_INFO_TRAILER).unwrap().to_bytes().unwrap();
        assert_eq!(RetryInfo::decode(trailer).unwrap().retry_delay, delay);
        let bad = Refusal::from(&ConsumeError::permanent("bad")).to_grpc();
        assert!(RpcStatus::decode(bad.details()).unwrap().details.is_empty(), "nothing to retry");
        assert!(bad.metadata().get_bin(RETRY_INFO_TRAILER).is_none());
    }

    #[test]
    fn each_error_kind_maps_to_its_codes() {
        let r = Refusal::from(&ConsumeError::retryable("queue full"));
        assert_eq!(
            (r.grpc_code, r.http_status.as_u16()),
            (tonic::Code::Unavailable, 503)
        );
        assert_eq!(r.retry_after_header(), Some(1));
        let r = Refusal::from(&ConsumeError::permanent("bad"));
        assert_eq!(
            (r.grpc_code, r.http_status.as_u16()),
            (tonic::Code::InvalidArgument, 400)
        );
        assert_eq!(r.retry_after_header(), None);
        let r = Refusal::from(&ConsumeError::Throttled {
            retry_after: None,
            message: "x".into(),
        });
        assert_eq!(r.retry_after_header(), Some(1));
        let r = Refusal::from(&ConsumeError::Throttled {
            retry_after: Some(Duration::ZERO),
            message: "x".into(),
        });
        assert_eq!(r.retry_after_header(), Some(1));
    }
}
