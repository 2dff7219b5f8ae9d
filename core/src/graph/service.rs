//! [`Service`]: the built graph, its start/stop order, and its reloads (see [`super::reload`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::build::{self, fail, BuildError, Graph};
use super::lookups::recording;
use super::reload::{self, ReloadOutcome};
use super::{Gate, ServiceHost, Switch};
use crate::component::{Extension, Host};
use crate::config::ValidConfig;
use crate::id::{ComponentId, Kind};
use crate::queue::QueuedExporter;
use crate::telemetry::{ServiceState, Telemetry};

pub struct Service {
    telemetry: Arc<Telemetry>,
    gate: Arc<Gate>,
    /// What runs, and the config it was built from (the state a failed reload returns to).
    /// One reload at a time holds it; start and shutdown take it too.
    state: tokio::sync::Mutex<(Graph, ValidConfig)>,
    /// The host as of the last build or reload, for [`Service::host`].
    host: Mutex<Arc<ServiceHost>>,
    /// Every exporter that ran, so [`Service::undelivered`] also counts those a reload retired.
    exporters_seen: Mutex<Vec<Arc<QueuedExporter>>>,
}

impl Service {
    /// Creates every component the pipelines and `service.extensions` name. Binds nothing.
    pub fn build(config: &ValidConfig, telemetry: Arc<Telemetry>) -> Result<Self, BuildError> {
        let gate = Gate::new();
        let mut graph = Graph {
            extensions: Vec::new(),
            exporters: BTreeMap::new(),
            pipelines: Vec::new(),
            receivers: Vec::new(),
            shutdown_timeout: config.service.shutdown_timeout.0.get(),
        };
        // Exporters: one shared instance each, behind its queue.
        for pipeline in &config.pipelines {
            for id in &pipeline.exporters {
                if !graph.exporters.contains_key(id) {
                    graph.exporters.insert(id.clone(), build::create_exporter(config, id, &telemetry)?);
                }
            }
        }
        // Pipelines, each built from its exporters back to its first processor.
        for pipeline in &config.pipelines {
            let running = build::build_pipeline(config, pipeline, &graph.exporters, &telemetry)?;
            graph.pipelines.push(running);
        }
        // Receivers: one instance per id, feeding every pipeline that names it.
        for pipeline in &config.pipelines {
            for id in &pipeline.receivers {
                if graph.receivers.iter().any(|r| &r.id == id) {
                    continue;
                }
                let switch = Switch::new(gate.clone(), graph.heads_for(config, id));
                let running = build::create_receiver(config, id, switch, &telemetry)?;
                graph.receivers.push(running);
            }
        }
        for id in build::extension_ids(config)? {
            graph.extensions.push(build::create_extension(config, &id, &telemetry)?);
        }
        let host = graph.host(telemetry.status.clone());
        let exporters_seen = graph.exporters.values().map(|e| e.queued.clone()).collect();
        Ok(Self {
            telemetry,
            gate,
            state: tokio::sync::Mutex::new((graph, config.clone())),
            host: Mutex::new(host),
            exporters_seen: Mutex::new(exporters_seen),
        })
    }

    pub fn host(&self) -> Arc<dyn Host> {
        self.host.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Starts downstream-first. On failure, stops what was started and returns the error.
    pub async fn start(&self) -> Result<(), BuildError> {
        self.telemetry.status.set_state(ServiceState::Starting);
        let started = {
            let state = self.state.lock().await;
            self.start_all(&state.0).await
        };
        if let Err(e) = started {
            self.shutdown().await;
            return Err(e);
        }
        self.telemetry.status.set_state(ServiceState::Ready);
        tracing::info!("everything is ready; pipelines are running");
        Ok(())
    }

    async fn start_all(&self, graph: &Graph) -> Result<(), BuildError> {
        // Each part gets a host that notes its lookups (see `lookups`), for later reloads.
        let host: Arc<dyn Host> = self.host();
        for (id, x) in Self::extensions_in_dependency_order(graph) {
            let lookups = graph.extensions.iter().find(|r| r.id == id).map(|r| r.lookups.clone()).unwrap_or_default();
            x.start(recording(host.clone(), &lookups)).await.map_err(fail(Kind::Extension, id))?;
        }
        for e in graph.exporters.values() {
            e.queued.start(recording(host.clone(), &e.lookups)).await.map_err(fail(Kind::Exporter, e.queued.id()))?;
        }
        for pipeline in &graph.pipelines {
            for (id, p) in pipeline.processors.iter().rev() {
                p.start(recording(host.clone(), &pipeline.lookups)).await.map_err(fail(Kind::Processor, id))?;
            }
        }
        for r in &graph.receivers {
            r.receiver.start(recording(host.clone(), &r.lookups)).await.map_err(fail(Kind::Receiver, &r.id))?;
        }
        Ok(())
    }

    fn extensions_in_dependency_order(graph: &Graph) -> Vec<(ComponentId, Arc<dyn Extension>)> {
        build::in_dependency_order(graph.extensions.iter().map(|x| (x.id.clone(), x.extension.clone())).collect())
    }

    /// Validated elsewhere, `config` replaces the running one: parts whose config did not
    /// change keep running, the rest are replaced without refusing or losing a batch (see
    /// [`super::reload`]). A part that cannot be started fails the reload, and the previous
    /// config is restored. Counted in `tracegate_config_reloads_total{result}`.
    pub async fn reload(&self, config: &ValidConfig) -> Result<ReloadOutcome, BuildError> {
        let mut state = self.state.lock().await;
        let (graph, current) = &mut *state;
        let ctx = reload::Context { telemetry: &self.telemetry, gate: &self.gate };
        let result = reload::transition(&ctx, graph, config).await;
        let outcome = match result {
            Ok(outcome) => {
                *current = config.clone();
                Ok(outcome)
            }
            Err(e) => {
                tracing::error!("reload failed, restoring the previous config: {e}");
                if let Err(again) = reload::transition(&ctx, graph, current).await {
                    tracing::error!("the previous config could not be fully restored: {again}");
                }
                Err(e)
            }
        };
        *self.host.lock().unwrap_or_else(|p| p.into_inner()) = graph.host(self.telemetry.status.clone());
        let mut seen = self.exporters_seen.lock().unwrap_or_else(|p| p.into_inner());
        for e in graph.exporters.values() {
            if !seen.iter().any(|s| Arc::ptr_eq(s, &e.queued)) {
                seen.push(e.queued.clone());
            }
        }
        let label = match &outcome {
            Ok(o) => o.result_label(),
            Err(_) => "failed",
        };
        self.telemetry.metrics.config_reloads(label).inc();
        outcome
    }

    /// Counts a reload refused before it reached the graph (an invalid config).
    pub fn count_rejected_reload(&self) {
        self.telemetry.metrics.config_reloads("rejected").inc();
    }

    /// Stops upstream-first: receivers stop accepting, processors flush in pipeline order,
    /// exporter queues drain until `service.shutdown_timeout`, then extensions stop.
    /// Safe to call on a service that never started, and more than once.
    pub async fn shutdown(&self) {
        self.telemetry.status.set_state(ServiceState::Stopping);
        let state = self.state.lock().await;
        let graph = &state.0;
        let deadline = Instant::now() + graph.shutdown_timeout;
        for r in &graph.receivers {
            if let Err(e) = r.receiver.shutdown().await {
                tracing::warn!(receiver = %r.id, "shutdown: {e}");
            }
        }
        for pipeline in &graph.pipelines {
            for (id, p) in &pipeline.processors {
                if let Err(e) = p.shutdown().await {
                    tracing::warn!(processor = %id, "shutdown: {e}");
                }
            }
        }
        let drains = graph.exporters.values().map(|e| async move {
            if let Err(err) = e.queued.shutdown(deadline).await {
                tracing::warn!(exporter = %e.queued.id(), "shutdown: {err}");
            }
        });
        futures::future::join_all(drains).await;
        for (id, x) in Self::extensions_in_dependency_order(graph).iter().rev() {
            if let Err(e) = x.shutdown().await {
                tracing::warn!(extension = %id, "shutdown: {e}");
            }
        }
    }

    /// Spans given up on at shutdown (or when a reload retired their exporter), by exporter.
    pub fn undelivered(&self) -> Vec<(ComponentId, u64)> {
        let seen = self.exporters_seen.lock().unwrap_or_else(|p| p.into_inner());
        let mut totals: BTreeMap<ComponentId, u64> = BTreeMap::new();
        for e in seen.iter() {
            *totals.entry(e.id().clone()).or_default() += e.undelivered_at_shutdown();
        }
        totals.into_iter().collect()
    }
}
