//! The extension's life: at `start` it finds the trace store it was told to read with
//! `host.capability::<dyn TraceStore>(name)` (a `jaeger_storage` backend or a storage
//! exporter; a missing name, or a component that is not a store, is a start error naming it),
//! binds the port and serves; `shutdown` stops serving gracefully.

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use axum::http::Method;
use tokio::sync::Mutex;
use tracegate_core::server::{RunningServers, ServerSet};
use tracegate_core::storage::TraceStore;
use tracegate_core::{ComponentError, ComponentId, Extension, Host, Lifecycle};

use crate::api::ApiState;
use crate::bounds::QueryBounds;
use crate::config::Config;
use crate::metrics::QueryMetrics;
use crate::router::router;

struct Running {
    /// Kept to end the live tails at shutdown: they would otherwise hold the graceful stop
    /// (one state per tenant with tenancy on).
    states: Vec<Arc<ApiState>>,
    /// Cancelled at shutdown to end the MCP sessions (their event streams would hold the stop too).
    mcp_sessions: tokio_util::sync::CancellationToken,
    server: RunningServers,
}

pub struct JaegerQueryExtension {
    id: String,
    config: Config,
    metrics: QueryMetrics,
    /// The tenancy check, when `tenancy` is on (see `crate::tenancy`).
    tenancy: Option<tracegate_core::tenancy::layer::Guard>,
    running: Mutex<Option<Running>>,
}

impl JaegerQueryExtension {
    /// An extension whose metrics are in no registry (tests, embedding).
    pub fn new(id: String, config: Config) -> Self {
        let metrics = QueryMetrics::new(&id);
        Self::with_metrics(id, config, metrics)
    }

    /// An extension counting its refused, timed-out and cut queries in `metrics`.
    pub fn with_metrics(id: String, config: Config, metrics: QueryMetrics) -> Self {
        let tenancy = tracegate_core::tenancy::layer::Guard::new(config.tenancy.as_ref(), &id, &tracegate_core::telemetry::Telemetry::new());
        Self { id, config, metrics, tenancy, running: Mutex::new(None) }
    }

    /// Counts tenancy refusals in `telemetry`'s registry (`tracegate_tenancy_refused_requests`).
    pub fn count_tenancy_in(mut self, telemetry: &tracegate_core::telemetry::Telemetry) -> Self {
        self.tenancy = tracegate_core::tenancy::layer::Guard::new(self.config.tenancy.as_ref(), &self.id, telemetry);
        self
    }

    /// The address actually bound (useful with port 0); `None` when not running.
    pub async fn local_addr(&self) -> Option<SocketAddr> {
        self.running.lock().await.as_ref().and_then(|r| r.server.local_addr("http"))
    }

    /// The gRPC query port's bound address; `None` when not running or not configured.
    pub async fn grpc_addr(&self) -> Option<SocketAddr> {
        self.running.lock().await.as_ref().and_then(|r| r.server.local_addr("grpc"))
    }
}

#[async_trait]
impl Lifecycle for JaegerQueryExtension {
    async fn start(&self, host: Arc<dyn Host>) -> Result<(), ComponentError> {
        let mut running = self.running.lock().await;
        if running.is_some() {
            return Ok(());
        }
        let storage = &self.config.storage.traces;
        let reader = host
            .capability::<dyn TraceStore>(storage)
            .map_err(|e| {
                ComponentError::Config(format!(
                    "storage: {e}; name a backend of the jaeger_storage extension or a storage exporter (sled, memory, elasticsearch)"
                ))
            })?
            .reader();
        let new_state = |reader| {
            Arc::new(ApiState {
                reader,
                max_clock_skew: self.config.max_clock_skew_adjustment.get(),
                live: Default::default(),
                bounds: QueryBounds::new(&self.config, self.metrics.clone()),
            })
        };
        let mcp_sessions = tokio_util::sync::CancellationToken::new();
        let mcp = self.config.ai.as_ref().and_then(|ai| ai.mcp.as_ref());
        let base_path = self.config.base_path.prefix();
        let api = |state: &Arc<ApiState>| {
            let mut app = router(state.clone(), base_path);
            if let Some(mcp) = mcp {
                app = app.merge(crate::mcp::router(state.clone(), mcp, base_path, mcp_sessions.clone()));
            }
            app
        };
        let prefix = self.config.base_path.prefix().unwrap_or_default().to_string();
        let tenancy_path = format!("{prefix}{}", crate::tenancy::TENANCY_PATH);
        // The page must load before it can ask for a bearer token or offer tenants; its files
        // and the tenancy settings hold no data.
        let open_path = {
            let tenancy_path = tenancy_path.clone();
            move |method: &Method, path: &str| {
                (method == Method::GET || method == Method::HEAD)
                    && (path == tenancy_path || path.strip_prefix(prefix.as_str()).is_some_and(crate::static_files::is_ui_path))
            }
        };
        let ui_files = open_path.clone();
        let guard = self.tenancy.clone();
        let settings = crate::tenancy::settings_json(guard.as_ref());
        let settings_route = axum::Router::new().route(&tenancy_path, axum::routing::get(move || async move { axum::Json(settings) }));
        let (app, grpc_routes, states) = match &guard {
            None => {
                let state = new_state(reader);
                (api(&state).merge(settings_route), crate::grpc::routes(state.clone()), vec![state])
            }
            Some(guard) => {
                let (mut http, mut grpc, mut states) = (std::collections::HashMap::new(), std::collections::HashMap::new(), Vec::new());
                for tenant in guard.tenancy().tenants() {
                    let tenant_reader = reader.tenant(tenant).map_err(|e| {
                        ComponentError::Config(format!("tenancy: storage \"{storage}\" cannot serve tenant \"{tenant}\": {e}"))
                    })?;
                    let state = new_state(tenant_reader);
                    http.insert(tenant.clone(), api(&state));
                    grpc.insert(tenant.clone(), crate::grpc::routes(state.clone()));
                    states.push(state);
                }
                // The page's files are the same in every tenant's copy: any one serves them.
                let open = states.first().map(|s| (api(s).merge(settings_route), Arc::new(open_path) as Arc<dyn Fn(&Method, &str) -> bool + Send + Sync>));
                (crate::tenancy::dispatch(guard, http, open), crate::tenancy::dispatch(guard, grpc, None), states)
            }
        };
        let mut servers = ServerSet::new(&self.id, host.status());
        servers
            .http("http", &self.config.http.endpoint, app)
            .limits(&self.config.http.limits)
            .tls(self.config.http.tls.as_ref())
            .cors(self.config.http.cors.as_ref())
            .content_security_policy(crate::csp::policy(&self.config.http.frame_ancestors))
            .open_without_credentials(ui_files)
            .auth(self.config.http.auth.as_ref(), &*host);
        if let Some(grpc) = &self.config.grpc {
            servers
                .grpc("grpc", &grpc.endpoint, grpc_routes)
                .limits(&grpc.limits)
                .keepalive(grpc.keepalive.as_ref())
                .tls(grpc.tls.as_ref())
                .auth(grpc.auth.as_ref(), &*host);
        }
        let server = servers.start().await?;
        let base = self.config.base_path.prefix().unwrap_or_default();
        if let Some(url) = server.url("http") {
            tracing::info!(extension = %self.id, storage = %storage, "Jaeger query API on {url}{base}/");
            if mcp.is_some() {
                tracing::info!(extension = %self.id, "MCP server for AI agents on {url}{base}/api/ai/mcp/");
            }
        }
        if let Some(url) = server.url("grpc") {
            tracing::info!(extension = %self.id, storage = %storage, "Jaeger gRPC QueryService (api_v2, api_v3) on {url}");
        }
        *running = Some(Running { states, mcp_sessions, server });
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ComponentError> {
        let Some(Running { states, mcp_sessions, server }) = self.running.lock().await.take() else {
            return Ok(());
        };
        for state in &states {
            state.live.close();
        }
        mcp_sessions.cancel();
        server.stop().await;
        Ok(())
    }
}

impl Extension for JaegerQueryExtension {
    /// The authenticators guarding the UI, API and gRPC port start first (an OIDC one fetches
    /// its keys), and the `jaeger_storage` extension, as in Jaeger v2, so its stores stop after
    /// the last query (a dependency that is not running is ignored by the engine).
    fn dependencies(&self) -> Vec<ComponentId> {
        let grpc_auth = self.config.grpc.as_ref().and_then(|g| g.auth.as_ref());
        let auth = self.config.http.auth.iter().chain(grpc_auth).filter_map(|a| ComponentId::parse(&a.authenticator).ok());
        auth.chain(std::iter::once(ComponentId::new("jaeger_storage", None))).collect()
    }
}
