//! `--shape realistic` end to end over Jaeger (HTTP and UDP) and Zipkin: every batch or
//! datagram is one service's, the services are many, and times follow the send clock.

use std::collections::HashSet;

use super::*;

/// Microseconds since the epoch, now.
fn now_us() -> i64 {
    i64::try_from(crate::restamp::unix_now_ns() / 1000).unwrap_or(i64::MAX)
}

/// Spans follow the send clock: none starts in the future, and none long before the run
/// (the longest realistic traces last a few tens of seconds).
fn assert_recent(starts_us: impl Iterator<Item = i64>, run_start_us: i64) {
    let now = now_us();
    for t in starts_us {
        assert!(
            t <= now && t > run_start_us - 120_000_000,
            "start {t} µs, run began {run_start_us}"
        );
    }
}

#[tokio::test]
async fn realistic_jaeger_http_sends_one_batch_per_service_with_current_times() {
    let server = http_server(None).await;
    let mut cfg = config(Protocol::JaegerHttp, server.addr, 4_000);
    cfg.shape = crate::cli::Shape::Realistic;
    cfg.services = 20;
    let began = now_us();
    let summary = run(&cfg).await.expect("run succeeds");
    let received = server.stop().await;
    assert!(received.errors.is_empty(), "{:?}", received.errors);
    let spans: usize = received.batches.iter().map(|b| b.spans.len()).sum();
    assert_eq!((summary.spans_sent, spans), (4_000, 4_000));
    assert_eq!(summary.requests, received.batches.len() as u64);
    let services: HashSet<&str> = received
        .batches
        .iter()
        .map(|b| b.process.service_name.as_str())
        .collect();
    assert!(services.len() >= 15, "{services:?}");
    assert!(
        received.batches.len() > 40,
        "several services' batches per request"
    );
    assert_recent(
        received
            .batches
            .iter()
            .flat_map(|b| &b.spans)
            .map(|s| s.start_time),
        began,
    );
}

#[tokio::test]
async fn realistic_jaeger_udp_datagrams_hold_one_service_each() {
    let server = udp_server().await;
    let mut cfg = config(Protocol::JaegerUdpCompact, server.addr, 3_000);
    cfg.shape = crate::cli::Shape::Realistic;
    cfg.services = 10;
    cfg.max_packet_size = 8_000;
    cfg.rate = Some(25_000);
    cfg.connections = 1;
    let began = now_us();
    let summary = run(&cfg).await.expect("run succeeds");
    let received = server.stop().await;
    assert!(received.errors.is_empty(), "{:?}", received.errors);
    let spans: usize = received.batches.iter().map(|b| b.spans.len()).sum();
    assert_eq!((summary.spans_sent, spans), (3_000, 3_000));
    assert!(received.sizes.iter().all(|&n| n <= 8_000));
    let services: HashSet<&str> = received
        .batches
        .iter()
        .map(|b| b.process.service_name.as_str())
        .collect();
    assert!(services.len() >= 8, "{services:?}");
    assert_recent(
        received
            .batches
            .iter()
            .flat_map(|b| &b.spans)
            .map(|s| s.start_time),
        began,
    );
}

#[tokio::test]
async fn realistic_zipkin_spans_carry_their_own_service_and_current_times() {
    let server = http_server(None).await;
    let mut cfg = config(Protocol::ZipkinJson, server.addr, 3_000);
    cfg.shape = crate::cli::Shape::Realistic;
    cfg.services = 20;
    let began = now_us();
    let summary = run(&cfg).await.expect("run succeeds");
    let received = server.stop().await;
    assert!(received.errors.is_empty(), "{:?}", received.errors);
    assert_eq!((summary.spans_sent, received.json.len()), (3_000, 3_000));
    let services: HashSet<&str> = received
        .json
        .iter()
        .filter_map(|s| s["localEndpoint"]["serviceName"].as_str())
        .collect();
    assert!(services.len() >= 15, "{services:?}");
    let failed = received
        .json
        .iter()
        .filter(|s| s["tags"]["error"].is_string());
    assert!(failed.clone().all(|s| s["annotations"][0]["value"]
        .as_str()
        .is_some_and(|v| v.starts_with("exception|{"))));
    assert!(failed.count() > 0);
    assert_recent(
        received.json.iter().filter_map(|s| s["timestamp"].as_i64()),
        began,
    );
}
