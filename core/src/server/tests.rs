#![allow(clippy::unwrap_used)]
//! The set's promises, seen from a client: bind all before serving, free ports on stop,
//! in-flight requests finish, stuck ones are cut at the drain deadline, deaths are reported.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use super::*;

fn status() -> Arc<ServiceStatus> {
    Arc::new(ServiceStatus::default())
}

fn hello() -> Router {
    Router::new().route("/", get(|| async { "hello" }))
}

fn local() -> Endpoint {
    Endpoint::new("127.0.0.1", 0)
}

/// One HTTP/1.1 GET on a fresh connection; the raw answer, or the error that ended it.
async fn get_raw(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut conn = TcpStream::connect(addr).await?;
    conn.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes())
        .await?;
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await?;
    Ok(answer)
}

#[tokio::test]
async fn serves_and_frees_every_port_on_stop() {
    let mut set = ServerSet::new("test", status());
    set.http("a", &local(), hello());
    set.http("b", &local(), hello());
    set.udp("u", &local(), |_| Ok(()), |_socket, mut stop| async move {
        stop.stopped().await;
        Ok(())
    });
    let running = set.start().await.unwrap();
    let (a, b, u) = (
        running.local_addr("a").unwrap(),
        running.local_addr("b").unwrap(),
        running.local_addr("u").unwrap(),
    );
    assert_eq!(running.local_addr("nope"), None);
    for addr in [a, b] {
        let answer = get_raw(addr, "/").await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("hello"), "{answer}");
    }
    running.stop().await;
    for addr in [a, b] {
        assert!(TcpStream::connect(addr).await.is_err(), "{addr} still accepts");
        drop(std::net::TcpListener::bind(addr).expect("TCP port released"));
    }
    drop(std::net::UdpSocket::bind(u).expect("UDP port released"));
}

#[tokio::test]
async fn a_taken_port_fails_start_before_anything_serves() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let served = Arc::new(AtomicBool::new(false));
    let mut set = ServerSet::new("test", status());
    let flag = served.clone();
    set.udp("first", &local(), |_| Ok(()), move |_socket, _stop| async move {
        flag.store(true, Ordering::SeqCst);
        Ok(())
    });
    set.http("second", &local(), hello());
    set.http("taken", &Endpoint::new("127.0.0.1", port), hello());
    match set.start().await {
        Err(ComponentError::Bind { endpoint, .. }) => assert_eq!(endpoint, format!("127.0.0.1:{port}")),
        Err(other) => panic!("expected a bind error, got {other}"),
        Ok(_) => panic!("expected a bind error, got a running set"),
    }
    tokio::task::yield_now().await;
    assert!(!served.load(Ordering::SeqCst), "a server ran although a port was taken");
}

#[tokio::test]
async fn stop_lets_a_request_in_flight_finish() {
    let entered = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let (e, r) = (entered.clone(), release.clone());
    let app = Router::new().route(
        "/slow",
        get(move || async move {
            e.notify_one();
            r.notified().await;
            "done"
        }),
    );
    let mut set = ServerSet::new("test", status()).with_drain(Duration::from_secs(60));
    set.http("http", &local(), app);
    let running = set.start().await.unwrap();
    let addr = running.local_addr("http").unwrap();
    let call = tokio::spawn(get_raw(addr, "/slow"));
    entered.notified().await;

    let stopping = tokio::spawn(running.stop());
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    assert!(!stopping.is_finished(), "stop returned while a request was in flight");
    release.notify_one();
    let answer = call.await.unwrap().unwrap();
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("done"), "{answer}");
    stopping.await.unwrap();
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn stop_cuts_what_does_not_finish_within_the_drain() {
    let entered = Arc::new(Notify::new());
    let e = entered.clone();
    let app = Router::new().route(
        "/never",
        get(move || async move {
            e.notify_one();
            std::future::pending::<()>().await;
            "unreachable"
        }),
    );
    let mut set = ServerSet::new("test", status()).with_drain(Duration::from_millis(50));
    set.http("http", &local(), app);
    // A UDP server that ignores the stop signal is cut at the same deadline.
    set.udp("udp", &local(), |_| Ok(()), |_socket, _stop| std::future::pending());
    let running = set.start().await.unwrap();
    let (http, udp) = (running.local_addr("http").unwrap(), running.local_addr("udp").unwrap());
    let call = tokio::spawn(get_raw(http, "/never"));
    entered.notified().await;
    // A client that never finishes its headers does not hold stop either.
    let mut half = TcpStream::connect(http).await.unwrap();
    half.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n").await.unwrap();

    running.stop().await;
    let cut = call.await.unwrap();
    assert!(
        !cut.as_ref().is_ok_and(|a| a.contains("200")),
        "the stuck request was answered: {cut:?}"
    );
    drop(std::net::TcpListener::bind(http).expect("TCP port released"));
    drop(std::net::UdpSocket::bind(udp).expect("UDP port released"));
}

#[tokio::test]
async fn a_server_that_dies_is_reported_to_the_service_status() {
    let status = status();
    let mut set = ServerSet::new("receiver/x", status.clone());
    set.udp("broken", &local(), |_| Ok(()), |_socket, _stop| async { Err("socket gone".to_string()) });
    set.udp("panics", &local(), |_| Ok(()), |_socket, _stop| async { panic!("bug") });
    set.udp("fine", &local(), |_| Ok(()), |_socket, mut stop| async move {
        stop.stopped().await;
        Ok(())
    });
    let running = set.start().await.unwrap();
    let mut failures = Vec::new();
    for _ in 0..1000 {
        failures = status.failures();
        if failures.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    failures.sort();
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert_eq!(failures[0].0, "receiver/x");
    assert!(failures[0].1.starts_with("broken server on 127.0.0.1:") && failures[0].1.ends_with(": socket gone"), "{failures:?}");
    assert!(failures[1].1.starts_with("panics server on") && failures[1].1.ends_with("panicked: bug"), "{failures:?}");
    // Stopping is not dying.
    running.stop().await;
    assert_eq!(status.failures().len(), 2);
}

#[tokio::test]
async fn a_prepare_error_is_a_bind_error_and_releases_what_was_bound() {
    let mut set = ServerSet::new("test", status());
    set.http("http", &local(), hello());
    set.udp(
        "udp",
        &Endpoint::new("127.0.0.1", 0),
        |_| Err(std::io::Error::other("no buffer for you")),
        |_socket, _stop| async { Ok(()) },
    );
    let err = set.start().await.err().unwrap();
    assert!(matches!(err, ComponentError::Bind { .. }), "{err}");
    assert!(err.to_string().contains("no buffer for you"), "{err}");
}

#[tokio::test]
async fn dropping_the_running_set_closes_its_ports() {
    let mut set = ServerSet::new("test", status());
    set.http("http", &local(), hello());
    let running = set.start().await.unwrap();
    let addr = running.local_addr("http").unwrap();
    drop(running);
    let mut freed = false;
    for _ in 0..1000 {
        if std::net::TcpListener::bind(addr).is_ok() {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(freed, "{addr} still bound after the set was dropped");
}
