#![allow(clippy::unwrap_used)]
//! The extensions as a listener uses them: built by their factories from YAML, found by id
//! through a host, guarding a real `ServerSet` listener on 127.0.0.1, called over TCP.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracegate_core::config::{AuthConfig, Endpoint};
use tracegate_core::server::{RunningServers, ServerSet};
use tracegate_core::telemetry::{ServiceStatus, Telemetry};
use tracegate_core::testing::ExtensionsHost;
use tracegate_core::{ComponentId, CreateContext, Extension, ExtensionFactory};

use super::*;

fn create<F: ExtensionFactory>(factory: F, id: &str, yaml: &str, telemetry: &Arc<Telemetry>) -> Arc<dyn Extension> {
    let config = tracegate_core::testing::parse_config::<F::Config>(yaml).unwrap();
    let ctx = CreateContext::new(ComponentId::parse(id).unwrap(), telemetry.clone());
    factory.create(ctx, tracegate_core::testing::validated(&config)).unwrap()
}

async fn serve(host: &ExtensionsHost, authenticator: &str) -> RunningServers {
    let app = Router::new().route("/api/traces", post(|| async { "stored" }));
    let mut set = ServerSet::new("jaeger", Arc::new(ServiceStatus::default()));
    let auth = AuthConfig { authenticator: authenticator.into() };
    set.http("http", &Endpoint::new("127.0.0.1", 0), app).auth(Some(&auth), host);
    set.start().await.unwrap()
}

async fn post_with(addr: SocketAddr, headers: &[(&str, String)]) -> String {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    let request = format!("POST /api/traces HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n{extra}connection: close\r\n\r\n");
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.unwrap();
    answer.to_lowercase()
}

fn basic(user_password: &str) -> (&'static str, String) {
    ("authorization", format!("Basic {}", STANDARD.encode(user_password)))
}

#[tokio::test]
async fn basicauth_guards_a_listener_with_apache_htpasswd_entries() {
    let telemetry = Telemetry::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("htpasswd");
    // `htpasswd -nbB alice wonderland` and `htpasswd -nbs bob builder`.
    std::fs::write(&file, "alice:$2y$05$3/vzBVH/5qtn62RZyNItBe2cndpdq2mEvCcF.Yw1mOcWVx2Hg8tLi\n").unwrap();
    let yaml = format!("htpasswd: {{ file: {}, inline: 'bob:{{SHA}}9SMYoF5RilWWASry7TjeaKwmpGg=' }}", file.display());
    let host = ExtensionsHost::default().with("basicauth", create(BasicAuthFactory, "basicauth", &yaml, &telemetry));
    let running = serve(&host, "basicauth").await;
    let addr = running.local_addr("http").unwrap();

    let refused = post_with(addr, &[]).await;
    assert!(refused.starts_with("http/1.1 401"), "{refused}");
    assert!(refused.contains("www-authenticate: basic realm=\"tracegate\""), "{refused}");
    assert!(post_with(addr, &[basic("alice:Wonderland")]).await.starts_with("http/1.1 401"));
    for good in ["alice:wonderland", "bob:builder"] {
        let served = post_with(addr, &[basic(good)]).await;
        assert!(served.starts_with("http/1.1 200") && served.ends_with("stored"), "{served}");
    }
    let metrics = telemetry.metrics.render();
    assert!(metrics.contains("tracegate_server_auth_failures{component=\"jaeger\",reason=\"invalid\",server=\"http\"} 1"), "{metrics}");
    running.stop().await;
}

#[tokio::test]
async fn bearertokenauth_guards_a_listener_and_follows_its_token_file() {
    let telemetry = Telemetry::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "first-token\n").unwrap();
    let yaml = format!("filename: {}", file.display());
    let host = ExtensionsHost::default()
        .with("bearertokenauth/in", create(BearerTokenAuthFactory, "bearertokenauth/in", &yaml, &telemetry));
    let running = serve(&host, "bearertokenauth/in").await;
    let addr = running.local_addr("http").unwrap();
    let bearer = |t: &str| ("authorization", format!("Bearer {t}"));

    assert!(post_with(addr, &[bearer("first-token")]).await.starts_with("http/1.1 200"));
    std::fs::write(&file, "second-token\n").unwrap();
    let stale = post_with(addr, &[bearer("first-token")]).await;
    assert!(stale.starts_with("http/1.1 401"), "{stale}");
    assert!(stale.contains("www-authenticate: bearer realm=\"tracegate\", error=\"invalid_token\""), "{stale}");
    assert!(post_with(addr, &[bearer("second-token")]).await.starts_with("http/1.1 200"));
    running.stop().await;
}

#[tokio::test]
async fn a_client_only_basicauth_cannot_guard_a_listener() {
    let telemetry = Telemetry::new();
    let yaml = "client_auth: { username: u, password: p }";
    let host = ExtensionsHost::default().with("basicauth/out", create(BasicAuthFactory, "basicauth/out", yaml, &telemetry));
    let mut set = ServerSet::new("otlp", Arc::new(ServiceStatus::default()));
    let auth = AuthConfig { authenticator: "basicauth/out".into() };
    set.http("http", &Endpoint::new("127.0.0.1", 0), Router::new()).auth(Some(&auth), &host);
    let error = set.start().await.err().unwrap().to_string();
    assert!(error.contains("is set up for clients only"), "{error}");
    let client = tracegate_core::auth::client_authenticator(&host, Some(&auth)).unwrap().unwrap();
    assert_eq!(client.headers().unwrap()[0].1, format!("Basic {}", STANDARD.encode("u:p")));
}
