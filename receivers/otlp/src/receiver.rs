//! The receiver's life: both ports on one [`ServerSet`], bound in `start`, stopped in
//! `shutdown`.
//!
//! The set binds both ports before either server runs, so a taken port fails `start` with
//! [`ComponentError::Bind`] and nothing is left half-started. `shutdown` closes the listeners
//! at once (new connections are refused) and lets in-flight requests be answered (for at most
//! the set's drain time), so a batch already handed to the pipeline gets its reply.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tracegate_core::server::{RunningServers, ServerSet};
use tracegate_core::telemetry::Telemetry;
use tracegate_core::tenancy::layer::{guarded, stamping, Guard};
use tracegate_core::{ComponentError, ComponentId, Consumer, Host, Lifecycle, Receiver};

use crate::config::Config;
use crate::ingest::Ingest;
use crate::{grpc, http};

pub struct OtlpReceiver {
    id: ComponentId,
    config: Config,
    grpc_ingest: Ingest,
    http_ingest: Ingest,
    /// The tenancy check in front of both ports, when `tenancy` is on.
    tenancy: Option<Guard>,
    /// Held across `start`'s binds so two concurrent starts cannot both bind.
    running: tokio::sync::Mutex<Option<RunningServers>>,
    /// Copied out of `running` so the address getters need no async lock.
    addrs: Mutex<BoundAddrs>,
}

#[derive(Clone, Copy, Default)]
struct BoundAddrs {
    grpc: Option<SocketAddr>,
    http: Option<SocketAddr>,
}

impl OtlpReceiver {
    pub fn new(
        id: ComponentId,
        config: Config,
        next: Arc<dyn Consumer>,
        telemetry: &Telemetry,
    ) -> Self {
        let name = id.to_string();
        let tenancy = Guard::new(config.tenancy.as_ref(), &name, telemetry);
        let next = stamping(next, tenancy.as_ref());
        Self {
            grpc_ingest: Ingest::new(next.clone(), telemetry.metrics.receiver(&name, "grpc")),
            http_ingest: Ingest::new(next, telemetry.metrics.receiver(&name, "http")),
            tenancy,
            id,
            config,
            running: tokio::sync::Mutex::new(None),
            addrs: Mutex::new(BoundAddrs::default()),
        }
    }

    /// The address the gRPC server listens on while started (useful with port 0).
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.bound().grpc
    }

    /// The address the HTTP server listens on while started (useful with port 0).
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.bound().http
    }

    fn bound(&self) -> BoundAddrs {
        self.addrs
            .lock()
            .map(|a| *a)
            .unwrap_or_else(|p| *p.into_inner())
    }

    fn set_bound(&self, addrs: BoundAddrs) {
        match self.addrs.lock() {
            Ok(mut a) => *a = addrs,
            Err(p) => *p.into_inner() = addrs,
        }
    }
}

#[async_trait]
impl Lifecycle for OtlpReceiver {
    async fn start(&self, host: Arc<dyn Host>) -> Result<(), ComponentError> {
        let mut running = self.running.lock().await;
        if running.is_some() {
            return Err(ComponentError::other(format!(
                "receiver {} is already started",
                self.id
            )));
        }
        let protocols = &self.config.protocols;
        let mut servers = ServerSet::new(&self.id, host.status());
        if let Some(cfg) = &protocols.grpc {
            let routes = guarded(grpc::routes(cfg, self.grpc_ingest.clone()), self.tenancy.as_ref());
            servers
                .grpc("grpc", &cfg.endpoint, routes)
                .max_concurrent_streams(cfg.max_concurrent_streams)
                .keepalive(cfg.keepalive.as_ref())
                .limits(&cfg.limits)
                .tls(cfg.tls.as_ref())
                .auth(cfg.auth.as_ref(), &*host);
        }
        if let Some(cfg) = &protocols.http {
            servers
                .http("http", &cfg.endpoint, guarded(http::router(cfg, self.http_ingest.clone()), self.tenancy.as_ref()))
                .limits(&cfg.limits)
                .tls(cfg.tls.as_ref())
                .cors(cfg.cors.as_ref())
                .auth(cfg.auth.as_ref(), &*host);
        }
        let servers = servers.start().await?;
        let addrs = BoundAddrs {
            grpc: servers.local_addr("grpc"),
            http: servers.local_addr("http"),
        };
        if let Some(url) = servers.url("grpc") {
            tracing::info!(receiver = %self.id, %url, "OTLP/gRPC receiver listening");
        }
        if let (Some(url), Some(cfg)) = (servers.url("http"), &protocols.http) {
            tracing::info!(receiver = %self.id, %url, path = %cfg.traces_path(), "OTLP/HTTP receiver listening");
        }
        self.set_bound(addrs);
        *running = Some(servers);
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ComponentError> {
        let Some(servers) = self.running.lock().await.take() else {
            return Ok(());
        };
        servers.stop().await;
        self.set_bound(BoundAddrs::default());
        Ok(())
    }
}

impl Receiver for OtlpReceiver {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    use prost::Message;
    use tokio::net::TcpListener;
    use tracegate_core::config::Endpoint;

    use super::*;
    use crate::testutil::{host, http_call, local_config, request, span, start, RecordingConsumer};

    fn receiver(config: Config) -> OtlpReceiver {
        let telemetry = Telemetry::new();
        OtlpReceiver::new(
            ComponentId::new("otlp", None),
            config,
            RecordingConsumer::ok(),
            &telemetry,
        )
    }

    #[tokio::test]
    async fn shutdown_is_safe_without_start_and_twice() {
        let r = receiver(local_config());
        r.shutdown().await.unwrap();
        r.shutdown().await.unwrap();
        assert_eq!((r.grpc_addr(), r.http_addr()), (None, None));
    }

    #[tokio::test]
    async fn shutdown_releases_both_ports() {
        let run = start(local_config(), RecordingConsumer::ok()).await;
        let (grpc, http) = (
            run.receiver.grpc_addr().unwrap(),
            run.receiver.http_addr().unwrap(),
        );
        assert!(
            run.receiver.start(host()).await.is_err(),
            "a second start must be refused"
        );
        run.receiver.shutdown().await.unwrap();
        run.receiver.shutdown().await.unwrap();
        assert_eq!(
            (run.receiver.grpc_addr(), run.receiver.http_addr()),
            (None, None)
        );
        for addr in [grpc, http] {
            drop(TcpListener::bind(addr).await.unwrap());
            assert!(
                tokio::net::TcpStream::connect(addr).await.is_err(),
                "{addr} still accepts"
            );
        }
    }

    #[tokio::test]
    async fn a_taken_port_fails_start_with_bind_and_binds_nothing() {
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = taken.local_addr().unwrap().port();
        let mut config = local_config();
        config.protocols.http.as_mut().unwrap().endpoint = Endpoint::new("127.0.0.1", port);
        let r = receiver(config);
        match r.start(host()).await {
            Err(ComponentError::Bind { endpoint, .. }) => {
                assert_eq!(endpoint, format!("127.0.0.1:{port}"))
            }
            other => panic!("expected a bind error, got {:?}", other.err()),
        }
        assert_eq!(r.grpc_addr(), None);
        r.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn only_configured_protocols_listen() {
        let mut config = local_config();
        config.protocols.grpc = None;
        let run = start(config, RecordingConsumer::ok()).await;
        assert_eq!(run.receiver.grpc_addr(), None);
        assert!(run.receiver.http_addr().is_some());
        run.receiver.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn shutdown_lets_in_flight_requests_finish() {
        let next = RecordingConsumer::gated();
        let run = Arc::new(start(local_config(), next.clone()).await);
        let http_addr = run.http_addr();
        let mut client = TraceServiceClient::connect(run.grpc_url()).await.unwrap();

        let grpc_call = tokio::spawn(async move { client.export(request(vec![span("g")])).await });
        next.entered.notified().await;
        let body = request(vec![span("h")]).encode_to_vec();
        let http_call = tokio::spawn(http_call(
            http_addr,
            "POST",
            "/v1/traces",
            &[("content-type", "application/x-protobuf")],
            body,
        ));
        next.entered.notified().await;

        let stopping = run.clone();
        let shutdown = tokio::spawn(async move { stopping.receiver.shutdown().await });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(
            !shutdown.is_finished(),
            "shutdown returned while requests were in flight"
        );

        next.open();
        assert!(grpc_call.await.unwrap().is_ok());
        assert_eq!(http_call.await.unwrap().0, ::http::StatusCode::OK);
        shutdown.await.unwrap().unwrap();
        assert_eq!(run.next.batches().len(), 2);
        assert!(tokio::net::TcpStream::connect(http_addr).await.is_err());
    }

    #[tokio::test]
    async fn grpc_over_mtls_serves_clients_with_a_certificate_and_refuses_others() {
        use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
        use tracegate_core::config::TlsServerConfig;
        use tracegate_core::testing::pki::TestCa;

        let dir = tempfile::tempdir().unwrap();
        let (server_ca, client_ca) = (TestCa::new("server CA"), TestCa::new("client CA"));
        let (cert, key) = server_ca.server_cert().write(dir.path(), "server");
        let tls = TlsServerConfig {
            cert_file: cert.display().to_string(),
            key_file: key.display().to_string(),
            client_ca_file: client_ca.write(dir.path(), "clients").display().to_string(),
            ..Default::default()
        };
        let mut config = local_config();
        config.protocols.grpc.as_mut().unwrap().tls = Some(tls);
        let run = start(config, RecordingConsumer::ok()).await;
        let url = format!("https://{}", run.receiver.grpc_addr().unwrap());

        let connect = |identity: Option<Identity>| {
            let mut tls = ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(server_ca.cert_pem()))
                .domain_name("localhost");
            if let Some(id) = identity {
                tls = tls.identity(id);
            }
            let url = url.clone();
            async move { Channel::from_shared(url).unwrap().tls_config(tls).unwrap().connect().await }
        };
        let app = client_ca.client_cert("app");
        let channel = connect(Some(Identity::from_pem(&app.cert_pem, &app.key_pem))).await.unwrap();
        TraceServiceClient::new(channel).export(request(vec![span("secure")])).await.unwrap();
        assert_eq!(run.next.batches().len(), 1);

        let refused = match connect(None).await {
            Err(e) => Err(e.to_string()),
            Ok(channel) => TraceServiceClient::new(channel)
                .export(request(vec![span("anonymous")]))
                .await
                .map(|_| ())
                .map_err(|s| s.to_string()),
        };
        assert!(refused.is_err(), "a client without a certificate was served");
        assert_eq!(run.next.batches().len(), 1);
        run.receiver.shutdown().await.unwrap();
    }
}
