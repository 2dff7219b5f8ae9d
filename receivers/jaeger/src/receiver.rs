//! The receiver's life: bind every port in `start`, serve in background tasks, stop gracefully
//! in `shutdown`.
//!
//! All ports (UDP and TCP) are bound before anything is spawned, so a taken port fails
//! `start` with [`ComponentError::Bind`] and leaves nothing half-started. `shutdown` closes
//! every port first (the TCP servers stop accepting, the UDP readers stop reading), then waits
//! for in-flight requests to be answered and for queued datagrams to be forwarded, the latter
//! for at most [`crate::udp::DRAIN_DEADLINE`].

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracegate_core::config::Endpoint;
use tracegate_core::telemetry::Telemetry;
use tracegate_core::{ComponentError, ComponentId, Consumer, Extension, Host, Lifecycle, Receiver};
use tracegate_extension_remote_sampling::RemoteSamplingExtension;
use tracing::Instrument;

use crate::config::Config;
use crate::drops::Drops;
use crate::ingest::Ingest;
use crate::udp::{ThriftProtocol, UdpServer};
use crate::{grpc, http, udp};

/// Where each protocol listens while the receiver runs (useful with port 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BoundAddrs {
    pub thrift_compact: Option<SocketAddr>,
    pub thrift_binary: Option<SocketAddr>,
    pub thrift_http: Option<SocketAddr>,
    pub grpc: Option<SocketAddr>,
}

/// One transport's way into the pipeline and its drop accounting.
struct Transport {
    ingest: Ingest,
    drops: Arc<Drops>,
}

impl Transport {
    fn new(id: &str, name: &'static str, next: &Arc<dyn Consumer>, telemetry: &Arc<Telemetry>) -> Self {
        Self {
            ingest: Ingest::new(next.clone(), telemetry.metrics.receiver(id, name)),
            drops: Arc::new(Drops::new(telemetry, id, name)),
        }
    }
}

pub struct JaegerReceiver {
    id: ComponentId,
    config: Config,
    compact: Transport,
    binary: Transport,
    http: Transport,
    grpc: Transport,
    /// Held across `start`'s binds so two concurrent starts cannot both bind.
    running: tokio::sync::Mutex<Option<Running>>,
    /// Copied out of `running` so the address getter needs no async lock.
    addrs: Mutex<BoundAddrs>,
}

struct Running {
    udp: Vec<UdpServer>,
    tcp: Vec<TcpServer>,
}

struct TcpServer {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl JaegerReceiver {
    pub fn new(id: ComponentId, config: Config, next: Arc<dyn Consumer>, telemetry: &Arc<Telemetry>) -> Self {
        let name = id.to_string();
        Self {
            compact: Transport::new(&name, ThriftProtocol::Compact.transport(), &next, telemetry),
            binary: Transport::new(&name, ThriftProtocol::Binary.transport(), &next, telemetry),
            http: Transport::new(&name, "http", &next, telemetry),
            grpc: Transport::new(&name, "grpc", &next, telemetry),
            id,
            config,
            running: tokio::sync::Mutex::new(None),
            addrs: Mutex::new(BoundAddrs::default()),
        }
    }

    /// The bound addresses; all `None` when not running.
    pub fn addrs(&self) -> BoundAddrs {
        *self.addrs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_addrs(&self, addrs: BoundAddrs) {
        *self.addrs.lock().unwrap_or_else(|p| p.into_inner()) = addrs;
    }

    fn span(&self, transport: &'static str) -> tracing::Span {
        tracing::info_span!("receiver", id = %self.id, transport)
    }

    /// Spawns one TCP server; one that dies on its own is reported to the service status, so
    /// the health check shows it rather than the port silently going dark.
    fn spawn_tcp<F>(&self, transport: &'static str, host: &Arc<dyn Host>, serve: impl FnOnce(oneshot::Receiver<()>) -> F) -> TcpServer
    where
        F: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel();
        let (id, status) = (self.id.to_string(), host.status());
        let server = serve(stopped);
        let task = tokio::spawn(
            async move {
                if let Err(e) = server.await {
                    tracing::error!(error = %e, "Jaeger server stopped with an error");
                    status.report_failure(&id, &format!("{transport} server: {e}"));
                }
            }
            .instrument(self.span(transport)),
        );
        TcpServer { stop, task }
    }
}

async fn bind_tcp(endpoint: &Endpoint) -> Result<(TcpListener, SocketAddr), ComponentError> {
    let bind_error = |source| ComponentError::Bind { endpoint: endpoint.to_string(), source };
    let listener = TcpListener::bind(endpoint.bind_addr()).await.map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    Ok((listener, addr))
}

/// The first running `remote_sampling` extension, if any; its strategies are then also served
/// on the gRPC port.
fn remote_sampling(host: &Arc<dyn Host>) -> Option<Arc<dyn Extension>> {
    host.extensions()
        .into_iter()
        .map(|(_, ext)| ext)
        .find(|ext| ext.as_any().is_some_and(|any| any.is::<RemoteSamplingExtension>()))
}

#[async_trait]
impl Lifecycle for JaegerReceiver {
    async fn start(&self, host: Arc<dyn Host>) -> Result<(), ComponentError> {
        let mut running = self.running.lock().await;
        if running.is_some() {
            return Err(ComponentError::other(format!("receiver {} is already started", self.id)));
        }
        let p = &self.config.protocols;
        // Everything that can fail happens before anything is spawned; a failed bind drops
        // (and so releases) the sockets bound before it.
        let compact = match &p.thrift_compact {
            Some(cfg) => Some((udp::bind(cfg).await?, cfg)),
            None => None,
        };
        let binary = match &p.thrift_binary {
            Some(cfg) => Some((udp::bind(cfg).await?, cfg)),
            None => None,
        };
        let http_listener = match &p.thrift_http {
            Some(cfg) => Some((bind_tcp(&cfg.endpoint).await?, cfg)),
            None => None,
        };
        let grpc_listener = match &p.grpc {
            Some(cfg) => Some((bind_tcp(&cfg.endpoint).await?, cfg)),
            None => None,
        };

        let mut addrs = BoundAddrs::default();
        let mut udp_servers = Vec::new();
        for (bound, protocol, transport, slot) in [
            (compact, ThriftProtocol::Compact, &self.compact, &mut addrs.thrift_compact),
            (binary, ThriftProtocol::Binary, &self.binary, &mut addrs.thrift_binary),
        ] {
            if let Some((socket, cfg)) = bound {
                let server = UdpServer::spawn(socket, cfg, protocol, transport.ingest.clone(), transport.drops.clone(), self.span(protocol.transport()))?;
                tracing::info!(receiver = %self.id, addr = %server.local_addr(), "Jaeger {} receiver listening", protocol.transport());
                *slot = Some(server.local_addr());
                udp_servers.push(server);
            }
        }
        let mut tcp_servers = Vec::new();
        if let Some(((listener, addr), cfg)) = http_listener {
            let router = http::router(self.http.ingest.clone(), self.http.drops.clone(), cfg.max_body_bytes());
            tcp_servers.push(self.spawn_tcp("http", &host, move |stopped| async move {
                let shutdown = async {
                    let _ = stopped.await;
                };
                http::serve(listener, router, shutdown).await.map_err(|e| e.to_string())
            }));
            tracing::info!(receiver = %self.id, %addr, "Jaeger Thrift/HTTP receiver listening");
            addrs.thrift_http = Some(addr);
        }
        if let Some(((listener, addr), cfg)) = grpc_listener {
            let sampling = remote_sampling(&host);
            let sampling_ext = sampling.as_ref().and_then(|e| e.as_any()).and_then(|a| a.downcast_ref::<RemoteSamplingExtension>());
            let routes = grpc::routes(cfg, self.grpc.ingest.clone(), self.grpc.drops.clone(), sampling_ext);
            tcp_servers.push(self.spawn_tcp("grpc", &host, move |stopped| async move {
                let shutdown = async {
                    let _ = stopped.await;
                };
                grpc::serve(listener, routes, shutdown).await.map_err(|e| e.to_string())
            }));
            tracing::info!(receiver = %self.id, %addr, sampling = sampling_ext.is_some(), "Jaeger gRPC receiver listening");
            addrs.grpc = Some(addr);
        }
        self.set_addrs(addrs);
        *running = Some(Running { udp: udp_servers, tcp: tcp_servers });
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ComponentError> {
        let Some(running) = self.running.lock().await.take() else {
            return Ok(());
        };
        // Every port closes at once; then in-flight requests and queued datagrams finish.
        let mut tasks = Vec::new();
        for server in running.tcp {
            let _ = server.stop.send(());
            tasks.push(server.task);
        }
        stop_all(running.udp.into_iter().map(UdpServer::stop)).await;
        for task in tasks {
            if let Err(e) = task.await {
                tracing::warn!(receiver = %self.id, error = %e, "Jaeger server task ended abnormally");
            }
        }
        self.set_addrs(BoundAddrs::default());
        Ok(())
    }
}

/// Runs the UDP stops side by side so the two drain deadlines overlap instead of adding up.
async fn stop_all<F: std::future::Future<Output = ()> + Send + 'static>(stops: impl Iterator<Item = F>) {
    let handles: Vec<_> = stops.map(tokio::spawn).collect();
    for h in handles {
        let _ = h.await;
    }
}

impl Receiver for JaegerReceiver {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::net::UdpSocket as StdUdpSocket;

    use super::*;
    use crate::testutil::{host, local_config, start, RecordingConsumer};

    fn receiver(config: Config) -> JaegerReceiver {
        JaegerReceiver::new(ComponentId::new("jaeger", None), config, RecordingConsumer::ok(), &Telemetry::new())
    }

    #[tokio::test]
    async fn shutdown_is_safe_without_start_and_twice() {
        let r = receiver(local_config());
        r.shutdown().await.unwrap();
        r.shutdown().await.unwrap();
        assert_eq!(r.addrs(), BoundAddrs::default());
    }

    #[tokio::test]
    async fn shutdown_releases_every_port() {
        let run = start(local_config(), RecordingConsumer::ok()).await;
        let a = run.receiver.addrs();
        assert!(run.receiver.start(host()).await.is_err(), "a second start must be refused");
        run.receiver.shutdown().await.unwrap();
        run.receiver.shutdown().await.unwrap();
        assert_eq!(run.receiver.addrs(), BoundAddrs::default());
        for udp in [a.thrift_compact.unwrap(), a.thrift_binary.unwrap()] {
            drop(StdUdpSocket::bind(udp).expect("UDP port released"));
        }
        for tcp in [a.thrift_http.unwrap(), a.grpc.unwrap()] {
            drop(TcpListener::bind(tcp).await.expect("TCP port released"));
            assert!(tokio::net::TcpStream::connect(tcp).await.is_err(), "{tcp} still accepts");
        }
    }

    #[tokio::test]
    async fn a_taken_port_fails_start_with_bind_and_leaves_nothing_bound() {
        let taken = StdUdpSocket::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let mut config = local_config();
        config.protocols.thrift_binary.as_mut().unwrap().endpoint = Endpoint::new("127.0.0.1", port);
        let r = receiver(config);
        match r.start(host()).await {
            Err(ComponentError::Bind { endpoint, .. }) => assert_eq!(endpoint, format!("127.0.0.1:{port}")),
            other => panic!("expected a bind error, got {:?}", other.err()),
        }
        assert_eq!(r.addrs(), BoundAddrs::default());
        r.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn only_configured_protocols_listen() {
        let mut config = local_config();
        config.protocols.thrift_binary = None;
        config.protocols.grpc = None;
        let run = start(config, RecordingConsumer::ok()).await;
        let a = run.receiver.addrs();
        assert!(a.thrift_compact.is_some() && a.thrift_http.is_some());
        assert_eq!((a.thrift_binary, a.grpc), (None, None));
        run.receiver.shutdown().await.unwrap();
    }
}
