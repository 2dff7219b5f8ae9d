//! Runs of the Jaeger and Zipkin protocols against tiny servers on 127.0.0.1:0 that decode
//! everything they get with the same decoders the gateway uses.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tracegate_translator_jaeger::thrift::Batch;
use tracegate_translator_jaeger::{decode_batch_binary, decode_emit_batch_compact};

use super::*;
use crate::cli::Protocol;

/// What a server saw: one entry per datagram or request.
#[derive(Default)]
struct Received {
    sizes: Vec<usize>,
    batches: Vec<Batch>,
    /// Zipkin spans, as parsed JSON.
    json: Vec<serde_json::Value>,
    errors: Vec<String>,
}

type Shared = Arc<Mutex<Received>>;

fn lock(r: &Shared) -> std::sync::MutexGuard<'_, Received> {
    r.lock().unwrap_or_else(|p| p.into_inner())
}

struct Server {
    addr: SocketAddr,
    received: Shared,
    shutdown: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Stops the server (a UDP one first reads what is still queued) and hands back what it saw.
    async fn stop(self) -> Received {
        let _ = self.shutdown.send(());
        let _ = self.task.await;
        std::mem::take(&mut *lock(&self.received))
    }
}

/// A Jaeger agent stand-in: decodes every datagram. Loopback delivers a datagram into the
/// socket buffer during `send`, so what is queued at `stop` is everything that was sent; the
/// buffer is raised to 4 MiB (as the bench's gateway does) so a busy machine loses nothing.
async fn udp_server() -> Server {
    let raw = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)
        .expect("udp socket");
    let _ = raw.set_recv_buffer_size(4 << 20); // capped by net.core.rmem_max; best effort
    raw.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind udp");
    raw.set_nonblocking(true).expect("nonblocking");
    let socket = UdpSocket::from_std(raw.into()).expect("tokio socket");
    let addr = socket.local_addr().expect("local addr");
    let received = Shared::default();
    let (shutdown, mut rx) = oneshot::channel::<()>();
    let seen = received.clone();
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        let record = |n: usize, buf: &[u8]| {
            let mut r = lock(&seen);
            r.sizes.push(n);
            match decode_emit_batch_compact(&buf[..n]) {
                Ok(batch) => r.batches.push(batch),
                Err(e) => r.errors.push(e.to_string()),
            }
        };
        loop {
            tokio::select! {
                _ = &mut rx => break,
                got = socket.recv(&mut buf) => if let Ok(n) = got { record(n, &buf) },
            }
        }
        while let Ok(n) = socket.try_recv(&mut buf) {
            record(n, &buf);
        }
    });
    Server {
        addr,
        received,
        shutdown,
        task,
    }
}

/// Jaeger collector and Zipkin stand-ins on one port, plus `/metrics` reporting the spans
/// decoded so far as the gateway would.
async fn http_server(udp_counts: Option<Shared>) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let received = Shared::default();
    let (jaeger, zipkin) = (received.clone(), received.clone());
    let jaeger_handler = move |headers: HeaderMap, body: Bytes| async move {
        let mut r = lock(&jaeger);
        r.sizes.push(body.len());
        match (
            headers.get("content-type").and_then(|v| v.to_str().ok()),
            decode_batch_binary(&body),
        ) {
            (Some("application/x-thrift"), Ok(batch)) => r.batches.push(batch),
            (ct, decoded) => r
                .errors
                .push(format!("content-type {ct:?}, {:?}", decoded.err())),
        }
        StatusCode::ACCEPTED
    };
    let zipkin_handler = move |headers: HeaderMap, body: Bytes| async move {
        let mut r = lock(&zipkin);
        r.sizes.push(body.len());
        match (
            headers.get("content-type").and_then(|v| v.to_str().ok()),
            serde_json::from_slice(&body),
        ) {
            (Some("application/json"), Ok(serde_json::Value::Array(spans))) => r.json.extend(spans),
            (ct, decoded) => r
                .errors
                .push(format!("content-type {ct:?}, {:?}", decoded.err())),
        }
        StatusCode::ACCEPTED
    };
    let metrics = move || async move {
        let spans: usize = udp_counts
            .as_ref()
            .map_or(0, |c| lock(c).batches.iter().map(|b| b.spans.len()).sum());
        format!("# TYPE tracegate_receiver_accepted_spans counter\ntracegate_receiver_accepted_spans{{receiver=\"jaeger\",transport=\"udp_thrift_compact\"}} {spans}\n\
                 tracegate_receiver_dropped_packets{{reason=\"queue_full\",receiver=\"jaeger\",transport=\"udp_thrift_compact\"}} 0\n")
    };
    let app = axum::Router::new()
        .route("/api/traces", axum::routing::post(jaeger_handler))
        .route("/api/v2/spans", axum::routing::post(zipkin_handler))
        .route("/metrics", axum::routing::get(metrics));
    let (shutdown, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Server {
        addr,
        received,
        shutdown,
        task,
    }
}

fn config(protocol: Protocol, addr: SocketAddr, total: u64) -> RunConfig {
    RunConfig {
        backdate: None,
        endpoint: addr.to_string(),
        protocol,
        shape: crate::cli::Shape::Default,
        services: crate::cli::DEFAULT_SERVICES,
        seed: 1,
        rate: None,
        stop: StopAfter::Spans(total),
        connections: 3,
        spans_per_trace: 10,
        attributes: 10,
        span_size: None,
        // Small batches make the pool (16 batches) smaller than the run, so ids are patched.
        batch_spans: 100,
        max_packet_size: 65_000,
        compression: Compression::None,
        metrics_url: None,
        progress: false,
    }
}

/// Every trace arrived whole: `traces` distinct ids, each with `per_trace` spans.
fn assert_traces(ids: impl Iterator<Item = (u128, u64, u64)>, traces: usize, per_trace: usize) {
    let mut by_trace: HashMap<u128, Vec<(u64, u64)>> = HashMap::new();
    ids.for_each(|(trace, span, parent)| by_trace.entry(trace).or_default().push((span, parent)));
    assert_eq!(by_trace.len(), traces, "fresh trace ids every round");
    for spans in by_trace.values() {
        assert_eq!(spans.len(), per_trace);
        assert!(
            spans
                .iter()
                .all(|&(_, parent)| parent == 0 || spans.iter().any(|&(id, _)| id == parent)),
            "links intact"
        );
    }
}

fn jaeger_ids(batches: &[Batch]) -> impl Iterator<Item = (u128, u64, u64)> + '_ {
    batches.iter().flat_map(|b| &b.spans).map(|s| {
        let trace = (u128::from(s.trace_id_high as u64) << 64) | u128::from(s.trace_id_low as u64);
        (trace, s.span_id as u64, s.parent_span_id as u64)
    })
}

#[tokio::test]
async fn jaeger_udp_delivers_exactly_n_spans_in_datagrams_within_the_limit() {
    let server = udp_server().await;
    let metrics = http_server(Some(server.received.clone())).await;
    let mut cfg = config(Protocol::JaegerUdpCompact, server.addr, 5_000);
    // Small datagrams, paced: the test server's buffer then holds hundreds of them.
    cfg.max_packet_size = 8_000;
    cfg.rate = Some(25_000);
    cfg.connections = 1;
    cfg.metrics_url = Some(format!("http://{}/metrics", metrics.addr));
    let summary = run(&cfg).await.expect("run succeeds");
    let received = server.stop().await;
    metrics.stop().await;
    assert!(received.errors.is_empty(), "{:?}", received.errors);
    assert_eq!(
        received
            .batches
            .iter()
            .map(|b| b.spans.len())
            .sum::<usize>(),
        5_000
    );
    assert!(
        received.sizes.iter().all(|&n| n <= 8_000),
        "datagram sizes {:?}",
        received.sizes
    );
    assert_eq!(
        (summary.spans_sent, summary.requests, summary.acknowledged),
        (5_000, received.sizes.len() as u64, false)
    );
    assert!(received
        .batches
        .iter()
        .all(|b| b.process.service_name == "loadgen-checkout"));
    // 5000 spans in traces of 10 over a pool of 1600: 500 traces, none reusing an id.
    assert_traces(jaeger_ids(&received.batches), 500, 10);
    assert_eq!(
        summary.gateway.map(|g| g.accepted_spans),
        Some(5_000),
        "scraped from --metrics-url"
    );
}

#[tokio::test]
async fn jaeger_udp_default_datagrams_stay_under_65000_bytes() {
    let server = udp_server().await;
    let mut cfg = config(Protocol::JaegerUdpCompact, server.addr, 1_200);
    cfg.batch_spans = 1000;
    cfg.connections = 1;
    cfg.span_size = Some(2_000);
    let summary = run(&cfg).await.map(|s| s.spans_sent);
    let received = server.stop().await;
    assert_eq!(summary.ok(), Some(1_200));
    assert_eq!(
        received
            .batches
            .iter()
            .map(|b| b.spans.len())
            .sum::<usize>(),
        1_200
    );
    assert!(
        received.sizes.iter().all(|&n| n <= 65_000),
        "{:?}",
        received.sizes
    );
    // ~2 KB spans: about 32 to a datagram, so the size limit, not the span cap, cut them.
    assert!(
        received.sizes.iter().filter(|&&n| n > 60_000).count() >= 30,
        "{:?}",
        received.sizes
    );
}

#[tokio::test]
async fn jaeger_http_delivers_exactly_n_spans() {
    let server = http_server(None).await;
    let summary = run(&config(Protocol::JaegerHttp, server.addr, 5_050))
        .await
        .expect("run succeeds");
    let received = server.stop().await;
    assert!(received.errors.is_empty(), "{:?}", received.errors);
    assert_eq!(
        received
            .batches
            .iter()
            .map(|b| b.spans.len())
            .sum::<usize>(),
        5_050
    );
    assert_eq!(
        (summary.spans_sent, summary.requests, summary.other),
        (5_050, 51, 0)
    );
    assert_traces(jaeger_ids(&received.batches), 505, 10);
}

#[tokio::test]
async fn zipkin_json_delivers_exactly_n_realistic_spans() {
    let server = http_server(None).await;
    let summary = run(&config(Protocol::ZipkinJson, server.addr, 5_050))
        .await
        .expect("run succeeds");
    let received = server.stop().await;
    assert!(received.errors.is_empty(), "{:?}", received.errors);
    assert_eq!((summary.spans_sent, summary.other), (5_050, 0));
    assert_eq!(received.json.len(), 5_050);
    let hex = |v: &serde_json::Value, len: usize| {
        v.as_str()
            .is_some_and(|s| s.len() == len && s.bytes().all(|c| c.is_ascii_hexdigit()))
    };
    for s in &received.json {
        assert!(hex(&s["traceId"], 32) && hex(&s["id"], 16), "{s}");
        assert!(s["parentId"].is_null() || hex(&s["parentId"], 16));
        assert!(matches!(s["kind"].as_str(), Some("SERVER" | "CLIENT")));
        assert!(
            s["timestamp"]
                .as_u64()
                .is_some_and(|t| t > 1_600_000_000_000_000)
                && s["duration"].as_u64().is_some()
        );
        assert_eq!(s["localEndpoint"]["serviceName"], "loadgen-checkout");
        assert!(s["localEndpoint"]["ipv4"].is_string() && s["localEndpoint"]["port"].is_u64());
        assert!(s["tags"]
            .as_object()
            .is_some_and(|t| t.len() >= 10 && t.values().all(serde_json::Value::is_string)));
    }
    let ids = received.json.iter().map(|s| {
        let id = |k: &str| {
            s[k].as_str()
                .and_then(|h| u128::from_str_radix(h, 16).ok())
                .unwrap_or(0)
        };
        (id("traceId"), id("id") as u64, id("parentId") as u64)
    });
    assert_traces(ids, 505, 10);
}

#[cfg(test)]
#[path = "realistic_protocol_tests.rs"]
mod realistic;
