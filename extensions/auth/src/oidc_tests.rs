#![allow(clippy::unwrap_used)]
//! OIDC with a key set made by the test: an issuer served on 127.0.0.1 (discovery document and
//! JWKS), a listener guarded by the extension, and tokens signed by the test: valid (with the
//! tenant claim), expired, for another audience, signed by another key, and none at all.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::routing::get;
use axum::{Extension as AxumExtension, Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracegate_core::config::{AuthConfig, Endpoint};
use tracegate_core::server::{RunningServers, ServerSet};
use tracegate_core::telemetry::{ServiceStatus, Telemetry};
use tracegate_core::testing::ExtensionsHost;
use tracegate_core::{ComponentId, CreateContext, Extension, ExtensionFactory, Host};

use super::*;
use crate::OidcFactory;

/// A P-256 signing key and its public JWK.
struct SigningKey {
    private: EncodingKey,
    jwk: Value,
}

impl SigningKey {
    fn new(kid: &str) -> Self {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let point = pair.public_key_raw();
        let (x, y) = point[1..].split_at(32);
        Self {
            private: EncodingKey::from_ec_der(&pair.serialize_der()),
            jwk: json!({"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
                        "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y)}),
        }
    }

    fn sign(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.to_string());
        jsonwebtoken::encode(&header, claims, &self.private).unwrap()
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Serves `/.well-known/openid-configuration` and `/jwks` for `keys`, in plain HTTP.
async fn issuer(keys: Value) -> (RunningServers, String) {
    issuer_over(keys, None).await
}

/// The same, over TLS with `tls` when given (then the URL is `https://localhost:port`).
async fn issuer_over(keys: Value, tls: Option<&tracegate_core::config::TlsServerConfig>) -> (RunningServers, String) {
    let base: Arc<OnceLock<String>> = Arc::default();
    let (for_discovery, for_jwks) = (base.clone(), keys);
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || async move {
                let base = for_discovery.get().cloned().unwrap_or_default();
                Json(json!({"issuer": base, "jwks_uri": format!("{base}/jwks")}))
            }),
        )
        .route("/jwks", get(move || async move { Json(for_jwks) }));
    let mut set = ServerSet::new("issuer", Arc::new(ServiceStatus::default()));
    set.http("http", &Endpoint::new("127.0.0.1", 0), app).tls(tls);
    let running = set.start().await.unwrap();
    let port = running.local_addr("http").unwrap().port();
    let url = match tls {
        Some(_) => format!("https://localhost:{port}"),
        None => format!("http://127.0.0.1:{port}"),
    };
    base.set(url.clone()).unwrap();
    (running, url)
}

/// A listener guarded by an `oidc` extension built from `yaml`; answers with who called.
async fn guarded(yaml: &str) -> (RunningServers, SocketAddr) {
    let config = tracegate_core::testing::parse_config::<Config>(yaml).unwrap();
    let context = CreateContext::new(ComponentId::parse("oidc").unwrap(), Telemetry::new());
    let extension: Arc<dyn Extension> = OidcFactory.create(context, config).unwrap();
    let host: Arc<dyn Host> = Arc::new(ExtensionsHost::default().with("oidc", extension.clone()));
    extension.start(host.clone()).await.unwrap();
    let app = Router::new().route(
        "/api/services",
        get(|who: AxumExtension<Principal>| async move {
            format!("{} of {}", who.subject, who.tenant.clone().unwrap_or_default())
        }),
    );
    let mut set = ServerSet::new("jaeger_query", Arc::new(ServiceStatus::default()));
    let auth = AuthConfig { authenticator: "oidc".into() };
    set.http("http", &Endpoint::new("127.0.0.1", 0), app).auth(Some(&auth), &*host);
    let running = set.start().await.unwrap();
    let addr = running.local_addr("http").unwrap();
    (running, addr)
}

async fn call(addr: SocketAddr, token: Option<&str>) -> String {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let auth = token.map(|t| format!("authorization: Bearer {t}\r\n")).unwrap_or_default();
    let request = format!("GET /api/services HTTP/1.1\r\nhost: x\r\n{auth}connection: close\r\n\r\n");
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.unwrap();
    answer
}

fn claims(issuer: &str, audience: &str, exp: u64) -> Value {
    json!({"iss": issuer, "aud": audience, "sub": "alice", "tenant": "team-a", "exp": exp, "iat": now()})
}

#[tokio::test]
async fn tokens_are_checked_against_the_issuers_discovered_keys() {
    let key = SigningKey::new("k1");
    let (issuer_server, issuer_url) = issuer(json!({"keys": [key.jwk]})).await;
    let yaml = format!("{{ issuer_url: '{issuer_url}', audience: tracegate, tenant_claim: tenant }}");
    let (guard, addr) = guarded(&yaml).await;
    let hour = now() + 3600;

    let valid = key.sign("k1", &claims(&issuer_url, "tracegate", hour));
    let served = call(addr, Some(&valid)).await;
    assert!(served.starts_with("HTTP/1.1 200") && served.ends_with("alice of team-a"), "{served}");

    let stranger = SigningKey::new("k1");
    for (token, why) in [
        (key.sign("k1", &claims(&issuer_url, "tracegate", now() - 3600)), "expired"),
        (key.sign("k1", &claims(&issuer_url, "someone-else", hour)), "another audience"),
        (key.sign("k1", &claims("http://evil.example", "tracegate", hour)), "another issuer"),
        (stranger.sign("k1", &claims(&issuer_url, "tracegate", hour)), "signature does not verify"),
        (stranger.sign("k9", &claims(&issuer_url, "tracegate", hour)), "unknown key"),
        ("not-a-jwt".to_string(), "not a JWT"),
    ] {
        let refused = call(addr, Some(&token)).await;
        assert!(refused.starts_with("HTTP/1.1 401"), "{why}: {refused}");
        assert!(refused.contains(why), "{why}: {refused}");
        assert!(refused.contains("error=\"invalid_token\""), "{why}: {refused}");
        assert!(!refused.contains(&token), "the refusal repeats the token");
    }
    let anonymous = call(addr, None).await;
    assert!(anonymous.starts_with("HTTP/1.1 401") && anonymous.contains("www-authenticate: Bearer realm=\"tracegate\""), "{anonymous}");
    guard.stop().await;
    issuer_server.stop().await;
}

#[tokio::test]
async fn an_issuer_over_tls_is_trusted_through_issuer_ca_path() {
    use tracegate_core::testing::pki::TestCa;
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("issuer CA");
    let (cert, key_file) = ca.server_cert().write(dir.path(), "issuer");
    let tls = tracegate_core::config::TlsServerConfig {
        cert_file: cert.display().to_string(),
        key_file: key_file.display().to_string(),
        ..Default::default()
    };
    let key = SigningKey::new("k1");
    let (issuer_server, issuer_url) = issuer_over(json!({"keys": [key.jwk]}), Some(&tls)).await;
    let ca_file = ca.write(dir.path(), "ca").display().to_string();
    let yaml = format!("{{ issuer_url: '{issuer_url}', issuer_ca_path: '{ca_file}', audience: tracegate }}");
    let (guard, addr) = guarded(&yaml).await;
    let served = call(addr, Some(&key.sign("k1", &claims(&issuer_url, "tracegate", now() + 60)))).await;
    assert!(served.starts_with("HTTP/1.1 200"), "{served}");
    guard.stop().await;
    // Without the CA the issuer is not trusted: its keys never load.
    let yaml = format!("{{ issuer_url: '{issuer_url}', audience: tracegate }}");
    let (guard, addr) = guarded(&yaml).await;
    let answer = call(addr, Some(&key.sign("k1", &claims(&issuer_url, "tracegate", now() + 60)))).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    guard.stop().await;
    issuer_server.stop().await;
}

#[tokio::test]
async fn a_local_key_set_needs_no_issuer_and_a_missing_tenant_claim_is_refused() {
    let key = SigningKey::new("local");
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, json!({"keys": [key.jwk]}).to_string()).unwrap();
    let yaml = format!("{{ jwks_file: '{}', audience: tracegate, tenant_claim: org }}", jwks.display());
    let (guard, addr) = guarded(&yaml).await;
    let mut with_org = claims("anyone", "tracegate", now() + 60);
    with_org["org"] = json!("org-7");
    let served = call(addr, Some(&key.sign("local", &with_org))).await;
    assert!(served.ends_with("alice of org-7"), "{served}");
    let refused = call(addr, Some(&key.sign("local", &claims("anyone", "tracegate", now() + 60)))).await;
    assert!(refused.starts_with("HTTP/1.1 401") && refused.contains("no \"org\" claim"), "{refused}");
    guard.stop().await;
}

#[tokio::test]
async fn an_unreachable_issuer_makes_calls_unavailable_not_unauthenticated() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (guard, addr) = guarded(&format!("{{ issuer_url: 'http://{closed}', audience: tracegate }}")).await;
    let key = SigningKey::new("k1");
    let answer = call(addr, Some(&key.sign("k1", &claims("x", "tracegate", now() + 60)))).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    guard.stop().await;
}

#[test]
fn configs_that_cannot_work_are_refused() {
    let parse = tracegate_core::testing::parse_config_messages::<Config>;
    assert_eq!(
        parse("{}").unwrap_err(),
        [
            "set issuer_url (keys by OIDC discovery) or jwks_file (a local key set)",
            "audience: required: the `aud` a token must be issued for (the client id)"
        ]
    );
    assert_eq!(parse("{ issuer_url: login.example.com, audience: a }").unwrap_err(), ["issuer_url: must be an http:// or https:// URL"]);
    assert!(parse("{ issuer_url: 'https://login.example.com', audience: a }").is_ok());
    assert!(Oidc::new(&Config { jwks_file: "/nonexistent/jwks.json".into(), audience: "a".into(), ..Config::default() })
        .err()
        .unwrap()
        .contains("/nonexistent/jwks.json"));
}
