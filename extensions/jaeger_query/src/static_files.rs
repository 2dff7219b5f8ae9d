//! The embedded web UI: the files under `ui/` (listed by `build.rs`, compiled into the binary
//! so the UI works offline and needs nothing at run time) served under `static/`, and the
//! single page `index.html` for every UI route (`/search`, `/trace/...`, ...), so a shared URL
//! opens the right view and the page's own router takes over.
//!
//! The page's `<base href>` is set to the `base_path` when the router is built: every URL in
//! the page and its modules is relative, so one copy of the files works under any prefix.

use std::sync::Arc;

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

include!(concat!(env!("OUT_DIR"), "/ui_files.rs"));

/// The routes (relative to the base) that answer with the page itself.
pub const PAGE_ROUTES: &[&str] = &["/search", "/compare", "/dependencies", "/monitor", "/upload", "/trace/{*rest}"];

/// Whether `path` (relative to the base) is the page or one of its files: what the UI must
/// load before it can ask for a token. They hold code and styles, no data, so a listener
/// behind a token authenticator serves them without one (see `TcpPlan::open_without_credentials`).
pub fn is_ui_path(path: &str) -> bool {
    path.is_empty()
        || path == "/"
        || path.starts_with("/static/")
        || PAGE_ROUTES.iter().any(|route| match route.strip_suffix("{*rest}") {
            Some(prefix) => path.starts_with(prefix),
            None => path == *route,
        })
}

/// A file of the UI by its path under `ui/`.
pub fn ui_file(path: &str) -> Option<&'static [u8]> {
    UI_FILES.iter().find(|(name, _)| *name == path).map(|(_, bytes)| *bytes)
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("html") => "text/html; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// `index.html` with its `<base href>` pointing at `prefix/` (the root when `None`).
pub fn index_html(prefix: Option<&str>) -> Arc<str> {
    let page = ui_file("index.html").map(String::from_utf8_lossy).unwrap_or_default();
    let href = format!("{}/", prefix.unwrap_or(""));
    let escaped = href.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;");
    Arc::from(page.replacen("<base href=\"/\">", &format!("<base href=\"{escaped}\">"), 1))
}

/// The page, for every UI route.
pub fn page_response(page: &Arc<str>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")],
        page.to_string(),
    )
        .into_response()
}

/// `GET static/{*path}`: a UI file, or 404.
pub async fn static_asset(Path(path): Path<String>) -> Response {
    match ui_file(&path) {
        // `no-cache` still lets the browser keep a copy; it revalidates so an upgraded binary's
        // UI is never mixed with an old cached module.
        Some(bytes) => ([(header::CONTENT_TYPE, content_type(&path)), (header::CACHE_CONTROL, "no-cache")], bytes).into_response(),
        None => (StatusCode::NOT_FOUND, format!("no UI file {path}\n")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    async fn get(app: &axum::Router, uri: &str) -> (StatusCode, String, String) {
        let request = Request::get(uri).body(Body::empty()).expect("a valid request");
        let resp = app.clone().oneshot(request).await.expect("the router answers");
        let status = resp.status();
        let ct = resp.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let body = resp.into_body().collect().await.expect("the body is read").to_bytes();
        (status, ct, String::from_utf8_lossy(&body).into_owned())
    }

    fn app(base: Option<&str>) -> axum::Router {
        let page = index_html(base);
        let mut r = axum::Router::new().route("/static/{*path}", axum::routing::get(static_asset));
        for path in PAGE_ROUTES {
            let page = page.clone();
            r = r.route(path, axum::routing::get(move || async move { page_response(&page) }));
        }
        r
    }

    #[test]
    fn every_module_the_page_needs_is_embedded() {
        for f in ["index.html", "app.js", "api.js", "model.js", "util.js", "style.css", "pages/trace.js"] {
            assert!(ui_file(f).is_some(), "{f} is not embedded");
        }
    }

    #[test]
    fn the_page_and_its_files_are_ui_paths_and_the_api_is_not() {
        for path in ["", "/", "/search", "/trace/abc", "/static/app.js", "/dependencies"] {
            assert!(is_ui_path(path), "{path}");
        }
        for path in ["/api/services", "/api/traces/abc", "/api/v3/traces", "/searchx", "/mcp", "/trace"] {
            assert!(!is_ui_path(path), "{path}");
        }
    }

    #[test]
    fn the_base_path_becomes_the_pages_base_href_escaped() {
        assert!(index_html(None).contains("<base href=\"/\">"));
        assert!(index_html(Some("/jaeger")).contains("<base href=\"/jaeger/\">"));
        assert!(index_html(Some("/a\"<b")).contains("<base href=\"/a&quot;&lt;b/\">"));
    }

    #[tokio::test]
    async fn shared_urls_open_the_page_and_assets_have_their_types() {
        let app = app(None);
        for uri in ["/search?service=a", "/trace/abc", "/trace/a...b", "/dependencies", "/upload", "/compare"] {
            let (status, ct, body) = get(&app, uri).await;
            assert_eq!((status, ct.as_str()), (StatusCode::OK, "text/html; charset=utf-8"), "{uri}");
            assert!(body.contains("static/app.js"), "{uri}");
        }
        assert_eq!(get(&app, "/static/app.js").await.1, "text/javascript; charset=utf-8");
        assert_eq!(get(&app, "/static/style.css").await.1, "text/css; charset=utf-8");
        assert_eq!(get(&app, "/static/nope.js").await.0, StatusCode::NOT_FOUND);
        assert_eq!(get(&app, "/static/../Cargo.toml").await.0, StatusCode::NOT_FOUND);
    }
}
