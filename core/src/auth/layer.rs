//! The check in front of a protected listener: one axum middleware (a tower layer), so HTTP
//! routes and tonic's gRPC services (served as an axum router) are guarded the same way.
//!
//! A refusal answers in the caller's protocol: HTTP 401 with `WWW-Authenticate`, or for a gRPC
//! call a trailers-only response with status `UNAUTHENTICATED` (16) and the same challenge
//! header, since gRPC clients read the status and not the HTTP code. The failure is counted
//! per listener and reason, and logged at debug level with the reason only: headers are never
//! logged, so neither are credentials.
//!
//! A listener may name requests that pass without credentials ([`OpenRequests`]): the files of
//! a page (the query UI) that must load before it can ask for a token. They pass only when the
//! authenticator's challenge is not one a browser answers itself: with `Basic`, the browser's
//! own password dialog is the sign-in, so everything stays behind it.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use prometheus::IntCounter;

use super::{AuthError, ServerAuth};

/// Which requests of a listener pass without credentials, when any may (see the module docs).
pub type OpenRequests = Arc<dyn Fn(&axum::http::Method, &str) -> bool + Send + Sync>;

/// `UNAUTHENTICATED` in gRPC's status codes.
const GRPC_UNAUTHENTICATED: &str = "16";

struct Gate {
    auth: ServerAuth,
    component: String,
    server: &'static str,
    missing: IntCounter,
    invalid: IntCounter,
    unavailable: IntCounter,
    /// Requests served without credentials; `None` when the browser signs in itself.
    open: Option<OpenRequests>,
}

impl Gate {
    fn count(&self, error: &AuthError) {
        match error {
            AuthError::Missing(_) => self.missing.inc(),
            AuthError::Invalid(_) => self.invalid.inc(),
            AuthError::Unavailable(_) => self.unavailable.inc(),
        }
    }
}

/// `app` with every request checked by `auth` first, except those `open` names when the
/// authenticator is not one the browser answers itself; `component` and `server` label the
/// failure counter (`tracegate_server_auth_failures`).
pub(crate) fn protect(app: Router, auth: ServerAuth, open: Option<OpenRequests>, component: &str, server: &'static str) -> Router {
    let metrics = &auth.telemetry.metrics;
    let counter = |reason| metrics.server_auth_failures(component, server, reason);
    let gate = Gate {
        missing: counter("missing"),
        invalid: counter("invalid"),
        unavailable: counter("unavailable"),
        component: component.to_string(),
        server,
        open: open.filter(|_| !browser_signs_in(&auth)),
        auth,
    };
    app.layer(axum::middleware::from_fn_with_state(Arc::new(gate), check))
}

/// True when the authenticator's challenge is one a browser answers with its own dialog.
fn browser_signs_in(auth: &ServerAuth) -> bool {
    let challenge = auth.authenticator.challenge(&AuthError::Missing(String::new()));
    let scheme = challenge.to_str().unwrap_or("").split_whitespace().next().unwrap_or("");
    scheme.eq_ignore_ascii_case("basic") || scheme.eq_ignore_ascii_case("digest")
}

async fn check(State(gate): State<Arc<Gate>>, mut request: Request, next: Next) -> Response {
    if let Some(open) = &gate.open {
        if open(request.method(), request.uri().path()) {
            return next.run(request).await;
        }
    }
    match gate.auth.authenticator.authenticate(request.headers()).await {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(error) => {
            gate.count(&error);
            tracing::debug!(
                component = %gate.component,
                server = gate.server,
                authenticator = %gate.auth.id,
                reason = %error,
                "call refused"
            );
            let challenge = gate.auth.authenticator.challenge(&error);
            refusal(&request, &error, challenge)
        }
    }
}

fn is_grpc(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc"))
}

fn refusal(request: &Request, error: &AuthError, challenge: HeaderValue) -> Response {
    let status = match error {
        // An authenticator that cannot decide is the server's trouble, not the caller's:
        // 503 lets a client retry; the challenge still says what is expected.
        AuthError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::UNAUTHORIZED,
    };
    if is_grpc(request) {
        let code = match error {
            AuthError::Unavailable(_) => "14", // UNAVAILABLE
            _ => GRPC_UNAUTHENTICATED,
        };
        let mut response = Response::new(Body::empty());
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert("grpc-status", HeaderValue::from_static(code));
        if let Ok(message) = HeaderValue::from_str(&grpc_message(&error.to_string())) {
            headers.insert("grpc-message", message);
        }
        headers.insert(header::WWW_AUTHENTICATE, challenge);
        return response;
    }
    (status, [(header::WWW_AUTHENTICATE, challenge)], format!("{error}\n")).into_response()
}

/// gRPC's percent-encoding of `grpc-message`: printable ASCII except `%` passes as is.
fn grpc_message(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if (0x20..=0x7e).contains(&byte) && byte != b'%' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::grpc_message;

    #[test]
    fn grpc_messages_are_percent_encoded() {
        assert_eq!(grpc_message("no credentials: 100% é"), "no credentials: 100%25 %C3%A9");
    }
}
