//! [`RunningServers`]: the servers of one component while they serve: their addresses, the
//! watch that reports a death, and the bounded stop.

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::stop::StopSignal;
use crate::telemetry::ServiceStatus;

/// The servers a [`ServerSet`](super::ServerSet) started. Dropping it without
/// [`stop`](Self::stop) aborts them (a component dropped without shutdown leaves no port
/// open).
pub struct RunningServers {
    owner: String,
    status: Arc<ServiceStatus>,
    drain: Duration,
    stop: watch::Sender<bool>,
    signal: StopSignal,
    servers: Vec<Server>,
}

struct Server {
    name: &'static str,
    addr: SocketAddr,
    tls: bool,
    task: JoinHandle<()>,
}

impl RunningServers {
    pub(super) fn new(owner: String, status: Arc<ServiceStatus>, drain: Duration) -> Self {
        let (stop, signal) = StopSignal::new();
        Self {
            owner,
            status,
            drain,
            stop,
            signal,
            servers: Vec::new(),
        }
    }

    /// Runs `serve` in its own task, watched: an error, a panic or an end before stop was
    /// asked is logged and reported to the service status as this component's failure.
    pub(super) fn spawn(
        &mut self,
        name: &'static str,
        addr: SocketAddr,
        tls: bool,
        serve: Box<dyn FnOnce(StopSignal) -> BoxFuture<'static, Result<(), String>> + Send>,
    ) {
        let (owner, status, signal) = (self.owner.clone(), self.status.clone(), self.signal.clone());
        let serving = serve(signal.clone());
        let span = tracing::info_span!("server", component = %owner, server = name, %addr);
        let task = tokio::spawn(
            async move {
                let why = match AssertUnwindSafe(serving).catch_unwind().await {
                    Ok(Ok(())) if signal.is_stopped() => return,
                    Ok(Ok(())) => "stopped serving on its own".to_string(),
                    Ok(Err(e)) => e,
                    Err(panic) => format!("panicked: {}", panic_message(panic.as_ref())),
                };
                if signal.is_stopped() {
                    tracing::warn!("server failed while stopping: {why}");
                } else {
                    tracing::error!("server died: {why}");
                    status.report_failure(&owner, &format!("{name} server on {addr}: {why}"));
                }
            }
            .instrument(span),
        );
        tracing::debug!(component = %self.owner, server = name, %addr, tls, "listening");
        self.servers.push(Server { name, addr, tls, task });
    }

    /// The address `name` is bound to (the real port when the endpoint asked for port 0);
    /// `None` for a name that is not in the set.
    pub fn local_addr(&self, name: &str) -> Option<SocketAddr> {
        self.servers.iter().find(|s| s.name == name).map(|s| s.addr)
    }

    /// `http://addr` or `https://addr` for an HTTP or gRPC server, for log lines.
    pub fn url(&self, name: &str) -> Option<String> {
        let server = self.servers.iter().find(|s| s.name == name)?;
        let scheme = if server.tls { "https" } else { "http" };
        Some(format!("{scheme}://{}", server.addr))
    }

    /// Every server's name and bound address, in the order they were planned.
    pub fn addrs(&self) -> impl Iterator<Item = (&'static str, SocketAddr)> + '_ {
        self.servers.iter().map(|s| (s.name, s.addr))
    }

    /// Stops every server at once: listeners close (new connections are refused), requests
    /// in flight and queued datagrams get up to the drain time, then whatever is left is
    /// aborted. Every port is free when this returns.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + self.drain;
        for mut server in std::mem::take(&mut self.servers) {
            if tokio::time::timeout_at(deadline, &mut server.task).await.is_err() {
                tracing::warn!(
                    component = %self.owner,
                    server = server.name,
                    "clients did not finish within {:?}; closing them",
                    self.drain
                );
                server.task.abort();
                let _ = server.task.await;
            }
        }
    }
}

impl Drop for RunningServers {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for server in &self.servers {
            server.task.abort();
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}
