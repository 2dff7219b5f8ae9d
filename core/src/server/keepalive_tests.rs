#![allow(clippy::unwrap_used)]
//! gRPC keepalive on a [`ServerSet`] listener, seen by a raw HTTP/2 client: with `time` the
//! server pings a silent connection; with `max_connection_age` it sends GOAWAY and, after the
//! grace, closes the connection. The deadlines below bound waits, they measure nothing.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;
use crate::config::{GrpcKeepalive, KeepaliveServerParameters};

const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;

async fn start(params: KeepaliveServerParameters) -> (RunningServers, SocketAddr) {
    let keepalive = GrpcKeepalive { server_parameters: Some(params), enforcement_policy: None };
    let mut set = ServerSet::new("otlp", Arc::new(ServiceStatus::default()));
    set.grpc("grpc", &Endpoint::new("127.0.0.1", 0), Router::new()).keepalive(Some(&keepalive));
    let running = set.start().await.unwrap();
    let addr = running.local_addr("grpc").unwrap();
    (running, addr)
}

/// Opens an HTTP/2 connection and returns the frame types the server sends until it closes
/// the connection or `until` arrives (acknowledging nothing, so pings stay unanswered).
async fn frames_until(addr: SocketAddr, until: u8) -> (Vec<u8>, bool) {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0").await.unwrap();
    let mut kinds = Vec::new();
    let read = async {
        loop {
            let mut head = [0u8; 9];
            if conn.read_exact(&mut head).await.is_err() {
                return true; // closed by the server
            }
            let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
            let mut payload = vec![0; len];
            if conn.read_exact(&mut payload).await.is_err() {
                return true;
            }
            kinds.push(head[3]);
            if head[3] == until {
                return false;
            }
        }
    };
    let closed = tokio::time::timeout(Duration::from_secs(30), read).await.unwrap();
    (kinds, closed)
}

#[tokio::test]
async fn a_silent_connection_is_pinged_with_keepalive_time() {
    let (running, addr) = start(KeepaliveServerParameters { time: GoDuration::from_millis(100), ..Default::default() }).await;
    let (kinds, _) = frames_until(addr, PING).await;
    assert_eq!(kinds.last(), Some(&PING), "{kinds:?}");
    running.stop().await;
}

#[tokio::test]
async fn a_connection_past_its_max_age_gets_goaway_then_is_closed_after_the_grace() {
    let (running, addr) = start(KeepaliveServerParameters {
        max_connection_age: GoDuration::from_millis(100),
        max_connection_age_grace: GoDuration::from_millis(100),
        ..Default::default()
    })
    .await;
    let (kinds, closed) = frames_until(addr, 0xff).await;
    assert!(closed, "the connection stays open");
    assert!(kinds.contains(&GOAWAY), "closed without GOAWAY: {kinds:?}");
    running.stop().await;
}
