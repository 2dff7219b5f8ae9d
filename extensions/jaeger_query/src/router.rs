//! The HTTP routes, built by one function so tests drive them with `oneshot` and the server
//! serves the same thing. With a `base_path`, everything (page and API) lives under it, as
//! Jaeger's `--query.base-path` does for a reverse proxy. The web UI's page answers every UI
//! route and its files live under `static/` (see `static_files`).

use std::sync::Arc;

use axum::response::Redirect;
use axum::routing::{get, MethodRouter};
use axum::Router;

use crate::api::{self, ApiState};
use crate::apiv3;
use crate::spm;
use crate::static_files::{self, PAGE_ROUTES};

/// Every route, under `base_path` (`None` or `/` for the root).
pub fn router(state: Arc<ApiState>, base_path: Option<&str>) -> Router {
    let prefix = base_path.map(|p| p.trim_end_matches('/')).filter(|p| !p.is_empty());
    let page = static_files::index_html(prefix);
    let index: MethodRouter = get(move || {
        let page = page.clone();
        async move { static_files::page_response(&page) }
    });
    let mut routes = Router::new()
        .route("/api/services", get(api::services))
        .route("/api/services/{service}/operations", get(api::service_operations))
        .route("/api/operations", get(api::operations))
        .route("/api/traces", get(api::search))
        .route("/api/traces/{trace_id}", get(api::trace))
        .route("/api/dependencies", get(api::dependencies))
        .route("/api/live/traces", get(crate::live::live_traces))
        .route("/api/v3/services", get(apiv3::services))
        .route("/api/v3/operations", get(apiv3::operations))
        .route("/api/v3/traces", get(apiv3::find_traces))
        .route("/api/v3/traces/{trace_id}", get(apiv3::trace))
        .route("/api/v3/trace-summaries", get(apiv3::trace_summaries))
        .route("/api/metrics/calls", get(spm::calls))
        .route("/api/metrics/errors", get(spm::errors))
        .route("/api/metrics/latencies", get(spm::latencies))
        .route("/api/metrics/minstep", get(spm::min_step))
        .with_state(state)
        .route("/static/{*path}", get(static_files::static_asset));
    for path in PAGE_ROUTES {
        routes = routes.route(path, index.clone());
    }
    match prefix {
        None => routes.route("/", index),
        Some(prefix) => {
            // The page's URLs are relative to its `<base href="/prefix/">`; `/prefix` redirects
            // there so a bookmark without the slash works.
            let slash = format!("{prefix}/");
            let redirect = get(move || async move { Redirect::permanent(&slash) });
            Router::new().route(&format!("{prefix}/"), index).route(prefix, redirect).nest(prefix, routes)
        }
    }
}
