//! [`ServerSet`]: the one way a component listens (HTTP, gRPC, UDP), with the life every
//! listener shares.
//!
//! Receivers, extensions and the metrics endpoint had each grown their own bind / serve /
//! stop code, with the same details to get right and some of them missed. Here they are once:
//!
//! - **Bind everything, then serve.** [`ServerSet::start`] binds every planned socket first;
//!   a taken port fails `start` with [`ComponentError::Bind`] before any server runs, and the
//!   sockets bound so far are released (nothing is left half-started).
//! - **A server's death is reported.** A server that ends on its own (an error, a panic)
//!   marks its component failed in the [`ServiceStatus`], so the health check shows it
//!   instead of the port going dark in silence.
//! - **Bounded drain.** [`RunningServers::stop`] closes every listener at once (new
//!   connections are refused), lets requests in flight finish and UDP queues empty for at
//!   most the drain time ([`DEFAULT_DRAIN`] unless set), then aborts the rest and waits for
//!   the abort, so every port is free when `stop` returns.
//!
//! - **Bounded clients.** Every TCP listener has a connection cap, header, body and idle
//!   timeouts and a bound on request bytes in flight ([`ServerLimits`], defaults unless the
//!   component hands its config to [`TcpPlan::limits`]), so a hostile client can exhaust
//!   neither memory nor file descriptors, and one listener's flood leaves the others alone.
//!
//! Listeners are named (`"grpc"`, `"http"`, ...) so the component can ask for the address
//! actually bound (port 0 in tests). TCP servers run the accept loop in [`tcp`]; a UDP
//! server is the component's own read loop, handed the bound socket and a [`StopSignal`].

#[cfg(test)]
mod auth_tests;
pub mod fd_limit;
mod headers;
#[cfg(test)]
mod headers_tests;
mod idle;
#[cfg(test)]
mod keepalive_tests;
mod limits;
#[cfg(test)]
mod limits_tests;
mod request;
mod running;
mod stop;
mod tcp;
#[cfg(test)]
mod tests;
pub(crate) mod tls;
#[cfg(test)]
mod tls_tests;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::net::{TcpListener, UdpSocket};

use crate::auth::ServerAuth;
use crate::component::{ComponentError, Host};
use crate::config::{AuthConfig, CorsConfig, Endpoint, GoDuration, GrpcKeepalive, TlsServerConfig};
use crate::telemetry::ServiceStatus;
use tls::TlsAcceptorSource;

pub use limits::{register_shed_metric, ServerLimits};
pub use running::RunningServers;
pub use stop::StopSignal;
pub use tcp::Protocol;
pub use tls::TlsError;

/// How long [`RunningServers::stop`] waits for requests in flight unless the set says
/// otherwise: long enough for a batch on its way into a queue, short enough that a stuck
/// client cannot hold shutdown.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(5);

type UdpPrepare = Box<dyn FnOnce(&UdpSocket) -> io::Result<()> + Send>;
type UdpServe = Box<dyn FnOnce(UdpSocket, StopSignal) -> BoxFuture<'static, Result<(), String>> + Send>;

/// The servers of one component, planned and not yet bound. See the module docs.
pub struct ServerSet {
    owner: String,
    status: Arc<ServiceStatus>,
    drain: Duration,
    planned: Vec<Planned>,
}

struct Planned {
    name: &'static str,
    endpoint: Endpoint,
    kind: PlannedKind,
}

enum PlannedKind {
    // Boxed: a TLS config makes the plan far larger than the UDP variant.
    Tcp(Box<TcpPlan>),
    Udp { prepare: UdpPrepare, serve: UdpServe },
}

/// A planned TCP server: what it serves and how.
pub struct TcpPlan {
    app: Router,
    protocol: Protocol,
    tls: Option<TlsServerConfig>,
    /// The authenticator every call must pass, or why the one named cannot be used (reported
    /// by `start`, with the bind errors).
    auth: Result<Option<ServerAuth>, String>,
    limits: ServerLimits,
    /// Cross-origin requests browsers may make (HTTP servers only; `None`: CORS off).
    cors: Option<CorsConfig>,
    /// The `Content-Security-Policy` of every answer (servers of pages, such as the UI).
    csp: Option<String>,
    /// Requests that may pass the authenticator without credentials (a page's own files).
    open: Option<crate::auth::layer::OpenRequests>,
    /// gRPC keepalive (pings, connection idle and age); gRPC servers only.
    keepalive: Option<GrpcKeepalive>,
}

impl TcpPlan {
    /// Serves over TLS with these settings (`None`: plain). The certificate files are read
    /// by `start`, before anything serves.
    pub fn tls(&mut self, tls: Option<&TlsServerConfig>) -> &mut Self {
        self.tls = tls.cloned();
        self
    }

    /// Checks every call with the authenticator extension `auth` names (`None`: open), found
    /// on `host`. A refused call gets 401 / `UNAUTHENTICATED` (see [`crate::auth`]); an id
    /// that names no running authenticator fails `start`.
    pub fn auth(&mut self, auth: Option<&AuthConfig>, host: &dyn Host) -> &mut Self {
        self.auth = crate::auth::server_authenticator(host, auth).map_err(|e| e.to_string());
        self
    }

    /// The listener's connection cap, timeouts and bytes-in-flight bound (unset fields take
    /// the defaults; see [`ServerLimits`]).
    pub fn limits(&mut self, limits: &ServerLimits) -> &mut Self {
        self.limits = limits.clone();
        self
    }

    /// Answers browsers' cross-origin requests as `cors` says (the Collector's `cors:` of an
    /// HTTP server; `None` or no origins: off). A preflight is answered before the
    /// authenticator, the real request still passes it (see [`headers`]). Ignored on gRPC.
    pub fn cors(&mut self, cors: Option<&CorsConfig>) -> &mut Self {
        self.cors = cors.cloned();
        self
    }

    /// Sends `policy` as the `Content-Security-Policy` of every answer (for servers of pages;
    /// a policy that is not a valid header value fails `start`).
    pub fn content_security_policy(&mut self, policy: impl Into<String>) -> &mut Self {
        self.csp = Some(policy.into());
        self
    }

    /// Requests `open` matches (by method and path) pass the authenticator without
    /// credentials, unless it is one the browser signs in to itself (Basic): for the files of a
    /// page that must load before it can ask for a token. Every other request still needs them.
    pub fn open_without_credentials(
        &mut self,
        open: impl Fn(&axum::http::Method, &str) -> bool + Send + Sync + 'static,
    ) -> &mut Self {
        self.open = Some(Arc::new(open));
        self
    }

    /// The Collector's gRPC `keepalive.server_parameters` (see [`GrpcKeepalive`]): pings,
    /// `max_connection_idle` (tightens the idle timeout), `max_connection_age` and its grace.
    /// Ignored on HTTP servers; `enforcement_policy` is refused when the config is validated.
    pub fn keepalive(&mut self, keepalive: Option<&GrpcKeepalive>) -> &mut Self {
        self.keepalive = keepalive.cloned();
        self
    }

    /// HTTP/2 streams allowed per connection of a gRPC server; 0 means no limit of ours.
    pub fn max_concurrent_streams(&mut self, max: u32) -> &mut Self {
        if let Protocol::Grpc {
            max_concurrent_streams,
        } = &mut self.protocol
        {
            *max_concurrent_streams = (max > 0).then_some(max);
        }
        self
    }
}

impl ServerSet {
    /// An empty set for the component `owner` (its id, used in logs and in the failure
    /// reported to `status` should a server die).
    pub fn new(owner: impl std::fmt::Display, status: Arc<ServiceStatus>) -> Self {
        Self {
            owner: owner.to_string(),
            status,
            drain: DEFAULT_DRAIN,
            planned: Vec::new(),
        }
    }

    /// How long `stop` lets requests in flight finish before closing them.
    pub fn with_drain(mut self, drain: Duration) -> Self {
        self.drain = drain;
        self
    }

    /// Plans an HTTP server (HTTP/1.1 and HTTP/2) of `app` on `endpoint`.
    pub fn http(&mut self, name: &'static str, endpoint: &Endpoint, app: Router) -> &mut TcpPlan {
        self.tcp(name, endpoint, app, Protocol::Http)
    }

    /// Plans a gRPC server (HTTP/2 only) of `routes` (tonic's `Routes::into_axum_router`).
    pub fn grpc(&mut self, name: &'static str, endpoint: &Endpoint, routes: Router) -> &mut TcpPlan {
        let protocol = Protocol::Grpc {
            max_concurrent_streams: None,
        };
        self.tcp(name, endpoint, routes, protocol)
    }

    fn tcp(&mut self, name: &'static str, endpoint: &Endpoint, app: Router, protocol: Protocol) -> &mut TcpPlan {
        self.planned.push(Planned {
            name,
            endpoint: endpoint.clone(),
            kind: PlannedKind::Tcp(Box::new(TcpPlan {
                app,
                protocol,
                tls: None,
                auth: Ok(None),
                limits: ServerLimits::default(),
                cors: None,
                csp: None,
                open: None,
                keepalive: None,
            })),
        });
        match self.planned.last_mut().map(|p| &mut p.kind) {
            Some(PlannedKind::Tcp(plan)) => plan,
            _ => unreachable!("a TCP plan was just pushed"),
        }
    }

    /// Plans a UDP server on `endpoint`: `prepare` adjusts the bound socket (buffer sizes;
    /// an error fails `start` as a bind error), `serve` reads it until the [`StopSignal`]
    /// and drains what it queued. A `serve` that returns an error, or returns before stop
    /// was asked, is reported as the server's death.
    pub fn udp<P, S, F>(&mut self, name: &'static str, endpoint: &Endpoint, prepare: P, serve: S) -> &mut Self
    where
        P: FnOnce(&UdpSocket) -> io::Result<()> + Send + 'static,
        S: FnOnce(UdpSocket, StopSignal) -> F + Send + 'static,
        F: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.planned.push(Planned {
            name,
            endpoint: endpoint.clone(),
            kind: PlannedKind::Udp {
                prepare: Box::new(prepare),
                serve: Box::new(move |socket, stop| serve(socket, stop).boxed()),
            },
        });
        self
    }

    /// True when nothing is planned.
    pub fn is_empty(&self) -> bool {
        self.planned.is_empty()
    }

    /// Binds every planned socket, then serves them all. Nothing serves unless everything
    /// bound; on error every socket bound so far is released.
    pub async fn start(self) -> Result<RunningServers, ComponentError> {
        let mut bound = Vec::with_capacity(self.planned.len());
        for planned in self.planned {
            bound.push(planned.bind(&self.owner).await?);
        }
        let mut running = RunningServers::new(self.owner, self.status, self.drain);
        for server in bound {
            running.spawn(server.name, server.addr, server.tls, server.serve);
        }
        Ok(running)
    }
}

/// A bound socket and the future that serves it.
struct Bound {
    name: &'static str,
    addr: SocketAddr,
    tls: bool,
    serve: Box<dyn FnOnce(StopSignal) -> BoxFuture<'static, Result<(), String>> + Send>,
}

impl Planned {
    async fn bind(self, owner: &str) -> Result<Bound, ComponentError> {
        let endpoint = self.endpoint;
        let bind_error = |source| ComponentError::Bind {
            endpoint: endpoint.to_string(),
            source,
        };
        match self.kind {
            PlannedKind::Tcp(plan) => {
                let TcpPlan {
                    app,
                    protocol,
                    tls,
                    auth,
                    limits,
                    cors,
                    csp,
                    open,
                    keepalive,
                } = *plan;
                let keepalive = keepalive.filter(|_| protocol != Protocol::Http);
                let mut limits = limits;
                if let Some(idle) = keepalive.as_ref().and_then(GrpcKeepalive::max_connection_idle) {
                    if idle < limits.idle_timeout() {
                        limits.idle_timeout = GoDuration(idle);
                    }
                }
                let app = match auth {
                    Ok(Some(auth)) => crate::auth::layer::protect(app, auth, open, owner, self.name),
                    Ok(None) => app,
                    Err(e) => return Err(ComponentError::Config(format!("{} server on {endpoint}: {e}", self.name))),
                };
                // Outside the authenticator: preflights carry no credentials, and refusals
                // must carry the CORS and security headers too (see `headers`).
                let app = if protocol == Protocol::Http {
                    let app = match &cors {
                        Some(cors) => headers::cors(app, cors),
                        None => app,
                    };
                    let csp = csp
                        .map(axum::http::HeaderValue::try_from)
                        .transpose()
                        .map_err(|e| ComponentError::Config(format!("{} server on {endpoint}: content security policy: {e}", self.name)))?;
                    headers::security(app, csp)
                } else {
                    app
                };
                // Outermost, so even a refused call's body counts against the bound.
                let guard = limits::ListenerGuard::new(limits, owner, self.name);
                let app = request::guard(app, guard.clone());
                let tls = match tls {
                    Some(config) => {
                        let source = TlsAcceptorSource::load(&config, protocol.alpn()).map_err(|e| {
                            ComponentError::Config(format!("{} server on {endpoint}: tls: {e}", self.name))
                        })?;
                        Some(Arc::new(source))
                    }
                    None => None,
                };
                let listener = TcpListener::bind(endpoint.bind_addr()).await.map_err(bind_error)?;
                let addr = listener.local_addr().map_err(bind_error)?;
                Ok(Bound {
                    name: self.name,
                    addr,
                    tls: tls.is_some(),
                    serve: Box::new(move |stop| tcp::serve(listener, app, protocol, keepalive, tls, guard, stop).boxed()),
                })
            }
            PlannedKind::Udp { prepare, serve } => {
                let socket = UdpSocket::bind(endpoint.bind_addr()).await.map_err(bind_error)?;
                prepare(&socket).map_err(bind_error)?;
                let addr = socket.local_addr().map_err(bind_error)?;
                Ok(Bound {
                    name: self.name,
                    addr,
                    tls: false,
                    serve: Box::new(move |stop| serve(socket, stop)),
                })
            }
        }
    }
}
