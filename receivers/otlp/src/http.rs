//! OTLP/HTTP: `POST /v1/traces` (path configurable) on axum, protobuf or JSON, optionally
//! gzip/zstd/deflate compressed.
//!
//! Answers follow the OTLP/HTTP spec: success and failure bodies come in the request's
//! encoding (an `ExportTraceServiceResponse`, or a `google.rpc.Status` for 400/413/429/503),
//! and throttling or an unavailable pipeline carries `Retry-After` in seconds. The two
//! answers given before the encoding is known, 405 and 415, are plain text, as the
//! Collector's are.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use http::header::{ALLOW, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use prost::Message;

use crate::config::HttpConfig;
use crate::decode::{Compression, DecodeError, Format};
use crate::ingest::{Incoming, Ingest};
use crate::status::{Refusal, RpcStatus};

struct HttpState {
    ingest: Ingest,
    max_body: usize,
}

/// The OTLP/HTTP routes; built by a function so tests and the server share it.
pub fn router(config: &HttpConfig, ingest: Ingest) -> Router {
    let state = Arc::new(HttpState {
        ingest,
        max_body: config.max_body_bytes(),
    });
    Router::new()
        .route(
            &config.traces_path(),
            post(export).fallback(method_not_allowed),
        )
        // The handler bounds the body itself (before and after decompression) with the
        // configured limit; axum's 2 MB default must not cut in first.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

async fn export(State(state): State<Arc<HttpState>>, headers: HeaderMap, body: Body) -> Response {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(format) = Format::from_content_type(content_type) else {
        // Counted like an undecodable body: the request carried spans nobody can read.
        state.ingest.count_dropped_body(false);
        tracing::debug!(content_type, "OTLP/HTTP request with an unsupported Content-Type");
        let msg = format!(
            "415 unsupported media type \"{content_type}\", supported: [application/json, application/x-protobuf]"
        );
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, msg).into_response();
    };
    let request = match read_request(&headers, body, format, state.max_body).await {
        Ok(request) => request,
        Err(e) => {
            let too_large = matches!(e, DecodeError::TooLarge { .. });
            state.ingest.count_dropped_body(too_large);
            let status = if too_large {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            tracing::debug!(error = %e, "bad OTLP/HTTP request");
            return status_response(
                format,
                status,
                &RpcStatus::new(tonic::Code::InvalidArgument, e.to_string()),
                None,
            );
        }
    };
    match state.ingest.export(request).await {
        Ok(response) => {
            let body = match format {
                Format::Protobuf => response.encode_to_vec(),
                Format::Json => crate::json::encode_response(&response),
            };
            ([(CONTENT_TYPE, format.content_type())], body).into_response()
        }
        Err(refusal) => refusal_response(format, &refusal),
    }
}

async fn read_request(
    headers: &HeaderMap,
    body: Body,
    format: Format,
    max_body: usize,
) -> Result<Incoming, DecodeError> {
    let encoding = match headers.get(CONTENT_ENCODING) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| DecodeError::UnsupportedEncoding("<not ASCII>".into()))?,
        ),
    };
    let compression = Compression::from_header(encoding)?;
    let raw = read_body(body, max_body).await?;
    let bytes = compression.decompress(raw, max_body)?;
    format.decode(bytes)
}

async fn read_body(body: Body, limit: usize) -> Result<Bytes, DecodeError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(DecodeError::TooLarge { limit })
        }
        Err(e) => Err(DecodeError::Body(e.to_string())),
    }
}

fn refusal_response(format: Format, refusal: &Refusal) -> Response {
    status_response(
        format,
        refusal.http_status,
        &refusal.rpc_status(),
        refusal.retry_after_header(),
    )
}

fn status_response(
    format: Format,
    status: StatusCode,
    body: &RpcStatus,
    retry_after: Option<u64>,
) -> Response {
    let bytes = match format {
        Format::Protobuf => body.encode_to_vec(),
        Format::Json => crate::json::encode_status(body),
    };
    let mut response = (status, [(CONTENT_TYPE, format.content_type())], bytes).into_response();
    if let Some(secs) = retry_after {
        response.headers_mut().insert(RETRY_AFTER, secs.into());
    }
    response
}

async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(ALLOW, "POST")],
        "405 method not allowed, supported: [POST]",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::io::Write;
    use std::time::Duration;

    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
    use serde_json::{json, Value};
    use tracegate_core::{ConsumeError, Lifecycle};

    use super::*;
    use crate::testutil::{
        http_call, local_config, request, span, start, RecordingConsumer, SPEC_EXAMPLE,
    };

    const PROTO: (&str, &str) = ("content-type", "application/x-protobuf");
    const JSON: (&str, &str) = ("content-type", "application/json");

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[tokio::test]
    async fn protobuf_export_answers_in_protobuf() {
        let run = start(local_config(), RecordingConsumer::ok()).await;
        let body = request(vec![span("a"), span("b")]).encode_to_vec();
        let (status, headers, resp) = http_call(
            run.http_addr(),
            "POST",
            "/v1/traces",
            &[PROTO],
            body.clone(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[CONTENT_TYPE], "application/x-protobuf");
        assert_eq!(
            ExportTraceServiceResponse::decode(resp).unwrap(),
            ExportTraceServiceResponse::default()
        );
        assert_eq!(run.next.batches()[0].span_count(), 2);
        let batch = &run.next.batches()[0];
        let passed_on = batch.is_encoded().then(|| batch.encode_request());
        assert_eq!(
            passed_on.as_deref(),
            Some(body.as_slice()),
            "the body travels on undecoded"
        );
        assert_eq!(run.counts("http"), (2, 0));
        run.receiver.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn json_export_of_the_spec_example() {
        let run = start(local_config(), RecordingConsumer::ok()).await;
        let (status, headers, resp) = http_call(
            run.http_addr(),
            "POST",
            "/v1/traces",
            &[JSON],
            SPEC_EXAMPLE.into(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{resp:?}");
        assert_eq!(headers[CONTENT_TYPE], "application/json");
        assert_eq!(&resp[..], b"{}");
        let batch = &run.next.batches()[0];
        let span = &batch.resource_spans()[0].scope_spans[0].spans[0];
        assert_eq!(span.trace_id[..3], [0x5b, 0x8e, 0xff]);
        assert_eq!(span.kind, 2);
        run.receiver.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn compressed_bodies_are_accepted() {
        let run = start(local_config(), RecordingConsumer::ok()).await;
        let proto = request(vec![span("a")]).encode_to_vec();
        let cases = [
            (PROTO, "gzip", gzip(&proto)),
            (PROTO, "zstd", zstd::encode_all(&proto[..], 3).unwrap()),
            (JSON, "gzip", gzip(SPEC_EXAMPLE.as_bytes())),
            (
                JSON,
                "zstd",
                zstd::encode_all(SPEC_EXAMPLE.as_bytes(), 3).unwrap(),
            ),
        ];
        for (ct, enc, body) in cases {
            let (status, _, resp) = http_call(
                run.http_addr(),
                "POST",
                "/v1/traces",
                &[ct, ("content-encoding", enc)],
                body,
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{ct:?} {enc}: {resp:?}");
        }
        assert_eq!(run.next.batches().len(), 4);
        run.receiver.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn partial_success_in_json() {
        let run = start(local_config(), RecordingConsumer::ok()).await;
        let body = SPEC_EXAMPLE.replace("EEE19B7EC3C1B174", "EEE1");
        let (status, _, resp) =
            http_call(run.http_addr(), "POST", "/v1/traces", &[JSON], body.into()).await;
        assert_eq!(status, StatusCode::OK);
        let v: Value = serde_json::from_slice(&resp).unwrap();
        assert_eq!(v["partialSuccess"]["rejectedSpans"], "1");
        assert!(v["partialSuccess"]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("span_id must be 8 bytes, got 2"));
        assert!(run.next.batches().is_empty());
        assert_eq!(run.counts("http"), (0, 1));
        run.receiver.shutdown().await.unwrap();
    }

    async fn refusal_for(error: ConsumeError, ct: (&str, &str)) -> (StatusCode, HeaderMap, Bytes) {
        let run = start(local_config(), RecordingConsumer::failing(error)).await;
        let body = match ct {
            PROTO => request(vec![span("a")]).encode_to_vec(),
            _ => SPEC_EXAMPLE.into(),
        };
        let answer = http_call(run.http_addr(), "POST", "/v1/traces", &[ct], body).await;
        assert_eq!(run.counts("http"), (0, 1));
        run.receiver.shutdown().await.unwrap();
        answer
    }

    #[tokio::test]
    async fn pipeline_errors_map_to_status_and_retry_after() {
        let (status, headers, body) =
            refusal_for(ConsumeError::retryable("queue is full"), PROTO).await;
        assert_eq!(
            (status, &headers[RETRY_AFTER]),
            (StatusCode::SERVICE_UNAVAILABLE, &"1".parse().unwrap())
        );
        let rpc = RpcStatus::decode(body).unwrap();
        assert_eq!(
            (rpc.code, rpc.message.as_str()),
            (tonic::Code::Unavailable as i32, "queue is full")
        );

        let throttled = ConsumeError::Throttled {
            retry_after: Some(Duration::from_secs(30)),
            message: "slow".into(),
        };
        let (status, headers, body) = refusal_for(throttled, JSON).await;
        assert_eq!(
            (status, &headers[RETRY_AFTER]),
            (StatusCode::TOO_MANY_REQUESTS, &"30".parse().unwrap())
        );
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["details"][0]["retryDelay"], "30s");

        let throttled = ConsumeError::Throttled {
            retry_after: None,
            message: "slow".into(),
        };
        let (status, headers, _) = refusal_for(throttled, PROTO).await;
        assert_eq!(
            (status, &headers[RETRY_AFTER]),
            (StatusCode::TOO_MANY_REQUESTS, &"1".parse().unwrap())
        );

        let (status, headers, body) =
            refusal_for(ConsumeError::permanent("backend said no"), JSON).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(headers.get(RETRY_AFTER).is_none());
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v, json!({"code": 3, "message": "backend said no"}));
    }

    #[tokio::test]
    async fn a_wrong_content_type_is_refused_with_415_and_counted() {
        let run = start(local_config(), RecordingConsumer::ok()).await;
        let addr = run.http_addr();
        for headers in [&[("content-type", "text/plain")][..], &[]] {
            let (status, _, _) =
                http_call(addr, "POST", "/v1/traces", headers, b"hi".to_vec()).await;
            assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{headers:?}");
        }
        let m = run.telemetry.metrics.receiver("otlp", "http");
        assert_eq!(
            m.dropped_malformed.get(),
            2,
            "both refusals are in tracegate_receiver_dropped_packets"
        );
        assert!(run.next.batches().is_empty());
        run.receiver.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn json_arrays_are_not_requests() {
        let run = start(local_config(), RecordingConsumer::ok()).await;
        for body in ["[]", "[[]]"] {
            let (status, _, answer) =
                http_call(run.http_addr(), "POST", "/v1/traces", &[JSON], body.into()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            let v: Value = serde_json::from_slice(&answer).unwrap();
            let message = v["message"].as_str().unwrap();
            assert!(
                message.contains("the body must be a JSON object (an ExportTraceServiceRequest), not an array"),
                "{message}"
            );
        }
        let m = run.telemetry.metrics.receiver("otlp", "http");
        assert_eq!(m.dropped_malformed.get(), 2);
        run.receiver.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn bad_requests_are_refused_with_a_reason() {
        let mut config = local_config();
        config
            .protocols
            .http
            .as_mut()
            .unwrap()
            .max_request_body_size = 64 * 1024;
        let run = start(config, RecordingConsumer::ok()).await;
        let addr = run.http_addr();

        let (status, _, body) = http_call(
            addr,
            "POST",
            "/v1/traces",
            &[("content-type", "text/plain")],
            b"hi".to_vec(),
        )
        .await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(String::from_utf8_lossy(&body).contains("application/x-protobuf"));

        let garbage = b"\x0a\xff\xff\xff\xff\xff not protobuf".to_vec();
        let (status, _, body) =
            http_call(addr, "POST", "/v1/traces", &[PROTO], garbage.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let rpc = RpcStatus::decode(body).unwrap();
        assert!(
            rpc.message.starts_with("cannot decode the protobuf body"),
            "{}",
            rpc.message
        );

        let (status, _, body) =
            http_call(addr, "POST", "/v1/traces", &[JSON], garbage.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert!(v["message"]
            .as_str()
            .unwrap()
            .starts_with("cannot decode the OTLP/JSON body"));

        let (status, _, _) = http_call(
            addr,
            "POST",
            "/v1/traces",
            &[PROTO, ("content-encoding", "gzip")],
            garbage,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _, _) = http_call(
            addr,
            "POST",
            "/v1/traces",
            &[PROTO, ("content-encoding", "br")],
            vec![],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        // 1 MiB of zeros gzips to about 1 KiB; unpacked it is over the 64 KiB limit.
        let bomb = gzip(&vec![0u8; 1024 * 1024]);
        let (status, _, _) = http_call(
            addr,
            "POST",
            "/v1/traces",
            &[PROTO, ("content-encoding", "gzip")],
            bomb,
        )
        .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        let (status, _, _) =
            http_call(addr, "POST", "/v1/traces", &[PROTO], vec![0; 65 * 1024]).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        let m = run.telemetry.metrics.receiver("otlp", "http");
        assert!(
            m.dropped_malformed.get() >= 1,
            "undecodable bodies are counted"
        );
        assert!(
            m.dropped_too_large.get() >= 1,
            "oversized bodies are counted"
        );

        let (status, headers, _) = http_call(addr, "GET", "/v1/traces", &[], vec![]).await;
        assert_eq!(
            (status, &headers[ALLOW]),
            (StatusCode::METHOD_NOT_ALLOWED, &"POST".parse().unwrap())
        );
        let (status, _, _) = http_call(addr, "POST", "/v1/metrics", &[PROTO], vec![]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        assert!(run.next.batches().is_empty());
        // The server is still healthy after all that.
        let ok = request(vec![span("a")]).encode_to_vec();
        assert_eq!(
            http_call(addr, "POST", "/v1/traces", &[PROTO], ok).await.0,
            StatusCode::OK
        );
        run.receiver.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn traces_url_path_is_configurable() {
        let mut config = local_config();
        config.protocols.http.as_mut().unwrap().traces_url_path = "ingest/otlp".into();
        let run = start(config, RecordingConsumer::ok()).await;
        let body = request(vec![span("a")]).encode_to_vec();
        let (status, _, _) = http_call(
            run.http_addr(),
            "POST",
            "/ingest/otlp",
            &[PROTO],
            body.clone(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let (status, _, _) = http_call(run.http_addr(), "POST", "/v1/traces", &[PROTO], body).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        run.receiver.shutdown().await.unwrap();
    }
}
