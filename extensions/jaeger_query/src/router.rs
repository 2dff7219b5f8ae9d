//! The HTTP routes, built by one function so tests drive them with `oneshot` and the server
//! serves the same thing. With a `base_path`, everything (page and API) lives under it, as
//! Jaeger's `--query.base-path` does for a reverse proxy.

use std::sync::Arc;

use axum::http::header;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use axum::Router;

use crate::api::{self, ApiState};
use crate::apiv3;

const INDEX_HTML: &str = include_str!("index.html");

async fn index() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX_HTML)
}

/// Every route, under `base_path` (`None` or `/` for the root).
pub fn router(state: Arc<ApiState>, base_path: Option<&str>) -> Router {
    let routes = Router::new()
        .route("/api/services", get(api::services))
        .route("/api/services/{service}/operations", get(api::service_operations))
        .route("/api/operations", get(api::operations))
        .route("/api/traces", get(api::search))
        .route("/api/traces/{trace_id}", get(api::trace))
        .route("/api/dependencies", get(api::dependencies))
        .route("/api/v3/services", get(apiv3::services))
        .route("/api/v3/operations", get(apiv3::operations))
        .route("/api/v3/traces", get(apiv3::find_traces))
        .route("/api/v3/traces/{trace_id}", get(apiv3::trace))
        .with_state(state);
    match base_path.map(|p| p.trim_end_matches('/')).filter(|p| !p.is_empty()) {
        None => routes.route("/", get(index)),
        Some(prefix) => {
            // The page's links are relative, so it must be served at `/prefix/`; `/prefix`
            // redirects there.
            let slash = format!("{prefix}/");
            let redirect = get(move || async move { Redirect::permanent(&slash) });
            Router::new().route(&format!("{prefix}/"), get(index)).route(prefix, redirect).nest(prefix, routes)
        }
    }
}
