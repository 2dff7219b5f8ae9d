//! The collector's Thrift-over-HTTP endpoint: `POST /api/traces` with a binary-Thrift
//! `Batch` as the body, answered `202 Accepted`, as Jaeger's collector does.
//!
//! Error texts are Jaeger's (`Unsupported content type: ...`, `Unable to process request
//! body: ...`), because clients and their users have seen them for years. The query string is
//! ignored: old clients send `?format=jaeger.thrift`, which today's Jaeger accepts by not
//! looking. Bodies may be gzip-compressed (`Content-Encoding: gzip`), as the Collector's
//! `confighttp` allows; the size limit applies both as sent and after decompression, so a
//! small gzip bomb cannot expand in memory.

use std::io::Read;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tracegate_core::ConsumeError;
use tracegate_translator_jaeger::{decode_batch_binary, thrift_to_otlp};

use crate::drops::{DropReason, Drops};
use crate::ingest::Ingest;

pub const TRACES_PATH: &str = "/api/traces";

/// The media types Jaeger's collector accepts for a binary-Thrift batch.
const THRIFT_MEDIA_TYPES: [&str; 2] = ["application/x-thrift", "application/vnd.apache.thrift.binary"];

/// The wait a client is told when the pipeline gave none: short enough not to stall it, long
/// enough not to invite a retry loop.
const DEFAULT_RETRY_AFTER_SECS: u64 = 1;

struct HttpState {
    ingest: Ingest,
    drops: Arc<Drops>,
    max_body: usize,
}

/// The routes; a function so that tests and the server share them.
pub fn router(ingest: Ingest, drops: Arc<Drops>, max_body: usize) -> Router {
    let state = Arc::new(HttpState { ingest, drops, max_body });
    Router::new()
        .route(TRACES_PATH, post(post_traces))
        // The handler applies the configured limit itself, before and after gzip.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

fn text(status: StatusCode, body: String) -> Response {
    (status, [(CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

async fn post_traces(State(state): State<Arc<HttpState>>, headers: HeaderMap, body: Body) -> Response {
    // A type this port cannot read is counted like an undecodable body.
    let media_type = match media_type(headers.get(CONTENT_TYPE)) {
        Ok(m) => m,
        Err(why) => {
            state.drops.drop_packet(DropReason::Malformed, || format!("cannot parse the Content-Type: {why}"));
            return text(StatusCode::BAD_REQUEST, format!("Cannot parse content type: {why}"));
        }
    };
    if !THRIFT_MEDIA_TYPES.contains(&media_type.as_str()) {
        state.drops.drop_packet(DropReason::Malformed, || format!("unsupported Content-Type {media_type}"));
        return text(StatusCode::BAD_REQUEST, format!("Unsupported content type: {media_type}"));
    }
    let bytes = match read_body(&headers, body, state.max_body).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            state.drops.drop_packet(DropReason::TooLarge, || format!("body larger than {} bytes", state.max_body));
            return text(StatusCode::PAYLOAD_TOO_LARGE, format!("Request body larger than {} bytes", state.max_body));
        }
        Err(BodyError::Bad(why)) => {
            state.drops.drop_packet(DropReason::Malformed, || why.clone());
            return text(StatusCode::BAD_REQUEST, format!("Unable to process request body: {why}"));
        }
    };
    let batch = match decode_batch_binary(&bytes) {
        Ok(batch) => batch,
        Err(e) => {
            state.drops.drop_packet(DropReason::Malformed, || format!("cannot decode {}-byte batch: {e}", bytes.len()));
            return text(StatusCode::BAD_REQUEST, format!("Unable to process request body: {e}"));
        }
    };
    match state.ingest.deliver(thrift_to_otlp(batch)).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(e) => refusal(&e),
    }
}

/// Pipeline refusals as HTTP clients with retry logic understand them.
fn refusal(error: &ConsumeError) -> Response {
    let (status, retry_after) = match error {
        ConsumeError::Retryable(_) => (StatusCode::SERVICE_UNAVAILABLE, Some(DEFAULT_RETRY_AFTER_SECS)),
        ConsumeError::Throttled { retry_after, .. } => {
            // Whole seconds, rounded up: the header has no finer unit, and 0 means "now".
            let secs = retry_after.map_or(DEFAULT_RETRY_AFTER_SECS, |d| d.as_secs() + u64::from(d.subsec_nanos() > 0));
            (StatusCode::TOO_MANY_REQUESTS, Some(secs.max(1)))
        }
        ConsumeError::Permanent(_) => (StatusCode::BAD_REQUEST, None),
    };
    let mut response = text(status, format!("Cannot submit Jaeger batch: {error}"));
    if let Some(secs) = retry_after {
        response.headers_mut().insert(RETRY_AFTER, secs.into());
    }
    response
}

/// The media type without parameters, lower-cased, as Go's `mime.ParseMediaType` gives it.
fn media_type(header: Option<&http::HeaderValue>) -> Result<String, String> {
    let value = header.map(|v| v.to_str().map_err(|_| "not ASCII".to_string())).transpose()?.unwrap_or("");
    let media = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if media.is_empty() {
        return Err("no media type".into());
    }
    let is_token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    match media.split_once('/') {
        Some((t, sub)) if is_token(t) && is_token(sub) => Ok(media),
        _ => Err(format!("invalid media type \"{media}\"")),
    }
}

enum BodyError {
    TooLarge,
    Bad(String),
}

async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, BodyError> {
    let gzip = match headers.get(CONTENT_ENCODING).map(|v| v.to_str().map(str::trim)) {
        None => false,
        Some(Ok(e)) if e.is_empty() || e.eq_ignore_ascii_case("identity") => false,
        Some(Ok(e)) if e.eq_ignore_ascii_case("gzip") || e.eq_ignore_ascii_case("x-gzip") => true,
        Some(Ok(e)) => return Err(BodyError::Bad(format!("unsupported Content-Encoding \"{e}\" (supported: gzip)"))),
        Some(Err(_)) => return Err(BodyError::Bad("Content-Encoding is not ASCII".into())),
    };
    let raw = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => return Err(BodyError::TooLarge),
        Err(e) => return Err(BodyError::Bad(e.to_string())),
    };
    if !gzip {
        return Ok(raw);
    }
    let mut out = Vec::new();
    // One byte past the limit tells "exactly at the limit" from "over it".
    let mut decoder = flate2::read::MultiGzDecoder::new(raw.as_ref()).take(limit as u64 + 1);
    decoder.read_to_end(&mut out).map_err(|e| BodyError::Bad(format!("cannot gunzip: {e}")))?;
    if out.len() > limit {
        return Err(BodyError::TooLarge);
    }
    Ok(out.into())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::io::Write;

    use tracegate_core::Lifecycle;
    use tracegate_translator_jaeger::encode_batch_binary;

    use super::*;
    use crate::testutil::{batch, http_call, local_config, start, RecordingConsumer};

    const THRIFT: (&str, &str) = ("content-type", "application/x-thrift");

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[tokio::test]
    async fn thrift_batches_are_accepted_with_202_in_every_form_jaeger_clients_send() {
        let run = start(local_config(), RecordingConsumer::ok()).await;
        let addr = run.http_addr();
        let body = |name: &str| encode_batch_binary(&batch("svc", &[name]));
        let sends = [
            ("/api/traces", vec![THRIFT], body("plain")),
            ("/api/traces?format=jaeger.thrift", vec![THRIFT], body("format")),
            ("/api/traces", vec![("content-type", "application/vnd.apache.thrift.binary; charset=utf-8")], body("vnd")),
            ("/api/traces", vec![THRIFT, ("content-encoding", "gzip")], gzip(&body("gzip"))),
        ];
        for (path, headers, body) in sends {
            let (status, _, text) = http_call(addr, path, &headers, body).await;
            assert_eq!((status, text.as_str()), (StatusCode::ACCEPTED, ""), "{path} {headers:?}");
        }
        assert_eq!(run.next.span_names(), ["plain", "format", "vnd", "gzip"]);
        assert_eq!(run.counts("http"), (4, 0));
        run.receiver.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn other_content_types_get_jaegers_400_and_are_counted() {
        let run = start(local_config(), RecordingConsumer::ok()).await;
        let body = encode_batch_binary(&batch("svc", &["a"]));
        let (status, _, text) = http_call(run.http_addr(), "/api/traces", &[("content-type", "application/json")], body.clone()).await;
        assert_eq!((status, text.as_str()), (StatusCode::BAD_REQUEST, "Unsupported content type: application/json"));
        let (status, _, text) = http_call(run.http_addr(), "/api/traces", &[], body).await;
        assert_eq!((status, text.as_str()), (StatusCode::BAD_REQUEST, "Cannot parse content type: no media type"));
        assert!(run.next.batches().is_empty());
        assert_eq!(run.dropped("http", DropReason::Malformed), 2, "both refusals are counted");
        run.receiver.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn malformed_bodies_get_400_with_the_reason_and_are_counted() {
        let run = start(local_config(), RecordingConsumer::ok()).await;
        let addr = run.http_addr();
        let (status, _, text) = http_call(addr, "/api/traces", &[THRIFT], vec![0xff; 32]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(text.starts_with("Unable to process request body: ") && text.len() > 33, "{text}");
        let (status, _, text) = http_call(addr, "/api/traces", &[THRIFT, ("content-encoding", "gzip")], b"not gzip".to_vec()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(text.starts_with("Unable to process request body: cannot gunzip"), "{text}");
        let (status, _, text) = http_call(addr, "/api/traces", &[THRIFT, ("content-encoding", "br")], vec![1]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(text.contains("unsupported Content-Encoding \"br\""), "{text}");
        assert_eq!(run.dropped("http", DropReason::Malformed), 3);
        assert!(run.next.batches().is_empty());
        run.receiver.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_refused_before_and_after_gunzip() {
        let mut config = local_config();
        config.protocols.thrift_http.as_mut().unwrap().max_request_body_size = 1024;
        let run = start(config, RecordingConsumer::ok()).await;
        let addr = run.http_addr();
        let (status, _, _) = http_call(addr, "/api/traces", &[THRIFT], vec![0; 2048]).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        // Far under the limit as sent, far over it once inflated.
        let bomb = gzip(&vec![0; 256 * 1024]);
        assert!(bomb.len() < 1024);
        let (status, _, _) = http_call(addr, "/api/traces", &[THRIFT, ("content-encoding", "gzip")], bomb).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(run.dropped("http", DropReason::TooLarge), 2);
        run.receiver.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn pipeline_refusals_reach_the_client() {
        for (error, want, retry_after) in [
            (ConsumeError::retryable("queue is full"), StatusCode::SERVICE_UNAVAILABLE, Some("1")),
            (ConsumeError::Throttled { retry_after: Some(std::time::Duration::from_secs(7)), message: "slow down".into() }, StatusCode::TOO_MANY_REQUESTS, Some("7")),
            (ConsumeError::permanent("rejected"), StatusCode::BAD_REQUEST, None),
        ] {
            let run = start(local_config(), RecordingConsumer::failing(error.clone())).await;
            let body = encode_batch_binary(&batch("svc", &["a", "b"]));
            let (status, headers, text) = http_call(run.http_addr(), "/api/traces", &[THRIFT], body).await;
            assert_eq!(status, want, "{error:?}");
            assert_eq!(headers.get(RETRY_AFTER).map(|v| v.to_str().unwrap()), retry_after);
            assert_eq!(text, format!("Cannot submit Jaeger batch: {error}"));
            assert_eq!(run.counts("http"), (0, 2));
            run.receiver.shutdown().await.unwrap();
        }
    }

    fn ct(v: &str) -> Result<String, String> {
        media_type(Some(&http::HeaderValue::from_str(v).unwrap()))
    }

    #[test]
    fn media_type_drops_parameters_and_case() {
        assert_eq!(ct("application/x-thrift").unwrap(), "application/x-thrift");
        assert_eq!(ct("Application/VND.apache.thrift.binary ; charset=utf-8").unwrap(), "application/vnd.apache.thrift.binary");
        assert_eq!(media_type(None).unwrap_err(), "no media type");
        assert!(ct("application").is_err());
        assert!(ct("a/<b>").is_err());
    }

    #[test]
    fn refusals_map_to_jaeger_http_codes() {
        let r = refusal(&ConsumeError::retryable("queue full"));
        assert_eq!((r.status(), r.headers()[RETRY_AFTER].to_str().unwrap()), (StatusCode::SERVICE_UNAVAILABLE, "1"));
        let r = refusal(&ConsumeError::Throttled { retry_after: Some(std::time::Duration::from_millis(2500)), message: "slow".into() });
        assert_eq!((r.status(), r.headers()[RETRY_AFTER].to_str().unwrap()), (StatusCode::TOO_MANY_REQUESTS, "3"));
        let r = refusal(&ConsumeError::permanent("no"));
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.headers().get(RETRY_AFTER).is_none());
    }
}
