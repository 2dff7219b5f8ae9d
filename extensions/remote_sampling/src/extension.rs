//! The extension's life: the strategies are loaded in `new` (so a bad file fails start-up with
//! its path and problem), the servers and the reload task (file) or the calculation task
//! (adaptive) run between `start` and `shutdown`.

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tracegate_core::config::GoDuration;
use tracegate_core::server::{RunningServers, ServerSet};
use tracegate_core::capability::Offers;
use tracegate_core::sampling::SamplingStrategies;
use tracegate_core::{ComponentError, CreateContext, Extension, Host, Lifecycle};

use crate::adaptive::AdaptiveSampling;
use crate::config::{GrpcConfig, HttpConfig, Source, ValidatedConfig};
use crate::grpc::Served;
use crate::proto::SamplingStrategyResponse;
use crate::provider::{StrategyProvider, StrategySource};

struct Running {
    /// `http` and `grpc`, whichever are configured.
    servers: RunningServers,
    /// The file reload task, or the adaptive calculation task.
    background: Option<JoinHandle<()>>,
}

/// Serves Jaeger sampling strategies; see the crate docs.
pub struct RemoteSamplingExtension {
    id: String,
    /// What the endpoints answer from: `file` or `adaptive`, whichever is configured.
    source: Arc<dyn StrategySource>,
    file: Option<Arc<StrategyProvider>>,
    adaptive: Option<Arc<AdaptiveSampling>>,
    reload_interval: GoDuration,
    http: Option<HttpConfig>,
    grpc: Option<GrpcConfig>,
    running: Mutex<Option<Running>>,
}

impl RemoteSamplingExtension {
    /// Loads the strategies file; a missing or malformed file is an error naming the path.
    pub fn new(ctx: CreateContext, validated: &ValidatedConfig) -> Result<Self, ComponentError> {
        Self::with_id(ctx.id.to_string(), validated)
    }

    /// As [`new`](Self::new), without the engine's context (tests, embedding).
    pub fn with_id(id: String, validated: &ValidatedConfig) -> Result<Self, ComponentError> {
        let config = &validated.config;
        let (source, file, adaptive, reload_interval): (Arc<dyn StrategySource>, _, _, _) = match &validated.source {
            Source::File(file) => {
                let provider = StrategyProvider::from_file(&file.path, file.default_sampling_probability)
                    .map_err(|e| ComponentError::Config(e.to_string()))?;
                let provider = Arc::new(provider);
                (provider.clone(), Some(provider), None, file.reload_interval)
            }
            Source::Adaptive(options) => {
                let adaptive = Arc::new(AdaptiveSampling::new(options.clone(), std::time::Instant::now()));
                (adaptive.clone(), None, Some(adaptive), GoDuration::default())
            }
        };
        Ok(Self {
            id,
            source,
            file,
            adaptive,
            reload_interval,
            http: config.http.clone(),
            grpc: config.grpc.clone(),
            running: Mutex::new(None),
        })
    }

    /// The strategy served for `service` right now.
    pub fn strategy_for(&self, service: &str) -> SamplingStrategyResponse {
        self.source.strategy_for(service)
    }

    /// The strategies and their file; `None` in adaptive mode.
    pub fn provider(&self) -> Option<&Arc<StrategyProvider>> {
        self.file.as_ref()
    }

    /// The adaptive sampling state the `adaptive_sampling` processor feeds; `None` when the
    /// strategies come from a file.
    pub fn adaptive(&self) -> Option<&Arc<AdaptiveSampling>> {
        self.adaptive.as_ref()
    }

    /// The HTTP server's bound address (useful with port 0); `None` when not serving HTTP.
    pub async fn http_addr(&self) -> Option<SocketAddr> {
        self.running.lock().await.as_ref().and_then(|r| r.servers.local_addr("http"))
    }

    /// The gRPC server's bound address; `None` when not serving gRPC.
    pub async fn grpc_addr(&self) -> Option<SocketAddr> {
        self.running.lock().await.as_ref().and_then(|r| r.servers.local_addr("grpc"))
    }
}

#[async_trait]
impl Lifecycle for RemoteSamplingExtension {
    async fn start(&self, host: Arc<dyn Host>) -> Result<(), ComponentError> {
        let mut running = self.running.lock().await;
        if running.is_some() {
            return Ok(());
        }
        // The set binds both ports before serving either, so a taken port leaves nothing behind.
        let mut servers = ServerSet::new(&self.id, host.status());
        if let Some(http) = &self.http {
            servers.http("http", &http.endpoint, crate::http::router(self.source.clone())).limits(&http.limits).tls(http.tls.as_ref());
        }
        if let Some(grpc) = &self.grpc {
            servers.grpc("grpc", &grpc.endpoint, crate::grpc::routes(Arc::new(Served(self.source.clone())))).limits(&grpc.limits).keepalive(grpc.keepalive.as_ref()).tls(grpc.tls.as_ref());
        }
        let servers = servers.start().await?;
        if let Some(url) = servers.url("http") {
            tracing::info!(extension = %self.id, "sampling strategies over HTTP on {url}/sampling");
        }
        if let Some(url) = servers.url("grpc") {
            tracing::info!(extension = %self.id, "sampling strategies over gRPC on {url}");
        }
        let mut state = Running { servers, background: None };
        if let (Some(file), false) = (&self.file, self.reload_interval.is_zero()) {
            state.background = Some(file.spawn_reloader(self.reload_interval.get(), self.id.clone()));
        }
        if let Some(adaptive) = &self.adaptive {
            state.background = Some(adaptive.spawn(self.id.clone()));
        }
        *running = Some(state);
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ComponentError> {
        let Some(state) = self.running.lock().await.take() else {
            return Ok(());
        };
        if let Some(task) = state.background {
            task.abort();
            let _ = task.await;
        }
        state.servers.stop().await;
        Ok(())
    }
}

impl Extension for RemoteSamplingExtension {
    /// The strategies being served (`dyn SamplingStrategies`: the `jaeger` receiver serves
    /// them on its gRPC port too), answered from the same source, reloads included, whether
    /// or not this extension's own servers run; and, in adaptive mode, the [`AdaptiveSampling`]
    /// state the `adaptive_sampling` processor feeds.
    fn offers(self: Arc<Self>) -> Offers {
        let offers = Offers::new().with::<dyn SamplingStrategies>(Arc::new(Served(self.source.clone())));
        match &self.adaptive {
            Some(adaptive) => offers.with::<AdaptiveSampling>(adaptive.clone()),
            None => offers,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::path::Path;
    use std::time::Duration;

    use tracegate_core::factory::{parse_typed, Registry};
    use tracegate_core::testing::TestHost;
    use tracegate_core::Kind;

    use super::*;
    use crate::config::Config;
    use crate::http::tests::get;
    use crate::proto::sampling_manager_client::SamplingManagerClient;
    use crate::proto::SamplingStrategyParameters;
    use crate::provider::Reload;
    use crate::strategies::probabilistic;

    fn config(path: &Path, extra: &str) -> ValidatedConfig {
        let yaml = format!("file: {{ path: '{}', reload_interval: 10ms }}\n{extra}", path.display());
        let raw: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).unwrap();
        parse_typed::<Config>(Some(&raw)).ok().unwrap().typed.downcast_ref::<ValidatedConfig>().unwrap().clone()
    }

    fn strategies(default: f64) -> String {
        format!(r#"{{"default_strategy": {{"type": "probabilistic", "param": {default}}}}}"#)
    }

    /// Polls until `service`'s strategy differs from `old` (the reload task runs every 10ms).
    async fn changed(ext: &RemoteSamplingExtension, old: &SamplingStrategyResponse) -> SamplingStrategyResponse {
        for _ in 0..1000 {
            let now = ext.strategy_for("svc");
            if now != *old {
                return now;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        ext.strategy_for("svc")
    }

    #[tokio::test]
    async fn serves_http_and_grpc_and_follows_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strategies.json");
        std::fs::write(&path, strategies(0.25)).unwrap();
        let cfg = config(&path, "http: { endpoint: 127.0.0.1:0 }\ngrpc: { endpoint: 127.0.0.1:0 }");
        let ext = RemoteSamplingExtension::with_id("remote_sampling".into(), &cfg).unwrap();
        ext.start(TestHost::new()).await.unwrap();
        let (http, grpc) = (ext.http_addr().await.unwrap(), ext.grpc_addr().await.unwrap());

        let body = |p: &str| format!(r#"{{"strategyType":"PROBABILISTIC","probabilisticSampling":{{"samplingRate":{p}}}}}"#);
        assert_eq!(get(http, "/sampling?service=svc").await.2, body("0.25"));
        let mut client = SamplingManagerClient::connect(format!("http://{grpc}")).await.unwrap();
        let ask = || SamplingStrategyParameters { service_name: "svc".into() };
        assert_eq!(client.get_sampling_strategy(ask()).await.unwrap().into_inner(), probabilistic(0.25));

        // A new file is picked up by the reload task and served on both ports.
        std::fs::write(&path, strategies(0.75)).unwrap();
        assert_eq!(changed(&ext, &probabilistic(0.25)).await, probabilistic(0.75));
        assert_eq!(get(http, "/sampling?service=svc").await.2, body("0.75"));
        assert_eq!(client.get_sampling_strategy(ask()).await.unwrap().into_inner(), probabilistic(0.75));

        // A broken file keeps the last good strategies; a fixed one is picked up again.
        std::fs::write(&path, "{ broken").unwrap();
        // Whether or not the task has seen it yet, the broken file is not used.
        let reload = ext.provider().unwrap().reload().await;
        assert!(matches!(reload, Reload::Kept(_) | Reload::Unchanged), "{reload:?}");
        assert_eq!(get(http, "/sampling?service=svc").await.2, body("0.75"));
        std::fs::write(&path, strategies(1.0)).unwrap();
        assert_eq!(changed(&ext, &probabilistic(0.75)).await, probabilistic(1.0));

        drop(client);
        ext.shutdown().await.unwrap();
        assert_eq!((ext.http_addr().await, ext.grpc_addr().await), (None, None));
        std::net::TcpListener::bind(http).expect("http port released");
        std::net::TcpListener::bind(grpc).expect("grpc port released");
        ext.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn adaptive_strategies_are_served_on_http_and_grpc() {
        let raw: serde_yaml_ng::Value = serde_yaml_ng::from_str(
            "adaptive: { calculation_interval: 1h, calculation_delay: 0s, initial_sampling_probability: 0.01 }\n\
             http: { endpoint: 127.0.0.1:0 }\ngrpc: { endpoint: 127.0.0.1:0 }",
        )
        .unwrap();
        let cfg = parse_typed::<Config>(Some(&raw)).ok().unwrap().typed.downcast_ref::<ValidatedConfig>().unwrap().clone();
        let ext = RemoteSamplingExtension::with_id("remote_sampling".into(), &cfg).unwrap();
        assert!(ext.provider().is_none());
        ext.start(TestHost::new()).await.unwrap();
        let (http, grpc) = (ext.http_addr().await.unwrap(), ext.grpc_addr().await.unwrap());
        let default = r#"{"strategyType":"PROBABILISTIC","operationSampling":{"defaultSamplingProbability":0.01,"defaultLowerBoundTracesPerSecond":0.016666666666666666,"perOperationStrategies":[],"defaultUpperBoundTracesPerSecond":0}}"#;
        assert_eq!(get(http, "/sampling?service=svc").await.2, default);

        // No samples of "op" in an interval: its probability doubles from the initial 0.01.
        let sampling = ext.adaptive().unwrap();
        sampling.record([crate::adaptive::RootSpan {
            service: "svc",
            operation: "op",
            sampler: crate::adaptive::throughput::SamplerType::LowerBound,
            probability: 0.01,
        }]);
        sampling.tick(std::time::Instant::now() + Duration::from_secs(3600));
        assert_eq!(
            get(http, "/sampling?service=svc").await.2,
            r#"{"strategyType":"PROBABILISTIC","operationSampling":{"defaultSamplingProbability":0.01,"defaultLowerBoundTracesPerSecond":0.016666666666666666,"perOperationStrategies":[{"operation":"op","probabilisticSampling":{"samplingRate":0.02}}],"defaultUpperBoundTracesPerSecond":0}}"#
        );
        assert_eq!(get(http, "/sampling?service=other").await.2, default);
        let mut client = SamplingManagerClient::connect(format!("http://{grpc}")).await.unwrap();
        let got = client.get_sampling_strategy(SamplingStrategyParameters { service_name: "svc".into() }).await.unwrap().into_inner();
        assert_eq!(got, ext.strategy_for("svc"));
        drop(client);
        ext.shutdown().await.unwrap();
        ext.shutdown().await.unwrap();
    }

    #[test]
    fn a_bad_file_at_start_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strategies.json");
        std::fs::write(&path, "{\"default_strategy\": {\"param\": \"x\"}}").unwrap();
        let err = RemoteSamplingExtension::with_id("remote_sampling".into(), &config(&path, "")).err().unwrap();
        assert!(matches!(err, ComponentError::Config(_)), "{err}");
        let text = err.to_string();
        assert!(text.contains(&format!("sampling strategies file {}: invalid JSON at line 1", path.display())), "{text}");

        let factory = Registry::builtin().get(Kind::Extension, "remote_sampling").cloned().unwrap();
        let raw: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&format!("file: {{ path: '{}' }}", dir.path().join("absent.json").display())).unwrap();
        let parsed = factory.parse_config(Some(&raw)).ok().unwrap();
        let ctx = tracegate_core::CreateContext::new(
            tracegate_core::ComponentId::parse("remote_sampling").unwrap(),
            tracegate_core::telemetry::Telemetry::new(),
        );
        let err = factory.create(ctx, &parsed, None).err().unwrap().to_string();
        assert!(err.contains("cannot read sampling strategies file") && err.contains("absent.json"), "{err}");
    }

    #[tokio::test]
    async fn a_taken_port_is_a_bind_error_and_nothing_keeps_running() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strategies.json");
        std::fs::write(&path, strategies(0.5)).unwrap();
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let cfg = config(&path, &format!("http: {{ endpoint: 127.0.0.1:0 }}\ngrpc: {{ endpoint: 127.0.0.1:{port} }}"));
        let ext = RemoteSamplingExtension::with_id("remote_sampling".into(), &cfg).unwrap();
        ext.shutdown().await.unwrap();
        let err = ext.start(TestHost::new()).await.unwrap_err();
        assert!(matches!(err, ComponentError::Bind { .. }) && err.to_string().contains(&format!("127.0.0.1:{port}")), "{err}");
        assert_eq!(ext.http_addr().await, None);
        ext.shutdown().await.unwrap();
    }

    #[test]
    fn registered_and_offering_its_strategies_to_other_components() {
        let factory = Registry::builtin().get(Kind::Extension, "remote_sampling").map(|f| f.stability());
        assert_eq!(factory, Some(tracegate_core::Stability::Beta));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strategies.json");
        std::fs::write(&path, strategies(0.5)).unwrap();
        let ext: Arc<dyn Extension> = Arc::new(RemoteSamplingExtension::with_id("x".into(), &config(&path, "")).unwrap());
        let host: Arc<dyn Host> = Arc::new(tracegate_core::testing::ExtensionsHost::default().with("remote_sampling", ext));
        let found = host.capability::<dyn SamplingStrategies>("remote_sampling").unwrap();
        assert_eq!(found.strategy_for("any"), tracegate_core::sampling::SamplingStrategy::from(&probabilistic(0.5)));
        // File mode offers no adaptive state.
        assert!(host.capabilities::<AdaptiveSampling>().is_empty());
    }
}
