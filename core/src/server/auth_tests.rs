#![allow(clippy::unwrap_used)]
//! A listener with `auth:`: what a caller sees with and without credentials, the refusal
//! counted, and an `auth:` naming nothing usable failing `start`. The authenticator here is
//! the smallest one that honours the contract; the real ones are tested in
//! `tracegate-extension-auth` against these same listeners.

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use axum::http::{HeaderMap, HeaderValue};
use axum::routing::get;
use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;
use crate::auth::{AuthError, AuthenticatorExtension, Principal, ServerAuthenticator};
use crate::telemetry::Telemetry;
use crate::testing::ExtensionsHost;

struct Password;

#[async_trait]
impl ServerAuthenticator for Password {
    async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, AuthError> {
        match headers.get("authorization").map(|v| v.as_bytes()) {
            None => Err(AuthError::Missing("no authorization header".into())),
            Some(b"open sesame") => Ok(Principal { subject: "ali".into(), tenant: None }),
            Some(_) => Err(AuthError::Invalid("wrong word".into())),
        }
    }

    fn challenge(&self, _error: &AuthError) -> HeaderValue {
        HeaderValue::from_static("Basic realm=\"test\"")
    }
}

pub(super) fn host(telemetry: &Arc<Telemetry>) -> ExtensionsHost {
    let extension = AuthenticatorExtension::new(telemetry.clone()).with_server(Arc::new(Password));
    ExtensionsHost::default().with("basicauth/test", Arc::new(extension))
}

pub(super) fn auth(id: &str) -> AuthConfig {
    AuthConfig { authenticator: id.into() }
}

async fn get_with(addr: SocketAddr, authorization: Option<&str>) -> String {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let header = authorization.map(|a| format!("authorization: {a}\r\n")).unwrap_or_default();
    let request = format!("GET / HTTP/1.1\r\nhost: x\r\n{header}connection: close\r\n\r\n");
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.unwrap();
    answer
}

#[tokio::test]
async fn a_protected_listener_refuses_calls_without_good_credentials_and_counts_them() {
    let telemetry = Telemetry::new();
    let host = host(&telemetry);
    let app = Router::new().route(
        "/",
        get(|principal: axum::Extension<Principal>| async move { format!("hello {}", principal.subject) }),
    );
    let mut set = ServerSet::new("zipkin", Arc::new(ServiceStatus::default()));
    set.http("http", &Endpoint::new("127.0.0.1", 0), app).auth(Some(&auth("basicauth/test")), &host);
    let running = set.start().await.unwrap();
    let addr = running.local_addr("http").unwrap();

    let refused = get_with(addr, None).await.to_lowercase();
    assert!(refused.starts_with("http/1.1 401"), "{refused}");
    assert!(refused.contains("www-authenticate: basic realm=\"test\""), "{refused}");
    let wrong = get_with(addr, Some("open barley")).await;
    assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
    assert!(!wrong.contains("barley"), "the refusal repeats the credentials: {wrong}");
    let served = get_with(addr, Some("open sesame")).await;
    assert!(served.starts_with("HTTP/1.1 200") && served.ends_with("hello ali"), "{served}");

    let metrics = telemetry.metrics.render();
    for reason in ["missing", "invalid"] {
        let line = format!("tracegate_server_auth_failures{{component=\"zipkin\",reason=\"{reason}\",server=\"http\"}} 1");
        assert!(metrics.contains(&line), "{line} not in\n{metrics}");
    }
    running.stop().await;
}

/// One HTTP/1.1 GET of `path` without credentials; the status line.
async fn status_of(addr: SocketAddr, path: &str) -> String {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.unwrap();
    answer.lines().next().unwrap_or_default().to_string()
}

#[tokio::test]
async fn paths_without_a_route_are_guarded_too() {
    let telemetry = Telemetry::new();
    let host = host(&telemetry);
    // With the router's own 404, and with a fallback (the UI serves its pages from one).
    for app in [Router::new().route("/", get(|| async { "x" })), Router::new().fallback(|| async { "page" })] {
        let mut set = ServerSet::new("jaeger_query", Arc::new(ServiceStatus::default()));
        set.http("http", &Endpoint::new("127.0.0.1", 0), app).auth(Some(&auth("basicauth/test")), &host);
        let running = set.start().await.unwrap();
        let addr = running.local_addr("http").unwrap();
        for path in ["/", "/search", "/api/nothing"] {
            assert_eq!(status_of(addr, path).await, "HTTP/1.1 401 Unauthorized", "{path}");
        }
        running.stop().await;
    }
}

#[tokio::test]
async fn an_authenticator_that_is_not_running_fails_start_with_the_server_named() {
    let telemetry = Telemetry::new();
    let host = host(&telemetry);
    let mut set = ServerSet::new("otlp", Arc::new(ServiceStatus::default()));
    set.http("http", &Endpoint::new("127.0.0.1", 0), Router::new())
        .auth(Some(&auth("basicauth/other")), &host);
    let error = set.start().await.err().unwrap().to_string();
    assert!(error.contains("http server on 127.0.0.1:0") && error.contains("\"basicauth/other\" is not running"), "{error}");
}

/// Like `Password`, but asking for a token: a browser has no dialog for it.
struct Token;

#[async_trait]
impl ServerAuthenticator for Token {
    async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, AuthError> {
        match headers.get("authorization").map(|v| v.as_bytes()) {
            Some(b"Bearer t0k3n") => Ok(Principal { subject: "ali".into(), tenant: None }),
            Some(_) => Err(AuthError::Invalid("wrong token".into())),
            None => Err(AuthError::Missing("no token".into())),
        }
    }

    fn challenge(&self, _error: &AuthError) -> HeaderValue {
        HeaderValue::from_static("Bearer realm=\"test\"")
    }
}

#[tokio::test]
async fn a_pages_own_files_pass_without_a_token_but_never_without_a_password() {
    let telemetry = Telemetry::new();
    let token = AuthenticatorExtension::new(telemetry.clone()).with_server(Arc::new(Token));
    let host = host(&telemetry).with("bearertokenauth/test", Arc::new(token));
    for (authenticator, page_is_open) in [("bearertokenauth/test", true), ("basicauth/test", false)] {
        let app = Router::new().route("/api/x", get(|| async { "data" })).fallback(|| async { "page" });
        let mut set = ServerSet::new("jaeger_query", Arc::new(ServiceStatus::default()));
        set.http("http", &Endpoint::new("127.0.0.1", 0), app)
            .auth(Some(&auth(authenticator)), &host)
            .open_without_credentials(|method, path| method == axum::http::Method::GET && !path.starts_with("/api/"));
        let running = set.start().await.unwrap();
        let addr = running.local_addr("http").unwrap();
        let page = status_of(addr, "/search").await;
        let expected = if page_is_open { "HTTP/1.1 200 OK" } else { "HTTP/1.1 401 Unauthorized" };
        assert_eq!(page, expected, "{authenticator}");
        assert_eq!(status_of(addr, "/api/x").await, "HTTP/1.1 401 Unauthorized", "{authenticator}");
        running.stop().await;
    }
}
