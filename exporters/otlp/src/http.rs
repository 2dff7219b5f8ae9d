//! The `otlphttp` exporter: OTLP over HTTP/1.1, protobuf or JSON, with hyper-util's pooled
//! client.
//!
//! Each batch is encoded and compressed once and POSTed once; the engine retries. Only a
//! bounded prefix of a response body is read: it is there for a partial-success count or an
//! error message, and a misbehaving backend must not make tracegate buffer megabytes of it.

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use http::HeaderValue;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use tracegate_core::auth::{add_client_headers, client_authenticator, ClientAuthenticator};
use tracegate_core::{ComponentError, ConsumeError, Exporter, Host, Lifecycle, Traces};

use crate::classify;
use crate::config::{Encoding, HttpSettings};
use crate::transport::{connector, Speaks};

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";
/// The Collector reads at most this much of a response, for the same reason.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// POSTs each batch to the traces URL.
pub struct OtlpHttpExporter {
    id: String,
    settings: HttpSettings,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// The `auth:` extension's credentials, found at start.
    auth: OnceLock<Arc<dyn ClientAuthenticator>>,
}

impl OtlpHttpExporter {
    /// Reads the files of `tls:` for an `https://` URL; a missing or bad one is a config error.
    pub(crate) fn new(id: String, settings: HttpSettings) -> Result<Self, tracegate_core::ComponentError> {
        let tls = (settings.url.scheme_str() == Some("https")).then_some(&settings.tls);
        let connector = connector(tls, Speaks::Http1)
            .map_err(|e| tracegate_core::ComponentError::Config(format!("tls: {e}")))?;
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self {
            id,
            settings,
            client,
            auth: OnceLock::new(),
        })
    }

    fn encode(&self, traces: Traces) -> Result<(Bytes, &'static str), ConsumeError> {
        let (body, content_type) = match self.settings.encoding {
            // A batch still in its received bytes is sent as they are.
            Encoding::Proto => (traces.encode_request(), PROTOBUF),
            Encoding::Json => {
                let body = serde_json::to_vec(&traces.into_request()).map_err(|e| {
                    ConsumeError::permanent(format!("cannot encode the batch as OTLP/JSON: {e}"))
                })?;
                (Bytes::from(body), JSON)
            }
        };
        let body = self
            .settings
            .compression
            .compress(body)
            .map_err(|e| ConsumeError::permanent(format!("cannot compress the batch: {e}")))?;
        Ok((body, content_type))
    }
}

#[async_trait]
impl Lifecycle for OtlpHttpExporter {
    async fn start(&self, host: Arc<dyn Host>) -> Result<(), ComponentError> {
        if let Some(auth) = client_authenticator(&*host, self.settings.auth.as_ref())? {
            let _ = self.auth.set(auth);
        }
        Ok(())
    }
}

#[async_trait]
impl Exporter for OtlpHttpExporter {
    async fn export(&self, traces: Traces) -> Result<(), ConsumeError> {
        let url = &self.settings.url;
        let (body, content_type) = self.encode(traces)?;
        let mut request = http::Request::new(Full::new(body));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = url.clone();
        let headers = request.headers_mut();
        *headers = self.settings.headers.clone();
        if let Some(auth) = self.auth.get() {
            // No credentials now (an unreadable token file): retry, the file may be fixed.
            add_client_headers(headers, auth.as_ref())
                .map_err(|e| ConsumeError::retryable(format!("auth: {e}")))?;
        }
        // The protocol's own headers win over `headers:`; a wrong Content-Type would only
        // turn every batch into a 415.
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        match self.settings.compression.content_encoding() {
            Some(encoding) => headers.insert(CONTENT_ENCODING, HeaderValue::from_static(encoding)),
            None => headers.remove(CONTENT_ENCODING),
        };
        headers
            .entry(USER_AGENT)
            .or_insert(HeaderValue::from_static(crate::USER_AGENT));

        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| classify::http_transport_error(url, &e))?;
        let (parts, body) = response.into_parts();
        let response_type = parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let body = read_prefix(body).await;
        if parts.status.is_success() {
            if let Some((rejected, message)) = partial_success(response_type, &body) {
                classify::log_partial_success(&self.id, url, rejected, &message);
            }
            return Ok(());
        }
        let message = classify::http_body_message(response_type, &body);
        Err(classify::http_error(
            url,
            parts.status,
            parts.headers.get(RETRY_AFTER),
            &message,
            SystemTime::now(),
        ))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Up to [`MAX_RESPONSE_BYTES`] of a body. A body that breaks off yields what came; the
/// status line already said whether the batch was taken.
async fn read_prefix(mut body: Incoming) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < MAX_RESPONSE_BYTES {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    let take = data.len().min(MAX_RESPONSE_BYTES - out.len());
                    out.extend_from_slice(&data[..take]);
                }
            }
            Some(Err(e)) => {
                tracing::debug!("response body broke off: {e}");
                break;
            }
            None => break,
        }
    }
    out
}

/// The rejected-span count and message of a 2xx answer, if it carries one. An answer that
/// does not decode is still a success: the status code said the batch was taken.
fn partial_success(content_type: Option<&str>, body: &[u8]) -> Option<(i64, String)> {
    if body.is_empty() {
        return None;
    }
    if content_type.is_some_and(|t| t.starts_with(JSON)) {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        let partial = value.get("partialSuccess")?;
        // OTLP/JSON writes int64 as a string, but numbers occur in the wild too.
        let rejected = match partial.get("rejectedSpans") {
            Some(serde_json::Value::String(s)) => s.parse().unwrap_or(0),
            Some(v) => v.as_i64().unwrap_or(0),
            None => 0,
        };
        let message = partial
            .get("errorMessage")
            .and_then(|m| m.as_str())
            .unwrap_or_default();
        return Some((rejected, message.to_owned()));
    }
    let partial = ExportTraceServiceResponse::decode(body)
        .ok()?
        .partial_success?;
    Some((partial.rejected_spans, partial.error_message))
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
