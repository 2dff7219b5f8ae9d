#![allow(clippy::unwrap_used)]
//! TLS on a [`ServerSet`] listener, seen by a real HTTPS client (reqwest on rustls) with
//! certificates the tests make: trusted and untrusted servers, mTLS, reload without restart,
//! version limits, plain clients on a TLS port, and start-up errors naming the file.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;
use crate::config::GoDuration;
use crate::testing::pki::{CertAndKey, TestCa};

fn hello() -> Router {
    Router::new().route("/", get(|| async { "hello" }))
}

fn tls_files(dir: &Path, server: &CertAndKey) -> TlsServerConfig {
    let (cert, key) = server.write(dir, "server");
    TlsServerConfig {
        cert_file: cert.display().to_string(),
        key_file: key.display().to_string(),
        ..Default::default()
    }
}

async fn serve(tls: &TlsServerConfig) -> (RunningServers, SocketAddr) {
    let mut set = ServerSet::new("test", Arc::new(ServiceStatus::default()));
    set.http("https", &Endpoint::new("127.0.0.1", 0), hello()).tls(Some(tls));
    let running = set.start().await.unwrap();
    let addr = running.local_addr("https").unwrap();
    (running, addr)
}

/// A client that trusts only `ca` and opens a new connection for every request.
fn client(ca: &TestCa, identity: Option<&CertAndKey>) -> reqwest::ClientBuilder {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.cert_pem().as_bytes()).unwrap())
        .pool_max_idle_per_host(0);
    if let Some(id) = identity {
        builder = builder.identity(reqwest::Identity::from_pem(&id.identity_pem()).unwrap());
    }
    builder
}

async fn fetch(client: &reqwest::Client, addr: SocketAddr) -> Result<(reqwest::Version, String), reqwest::Error> {
    let response = client.get(format!("https://{addr}/")).send().await?.error_for_status()?;
    let version = response.version();
    Ok((version, response.text().await?))
}

#[tokio::test]
async fn serves_https_to_clients_that_trust_its_ca_over_h2_and_http1() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("server CA");
    let (running, addr) = serve(&tls_files(dir.path(), &ca.server_cert())).await;
    assert_eq!(running.url("https").unwrap(), format!("https://{addr}"));

    let (version, body) = fetch(&client(&ca, None).build().unwrap(), addr).await.unwrap();
    assert_eq!((version, body.as_str()), (reqwest::Version::HTTP_2, "hello"), "ALPN offers h2");
    let http1 = client(&ca, None).http1_only().build().unwrap();
    assert_eq!(fetch(&http1, addr).await.unwrap(), (reqwest::Version::HTTP_11, "hello".to_string()));

    let stranger = TestCa::new("another CA");
    let err = fetch(&client(&stranger, None).build().unwrap(), addr).await.unwrap_err();
    assert!(err.is_connect(), "a client that does not trust the server must not connect: {err:?}");
    running.stop().await;
}

#[tokio::test]
async fn a_plain_client_on_a_tls_port_fails_at_once_instead_of_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("server CA");
    let (running, addr) = serve(&tls_files(dir.path(), &ca.server_cert())).await;

    // The guard only turns a hang into a failure; the answer comes at once.
    let guard = Duration::from_secs(30);
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(guard, conn.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server held a plain-text client instead of closing it");
    assert!(!answer.starts_with(b"HTTP/"), "a plain client was answered in plain text");
    if let Some(&first) = answer.first() {
        assert_eq!(first, 0x15, "anything sent back is a TLS alert record");
    }

    let plain = reqwest::Client::new();
    let result = tokio::time::timeout(guard, plain.get(format!("http://{addr}/")).send()).await;
    assert!(result.expect("a plain HTTP client got no answer").is_err());
    running.stop().await;
}

#[tokio::test]
async fn with_client_ca_file_only_clients_with_a_certificate_it_signed_get_in() {
    let dir = tempfile::tempdir().unwrap();
    let (server_ca, client_ca, stranger) = (TestCa::new("server CA"), TestCa::new("client CA"), TestCa::new("stranger"));
    let mut tls = tls_files(dir.path(), &server_ca.server_cert());
    tls.client_ca_file = client_ca.write(dir.path(), "clients").display().to_string();
    let (running, addr) = serve(&tls).await;

    let trusted = client(&server_ca, Some(&client_ca.client_cert("app"))).build().unwrap();
    assert_eq!(fetch(&trusted, addr).await.unwrap().1, "hello");
    for (what, identity) in [("no certificate", None), ("a certificate of another CA", Some(stranger.client_cert("intruder")))] {
        let refused = client(&server_ca, identity.as_ref()).build().unwrap();
        let result = fetch(&refused, addr).await;
        assert!(result.is_err(), "a client with {what} was let in: {result:?}");
    }
    running.stop().await;
}

#[tokio::test]
async fn a_replaced_certificate_is_served_after_reload_interval_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (old_ca, new_ca) = (TestCa::new("old CA"), TestCa::new("new CA"));
    let mut tls = tls_files(dir.path(), &old_ca.server_cert());
    tls.reload_interval = GoDuration::from_millis(20);
    let (running, addr) = serve(&tls).await;
    let trusts_old = client(&old_ca, None).build().unwrap();
    let trusts_new = client(&new_ca, None).build().unwrap();
    assert!(fetch(&trusts_old, addr).await.is_ok());
    assert!(fetch(&trusts_new, addr).await.is_err());

    // Rotate as tools do: two separate writes. The reload in between may see a key that
    // does not match its certificate; it must keep serving the old pair until both changed.
    tls_files(dir.path(), &new_ca.server_cert());
    let mut rotated = false;
    for _ in 0..1000 {
        if fetch(&trusts_new, addr).await.is_ok() {
            rotated = true;
            break;
        }
        assert!(fetch(&trusts_old, addr).await.is_ok() || fetch(&trusts_new, addr).await.is_ok(), "no certificate served mid-rotation");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(rotated, "the new certificate was never served");
    assert!(fetch(&trusts_old, addr).await.is_err(), "the old certificate is still served");
    running.stop().await;
}

#[tokio::test]
async fn min_version_1_3_refuses_tls_1_2_clients() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("server CA");
    let mut tls = tls_files(dir.path(), &ca.server_cert());
    tls.min_version = "1.3".into();
    let (running, addr) = serve(&tls).await;
    let tls12 = client(&ca, None).max_tls_version(reqwest::tls::Version::TLS_1_2).build().unwrap();
    assert!(fetch(&tls12, addr).await.is_err());
    assert!(fetch(&client(&ca, None).build().unwrap(), addr).await.is_ok());
    running.stop().await;

    let mut tls = tls_files(dir.path(), &ca.server_cert());
    tls.max_version = "1.2".into();
    tls.cipher_suites = vec!["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384".into()];
    let (running, addr) = serve(&tls).await;
    assert!(fetch(&tls12, addr).await.is_ok(), "a 1.2 client with a listed suite is served");
    running.stop().await;
}

#[tokio::test]
async fn unusable_certificate_files_fail_start_naming_them_and_bind_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("server CA");
    let good = tls_files(dir.path(), &ca.server_cert());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let free_port = taken.local_addr().unwrap().port();
    drop(taken);

    let missing = TlsServerConfig { cert_file: dir.path().join("absent.crt").display().to_string(), ..good.clone() };
    let other_key = ca.server_cert().write(dir.path(), "other").1;
    let mismatched = TlsServerConfig { key_file: other_key.display().to_string(), ..good.clone() };
    let not_pem = TlsServerConfig { cert_pem: "not a certificate".into(), cert_file: String::new(), ..good.clone() };
    for (tls, expected) in [
        (missing, "cannot read cert_file"),
        (mismatched, "cannot serve TLS"),
        (not_pem, "holds no PEM certificate"),
    ] {
        let mut set = ServerSet::new("test", Arc::new(ServiceStatus::default()));
        set.http("plain", &Endpoint::new("127.0.0.1", free_port), hello());
        set.http("https", &Endpoint::new("127.0.0.1", 0), hello()).tls(Some(&tls));
        let err = set.start().await.err().unwrap();
        assert!(matches!(err, ComponentError::Config(_)), "{err}");
        assert!(err.to_string().contains(expected) && err.to_string().starts_with("invalid configuration: https server on"), "{err}");
        drop(std::net::TcpListener::bind(("127.0.0.1", free_port)).expect("nothing stays bound"));
    }
}
