//! End-to-end runs of the sender against tiny OTLP servers on 127.0.0.1:0.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tokio::sync::oneshot;
use tonic::codec::CompressionEncoding;

use super::*;
use crate::cli::Protocol;

fn span_count(req: &ExportTraceServiceRequest) -> u64 {
    req.resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len() as u64)
        .sum()
}

#[derive(Clone, Copy)]
enum Reply {
    Ok,
    Throttle,
}

#[derive(Clone)]
struct CountingTraceService {
    spans: Arc<AtomicU64>,
    reply: Reply,
}

#[tonic::async_trait]
impl TraceService for CountingTraceService {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        match self.reply {
            Reply::Ok => {
                self.spans.fetch_add(span_count(request.get_ref()), Relaxed);
                Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
            }
            Reply::Throttle => Err(tonic::Status::resource_exhausted("queue is full")),
        }
    }
}

/// A running test server; `stop` shuts it down and waits for it.
struct TestServer {
    addr: SocketAddr,
    spans: Arc<AtomicU64>,
    shutdown: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    async fn stop(self) {
        let _ = self.shutdown.send(());
        let _ = self.task.await;
    }
}

async fn grpc_server(reply: Reply) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let spans = Arc::new(AtomicU64::new(0));
    let svc = TraceServiceServer::new(CountingTraceService {
        spans: spans.clone(),
        reply,
    })
    .accept_compressed(CompressionEncoding::Gzip);
    let (shutdown, rx) = oneshot::channel::<()>();
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let task = tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming_shutdown(incoming, async {
                let _ = rx.await;
            })
            .await;
    });
    TestServer {
        addr,
        spans,
        shutdown,
        task,
    }
}

/// OTLP/HTTP server that decodes (and gunzips) every body before counting its spans.
async fn http_server() -> TestServer {
    use axum::body::Bytes;
    use axum::http::HeaderMap;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let spans = Arc::new(AtomicU64::new(0));
    let counter = spans.clone();
    let handler = move |headers: HeaderMap, body: Bytes| async move {
        let gzip = headers.get("content-encoding").is_some_and(|v| v == "gzip");
        let mut raw = Vec::new();
        let body = if gzip
            && flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut raw)
                .is_ok()
        {
            raw
        } else {
            body.to_vec()
        };
        match ExportTraceServiceRequest::decode(&body[..]) {
            Ok(req) => {
                counter.fetch_add(span_count(&req), Relaxed);
                (
                    axum::http::StatusCode::OK,
                    ExportTraceServiceResponse::default().encode_to_vec(),
                )
            }
            Err(_) => (axum::http::StatusCode::BAD_REQUEST, Vec::new()),
        }
    };
    let app = axum::Router::new().route("/v1/traces", axum::routing::post(handler));
    let (shutdown, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    TestServer {
        addr,
        spans,
        shutdown,
        task,
    }
}

fn config(protocol: Protocol, addr: SocketAddr, stop: StopAfter) -> RunConfig {
    RunConfig {
        backdate: None,
        endpoint: addr.to_string(),
        protocol,
        shape: crate::cli::Shape::Default,
        services: crate::cli::DEFAULT_SERVICES,
        seed: 1,
        rate: None,
        stop,
        connections: 3,
        spans_per_trace: 10,
        attributes: 10,
        span_size: None,
        batch_spans: 1000,
        max_packet_size: 65_000,
        compression: Compression::None,
        metrics_url: None,
        progress: false,
    }
}

#[tokio::test]
async fn grpc_run_delivers_exactly_total_spans() {
    let server = grpc_server(Reply::Ok).await;
    // 40 full batches (more than the pool, so patched rounds are sent too) plus a tail of 321.
    let summary = run(&config(
        Protocol::Grpc,
        server.addr,
        StopAfter::Spans(40_321),
    ))
    .await;
    let received = server.spans.load(Relaxed);
    server.stop().await;
    let summary = summary.expect("run succeeds");
    assert_eq!(received, 40_321);
    assert_eq!(summary.spans_sent, 40_321);
    assert_eq!(summary.requests, 41);
    assert_eq!(
        (summary.unavailable, summary.throttled, summary.other),
        (0, 0, 0)
    );
    assert!(summary.p99 >= summary.p50);
}

#[tokio::test]
async fn grpc_realistic_run_delivers_exactly_total_spans() {
    let server = grpc_server(Reply::Ok).await;
    let mut cfg = config(Protocol::Grpc, server.addr, StopAfter::Spans(20_500));
    cfg.shape = crate::cli::Shape::Realistic;
    let summary = run(&cfg).await;
    let received = server.spans.load(Relaxed);
    server.stop().await;
    assert_eq!(
        summary.map(|s| (s.spans_sent, s.other)).ok(),
        Some((20_500, 0))
    );
    assert_eq!(received, 20_500);
}

#[tokio::test]
async fn grpc_gzip_run_delivers_exactly_total_spans() {
    let server = grpc_server(Reply::Ok).await;
    let mut cfg = config(Protocol::Grpc, server.addr, StopAfter::Spans(2_500));
    cfg.compression = Compression::Gzip;
    let summary = run(&cfg).await;
    let received = server.spans.load(Relaxed);
    server.stop().await;
    assert_eq!(summary.map(|s| s.spans_sent).ok(), Some(2_500));
    assert_eq!(received, 2_500);
}

#[tokio::test]
async fn http_runs_deliver_exactly_total_spans_plain_and_gzipped() {
    let server = http_server().await;
    let mut cfg = config(Protocol::Http, server.addr, StopAfter::Spans(5_050));
    let plain = run(&cfg).await.map(|s| s.spans_sent).ok();
    cfg.compression = Compression::Gzip;
    let gzipped = run(&cfg).await.map(|s| (s.spans_sent, s.other)).ok();
    let received = server.spans.load(Relaxed);
    server.stop().await;
    assert_eq!(plain, Some(5_050));
    assert_eq!(gzipped, Some((5_050, 0)));
    assert_eq!(received, 10_100);
}

#[tokio::test]
async fn throttling_is_counted_and_does_not_abort_the_run() {
    let server = grpc_server(Reply::Throttle).await;
    let summary = run(&config(
        Protocol::Grpc,
        server.addr,
        StopAfter::Spans(5_000),
    ))
    .await;
    server.stop().await;
    let summary = summary.expect("errors do not fail the run");
    assert_eq!((summary.spans_sent, summary.spans_failed), (0, 5_000));
    assert_eq!((summary.requests, summary.throttled), (5, 5));
    assert!(summary
        .last_error
        .is_some_and(|e| e.contains("queue is full")));
}

#[tokio::test]
async fn rate_limited_run_never_exceeds_its_rate() {
    let server = grpc_server(Reply::Ok).await;
    let mut cfg = config(
        Protocol::Grpc,
        server.addr,
        StopAfter::Duration(Duration::from_millis(500)),
    );
    cfg.rate = Some(2_000);
    cfg.batch_spans = 100;
    let summary = run(&cfg).await;
    server.stop().await;
    let sent = summary.map(|s| s.spans_sent).unwrap_or(u64::MAX);
    // Half a second at 2000/s plus at most the bucket's burst (3 batches of 100).
    assert!(sent <= 1_000 + 300 + 100, "sent {sent}");
}

#[tokio::test]
async fn unreachable_endpoint_fails_at_start() {
    for protocol in [Protocol::Grpc, Protocol::Http] {
        // A port that was just free: bind, note it, close.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        drop(listener);
        let result = run(&config(protocol, addr, StopAfter::Spans(10))).await;
        assert!(
            matches!(&result, Err(RunError::Connect(m)) if m.contains(&addr.to_string())),
            "{result:?}"
        );
    }
}

#[test]
fn low_rates_shrink_batches() {
    let addr: SocketAddr = ([127, 0, 0, 1], 1).into();
    let mut cfg = config(Protocol::Grpc, addr, StopAfter::Spans(1));
    assert_eq!(effective_batch_spans(&cfg), 1000);
    cfg.rate = Some(500);
    assert_eq!(effective_batch_spans(&cfg), 50);
    cfg.rate = Some(3);
    assert_eq!(effective_batch_spans(&cfg), 1);
}
