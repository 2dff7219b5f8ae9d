//! Tenancy on the query port: each request is answered from its tenant's store only.
//!
//! With `tenancy: { enabled: true, header, tenants }` (the same `tracegate_core::tenancy`
//! config the receivers read), the extension builds the whole API once per listed tenant,
//! each over the reader the store hands out for that tenant (`TraceReader::tenant`), and a
//! request goes to its tenant's copy after the tenancy check ([`Guard`]: the header, or the
//! tenant an OIDC authenticator mapped from the token; Jaeger's refusals, counted). So every
//! API, `/api/*`, `/api/v3/*`, the metrics API, the live tail, MCP and the gRPC port, sees one
//! tenant's data with no handler knowing about tenants; a handler cannot leak another
//! tenant's trace because it holds no reader that could find it. The list bounds the copies.
//!
//! The page's own files (and [`TENANCY_PATH`], which tells the page the header and the
//! tenants to offer) are served without a tenant: a browser loads them before the user picks
//! one, and they hold no trace data.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Extension, Request};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower::ServiceExt;
use tracegate_core::tenancy::layer::{Guard, Tenant};

/// Where the page reads the tenancy settings (`{"enabled", "header", "tenants"}`).
pub const TENANCY_PATH: &str = "/api/tenancy";

/// One router per tenant, behind `guard`; `open` answers what passes without a tenant
/// (`is_open` by method and path).
pub fn dispatch(
    guard: &Guard,
    routers: HashMap<Arc<str>, Router>,
    open: Option<(Router, Arc<dyn Fn(&Method, &str) -> bool + Send + Sync>)>,
) -> Router {
    let routers = Arc::new(routers);
    let by_tenant = Router::new().fallback(move |Extension(Tenant(tenant)): Extension<Tenant>, request: Request| {
        let routers = routers.clone();
        async move {
            match routers.get(&tenant) {
                Some(router) => router.clone().oneshot(request).await.into_response(),
                // The guard admits only listed tenants and each has a router; kept as an answer
                // rather than a panic should the two lists ever differ.
                None => (axum::http::StatusCode::UNAUTHORIZED, "unknown tenant").into_response(),
            }
        }
    });
    let guarded = guard.apply(by_tenant);
    let Some((open, is_open)) = open else { return guarded };
    Router::new().fallback(move |request: Request| {
        let target = if is_open(request.method(), request.uri().path()) { open.clone() } else { guarded.clone() };
        async move {
            let response: Response = target.oneshot(request).await.into_response();
            response
        }
    })
}

/// The page's view of the settings: the header to send and the tenants to offer.
pub fn settings_json(guard: Option<&Guard>) -> serde_json::Value {
    match guard {
        None => serde_json::json!({ "enabled": false }),
        Some(g) => serde_json::json!({
            "enabled": true,
            "header": g.tenancy().header(),
            "tenants": g.tenancy().tenants().iter().map(|t| t.to_string()).collect::<Vec<_>>(),
        }),
    }
}
