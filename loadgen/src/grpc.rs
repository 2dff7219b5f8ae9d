//! OTLP/gRPC sender that hands pre-encoded protobuf straight to tonic.
//!
//! The generated `TraceServiceClient` would take an `ExportTraceServiceRequest` and encode it
//! on every call; [`RawCodec`] instead writes the bytes it is given, so a request costs one
//! copy into tonic's frame buffer. With gzip, tonic still compresses each request itself
//! (its codec API has no way to pass an already-compressed frame), so `--compression gzip`
//! over gRPC spends generator CPU per request.

use std::time::Duration;

use bytes::Bytes;
use http::uri::PathAndQuery;
use tonic::codec::CompressionEncoding;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};
use tracegate_exporter_otlp::raw_codec::{RawCodec, EXPORT_PATH};

use crate::sender::{error_chain, SendError, SendOutcome};
use crate::stats::ErrorKind;

/// One channel (one HTTP/2 connection) used by one sender task.
pub struct GrpcSender {
    client: tonic::client::Grpc<Channel>,
}

impl GrpcSender {
    /// Connects eagerly so an unreachable endpoint fails the run up front.
    pub async fn connect(uri: &str, gzip: bool) -> Result<Self, String> {
        let endpoint = Endpoint::from_shared(uri.to_owned())
            .map_err(|e| format!("invalid endpoint {uri:?}: {}", error_chain(&e)))?
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5));
        let channel = endpoint.connect().await.map_err(|e| error_chain(&e))?;
        let mut client = tonic::client::Grpc::new(channel);
        if gzip {
            client = client.send_compressed(CompressionEncoding::Gzip);
        }
        Ok(Self { client })
    }

    pub async fn send(&mut self, body: Bytes) -> Result<SendOutcome, SendError> {
        self.client.ready().await.map_err(|e| SendError {
            kind: ErrorKind::Unavailable,
            message: error_chain(&e),
        })?;
        let path = PathAndQuery::from_static(EXPORT_PATH);
        match self
            .client
            .unary(tonic::Request::new(body), path, RawCodec)
            .await
        {
            Ok(resp) => {
                let rejected = resp
                    .into_inner()
                    .partial_success
                    .map_or(0, |p| p.rejected_spans);
                Ok(SendOutcome {
                    rejected: u64::try_from(rejected).unwrap_or(0),
                })
            }
            Err(status) => Err(classify(&status)),
        }
    }
}

fn classify(status: &Status) -> SendError {
    let kind = match status.code() {
        Code::Unavailable => ErrorKind::Unavailable,
        Code::ResourceExhausted => ErrorKind::Throttled,
        _ => ErrorKind::Other,
    };
    // The message alone can be as vague as "tcp connect error"; the source says why.
    let cause = std::error::Error::source(status)
        .map(|s| format!(" ({})", error_chain(s)))
        .unwrap_or_default();
    SendError {
        kind,
        message: format!("gRPC {:?}: {}{cause}", status.code(), status.message()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_backpressure_kinds() {
        assert_eq!(
            classify(&Status::unavailable("queue full")).kind,
            ErrorKind::Unavailable
        );
        assert_eq!(
            classify(&Status::resource_exhausted("slow down")).kind,
            ErrorKind::Throttled
        );
        assert_eq!(
            classify(&Status::invalid_argument("bad")).kind,
            ErrorKind::Other
        );
    }
}
