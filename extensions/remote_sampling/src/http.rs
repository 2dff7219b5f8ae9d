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

use std::future::Future;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

use crate::json::{encode, Form};
use crate::provider::StrategyProvider;

const SERVICE_ONCE: &str = "'service' parameter must be provided once";

/// The two sampling routes; every other path is 404.
pub fn router(provider: Arc<StrategyProvider>) -> Router {
    Router::new()
        .route("/", get(|s, q| answer(s, q, Form::Legacy)))
        .route("/sampling", get(|s, q| answer(s, q, Form::Proto)))
        .with_state(provider)
}

async fn answer(
    State(provider): State<Arc<StrategyProvider>>,
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

/// Serves the sampling routes on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    provider: Arc<StrategyProvider>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(provider)).with_graceful_shutdown(shutdown).await
}
