#![allow(clippy::unwrap_used)]
//! The listener limits seen from a client over real sockets: a connection over the cap is
//! closed while the others are served, idle and half-sent connections are closed, and a body
//! that would pass the bytes-in-flight bound is refused 503 without being read.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::routing::{get, post};
use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;
use crate::config::GoDuration;

fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/upload", post(|body: Bytes| async move { body.len().to_string() }))
}

async fn start(limits: ServerLimits) -> (RunningServers, SocketAddr) {
    let mut set = ServerSet::new("test", Arc::new(ServiceStatus::default()));
    set.http("http", &Endpoint::new("127.0.0.1", 0), app()).limits(&limits);
    let running = set.start().await.unwrap();
    let addr = running.local_addr("http").unwrap();
    (running, addr)
}

async fn request(addr: SocketAddr, raw: &str) -> String {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(raw.as_bytes()).await.unwrap();
    let mut answer = String::new();
    let _ = conn.read_to_string(&mut answer).await;
    answer
}

const GET: &str = "GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";

/// Reads until the server closes the connection; true when it did (EOF or reset).
async fn closed_by_server(conn: &mut TcpStream) -> bool {
    let mut buf = [0u8; 256];
    loop {
        match conn.read(&mut buf).await {
            Ok(0) | Err(_) => return true,
            Ok(_) => continue,
        }
    }
}

#[tokio::test]
async fn connections_over_the_cap_are_closed_and_the_rest_served() {
    let limits = ServerLimits {
        max_connections: 2,
        ..ServerLimits::default()
    };
    let (running, addr) = start(limits).await;
    let held_a = TcpStream::connect(addr).await.unwrap();
    let held_b = TcpStream::connect(addr).await.unwrap();
    // Both held connections count once the loop has accepted them; the next one is shed.
    let mut third = TcpStream::connect(addr).await.unwrap();
    third.write_all(GET.as_bytes()).await.ok();
    let mut answer = String::new();
    let _ = third.read_to_string(&mut answer).await;
    assert!(answer.is_empty(), "a connection over the cap was served: {answer}");
    drop((held_a, held_b));
    // Once they are gone, new clients are served again.
    let mut served = false;
    for _ in 0..50 {
        if request(addr, GET).await.ends_with("hello") {
            served = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(served, "the listener never served again after the flood left");
    running.stop().await;
}

#[tokio::test]
async fn idle_and_half_sent_connections_are_closed() {
    let limits = ServerLimits {
        idle_timeout: GoDuration::from_millis(200),
        read_header_timeout: GoDuration::from_millis(200),
        ..ServerLimits::default()
    };
    let (running, addr) = start(limits).await;
    let mut idle = TcpStream::connect(addr).await.unwrap();
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n").await.unwrap();
    let mut h2_preface = TcpStream::connect(addr).await.unwrap();
    h2_preface.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    assert!(closed_by_server(&mut idle).await);
    assert!(closed_by_server(&mut half).await);
    assert!(closed_by_server(&mut h2_preface).await);
    // A normal client is still served.
    assert!(request(addr, GET).await.ends_with("hello"));
    running.stop().await;
}

#[tokio::test]
async fn a_body_past_the_bound_is_refused_503_and_a_small_one_served() {
    let limits = ServerLimits {
        max_request_bytes_in_flight: 1024,
        ..ServerLimits::default()
    };
    let (running, addr) = start(limits).await;
    // Declares 1 MiB and sends none of it: refused from the headers alone.
    let answer = request(addr, "POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 1048576\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("retry-after: 1"), "{answer}");
    // Chunked (no declared length): refused once the chunks pass the bound.
    let chunk = "x".repeat(2000);
    let raw = format!(
        "POST /upload HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    );
    let answer = request(addr, &raw).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    // A body within the bound is served, and the bound was given back by the refusals.
    let answer = request(addr, "POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello").await;
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with('5'), "{answer}");
    running.stop().await;
}

#[tokio::test]
async fn a_stalled_upload_is_answered_408_at_the_read_timeout() {
    let limits = ServerLimits {
        read_timeout: GoDuration::from_millis(200),
        ..ServerLimits::default()
    };
    let (running, addr) = start(limits).await;
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nonly part")
        .await
        .unwrap();
    let mut answer = String::new();
    let _ = conn.read_to_string(&mut answer).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    running.stop().await;
}

#[test]
fn a_bytes_in_flight_bound_below_one_largest_request_is_a_config_error_naming_its_path() {
    let limits = ServerLimits { max_request_bytes_in_flight: 1 << 20, ..Default::default() };
    let problems = limits.validate(20 << 20, "max_request_body_size", "protocols::http");
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].path, "protocols::http::max_request_bytes_in_flight");
    assert!(problems[0].message.contains("smaller than max_request_body_size (20971520 bytes)"), "{}", problems[0].message);
    assert!(limits.validate(1 << 20, "max_request_body_size", "x").is_empty(), "equal is fine");
    // The default bound (64 MiB) is checked too, against a larger body limit.
    let problems = ServerLimits::default().validate(100 << 20, "max_recv_msg_size_mib", "protocols::grpc");
    assert!(problems[0].message.contains("(the default)"), "{}", problems[0].message);
}
