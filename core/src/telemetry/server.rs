//! Serves `/metrics` in the Prometheus text format.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::{routing::get, Router};
use tokio::net::TcpListener;

use super::Telemetry;
use crate::component::ComponentError;

/// Binds `addr` and serves metrics until `shutdown` resolves.
pub async fn serve_metrics(
    addr: &str,
    telemetry: Arc<Telemetry>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), ComponentError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ComponentError::Bind {
            endpoint: addr.to_string(),
            source,
        })?;
    let local = listener.local_addr().map_err(ComponentError::other)?;
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
    let handle = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!("metrics server failed: {e}");
        }
    });
    Ok((local, handle))
}
