//! The accept loop every HTTP and gRPC listener runs: one task per connection, served by
//! hyper, closed gracefully when the set stops.
//!
//! axum routers and tonic routes (through `Routes::into_axum_router`) are both tower
//! services, so one loop serves both; what differs is the [`Protocol`]: HTTP ports speak
//! HTTP/1.1 and HTTP/2 (h2c, or h2 through ALPN under TLS), gRPC ports HTTP/2 only, as
//! tonic's own server does. Owning the loop (instead of `axum::serve` and tonic's `Server`)
//! is what lets TLS and connection limits be added in one place for every listener.
//!
//! Every listener is guarded by its [`ListenerGuard`]: a connection over the listener's cap
//! is closed as it arrives, HTTP/1 headers must arrive within `read_header_timeout`, and a
//! connection with no request open and nothing moving for `idle_timeout` is closed (see
//! [`super::limits`], [`super::idle`]; the per-request bounds are in [`super::request`]).
//!
//! Connections live in a `JoinSet` owned by the loop: when the set's drain deadline passes
//! and the loop's task is aborted, dropping the `JoinSet` aborts every connection with it,
//! so no connection outlives its server.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::idle::{Activity, ActivityIo, CountRequests};
use super::limits::{ListenerGuard, Shed};
use super::stop::StopSignal;
use super::tls::TlsAcceptorSource;
use crate::config::DEFAULT_KEEPALIVE_TIMEOUT;
use crate::config::GrpcKeepalive;

/// How long the loop pauses after an accept error that is not about one connection (out of
/// file descriptors, ...), so a persistent error does not spin a core.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// How long an idle connection closed gracefully (HTTP/2: GOAWAY) may take to go before it is
/// dropped.
const IDLE_CLOSE_GRACE: Duration = Duration::from_secs(1);

/// What a TCP listener speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1 and HTTP/2.
    Http,
    /// HTTP/2 only; `max_concurrent_streams` per connection (`None`: hyper's default).
    Grpc { max_concurrent_streams: Option<u32> },
}

impl Protocol {
    /// The ALPN protocols offered under TLS, most preferred first.
    pub(crate) fn alpn(self) -> Vec<Vec<u8>> {
        match self {
            Protocol::Http => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            Protocol::Grpc { .. } => vec![b"h2".to_vec()],
        }
    }

    fn builder(self, guard: &ListenerGuard, keepalive: Option<&GrpcKeepalive>) -> auto::Builder<TokioExecutor> {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        if let Protocol::Grpc { .. } = self {
            builder = builder.http2_only();
        }
        // hyper applies its HTTP/1 header read timeout (30 s) only when it has a timer, so a
        // client that never finishes its headers is closed instead of held forever.
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(guard.limits.read_header_timeout());
        builder.http2().timer(TokioTimer::new());
        if let Protocol::Grpc {
            max_concurrent_streams,
        } = self
        {
            builder.http2().max_concurrent_streams(max_concurrent_streams);
        }
        if let Some(interval) = keepalive.and_then(GrpcKeepalive::ping_interval) {
            let timeout = keepalive.map(GrpcKeepalive::ping_timeout).unwrap_or(DEFAULT_KEEPALIVE_TIMEOUT);
            builder.http2().keep_alive_interval(interval).keep_alive_timeout(timeout);
        }
        builder
    }
}

/// Accepts on `listener` until `stop`, then closes the listener at once (new connections are
/// refused) and waits for open connections to finish their requests.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    protocol: Protocol,
    keepalive: Option<GrpcKeepalive>,
    tls: Option<Arc<TlsAcceptorSource>>,
    guard: Arc<ListenerGuard>,
    mut stop: StopSignal,
) -> Result<(), String> {
    let builder = Arc::new(protocol.builder(&guard, keepalive.as_ref()));
    let max_age = keepalive.as_ref().and_then(|k| k.max_connection_age().map(|age| (age, k.max_connection_age_grace())));
    let mut connections = JoinSet::new();
    let reload_period = tls.as_ref().and_then(|t| t.reload_period());
    let mut reload = tokio::time::interval(reload_period.unwrap_or(Duration::from_secs(86_400)));
    reload.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    reload.reset(); // the first tick of an interval is immediate; the files were just read
    loop {
        let accepted = tokio::select! {
            _ = stop.stopped() => break,
            // Reap finished connections, or the set keeps every result until stop.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            _ = reload.tick(), if reload_period.is_some() => {
                if let Some(tls) = &tls {
                    reload_certificates(tls).await;
                }
                continue;
            }
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                // Over the cap: closed at once (the client sees a reset, not a hang), so the
                // descriptors of this listener's flood stay bounded.
                let Ok(permit) = guard.connections.clone().try_acquire_owned() else {
                    guard.shed(Shed::Connections);
                    drop(stream);
                    continue;
                };
                let connection = Connection {
                    _permit: permit,
                    guard: guard.clone(),
                    app: app.clone(),
                    builder: builder.clone(),
                    stop: stop.clone(),
                    peer,
                    max_age,
                };
                match &tls {
                    Some(tls) => connections.spawn(connection.serve_tls(stream, tls.clone())),
                    None => connections.spawn(connection.serve(stream)),
                };
            }
            Err(e) if is_per_connection(&e) => {
                tracing::debug!(error = %e, "a connection failed while being accepted");
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot accept connections; retrying");
                tokio::select! {
                    _ = stop.stopped() => break,
                    _ = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => {}
                }
            }
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Re-reads the certificate files off the async threads; a failure keeps the last good ones.
async fn reload_certificates(tls: &Arc<TlsAcceptorSource>) {
    let source = tls.clone();
    match tokio::task::spawn_blocking(move || source.reload()).await {
        Ok(Ok(true)) => tracing::info!("TLS certificate files changed; new connections use them"),
        Ok(Ok(false)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot reload the TLS certificate; keeping the current one"),
        Err(e) => tracing::warn!(error = %e, "the TLS reload task failed; keeping the current certificate"),
    }
}

/// Errors that concern one connection only; the listener itself is fine.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// One accepted connection and what serving it needs.
struct Connection {
    /// This connection's place under the listener's cap, given back when it closes.
    _permit: tokio::sync::OwnedSemaphorePermit,
    guard: Arc<ListenerGuard>,
    app: Router,
    builder: Arc<auto::Builder<TokioExecutor>>,
    stop: StopSignal,
    peer: SocketAddr,
    /// gRPC `max_connection_age` and its grace (`None`: until the streams finish).
    max_age: Option<(Duration, Option<Duration>)>,
}

impl Connection {
    async fn serve(self, stream: TcpStream) {
        // Small responses (gRPC answers, 200s) must not wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        self.serve_io(stream).await;
    }

    async fn serve_tls(mut self, stream: TcpStream, tls: Arc<TlsAcceptorSource>) {
        let _ = stream.set_nodelay(true);
        let stream = tokio::select! {
            // A handshake cut short by stop serves nothing.
            _ = self.stop.stopped() => return,
            done = tls.accept(stream) => match done {
                Ok(stream) => stream,
                Err(e) => {
                    // A plain-text client, an untrusted client certificate, a stalled peer:
                    // the connection closes here, with the TLS alert rustls sent if any.
                    tracing::debug!(peer = %self.peer, error = %e, "TLS handshake failed");
                    return;
                }
            },
        };
        self.serve_io(stream).await;
    }

    async fn serve_io<IO>(mut self, io: IO)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let activity = Activity::new();
        let io = ActivityIo::new(io, activity.clone());
        let service = TowerToHyperService::new(CountRequests::new(self.app, activity.clone()));
        let connection = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(io), service);
        tokio::pin!(connection);
        let idle = self.guard.limits.idle_timeout();
        // Far off when there is no age limit: one timer, no special case in the loop.
        let retire_at = tokio::time::Instant::now() + self.max_age.map_or(Duration::from_secs(100 * 365 * 86_400), |(age, _)| age);
        let finished = loop {
            // While a request is open, look again after `idle`; the read timeout guards it.
            let wake = activity
                .idle_deadline(idle)
                .unwrap_or_else(|| tokio::time::Instant::now() + idle);
            tokio::select! {
                done = connection.as_mut() => break Some(done),
                _ = self.stop.stopped() => break None,
                _ = tokio::time::sleep_until(retire_at) => {
                    // grpc-go's max_connection_age: GOAWAY, then the grace for open streams.
                    tracing::debug!(peer = %self.peer, "closing a connection at its max_connection_age");
                    connection.as_mut().graceful_shutdown();
                    let grace = self.max_age.and_then(|(_, grace)| grace);
                    let done = match grace {
                        Some(grace) => tokio::time::timeout(grace, connection.as_mut()).await.ok(),
                        None => Some(connection.as_mut().await),
                    };
                    if let Some(Err(e)) = done {
                        tracing::debug!(peer = %self.peer, error = %e, "connection ended with an error");
                    }
                    return;
                }
                _ = tokio::time::sleep_until(wake) => {
                    let idle_now = activity
                        .idle_deadline(idle)
                        .is_some_and(|at| at <= tokio::time::Instant::now());
                    if idle_now {
                        self.guard.shed(Shed::IdleTimeout);
                        tracing::debug!(peer = %self.peer, "closing an idle connection");
                        connection.as_mut().graceful_shutdown();
                        let _ = tokio::time::timeout(IDLE_CLOSE_GRACE, connection.as_mut()).await;
                        return;
                    }
                }
            }
        };
        let result = match finished {
            Some(done) => done,
            None => {
                // HTTP/1: close after the request in flight; HTTP/2: GOAWAY, then let the
                // open streams finish.
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(e) = result {
            tracing::debug!(peer = %self.peer, error = %e, "connection ended with an error");
        }
    }
}
