//! [`HttpServer`]: the bind / serve / drain / stop life every HTTP-serving component shares
//! (receivers such as Zipkin and OTLP/HTTP, extensions such as `health_check` and
//! `jaeger_query`).
//!
//! Five components had grown their own copy of the same forty lines, each with the same
//! details to get right: bind in `start` and report a taken port as `ComponentError::Bind`; a
//! server that dies on its own marks the component failed in the service status (so the
//! health check shows it) instead of vanishing; `stop` refuses new connections at once, lets
//! requests in flight finish for a bounded time, then aborts the rest and waits for the abort,
//! so the port is free when `stop` returns.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::component::ComponentError;
use crate::config::Endpoint;
use crate::telemetry::ServiceStatus;

/// A running HTTP server.
pub struct HttpServer {
    owner: String,
    local_addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl HttpServer {
    /// Binds `endpoint` and serves `app` in a background task. `owner` is the component id,
    /// used in logs and in the failure reported to `status` should the server die.
    pub async fn start(
        owner: &str,
        endpoint: &Endpoint,
        app: Router,
        status: Arc<ServiceStatus>,
    ) -> Result<Self, ComponentError> {
        let bind_err = |source| ComponentError::Bind {
            endpoint: endpoint.to_string(),
            source,
        };
        let listener = TcpListener::bind(endpoint.bind_addr())
            .await
            .map_err(bind_err)?;
        let local_addr = listener.local_addr().map_err(bind_err)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let id = owner.to_string();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(component = %id, "HTTP server stopped: {e}");
                status.report_failure(&id, &format!("HTTP server stopped: {e}"));
            }
        });
        Ok(Self {
            owner: owner.to_string(),
            local_addr,
            stop,
            task,
        })
    }

    /// The address actually bound (the real port when the endpoint asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, waits up to `drain` for requests in flight, then closes the rest.
    /// The port is released when this returns.
    pub async fn stop(self, drain: Duration) {
        let Self {
            owner,
            stop,
            mut task,
            ..
        } = self;
        let _ = stop.send(());
        if tokio::time::timeout(drain, &mut task).await.is_err() {
            tracing::warn!(component = %owner, "HTTP clients did not finish within {drain:?}; closing them");
            task.abort();
            let _ = task.await;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn serves_reports_a_taken_port_and_frees_the_port_on_stop() {
        let status = Arc::new(ServiceStatus::default());
        let app = Router::new().route("/", get(|| async { "hello" }));
        let server = HttpServer::start(
            "test",
            &Endpoint::new("127.0.0.1", 0),
            app.clone(),
            status.clone(),
        )
        .await
        .unwrap();
        let addr = server.local_addr();

        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        conn.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).await.unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 200") && answer.ends_with("hello"),
            "{answer}"
        );

        let taken = HttpServer::start(
            "second",
            &Endpoint::new("127.0.0.1", addr.port()),
            app.clone(),
            status.clone(),
        )
        .await;
        assert!(
            matches!(taken, Err(ComponentError::Bind { .. })),
            "a taken port must be a Bind error"
        );

        server.stop(Duration::from_secs(1)).await;
        let again = HttpServer::start(
            "again",
            &Endpoint::new("127.0.0.1", addr.port()),
            app,
            status,
        )
        .await
        .unwrap();
        again.stop(Duration::from_secs(1)).await;
    }

    #[tokio::test]
    async fn stop_closes_a_client_that_never_finishes() {
        let status = Arc::new(ServiceStatus::default());
        let app = Router::new().route("/", get(|| async { "hello" }));
        let server = HttpServer::start("test", &Endpoint::new("127.0.0.1", 0), app, status)
            .await
            .unwrap();
        let mut conn = tokio::net::TcpStream::connect(server.local_addr())
            .await
            .unwrap();
        conn.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n")
            .await
            .unwrap(); // headers never end
        server.stop(Duration::from_millis(100)).await;
    }
}
