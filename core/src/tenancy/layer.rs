//! Where the tenant is decided on a listener, and how it reaches the batch.
//!
//! [`Guard`] is one axum middleware put in front of a component's routes (HTTP handlers and
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

/// The tenant of the request this task is serving, if a [`Guard`] decided one.
pub fn current() -> Option<Arc<str>> {
    CURRENT.try_with(Arc::clone).ok()
}

/// Runs `fut` as serving `tenant` (what a [`Guard`] does for a request).
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

/// A component's tenancy check, ready to put in front of its routes (see the module docs).
#[derive(Clone)]
pub struct Guard(Arc<Gate>);

impl Guard {
    /// The check `config` asks for, counting refusals under `component` in `telemetry`;
    /// `None` when tenancy is off.
    pub fn new(config: Option<&super::TenancyConfig>, component: &str, telemetry: &Telemetry) -> Option<Guard> {
        let tenancy = Tenancy::new(config)?;
        let counter = |e: TenancyError| telemetry.metrics.tenancy_refusals(component, e.reason());
        Some(Guard(Arc::new(Gate {
            tenancy,
            component: component.to_string(),
            counters: [
                counter(TenancyError::Missing),
                counter(TenancyError::Unknown),
                counter(TenancyError::Extra),
                counter(TenancyError::Mismatch),
            ],
        })))
    }

    pub fn tenancy(&self) -> &Arc<Tenancy> {
        &self.0.tenancy
    }

    /// `app` with every request's tenant decided first; refused requests never reach it.
    pub fn apply(&self, app: Router) -> Router {
        app.layer(axum::middleware::from_fn_with_state(self.0.clone(), check))
    }
}

/// `app` behind `guard`, or `app` as it is when there is none (tenancy off).
pub fn guarded(app: Router, guard: Option<&Guard>) -> Router {
    match guard {
        Some(g) => g.apply(app),
        None => app,
    }
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
/// when tenancy is off (no guard).
pub fn stamping(next: Arc<dyn Consumer>, guard: Option<&Guard>) -> Arc<dyn Consumer> {
    match guard {
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
