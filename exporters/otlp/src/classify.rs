//! What a backend's answer means for the engine's retry: shared by both exporters so they
//! judge failures alike, following the Collector's otlpexporter and otlphttpexporter.
//!
//! - gRPC: CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE and DATA_LOSS are
//!   retryable; RESOURCE_EXHAUSTED only when the server attached a `google.rpc.RetryInfo`
//!   (it is saying it will recover); everything else is permanent. A retryable status with a
//!   RetryInfo delay becomes `Throttled` with that delay.
//! - HTTP: 429, 502, 503 and 504 are retryable, 429 and 503 throttled when `Retry-After` is
//!   present; every other non-2xx is permanent, with the server's message.
//! - A request that never got an answer (refused, reset, DNS) is retryable.

use std::error::Error as _;
use std::time::{Duration, SystemTime};

use http::{StatusCode, Uri};
use prost::Message;
use tonic::{Code, Status};
use tonic_types::StatusExt;
use tracegate_core::ConsumeError;

/// How much of an error body goes into a message: enough for any real explanation, not
/// enough to flood the log with an HTML error page.
const MAX_MESSAGE_CHARS: usize = 512;

pub(crate) fn grpc_error(endpoint: &Uri, status: &Status) -> ConsumeError {
    let mut message = format!(
        "exporting to {endpoint} failed: gRPC {:?}: {}",
        status.code(),
        status.message()
    );
    append_sources(&mut message, status.source());
    let retry_info = status.get_details_retry_info();
    let retryable = match status.code() {
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss => true,
        Code::ResourceExhausted => retry_info.is_some(),
        // tonic reports a local transport failure it cannot map (a reset connection, an h2
        // error) as UNKNOWN with the cause as its source; a server-sent status never has a
        // source. grpc-go calls those UNAVAILABLE, so they are retried here too.
        Code::Unknown => status.source().is_some(),
        _ => false,
    };
    if !retryable {
        return ConsumeError::Permanent(message);
    }
    match retry_info
        .and_then(|r| r.retry_delay)
        .filter(|d| !d.is_zero())
    {
        Some(delay) => ConsumeError::Throttled {
            retry_after: Some(delay),
            message,
        },
        None => ConsumeError::Retryable(message),
    }
}

/// A non-2xx answer. `message` is what [`http_body_message`] found in the body.
pub(crate) fn http_error(
    url: &Uri,
    status: StatusCode,
    retry_after: Option<&http::HeaderValue>,
    message: &str,
    now: SystemTime,
) -> ConsumeError {
    let mut text = format!("exporting to {url} failed: HTTP {status}");
    if !message.is_empty() {
        text.push_str(": ");
        text.push_str(message);
    }
    match status.as_u16() {
        429 | 503 => {
            match retry_after
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, now))
            {
                Some(delay) => ConsumeError::Throttled {
                    retry_after: Some(delay),
                    message: text,
                },
                None => ConsumeError::Retryable(text),
            }
        }
        502 | 504 => ConsumeError::Retryable(text),
        300..=399 => {
            // The legacy client does not follow redirects; re-POSTing a body to a moved URL
            // silently is not something to do behind a user's back anyway.
            text.push_str(" (redirects are not followed: set traces_endpoint to the final URL)");
            ConsumeError::Permanent(text)
        }
        _ => ConsumeError::Permanent(text),
    }
}

/// A request that got no HTTP answer at all.
pub(crate) fn http_transport_error(
    url: &Uri,
    err: &(dyn std::error::Error + 'static),
) -> ConsumeError {
    let mut message = format!("exporting to {url} failed: {err}");
    append_sources(&mut message, err.source());
    ConsumeError::Retryable(message)
}

/// `Retry-After` as delay-seconds or an HTTP-date (RFC 9110 §10.2.3). A date already past
/// means "now".
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The explanation in an error body: a `google.rpc.Status` message (protobuf or JSON, as
/// OTLP/HTTP servers send it), or else the body as text.
pub(crate) fn http_body_message(content_type: Option<&str>, body: &[u8]) -> String {
    let content_type = content_type.unwrap_or("");
    let from_status = if content_type.starts_with("application/x-protobuf") {
        tonic_types::pb::Status::decode(body)
            .ok()
            .map(|s| s.message)
    } else if content_type.starts_with("application/json") {
        serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
    } else {
        None
    };
    let text = from_status.unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let text = text.trim();
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Rejected spans in an otherwise accepted batch: nothing to retry (the backend refused
/// those spans for good), so the batch counts as sent and the rejection is logged.
pub(crate) fn log_partial_success(
    exporter: &str,
    endpoint: &Uri,
    rejected_spans: i64,
    message: &str,
) {
    if rejected_spans != 0 || !message.is_empty() {
        tracing::warn!(
            exporter,
            %endpoint,
            rejected_spans,
            message,
            "partial success: the backend rejected part of a batch"
        );
    }
}

fn append_sources(message: &mut String, mut source: Option<&(dyn std::error::Error + 'static)>) {
    while let Some(err) = source {
        let text = err.to_string();
        // Error types often repeat their cause in their own message; do not say it twice.
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = err.source();
    }
}

#[cfg(test)]
#[path = "classify_tests.rs"]
mod tests;
