//! Against a real axum server on 127.0.0.1.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracegate_core::{ConsumeError, Exporter, ExporterFactory};

use crate::test_support::{ctx, sample_traces};
use crate::{HttpConfig, OtlpHttpExporterFactory};

/// Whether an export error is what the backend's answer should produce.
type Check = fn(&ConsumeError) -> bool;

type Reply = Box<dyn Fn() -> Response + Send + Sync>;

struct Backend {
    seen: Mutex<Vec<(String, HeaderMap, Bytes)>>,
    reply: Reply,
}

async fn record(
    State(backend): State<Arc<Backend>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    backend
        .seen
        .lock()
        .unwrap()
        .push((uri.path().to_owned(), headers, body));
    (backend.reply)()
}

struct TestServer {
    addr: SocketAddr,
    backend: Arc<Backend>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    async fn start(reply: Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let backend = Arc::new(Backend {
            seen: Mutex::default(),
            reply,
        });
        let app = Router::new()
            .route("/v1/traces", post(record))
            .route("/custom", post(record))
            .with_state(backend.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    stopped.await.ok();
                })
                .await
        });
        Self {
            addr,
            backend,
            stop,
            task,
        }
    }

    fn seen(&self) -> Vec<(String, HeaderMap, Bytes)> {
        self.backend.seen.lock().unwrap().clone()
    }

    async fn stop(self) {
        self.stop.send(()).ok();
        self.task.await.unwrap().unwrap();
    }
}

fn exporter(yaml: &str) -> Arc<dyn Exporter> {
    let config: HttpConfig = serde_yaml_ng::from_str(yaml).unwrap();
    OtlpHttpExporterFactory
        .create(ctx("otlphttp/test"), tracegate_core::testing::validated(&config))
        .unwrap()
}

fn decompress(headers: &HeaderMap, body: &[u8]) -> Vec<u8> {
    match headers.get("content-encoding").map(|v| v.to_str().unwrap()) {
        Some("gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .unwrap();
            out
        }
        Some("zstd") => zstd::stream::decode_all(body).unwrap(),
        None => body.to_vec(),
        Some(other) => panic!("unexpected content-encoding {other}"),
    }
}

fn ok() -> Reply {
    Box::new(|| StatusCode::OK.into_response())
}

#[tokio::test]
async fn batch_headers_and_compression_arrive() {
    for (compression, encoding) in [
        ("gzip", "proto"),
        ("zstd", "proto"),
        ("none", "proto"),
        ("gzip", "json"),
    ] {
        let server = TestServer::start(ok()).await;
        let exporter = exporter(&format!(
            "{{ endpoint: 'http://{}', compression: {compression}, encoding: {encoding}, headers: {{ x-tenant: acme }} }}",
            server.addr
        ));
        exporter.export(sample_traces()).await.unwrap();
        drop(exporter);

        let seen = server.seen();
        assert_eq!(seen.len(), 1);
        let (path, headers, body) = &seen[0];
        assert_eq!(path, "/v1/traces");
        assert_eq!(headers["x-tenant"], "acme");
        assert!(headers["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("tracegate/"));
        let expected_encoding = (compression != "none").then_some(compression);
        assert_eq!(
            headers.get("content-encoding").map(|v| v.to_str().unwrap()),
            expected_encoding
        );
        let body = decompress(headers, body);
        let request = if encoding == "json" {
            assert_eq!(headers["content-type"], "application/json");
            let text = String::from_utf8(body).unwrap();
            // OTLP/JSON: ids as hex, not base64.
            assert!(
                text.contains(&format!("\"traceId\":\"{}\"", "ab".repeat(16))),
                "{text}"
            );
            serde_json::from_str::<ExportTraceServiceRequest>(&text).unwrap()
        } else {
            assert_eq!(headers["content-type"], "application/x-protobuf");
            ExportTraceServiceRequest::decode(&body[..]).unwrap()
        };
        assert_eq!(
            request,
            sample_traces().into_request(),
            "{compression} {encoding}"
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn traces_endpoint_overrides_the_path() {
    let server = TestServer::start(ok()).await;
    let exporter = exporter(&format!(
        "{{ traces_endpoint: 'http://{}/custom' }}",
        server.addr
    ));
    exporter.export(sample_traces()).await.unwrap();
    drop(exporter);
    assert_eq!(server.seen()[0].0, "/custom");
    server.stop().await;
}

#[tokio::test]
async fn errors_are_classified_like_the_collector() {
    let cases: Vec<(Reply, Check)> = vec![
        (
            Box::new(|| (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "7")]).into_response()),
            |e| e.retry_after() == Some(Duration::from_secs(7)),
        ),
        (
            Box::new(|| {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "Thu, 01 Jan 1970 00:00:00 GMT")],
                )
                    .into_response()
            }),
            |e| e.retry_after() == Some(Duration::ZERO),
        ),
        (Box::new(|| StatusCode::BAD_GATEWAY.into_response()), |e| {
            matches!(e, ConsumeError::Retryable(_))
        }),
        (
            Box::new(|| {
                let status = tonic_types::pb::Status {
                    code: 3,
                    message: "span name missing".into(),
                    details: vec![],
                };
                (
                    StatusCode::BAD_REQUEST,
                    [("content-type", "application/x-protobuf")],
                    status.encode_to_vec(),
                )
                    .into_response()
            }),
            |e| matches!(e, ConsumeError::Permanent(m) if m.contains("400 Bad Request: span name missing")),
        ),
        (
            Box::new(|| (StatusCode::UNAUTHORIZED, "no token").into_response()),
            |e| matches!(e, ConsumeError::Permanent(m) if m.contains("no token")),
        ),
    ];
    for (reply, check) in cases {
        let server = TestServer::start(reply).await;
        let exporter = exporter(&format!("{{ endpoint: 'http://{}' }}", server.addr));
        let err = exporter.export(sample_traces()).await.unwrap_err();
        drop(exporter);
        assert!(check(&err), "{err:?}");
        server.stop().await;
    }
}

#[tokio::test]
async fn partial_success_counts_as_sent() {
    let replies: Vec<Reply> = vec![
        Box::new(|| {
            let response = ExportTraceServiceResponse {
                partial_success: Some(ExportTracePartialSuccess {
                    rejected_spans: 2,
                    error_message: "too old".into(),
                }),
            };
            (
                [("content-type", "application/x-protobuf")],
                response.encode_to_vec(),
            )
                .into_response()
        }),
        Box::new(|| {
            let body = r#"{"partialSuccess":{"rejectedSpans":"2","errorMessage":"too old"}}"#;
            ([("content-type", "application/json")], body).into_response()
        }),
    ];
    for reply in replies {
        let server = TestServer::start(reply).await;
        let exporter = exporter(&format!("{{ endpoint: 'http://{}' }}", server.addr));
        exporter.export(sample_traces()).await.unwrap();
        drop(exporter);
        server.stop().await;
    }
    assert_eq!(
        super::partial_success(
            Some("application/json"),
            br#"{"partialSuccess":{"rejectedSpans":"2","errorMessage":"x"}}"#
        ),
        Some((2, "x".into()))
    );
    assert_eq!(
        super::partial_success(
            Some("application/json"),
            br#"{"partialSuccess":{"rejectedSpans":5}}"#
        ),
        Some((5, String::new()))
    );
    assert_eq!(super::partial_success(None, b"not protobuf \xff"), None);
}

#[tokio::test]
async fn connection_refused_is_retryable() {
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let exporter = exporter(&format!("{{ endpoint: 'http://{addr}' }}"));
    let err = exporter.export(sample_traces()).await.unwrap_err();
    assert!(
        matches!(&err, ConsumeError::Retryable(m) if m.contains("refused")),
        "{err:?}"
    );
    exporter.shutdown().await.unwrap();
    exporter.shutdown().await.unwrap();
}

#[test]
fn create_needs_no_runtime() {
    let exporter = exporter("{ endpoint: 'http://127.0.0.1:1' }");
    assert!(exporter
        .as_any()
        .downcast_ref::<crate::OtlpHttpExporter>()
        .is_some());
}
