//! The HTTP API Zipkin reporters post to: `POST /api/v2/spans` (JSON or protobuf) and
//! `POST /api/v1/spans` (JSON or Thrift), optionally gzip/deflate/zstd compressed.
//!
//! Answers are Zipkin's: 202 Accepted with an empty body once the pipeline took the spans.
//! A body that cannot be read gets 400 (413 past the size limit, 415 for the other API's
//! encoding) with a plain-text reason. Pipeline refusals become the backpressure answers HTTP
//! clients understand: retryable -> 503 and throttled -> 429, both with `Retry-After`;
//! permanent -> 400. (The Collector answers 500 to all three; a reporter cannot tell a full
//! queue from bad data that way.)
//!
//! Metrics (transport `http`): `tracegate_receiver_accepted_spans` / `_refused_spans` count
//! spans by the pipeline's answer; a body refused before it became spans is counted in
//! `tracegate_receiver_dropped_packets` as `malformed` or `too_large`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use http::header::{ALLOW, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use tracegate_core::telemetry::ReceiverMetrics;
use tracegate_core::{ConsumeError, Consumer, Traces};

use crate::decode::{translate, Api, Compression, Options};
use crate::error::{Format, RequestError};

/// Bodies above this are decoded on the blocking pool, so one large batch does not stall the
/// other connections served by the same runtime thread.
const DECODE_INLINE_MAX: usize = 256 * 1024;
/// The wait suggested when the pipeline asks for one without saying how long.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// Bad requests are logged at warn level at most this often; the rest at debug.
const BAD_INPUT_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// What every request handler needs.
pub struct ServerState {
    pub next: Arc<dyn Consumer>,
    pub metrics: ReceiverMetrics,
    pub parse_string_tags: bool,
    pub max_body: usize,
    log_limiter: LogLimiter,
}

impl ServerState {
    pub fn new(next: Arc<dyn Consumer>, metrics: ReceiverMetrics, parse_string_tags: bool, max_body: usize) -> Self {
        Self { next, metrics, parse_string_tags, max_body, log_limiter: LogLimiter::new() }
    }
}

/// The Zipkin routes; built by a function so tests and the server share it.
pub fn router(state: Arc<ServerState>) -> Router {
    Router::new()
        .route("/api/v2/spans", post(v2_spans).fallback(method_not_allowed))
        .route("/api/v1/spans", post(v1_spans).fallback(method_not_allowed))
        // The handler bounds the body itself, before and after decompression.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

async fn v2_spans(State(state): State<Arc<ServerState>>, headers: HeaderMap, body: Body) -> Response {
    handle(&state, Api::V2, &headers, body).await
}

async fn v1_spans(State(state): State<Arc<ServerState>>, headers: HeaderMap, body: Body) -> Response {
    handle(&state, Api::V1, &headers, body).await
}

async fn handle(state: &ServerState, api: Api, headers: &HeaderMap, body: Body) -> Response {
    let resource_spans = match read_spans(state, api, headers, body).await {
        Ok(rs) => rs,
        Err(e) => {
            state.log_limiter.log(&e);
            match e {
                RequestError::TooLarge { .. } => state.metrics.dropped_too_large.inc(),
                _ => state.metrics.dropped_malformed.inc(),
            }
            let status = match e {
                RequestError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                RequestError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                _ => StatusCode::BAD_REQUEST,
            };
            return (status, e.to_string()).into_response();
        }
    };
    let traces = Traces::new(resource_spans);
    let spans = traces.span_count();
    if spans == 0 {
        return StatusCode::ACCEPTED.into_response();
    }
    let outcome = state.next.consume(traces).await;
    state.metrics.record(spans, &outcome);
    match outcome {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(e) => refusal(&e),
    }
}

async fn read_spans(
    state: &ServerState,
    api: Api,
    headers: &HeaderMap,
    body: Body,
) -> Result<Vec<ResourceSpans>, RequestError> {
    let header = |name| headers.get(name).map(|v| v.to_str().unwrap_or("<not ASCII>"));
    let format = api.format(header(CONTENT_TYPE))?;
    let compression = Compression::from_header(header(CONTENT_ENCODING))?;
    let raw = read_body(body, state.max_body).await?;
    let bytes = compression.decompress(raw, state.max_body)?;
    let options = Options {
        parse_string_tags: state.parse_string_tags,
        // Zipkin's B3 debug flag, as the Collector reads it for protobuf bodies.
        debug: format == Format::V2Proto && header(http::HeaderName::from_static("x-b3-flags")) == Some("1"),
    };
    if bytes.len() <= DECODE_INLINE_MAX {
        return Ok(translate(format, &bytes, options)?);
    }
    tokio::task::spawn_blocking(move || translate(format, &bytes, options))
        .await
        .map_err(|e| RequestError::Body(format!("decoding was interrupted: {e}")))?
        .map_err(RequestError::from)
}

async fn read_body(body: Body, limit: usize) -> Result<Bytes, RequestError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(RequestError::TooLarge { limit }),
        Err(e) => Err(RequestError::Body(e.to_string())),
    }
}

fn refusal(e: &ConsumeError) -> Response {
    let (status, retry_after) = match e {
        ConsumeError::Retryable(_) => (StatusCode::SERVICE_UNAVAILABLE, Some(DEFAULT_RETRY_AFTER)),
        ConsumeError::Throttled { retry_after, .. } => {
            (StatusCode::TOO_MANY_REQUESTS, Some(retry_after.unwrap_or(DEFAULT_RETRY_AFTER)))
        }
        ConsumeError::Permanent(_) => (StatusCode::BAD_REQUEST, None),
    };
    let mut response = (status, e.to_string()).into_response();
    if let Some(wait) = retry_after {
        // Whole seconds, rounded up: a client told 0 would retry at once.
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        response.headers_mut().insert(RETRY_AFTER, secs.max(1).into());
    }
    response
}

async fn method_not_allowed() -> Response {
    (StatusCode::METHOD_NOT_ALLOWED, [(ALLOW, "POST")], "405 method not allowed, supported: [POST]").into_response()
}

/// Logs bad requests at warn level at most once per interval, so a misconfigured reporter
/// cannot flood the log; the others go to debug.
struct LogLimiter {
    start: Instant,
    /// Milliseconds since `start` of the last warn, plus one (0: never).
    last_warn: AtomicU64,
}

impl LogLimiter {
    fn new() -> Self {
        Self { start: Instant::now(), last_warn: AtomicU64::new(0) }
    }

    fn log(&self, e: &RequestError) {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX).saturating_add(1);
        let last = self.last_warn.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= BAD_INPUT_LOG_INTERVAL.as_millis() as u64;
        if due && self.last_warn.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            tracing::warn!(error = %e, "refused a Zipkin request (further ones within 10s are logged at debug level)");
        } else {
            tracing::debug!(error = %e, "refused a Zipkin request");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use prost::Message;
    use tracegate_core::Lifecycle;

    use super::*;
    use crate::testutil::{attr, gzip, local_config, start, str_attr, thrift_spans, RecordingConsumer, TAnnotation, TEndpoint, TSpan};
    use crate::v2_proto::proto;

    const V2: &str = "/api/v2/spans";
    const V1: &str = "/api/v1/spans";
    const JSON: (&str, &str) = ("content-type", "application/json");
    const PROTO: (&str, &str) = ("content-type", "application/x-protobuf");
    const THRIFT: (&str, &str) = ("content-type", "application/x-thrift");

    type Headers<'a> = Vec<(&'a str, &'a str)>;

    /// A client span as Brave's JSON reporter sends it.
    const BRAVE_V2: &str = r#"[{"traceId":"5af7183fb1d4cf5f","parentId":"6b221d5bc9e6496c","id":"352bff9a74ca9ad2",
        "kind":"CLIENT","name":"get /api","timestamp":1556604172355737,"duration":1431,
        "localEndpoint":{"serviceName":"frontend","ipv4":"192.168.99.1"},
        "remoteEndpoint":{"serviceName":"backend","ipv4":"172.19.0.2","port":9000},
        "tags":{"http.method":"GET","http.path":"/api","error":"500"}}]"#;

    const V1_JSON: &str = r#"[{"traceId":"5af7183fb1d4cf5f","id":"352bff9a74ca9ad2","name":"get","timestamp":10,"duration":5,
        "annotations":[{"timestamp":10,"value":"cs","endpoint":{"serviceName":"frontend","ipv4":"10.0.0.1"}}],
        "binaryAnnotations":[{"key":"http.path","value":"/api","endpoint":{"serviceName":"frontend"}}]}]"#;

    fn proto_body() -> Vec<u8> {
        proto::ListOfSpans {
            spans: vec![proto::Span {
                trace_id: vec![0xab; 16],
                id: vec![1; 8],
                kind: proto::span::Kind::Producer as i32,
                name: "send".into(),
                timestamp: 1_000_000,
                duration: 10,
                local_endpoint: Some(proto::Endpoint { service_name: "queue-writer".into(), ..Default::default() }),
                tags: [("messaging.system".to_string(), "kafka".to_string())].into(),
                ..Default::default()
            }],
        }
        .encode_to_vec()
    }

    fn thrift_body() -> Vec<u8> {
        let host = TEndpoint { ipv4: 0x7f000001, port: 80, service_name: "legacy".into(), ipv6: None };
        thrift_spans(&[TSpan {
            trace_id: 7,
            id: 8,
            name: "handle".into(),
            annotations: vec![TAnnotation { timestamp: 5, value: "sr".into(), host: Some(host) }],
            timestamp: Some(5),
            duration: Some(3),
            ..Default::default()
        }])
    }

    #[tokio::test]
    async fn each_format_is_accepted_and_translated() {
        let run = start(local_config(), RecordingConsumer::ok()).await;
        let cases: [(&str, (&str, &str), Vec<u8>); 4] = [
            (V2, JSON, BRAVE_V2.into()),
            (V2, PROTO, proto_body()),
            (V1, JSON, V1_JSON.into()),
            (V1, THRIFT, thrift_body()),
        ];
        for (path, ct, body) in cases {
            let (status, _, text) = run.post(path, &[ct], body).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{path} {ct:?}: {text}");
            assert_eq!(text, "");
        }
        let spans = run.next.spans();
        assert_eq!(spans.len(), 4);
        let service = |i: usize| str_attr(&spans[i].0.resource.as_ref().unwrap().attributes, "service.name");
        assert_eq!(service(0).as_deref(), Some("frontend"));
        let brave = &spans[0].1;
        assert_eq!(brave.kind, 3);
        assert_eq!(brave.status.as_ref().map(|s| s.code), Some(2));
        assert_eq!(str_attr(&brave.attributes, "error").as_deref(), Some("500"));
        assert_eq!(attr(&brave.attributes, "net.peer.port"), Some(&Value::IntValue(9000)));
        assert_eq!(service(1).as_deref(), Some("queue-writer"));
        assert_eq!((spans[1].1.kind, spans[1].1.trace_id.clone()), (4, vec![0xab; 16]));
        assert_eq!(service(2).as_deref(), Some("frontend"));
        assert_eq!(spans[2].1.kind, 3);
        assert_eq!(service(3).as_deref(), Some("legacy"));
        assert_eq!(str_attr(&spans[3].0.resource.as_ref().unwrap().attributes, "ipv4").as_deref(), Some("127.0.0.1"));
        assert_eq!(spans[3].1.kind, 2);
        assert_eq!(run.counts(), (4, 0));
        run.receiver.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn compressed_bodies_and_default_content_types() {
        let run = start(local_config(), RecordingConsumer::ok()).await;
        let zstd_body = zstd::encode_all(BRAVE_V2.as_bytes(), 3).unwrap();
        let cases: Vec<(&str, Headers, Vec<u8>)> = vec![
            (V2, vec![JSON, ("content-encoding", "gzip")], gzip(BRAVE_V2.as_bytes())),
            (V2, vec![PROTO, ("content-encoding", "gzip")], gzip(&proto_body())),
            (V1, vec![THRIFT, ("content-encoding", "gzip")], gzip(&thrift_body())),
            (V2, vec![("content-encoding", "zstd")], zstd_body),
            // Zipkin reads a request without Content-Type (or with another one) as JSON.
            (V2, vec![], BRAVE_V2.into()),
            (V1, vec![("content-type", "text/plain")], V1_JSON.into()),
            (V2, vec![PROTO, ("x-b3-flags", "1")], proto_body()),
        ];
        for (path, headers, body) in cases {
            let (status, _, text) = run.post(path, &headers, body).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{path} {headers:?}: {text}");
        }
        assert_eq!(run.next.spans().len(), 7);
        run.receiver.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn bad_bodies_get_400_with_the_reason() {
        let mut config = local_config();
        config.max_request_body_size = 64 * 1024;
        let run = start(config, RecordingConsumer::ok()).await;
        let proto = proto_body();
        let cases: Vec<(&str, Headers, Vec<u8>, StatusCode, &str)> = vec![
            (V2, vec![JSON], br#"[{"traceId":"1","id":"#.to_vec(), StatusCode::BAD_REQUEST, "cannot decode the Zipkin v2 JSON body: EOF while parsing"),
            (V2, vec![JSON], br#"[{"traceId":1,"id":"2"}]"#.to_vec(), StatusCode::BAD_REQUEST, "invalid type: integer `1`, expected a string"),
            (V2, vec![JSON], br#"[{"traceId":"xyz","id":"2"}]"#.to_vec(), StatusCode::BAD_REQUEST, "span 0: invalid traceId \"xyz\""),
            (V2, vec![PROTO], proto[..proto.len() - 2].to_vec(), StatusCode::BAD_REQUEST, "cannot decode the Zipkin v2 protobuf"),
            (V1, vec![JSON], br#"{"not":"a list"}"#.to_vec(), StatusCode::BAD_REQUEST, "cannot decode the Zipkin v1 JSON body"),
            (V1, vec![THRIFT], b"\xde\xad\xbe\xef garbage".to_vec(), StatusCode::BAD_REQUEST, "cannot decode the Zipkin v1 Thrift"),
            (V2, vec![JSON, ("content-encoding", "gzip")], b"not gzip".to_vec(), StatusCode::BAD_REQUEST, "cannot decompress the gzip body"),
            (V2, vec![JSON, ("content-encoding", "br")], b"[]".to_vec(), StatusCode::BAD_REQUEST, "unsupported Content-Encoding \"br\""),
            (V2, vec![THRIFT], thrift_body(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "POST it to /api/v1/spans"),
            (V1, vec![PROTO], proto.clone(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "POST it to /api/v2/spans"),
            (V2, vec![JSON, ("content-encoding", "gzip")], gzip(&vec![b' '; 1024 * 1024]), StatusCode::PAYLOAD_TOO_LARGE, "max_request_body_size"),
            (V2, vec![JSON], vec![b' '; 65 * 1024], StatusCode::PAYLOAD_TOO_LARGE, "max_request_body_size"),
        ];
        for (path, headers, body, want_status, want) in cases {
            let (status, _, text) = run.post(path, &headers, body).await;
            assert_eq!(status, want_status, "{text}");
            assert!(text.contains(want), "{text:?} should contain {want:?}");
        }
        assert!(run.next.batches().is_empty());
        assert_eq!(run.dropped(), (10, 2), "every refused body is counted by reason");
        let (status, headers, _) = crate::testutil::http_call(run.addr(), "GET", V2, &[], vec![]).await;
        assert_eq!((status, &headers[ALLOW]), (StatusCode::METHOD_NOT_ALLOWED, &"POST".parse().unwrap()));
        let (status, _, _) = run.post("/api/v3/spans", &[JSON], b"[]".to_vec()).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // An empty list is fine and reaches nobody.
        let (status, _, _) = run.post(V2, &[JSON], b"[]".to_vec()).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(run.counts(), (0, 0));
        run.receiver.shutdown().await.unwrap();
    }

    async fn refusal_for(error: ConsumeError) -> (StatusCode, HeaderMap, String) {
        let run = start(local_config(), RecordingConsumer::failing(error)).await;
        let answer = run.post(V2, &[JSON], BRAVE_V2.into()).await;
        assert_eq!(run.counts(), (0, 1));
        run.receiver.shutdown().await.unwrap();
        answer
    }

    #[tokio::test]
    async fn pipeline_refusals_map_to_backpressure_answers() {
        let (status, headers, text) = refusal_for(ConsumeError::retryable("queue is full")).await;
        assert_eq!((status, &headers[RETRY_AFTER], text.as_str()), (StatusCode::SERVICE_UNAVAILABLE, &"1".parse().unwrap(), "queue is full"));
        let throttled = ConsumeError::Throttled { retry_after: Some(Duration::from_millis(2500)), message: "slow down".into() };
        let (status, headers, _) = refusal_for(throttled).await;
        assert_eq!((status, &headers[RETRY_AFTER]), (StatusCode::TOO_MANY_REQUESTS, &"3".parse().unwrap()));
        let throttled = ConsumeError::Throttled { retry_after: None, message: "slow down".into() };
        let (status, headers, _) = refusal_for(throttled).await;
        assert_eq!((status, &headers[RETRY_AFTER]), (StatusCode::TOO_MANY_REQUESTS, &"1".parse().unwrap()));
        let (status, headers, text) = refusal_for(ConsumeError::permanent("backend said no")).await;
        assert_eq!((status, text.as_str()), (StatusCode::BAD_REQUEST, "backend said no"));
        assert!(headers.get(RETRY_AFTER).is_none());
    }

    #[tokio::test]
    async fn large_bodies_are_decoded_off_the_runtime() {
        let run = start(local_config(), RecordingConsumer::ok()).await;
        let one = r#"{"traceId":"1","id":"2","timestamp":1,"tags":{"k":"v"}}"#;
        let body = format!("[{}]", vec![one; 10_000].join(","));
        assert!(body.len() > DECODE_INLINE_MAX);
        let (status, _, text) = run.post(V2, &[JSON], body.into_bytes()).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{text}");
        assert_eq!(run.counts(), (10_000, 0));
        run.receiver.shutdown().await.unwrap();
    }
}
