#![allow(clippy::unwrap_used)]
//! What a browser sees from a [`ServerSet`] HTTP listener: `nosniff` always, CORS off unless
//! `cors:` lists origins, a preflight answered without credentials while the real request
//! behind an authenticator still needs them, and the page policy when a component sets one.
//! Real sockets, a real HTTP client; the browser's side of CORS is played by the test.

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use reqwest::{Method, Response};

use super::auth_tests::{auth, host};
use super::*;
use crate::telemetry::Telemetry;

const APP: &str = "https://app.example.com";

fn app() -> Router {
    Router::new()
        .route("/api/services", get(|| async { "[]" }))
        .route("/v1/traces", post(|| async { "{}" }))
        .fallback(|| async { "page" })
}

fn cors(origins: &[&str], headers: &[&str], max_age: u64) -> CorsConfig {
    CorsConfig {
        allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
        allowed_headers: headers.iter().map(|s| s.to_string()).collect(),
        max_age,
    }
}

async fn call(addr: SocketAddr, method: Method, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut request = reqwest::Client::new().request(method, format!("http://{addr}{path}"));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request.send().await.unwrap()
}

fn header<'a>(resp: &'a Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

fn preflight(origin: &'static str, method: &'static str, headers: &'static str) -> [(&'static str, &'static str); 3] {
    [("origin", origin), ("access-control-request-method", method), ("access-control-request-headers", headers)]
}

#[tokio::test]
async fn without_cors_no_origin_is_allowed_and_every_answer_says_nosniff() {
    let mut set = ServerSet::new("otlp", Arc::new(ServiceStatus::default()));
    set.http("http", &Endpoint::new("127.0.0.1", 0), app()).cors(None);
    let running = set.start().await.unwrap();
    let addr = running.local_addr("http").unwrap();

    let pre = call(addr, Method::OPTIONS, "/v1/traces", &preflight(APP, "POST", "content-type")).await;
    assert_eq!(header(&pre, "access-control-allow-origin"), None);
    let real = call(addr, Method::POST, "/v1/traces", &[("origin", APP)]).await;
    assert_eq!(real.status(), 200);
    assert_eq!(header(&real, "access-control-allow-origin"), None);
    for resp in [&pre, &real, &call(addr, Method::GET, "/nope", &[]).await] {
        assert_eq!(header(resp, "x-content-type-options"), Some("nosniff"));
        assert_eq!(header(resp, "content-security-policy"), None, "only page servers set a policy");
    }
    running.stop().await;
}

#[tokio::test]
async fn a_preflight_passes_without_credentials_and_the_real_request_still_needs_them() {
    let telemetry = Telemetry::new();
    let host = host(&telemetry);
    let mut set = ServerSet::new("jaeger_query", Arc::new(ServiceStatus::default()));
    set.http("http", &Endpoint::new("127.0.0.1", 0), app())
        .auth(Some(&auth("basicauth/test")), &host)
        .cors(Some(&cors(&[APP, "http://*.example.org:8080"], &["Authorization"], 600)));
    let running = set.start().await.unwrap();
    let addr = running.local_addr("http").unwrap();

    // The browser asks first, without credentials: answered here, not refused.
    let pre = call(addr, Method::OPTIONS, "/api/services", &preflight(APP, "GET", "authorization")).await;
    assert!(pre.status().is_success(), "{}", pre.status());
    assert_eq!(header(&pre, "access-control-allow-origin"), Some(APP), "the origin is echoed, never *");
    assert_eq!(header(&pre, "access-control-allow-credentials"), Some("true"));
    assert_eq!(header(&pre, "access-control-max-age"), Some("600"));
    let allowed = header(&pre, "access-control-allow-headers").unwrap().to_lowercase();
    assert!(allowed.contains("authorization") && allowed.contains("content-type"), "{allowed}");
    let methods = header(&pre, "access-control-allow-methods").unwrap();
    assert!(methods.contains("GET") && methods.contains("POST"), "{methods}");

    // The real request without credentials is refused, readably (the CORS headers are on it).
    let refused = call(addr, Method::GET, "/api/services", &[("origin", APP)]).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(header(&refused, "access-control-allow-origin"), Some(APP));
    assert_eq!(header(&refused, "x-content-type-options"), Some("nosniff"));
    let served = call(addr, Method::GET, "/api/services", &[("origin", APP), ("authorization", "open sesame")]).await;
    assert_eq!(served.status(), 200);
    assert_eq!(header(&served, "access-control-allow-origin"), Some(APP));

    // A wildcard origin matches any run of characters; other origins get no permission.
    let sub = "http://ui.team.example.org:8080";
    let pre = call(addr, Method::OPTIONS, "/v1/traces", &[("origin", sub), ("access-control-request-method", "POST")]).await;
    assert_eq!(header(&pre, "access-control-allow-origin"), Some(sub));
    for evil in ["https://evil.example.net", "http://example.org:8080", "https://app.example.com.evil.net"] {
        let pre = call(addr, Method::OPTIONS, "/v1/traces", &[("origin", evil), ("access-control-request-method", "POST")]).await;
        assert_eq!(header(&pre, "access-control-allow-origin"), None, "{evil}");
        let real = call(addr, Method::GET, "/api/services", &[("origin", evil), ("authorization", "open sesame")]).await;
        assert_eq!(header(&real, "access-control-allow-origin"), None, "{evil}");
    }
    running.stop().await;
}

#[tokio::test]
async fn a_star_allows_any_origin_and_any_requested_header() {
    let mut set = ServerSet::new("zipkin", Arc::new(ServiceStatus::default()));
    set.http("http", &Endpoint::new("127.0.0.1", 0), app()).cors(Some(&cors(&["*"], &["*"], 0)));
    let running = set.start().await.unwrap();
    let addr = running.local_addr("http").unwrap();
    let pre = call(addr, Method::OPTIONS, "/v1/traces", &preflight("http://localhost:3000", "POST", "x-custom, traceparent")).await;
    assert_eq!(header(&pre, "access-control-allow-origin"), Some("http://localhost:3000"));
    let allowed = header(&pre, "access-control-allow-headers").unwrap().to_lowercase();
    assert!(allowed.contains("x-custom") && allowed.contains("traceparent"), "{allowed}");
    assert_eq!(header(&pre, "access-control-max-age"), None, "max_age 0 sends none");
    running.stop().await;
}

#[tokio::test]
async fn a_page_server_sends_its_policy_on_every_answer() {
    let policy = "default-src 'self'; frame-ancestors 'none'";
    let mut set = ServerSet::new("jaeger_query", Arc::new(ServiceStatus::default()));
    set.http("http", &Endpoint::new("127.0.0.1", 0), app()).content_security_policy(policy);
    let running = set.start().await.unwrap();
    let addr = running.local_addr("http").unwrap();
    for path in ["/", "/search", "/api/services"] {
        let resp = call(addr, Method::GET, path, &[]).await;
        assert_eq!(header(&resp, "content-security-policy"), Some(policy), "{path}");
    }
    running.stop().await;

    let mut set = ServerSet::new("jaeger_query", Arc::new(ServiceStatus::default()));
    set.http("http", &Endpoint::new("127.0.0.1", 0), app()).content_security_policy("bad\npolicy");
    let error = set.start().await.err().unwrap().to_string();
    assert!(error.contains("content security policy"), "{error}");
}
