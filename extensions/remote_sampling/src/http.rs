//! The HTTP sampling endpoints Jaeger SDKs poll (port 5778, the Jaeger agent's):
//!
//! - `GET /sampling?service=X`: the proto-JSON form (`"strategyType":"PROBABILISTIC"`), as
//!   Jaeger's agent and v1 collector serve it;
//! - `GET /?service=X`: the legacy form (`"strategyType":0`) that older clients (e.g. the
//!   Python `jaeger-client`) read.
//!
//! `service` must be given exactly once (400 otherwise, with Jaeger's message); a service the
//! strategies do not name gets the default strategy. (Jaeger v2's extension answers the legacy
//! form on every path; tracegate keeps the two paths apart, as the agent did, so clients that
//! ask `/sampling` get the form they expect.)

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::json::{encode, Form};
use crate::provider::StrategySource;

const SERVICE_ONCE: &str = "'service' parameter must be provided once";

/// The two sampling routes; every other path is 404.
pub fn router(provider: Arc<dyn StrategySource>) -> Router {
    Router::new()
        .route("/", get(|s, q| answer(s, q, Form::Legacy)))
        .route("/sampling", get(|s, q| answer(s, q, Form::Proto)))
        .with_state(provider)
}

async fn answer(
    State(provider): State<Arc<dyn StrategySource>>,
    Query(params): Query<Vec<(String, String)>>,
    form: Form,
) -> Response {
    let mut services = params.into_iter().filter(|(k, _)| k == "service").map(|(_, v)| v);
    let (Some(service), None) = (services.next(), services.next()) else {
        return text_error(StatusCode::BAD_REQUEST, SERVICE_ONCE);
    };
    match encode(&provider.strategy_for(&service), form) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => {
            tracing::warn!(service = %service, "cannot answer the legacy sampling endpoint: {e}");
            text_error(StatusCode::INTERNAL_SERVER_ERROR, "cannot marshall to JSON")
        }
    }
}

/// Go's `http.Error`: plain text with a trailing newline.
fn text_error(code: StatusCode, message: &str) -> Response {
    (code, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{message}\n")).into_response()
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use std::net::SocketAddr;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tracegate_core::config::Endpoint;
    use tracegate_core::server::ServerSet;
    use tracegate_core::telemetry::ServiceStatus;

    use super::*;
    use crate::provider::StrategyProvider;

    /// One HTTP/1.1 GET on a fresh connection: (status, content type, body).
    pub(crate) async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        let text = String::from_utf8(raw).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let code = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap();
        let content_type = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type: ").map(str::to_string))
            .unwrap_or_default();
        (code, content_type, body.to_string())
    }

    pub(crate) fn provider_with(json: &str) -> (tempfile::TempDir, Arc<StrategyProvider>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strategies.json");
        std::fs::write(&path, json).unwrap();
        (dir, Arc::new(StrategyProvider::from_file(&path, 0.001).unwrap()))
    }

    const STRATEGIES: &str = r#"{
        "default_strategy": {"type": "probabilistic", "param": 0.5},
        "service_strategies": [
          {"service": "foo", "type": "probabilistic", "param": 0.8,
           "operation_strategies": [{"operation": "op1", "type": "probabilistic", "param": 0.2}]},
          {"service": "bar", "type": "ratelimiting", "param": 5},
          {"service": "big", "type": "ratelimiting", "param": 100000}]}"#;

    #[tokio::test]
    async fn both_endpoints_answer_as_jaeger_does() {
        let (_dir, provider) = provider_with(STRATEGIES);
        let mut servers = ServerSet::new("remote_sampling", Arc::new(ServiceStatus::default()));
        servers.http("http", &Endpoint::new("127.0.0.1", 0), router(provider));
        let servers = servers.start().await.unwrap();
        let addr = servers.local_addr("http").unwrap();

        let json = "application/json".to_string();
        assert_eq!(
            get(addr, "/sampling?service=bar").await,
            (200, json.clone(), r#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":5}}"#.into())
        );
        assert_eq!(
            get(addr, "/?service=bar").await,
            (200, json.clone(), r#"{"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":5}}"#.into())
        );
        let ops = r#""operationSampling":{"defaultSamplingProbability":0.8,"defaultLowerBoundTracesPerSecond":0,"perOperationStrategies":[{"operation":"op1","probabilisticSampling":{"samplingRate":0.2}}],"defaultUpperBoundTracesPerSecond":0}"#;
        assert_eq!(
            get(addr, "/sampling?service=foo").await.2,
            format!(r#"{{"strategyType":"PROBABILISTIC","probabilisticSampling":{{"samplingRate":0.8}},{ops}}}"#)
        );
        assert_eq!(
            get(addr, "/?service=foo").await.2,
            format!(r#"{{"strategyType":0,"probabilisticSampling":{{"samplingRate":0.8}},{ops}}}"#)
        );
        // Unknown (and empty) service names get the default strategy; other parameters are ignored.
        let default = r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.5}}"#;
        assert_eq!(get(addr, "/sampling?service=nobody&x=1").await, (200, json.clone(), default.into()));
        assert_eq!(get(addr, "/sampling?service=").await.2, default);
        assert_eq!(get(addr, "/?service=b%61r").await.2, r#"{"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":5}}"#);

        let bad = (400, "text/plain; charset=utf-8".to_string(), "'service' parameter must be provided once\n".to_string());
        for path in ["/sampling", "/sampling?svc=foo", "/?service=a&service=b", "/", "/sampling?service=foo&service=foo"] {
            assert_eq!(get(addr, path).await, bad, "{path}");
        }
        // The legacy form's 16-bit rate cannot carry 100000; the proto form can.
        assert_eq!(get(addr, "/?service=big").await.0, 500);
        assert!(get(addr, "/sampling?service=big").await.2.contains(r#""maxTracesPerSecond":100000"#));
        assert_eq!(get(addr, "/api/sampling?service=foo").await.0, 404);

        servers.stop().await;
    }
}
