//! Where the tenant is decided on a listener, and how it reaches the batch.
//!
//! [`guard`] is one axum middleware put in front of a component's routes (HTTP handlers and
//! tonic services alike, as the authenticator's layer is). It decides the request's tenant
//! with [`Tenancy::tenant_of`], reading the [`Principal`] the authenticator left in the
//! request (the `ServerSet` applies the authenticator outside the component's routes, so it
//! has run by then), and refuses in the caller's protocol: HTTP 401 with Jaeger's text, or a
//! trailers-only gRPC answer with `UNAUTHENTICATED` / `PERMISSION_DENIED`. Each refusal is
//! counted in `tracegate_tenancy_refused_requests{component,reason}`.
//!
//! An accepted request goes on with the tenant in its extensions ([`Tenant`]) and runs inside
//! a task-local scope holding it; [`stamping`] wraps a receiver's next consumer so every batch
//! the request hands on carries the tenant ([`Traces::with_tenant`]). The scope is what spares
//! every protocol handler of every receiver a new parameter: a handler's call of the next
//! consumer runs inside the request's future. A batch handed on outside any scope (which
//! would be a receiver that moved the work to another task) is refused, never stored as
//! untenanted.

use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use prometheus::IntCounter;

use super::{Tenancy, TenancyError};
use crate::auth::Principal;
use crate::component::{Capabilities, ConsumeError, Consumer};
use crate::data::Traces;
use crate::telemetry::Telemetry;

tokio::task_local! {
    static CURRENT: Arc<str>;
}

/// The tenant of the request being served, in its extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant(pub Arc<str>);

/// The tenant of the request this task is serving, if a [`guard`] decided one.
pub fn current() -> Option<Arc<str>> {
    CURRENT.try_with(Arc::clone).ok()
}

/// Runs `fut` as serving `tenant` (what [`guard`] does for a request).
pub async fn scope<F: std::future::Future>(tenant: Arc<str>, fut: F) -> F::Output {
    CURRENT.scope(tenant, fut).await
}

/// Refusals counted per reason for one component.
struct Gate {
    tenancy: Arc<Tenancy>,
    component: String,
    counters: [IntCounter; 4],
}

impl Gate {
    fn count(&self, error: &TenancyError) {
        let i = match error {
            TenancyError::Missing => 0,
            TenancyError::Unknown => 1,
            TenancyError::Extra => 2,
            TenancyError::Mismatch => 3,
        };
        self.counters[i].inc();
    }
}

/// `app` with every request's tenant decided first (see the module docs); refusals are
/// counted under `component` in `telemetry`.
pub fn guard(app: Router, tenancy: Arc<Tenancy>, component: &str, telemetry: &Telemetry) -> Router {
    let counter = |e: TenancyError| telemetry.metrics.tenancy_refusals(component, e.reason());
    let gate = Gate {
        tenancy,
        component: component.to_string(),
        counters: [
            counter(TenancyError::Missing),
            counter(TenancyError::Unknown),
            counter(TenancyError::Extra),
            counter(TenancyError::Mismatch),
        ],
    };
    app.layer(axum::middleware::from_fn_with_state(Arc::new(gate), check))
}

async fn check(State(gate): State<Arc<Gate>>, mut request: Request, next: Next) -> Response {
    let decided = gate.tenancy.tenant_of(request.headers(), request.extensions().get::<Principal>());
    match decided {
        Ok(tenant) => {
            request.extensions_mut().insert(Tenant(tenant.clone()));
            scope(tenant, next.run(request)).await
        }
        Err(error) => {
            gate.count(&error);
            tracing::debug!(component = %gate.component, reason = error.reason(), "request refused: {error}");
            refusal(&request, &error)
        }
    }
}

/// The answer to a refused request, in its protocol (Jaeger's codes and texts).
pub fn refusal(request: &Request, error: &TenancyError) -> Response {
    let grpc = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc"));
    if grpc {
        let mut response = Response::new(Body::empty());
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert("grpc-status", HeaderValue::from(error.grpc_code() as u32));
        // Every text of TenancyError is printable ASCII without '%': no escaping needed.
        if let Ok(message) = HeaderValue::from_str(&error.to_string()) {
            headers.insert("grpc-message", message);
        }
        return response;
    }
    (StatusCode::UNAUTHORIZED, error.to_string()).into_response()
}

/// `next` stamping each batch with the tenant of the request handing it on; `next` itself
/// when tenancy is off.
pub fn stamping(next: Arc<dyn Consumer>, tenancy: Option<&Arc<Tenancy>>) -> Arc<dyn Consumer> {
    match tenancy {
        Some(_) => Arc::new(Stamping { next }),
        None => next,
    }
}

struct Stamping {
    next: Arc<dyn Consumer>,
}

#[async_trait]
impl Consumer for Stamping {
    fn capabilities(&self) -> Capabilities {
        self.next.capabilities()
    }

    async fn consume(&self, traces: Traces) -> Result<(), ConsumeError> {
        match current() {
            Some(tenant) => self.next.consume(traces.with_tenant(Some(tenant))).await,
            None => Err(ConsumeError::permanent(
                "tenancy is enabled but this batch arrived without a tenant (a receiver handed it on outside its request); refused rather than stored untenanted",
            )),
        }
    }
}
