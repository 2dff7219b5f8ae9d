//! `tls:` on `https://` endpoints, against a real TLS server (core's listener) with
//! certificates made by the test: a trusted CA, an untrusted one, a client certificate, and
//! `server_name_override` (which reqwest cannot set; core's verifier checks it).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use reqwest::Method;
use tracegate_core::config::{Endpoint, TlsServerConfig};
use tracegate_core::server::{RunningServers, ServerSet};
use tracegate_core::telemetry::ServiceStatus;
use tracegate_core::testing::pki::{CertAndKey, TestCa};

use crate::client::EsClient;
use crate::{Config, Tls};

async fn https_cluster(dir: &Path, server: &CertAndKey, client_ca: Option<&TestCa>) -> (RunningServers, SocketAddr) {
    let (cert, key) = server.write(dir, "server");
    let tls = TlsServerConfig {
        cert_file: cert.display().to_string(),
        key_file: key.display().to_string(),
        client_ca_file: client_ca.map(|ca| ca.write(dir, "client-ca").display().to_string()).unwrap_or_default(),
        ..Default::default()
    };
    let app = Router::new().route(
        "/",
        get(|| async { ([("content-type", "application/json")], r#"{"version":{"number":"8.11.0"}}"#) }),
    );
    let mut set = ServerSet::new("es", Arc::new(ServiceStatus::default()));
    set.http("https", &Endpoint::new("127.0.0.1", 0), app).tls(Some(&tls));
    let running = set.start().await.expect("start the TLS server");
    let addr = running.local_addr("https").expect("bound");
    (running, addr)
}

async fn get_root(addr: SocketAddr, tls: Tls) -> Result<(), String> {
    let config = Config { endpoints: vec![format!("https://{addr}")], tls, ..Config::default() };
    let client = EsClient::new(&config)?;
    client.request(Method::GET, "/", None).await.map(|_| ()).map_err(|e| e.to_string())
}

#[tokio::test]
async fn https_endpoints_use_the_tls_section() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new("cluster CA");
    let (running, addr) = https_cluster(dir.path(), &ca.server_cert(), Some(&ca)).await;
    let ca_file = ca.write(dir.path(), "ca").display().to_string();
    let (cert, key) = ca.client_cert("exporter").write(dir.path(), "client");
    let with_cert = Tls {
        ca_file: ca_file.clone(),
        cert_file: cert.display().to_string(),
        key_file: key.display().to_string(),
        ..Default::default()
    };
    get_root(addr, with_cert).await.expect("trusted server, client certificate shown");
    let no_cert = Tls { ca_file: ca_file.clone(), ..Default::default() };
    assert!(get_root(addr, no_cert).await.is_err(), "the cluster asks for a client certificate");
    let stranger = TestCa::new("another CA").write(dir.path(), "stranger").display().to_string();
    let untrusted = Tls { ca_file: stranger, ..Default::default() };
    assert!(get_root(addr, untrusted).await.is_err(), "a cluster signed by another CA is refused");
    running.stop().await;
}

#[tokio::test]
async fn server_name_override_is_checked_by_a_client_that_cannot_set_sni() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new("cluster CA");
    let (running, addr) = https_cluster(dir.path(), &ca.server_cert_for(&["es.internal"]), None).await;
    let ca_file = ca.write(dir.path(), "ca").display().to_string();
    assert!(get_root(addr, Tls { ca_file: ca_file.clone(), ..Default::default() }).await.is_err());
    let right = Tls { ca_file, server_name_override: "es.internal".into(), ..Default::default() };
    get_root(addr, right).await.expect("the certificate names es.internal");
    running.stop().await;
}
