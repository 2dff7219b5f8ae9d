//! `auth: { authenticator: <id> }`: the client given a bearertokenauth extension's credentials
//! (as the exporter's start does) carries the token to a cluster guarded the way tracegate's
//! own listeners are; without it the cluster answers 401.

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use tracegate_core::config::{AuthConfig, Endpoint};
use tracegate_core::server::ServerSet;
use tracegate_core::telemetry::{ServiceStatus, Telemetry};
use tracegate_core::testing::ExtensionsHost;
use reqwest::Method;
use tracegate_core::{ComponentId, CreateContext, ExtensionFactory, Host};
use tracegate_extension_auth::BearerTokenAuthFactory;

use crate::client::EsClient;
use crate::config::Auth;
use crate::Config;

#[tokio::test]
async fn the_authenticators_token_goes_with_every_request() {
    let config = tracegate_core::testing::parse_config("token: es-token").expect("config");
    let context = CreateContext::new(ComponentId::parse("bearertokenauth").expect("id"), Telemetry::new());
    let token = BearerTokenAuthFactory.create(context, config).expect("create");
    let host: Arc<dyn Host> = Arc::new(ExtensionsHost::default().with("bearertokenauth", token));

    let app = Router::new().route(
        "/",
        get(|| async { ([("content-type", "application/json")], r#"{"version":{"number":"8.11.0"}}"#) }),
    );
    let mut set = ServerSet::new("es", Arc::new(ServiceStatus::default()));
    let guard = AuthConfig { authenticator: "bearertokenauth".into() };
    set.http("http", &Endpoint::new("127.0.0.1", 0), app).auth(Some(&guard), &*host);
    let running = set.start().await.expect("start");
    let addr = running.local_addr("http").expect("bound");

    let config = Config { endpoints: vec![format!("http://{addr}")], ..Config::default() };
    let with_token = EsClient::new(&config).expect("client");
    let auth = Auth { authenticator: "bearertokenauth".into(), ..Auth::default() }.extension();
    let token = tracegate_core::auth::client_authenticator(&*host, auth.as_ref()).expect("found").expect("some");
    with_token.set_authenticator(token);
    let answer = with_token.request(Method::GET, "/", None).await.expect("authenticated");
    assert_eq!(answer["version"]["number"], "8.11.0");

    let without = EsClient::new(&config).expect("client");
    let refused = without.request(Method::GET, "/", None).await.expect_err("no token");
    assert!(refused.to_string().contains("401"), "{refused}");
    running.stop().await;
}
