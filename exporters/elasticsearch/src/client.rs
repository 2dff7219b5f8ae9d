//! A small REST client for the cluster: round-robin over `endpoints`, failing over to the next
//! endpoint when one cannot be reached (not when it answers: an answer, even an error, is the
//! cluster's word), with basic auth or an API key and https through rustls.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde_json::Value;
use tracegate_core::auth::{add_client_headers, ClientAuthenticator};

use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No endpoint could be reached (connection refused, reset, timed out).
    #[error("no Elasticsearch endpoint reachable: {0}")]
    Unreachable(String),
    /// The cluster answered with an error status.
    #[error("Elasticsearch answered {status}: {reason}")]
    Status { status: u16, reason: String, retry_after: Option<Duration> },
    #[error("unexpected response from Elasticsearch: {0}")]
    Decode(String),
}

pub struct EsClient {
    http: reqwest::Client,
    endpoints: Vec<String>,
    next: AtomicUsize,
    /// `auth: { authenticator }`'s credentials, set at start; added to each request.
    authenticator: OnceLock<Arc<dyn ClientAuthenticator>>,
}

/// The `reason` of an Elasticsearch error body, or the body itself.
fn reason_of(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            let e = v.get("error")?;
            Some(match e.get("reason").and_then(Value::as_str) {
                Some(r) => format!("{}: {r}", e.get("type").and_then(Value::as_str).unwrap_or("error")),
                None => e.to_string(),
            })
        })
        .unwrap_or_else(|| body.chars().take(300).collect())
}

impl EsClient {
    pub fn new(config: &Config) -> Result<Self, String> {
        let mut headers = HeaderMap::new();
        let auth = if !config.auth.api_key.is_empty() {
            Some(format!("ApiKey {}", config.auth.api_key))
        } else if !config.auth.username.is_empty() {
            let raw = format!("{}:{}", config.auth.username, config.auth.password);
            Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw)))
        } else {
            None
        };
        if let Some(a) = auth {
            let mut value = HeaderValue::from_str(&a).map_err(|_| "auth: credentials contain characters not allowed in a header".to_string())?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60));
        // The URL scheme decides TLS (as for the Collector's HTTP clients); `tls:` says how.
        let https = config.endpoints.iter().any(|e| e.trim().starts_with("https://"));
        let plain = tracegate_core::config::TlsClientConfig { insecure: true, ..Default::default() };
        let tls = if https { &config.tls } else { &plain };
        if let Some(rustls) = tracegate_core::tls_client::client_config(tls).map_err(|e| format!("tls: {e}"))? {
            builder = builder.use_preconfigured_tls(rustls);
        }
        let http = builder.build().map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let endpoints = config.endpoints.iter().map(|e| e.trim_end_matches('/').to_string()).collect();
        Ok(Self { http, endpoints, next: AtomicUsize::new(0), authenticator: OnceLock::new() })
    }

    /// Sends `auth`'s credentials with every request from now on.
    pub fn set_authenticator(&self, auth: Arc<dyn ClientAuthenticator>) {
        let _ = self.authenticator.set(auth);
    }

    /// Sends one request; `body` is `(bytes, content type)`. Returns the decoded JSON answer.
    pub async fn request(&self, method: Method, path: &str, body: Option<(Vec<u8>, &'static str)>) -> Result<Value, ClientError> {
        let n = self.endpoints.len().max(1);
        let first = self.next.fetch_add(1, Ordering::Relaxed);
        let mut credentials = HeaderMap::new();
        if let Some(auth) = self.authenticator.get() {
            // No credentials now (an unreadable token file) is like an unreachable cluster:
            // retried, since the file may be fixed.
            add_client_headers(&mut credentials, auth.as_ref()).map_err(|e| ClientError::Unreachable(format!("auth: {e}")))?;
        }
        let mut last_err = String::from("no endpoints configured");
        for i in 0..self.endpoints.len() {
            let base = &self.endpoints[(first + i) % n];
            let mut req = self.http.request(method.clone(), format!("{base}{path}")).headers(credentials.clone());
            if let Some((bytes, ct)) = &body {
                req = req.header(CONTENT_TYPE, *ct).body(bytes.clone());
            }
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(endpoint = %base, error = %e, "Elasticsearch endpoint unreachable, trying the next");
                    last_err = format!("{base}: {e}");
                    continue;
                }
            };
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .map(Duration::from_secs);
            let text = resp.text().await.map_err(|e| ClientError::Unreachable(format!("{base}: reading the answer: {e}")))?;
            if !(200..300).contains(&status) {
                return Err(ClientError::Status { status, reason: reason_of(&text), retry_after });
            }
            return serde_json::from_str(&text).map_err(|e| ClientError::Decode(format!("{e}: {}", text.chars().take(200).collect::<String>())));
        }
        Err(ClientError::Unreachable(last_err))
    }

    pub async fn json(&self, method: Method, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.request(method, path, Some((body.to_string().into_bytes(), "application/json"))).await
    }

    pub async fn ndjson(&self, path: &str, body: Vec<u8>) -> Result<Value, ClientError> {
        self.request(Method::POST, path, Some((body, "application/x-ndjson"))).await
    }
}
