//! HTTP POST sender for OTLP/HTTP protobuf (`/v1/traces`, `application/x-protobuf`), Jaeger
//! (`/api/traces`, `application/x-thrift`) and Zipkin (`/api/v2/spans`, `application/json`).
//!
//! Each sender owns its own client and sends one request at a time, so `--connections N`
//! means N keep-alive HTTP/1.1 connections. Any 2xx is success (Jaeger and Zipkin answer 202
//! with no body); only OTLP answers can report rejected spans.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;

use crate::sender::{error_chain, SendError, SendOutcome};
use crate::stats::ErrorKind;

pub struct HttpSender {
    client: Client<HttpConnector, Full<Bytes>>,
    uri: http::Uri,
    gzip: bool,
    content_type: &'static str,
    /// Parse OTLP partial success out of the response.
    otlp: bool,
}

impl HttpSender {
    /// Opens a TCP connection first so an unreachable endpoint fails the run up front (the
    /// pooled client itself connects lazily).
    pub async fn connect(
        uri: &str,
        gzip: bool,
        content_type: &'static str,
        otlp: bool,
    ) -> Result<Self, String> {
        let uri: http::Uri = uri
            .parse()
            .map_err(|e| format!("invalid endpoint {uri:?}: {e}"))?;
        let authority = uri
            .authority()
            .map(|a| a.to_string())
            .ok_or("endpoint has no host:port")?;
        let probe = tokio::net::TcpStream::connect(&authority)
            .await
            .map_err(|e| format!("{authority}: {e}"))?;
        drop(probe);
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(1)
            .build(connector);
        Ok(Self {
            client,
            uri,
            gzip,
            content_type,
            otlp,
        })
    }

    /// Sends bytes that are already compressed when the sender was built with gzip.
    pub async fn send(&mut self, body: Bytes) -> Result<SendOutcome, SendError> {
        let mut req = http::Request::post(self.uri.clone())
            .header(http::header::CONTENT_TYPE, self.content_type);
        if self.gzip {
            req = req.header(http::header::CONTENT_ENCODING, "gzip");
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| other(e.to_string()))?;
        let resp = self.client.request(req).await.map_err(|e| {
            // A refused or reset connection is the server going away, like gRPC UNAVAILABLE.
            let kind = if e.is_connect() {
                ErrorKind::Unavailable
            } else {
                ErrorKind::Other
            };
            SendError {
                kind,
                message: error_chain(&e),
            }
        })?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| other(error_chain(&e)))?
            .to_bytes();
        if status.is_success() && !self.otlp {
            return Ok(SendOutcome { rejected: 0 });
        }
        if status.is_success() {
            // Servers may answer with an empty body; only a parsable one can report rejections.
            let rejected = ExportTraceServiceResponse::decode(body)
                .ok()
                .and_then(|r| r.partial_success)
                .map_or(0, |p| u64::try_from(p.rejected_spans).unwrap_or(0));
            return Ok(SendOutcome { rejected });
        }
        Err(classify(status, &body))
    }
}

fn other(message: String) -> SendError {
    SendError {
        kind: ErrorKind::Other,
        message,
    }
}

fn classify(status: http::StatusCode, body: &[u8]) -> SendError {
    let kind = match status.as_u16() {
        429 => ErrorKind::Throttled,
        502..=504 => ErrorKind::Unavailable,
        _ => ErrorKind::Other,
    };
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
    SendError {
        kind,
        message: format!("HTTP {status}: {text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_backpressure_kinds() {
        assert_eq!(
            classify(http::StatusCode::TOO_MANY_REQUESTS, b"").kind,
            ErrorKind::Throttled
        );
        assert_eq!(
            classify(http::StatusCode::SERVICE_UNAVAILABLE, b"").kind,
            ErrorKind::Unavailable
        );
        assert_eq!(
            classify(http::StatusCode::BAD_REQUEST, b"bad proto").kind,
            ErrorKind::Other
        );
    }
}
