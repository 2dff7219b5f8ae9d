//! Serves `/metrics` in the Prometheus text format, on a [`ServerSet`] like every other
//! listener (so a taken port fails start, a dead server shows in the service status, and
//! stop is bounded).

use std::sync::Arc;

use axum::{routing::get, Router};

use super::Telemetry;
use crate::component::ComponentError;
use crate::config::{Endpoint, TlsServerConfig};
use crate::server::{RunningServers, ServerLimits, ServerSet};

/// The component id the metrics server reports failures under.
pub const METRICS_OWNER: &str = "service::telemetry::metrics";

/// Binds `endpoint` and serves metrics (over TLS when `tls` is set, within `limits`) until the
/// returned servers are stopped.
pub async fn serve_metrics(
    endpoint: &Endpoint,
    tls: Option<&TlsServerConfig>,
    limits: &ServerLimits,
    telemetry: Arc<Telemetry>,
) -> Result<RunningServers, ComponentError> {
    let status = telemetry.status.clone();
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let t = telemetry.clone();
            async move {
                (
                    [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
                    t.metrics.render(),
                )
            }
        }),
    );
    let mut servers = ServerSet::new(METRICS_OWNER, status);
    servers.http("metrics", endpoint, app).limits(limits).tls(tls);
    servers.start().await
}
