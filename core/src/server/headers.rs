//! Browser-facing headers every HTTP listener sets the same way: CORS (when its `cors:` lists
//! origins), `X-Content-Type-Options: nosniff` always, and a `Content-Security-Policy` when the
//! component serves pages (the query UI).
//!
//! Why here and not per component: OTLP/HTTP, Zipkin and the query API must answer a browser
//! alike, and the order against the authenticator matters. These layers sit *outside* the
//! auth layer: a CORS preflight (`OPTIONS`) carries no credentials (browsers never send them on
//! a preflight), so it is answered here without reaching the authenticator, while the real
//! request that follows still passes it; and a 401 carries the CORS headers, so the page that
//! made the call can read the refusal instead of seeing an opaque network error.
//!
//! CORS follows the Collector's `confighttp` (which uses `rs/cors`): credentials allowed (the
//! allowed origin is echoed, never `*`), methods `GET`, `POST` and `HEAD`, the always-allowed
//! request headers plus `allowed_headers`, `max_age` on preflights. tower-http's `CorsLayer`
//! does the protocol; which origins match is [`CorsConfig::allows_origin`].

use std::sync::Arc;

use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::Router;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::config::CorsConfig;

/// Request headers a cross-origin request may always carry (`rs/cors`'s implicit list).
const ALWAYS_ALLOWED_HEADERS: [HeaderName; 4] =
    [header::ACCEPT, header::ACCEPT_LANGUAGE, header::CONTENT_TYPE, header::CONTENT_LANGUAGE];

/// `app` answering CORS as `cors` says; unchanged when `cors` lists no origin (CORS off).
pub(crate) fn cors(app: Router, cors: &CorsConfig) -> Router {
    if !cors.is_enabled() {
        return app;
    }
    let config = Arc::new(cors.clone());
    let allow_origin = AllowOrigin::predicate(move |origin: &HeaderValue, _| {
        origin.to_str().is_ok_and(|o| config.allows_origin(o))
    });
    let allow_headers = if cors.allowed_headers.iter().any(|h| h == "*") {
        // `*` is not allowed beside credentials; echoing what the preflight asks for is the
        // same permission.
        AllowHeaders::mirror_request()
    } else {
        let mut names = ALWAYS_ALLOWED_HEADERS.to_vec();
        if cors.allowed_headers.is_empty() {
            names.push(HeaderName::from_static("x-requested-with"));
        }
        // Invalid names were refused when the config was validated.
        names.extend(cors.allowed_headers.iter().filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok()));
        AllowHeaders::list(names)
    };
    let mut layer = CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::HEAD])
        .allow_headers(allow_headers);
    if cors.max_age > 0 {
        layer = layer.max_age(std::time::Duration::from_secs(cors.max_age));
    }
    app.layer(layer)
}

/// `app` with `X-Content-Type-Options: nosniff` on every answer (a browser never runs an API
/// answer or an uploaded text as a script or style), and `csp` as the
/// `Content-Security-Policy` when given. A header the handler set itself is kept.
pub(crate) fn security(app: Router, csp: Option<HeaderValue>) -> Router {
    let app = app.layer(SetResponseHeaderLayer::if_not_present(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ));
    match csp {
        Some(csp) => app.layer(SetResponseHeaderLayer::if_not_present(header::CONTENT_SECURITY_POLICY, csp)),
        None => app,
    }
}
