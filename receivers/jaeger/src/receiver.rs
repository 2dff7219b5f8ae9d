//! The receiver's life: every port (UDP and TCP) on one [`ServerSet`], bound in `start`,
//! stopped in `shutdown`.
//!
//! The set binds all ports before anything serves, so a taken port fails `start` with
//! [`ComponentError::Bind`] and leaves nothing half-started. `shutdown` closes every port at
//! once (the TCP servers stop accepting, the UDP readers stop reading), then lets in-flight
//! requests be answered and queued datagrams be forwarded, within the set's drain time.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tracegate_core::server::{RunningServers, ServerSet};
use tracegate_core::telemetry::Telemetry;
use tracegate_core::tenancy::layer::{guarded, stamping, Guard};
use tracegate_core::{ComponentError, ComponentId, Consumer, Host, Lifecycle, Receiver};
use tracegate_core::sampling::SamplingStrategies;

use crate::config::Config;
use crate::drops::Drops;
use crate::ingest::Ingest;
use crate::udp::{ThriftProtocol, UdpPort};
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
    /// The tenancy check in front of thrift_http and grpc, when `tenancy` is on.
    tenancy: Option<Guard>,
    /// Held across `start`'s binds so two concurrent starts cannot both bind.
    running: tokio::sync::Mutex<Option<RunningServers>>,
    /// Copied out of `running` so the address getter needs no async lock.
    addrs: Mutex<BoundAddrs>,
}

impl JaegerReceiver {
    pub fn new(id: ComponentId, config: Config, next: Arc<dyn Consumer>, telemetry: &Arc<Telemetry>) -> Self {
        let name = id.to_string();
        let tenancy = Guard::new(config.tenancy.as_ref(), &name, telemetry);
        let next = stamping(next, tenancy.as_ref());
        Self {
            tenancy,
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
}

/// The sampling strategies of the first running extension offering them (`remote_sampling`),
/// if any; they are then also served on the gRPC port, as Jaeger's collector serves them.
fn sampling_strategies(host: &Arc<dyn Host>) -> Option<Arc<dyn SamplingStrategies>> {
    host.capabilities::<dyn SamplingStrategies>().into_iter().next().map(|(_, s)| s)
}

#[async_trait]
impl Lifecycle for JaegerReceiver {
    async fn start(&self, host: Arc<dyn Host>) -> Result<(), ComponentError> {
        let mut running = self.running.lock().await;
        if running.is_some() {
            return Err(ComponentError::other(format!("receiver {} is already started", self.id)));
        }
        let p = &self.config.protocols;
        let mut servers = ServerSet::new(&self.id, host.status());
        for (cfg, protocol, transport) in [
            (&p.thrift_compact, ThriftProtocol::Compact, &self.compact),
            (&p.thrift_binary, ThriftProtocol::Binary, &self.binary),
        ] {
            if let Some(cfg) = cfg {
                let port = UdpPort::new(cfg, protocol, transport.ingest.clone(), transport.drops.clone());
                let sizing = cfg.clone();
                servers.udp(
                    protocol.transport(),
                    &cfg.endpoint,
                    move |socket| udp::configure(&sizing, socket),
                    move |socket, stop| port.serve(socket, stop),
                );
            }
        }
        if let Some(cfg) = &p.thrift_http {
            let router = guarded(http::router(self.http.ingest.clone(), self.http.drops.clone(), cfg.max_body_bytes()), self.tenancy.as_ref());
            servers.http("http", &cfg.endpoint, router).limits(&cfg.limits).tls(cfg.tls.as_ref()).cors(cfg.cors.as_ref()).auth(cfg.auth.as_ref(), &*host);
        }
        let mut sampling = false;
        if let Some(cfg) = &p.grpc {
            let strategies = sampling_strategies(&host);
            sampling = strategies.is_some();
            let routes = grpc::routes(cfg, self.grpc.ingest.clone(), self.grpc.drops.clone(), strategies);
            servers
                .grpc("grpc", &cfg.endpoint, guarded(routes.prepare().into_axum_router(), self.tenancy.as_ref()))
                .keepalive(cfg.keepalive.as_ref())
                .limits(&cfg.limits)
                .tls(cfg.tls.as_ref())
                .auth(cfg.auth.as_ref(), &*host);
        }
        let servers = servers.start().await?;
        let addrs = BoundAddrs {
            thrift_compact: servers.local_addr(ThriftProtocol::Compact.transport()),
            thrift_binary: servers.local_addr(ThriftProtocol::Binary.transport()),
            thrift_http: servers.local_addr("http"),
            grpc: servers.local_addr("grpc"),
        };
        for (name, addr) in servers.addrs() {
            let url = servers.url(name).unwrap_or_default();
            match name {
                "http" => tracing::info!(receiver = %self.id, %url, "Jaeger Thrift/HTTP receiver listening"),
                "grpc" => tracing::info!(receiver = %self.id, %url, sampling, "Jaeger gRPC receiver listening"),
                udp => tracing::info!(receiver = %self.id, %addr, "Jaeger {udp} receiver listening"),
            }
        }
        self.set_addrs(addrs);
        *running = Some(servers);
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ComponentError> {
        let Some(servers) = self.running.lock().await.take() else {
            return Ok(());
        };
        servers.stop().await;
        self.set_addrs(BoundAddrs::default());
        Ok(())
    }
}

impl Receiver for JaegerReceiver {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::net::UdpSocket as StdUdpSocket;

    use tokio::net::TcpListener;
    use tracegate_core::config::Endpoint;

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
