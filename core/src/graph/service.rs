//! [`Service`]: the built graph and its start/stop order.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{Fanout, PipelineEntry, ServiceHost};
use crate::component::{
    ComponentError, ConsumeError, Consumer, Extension, Host, Processor, Receiver,
};
use crate::config::{ComponentEntry, ValidConfig};
use crate::data::Traces;
use crate::factory::{Built, CreateContext};
use crate::id::{ComponentId, Kind};
use crate::queue::QueuedExporter;
use crate::telemetry::{ProcessorMetrics, ServiceState, Telemetry};

/// A component failed to be created or started.
#[derive(Debug, thiserror::Error)]
#[error("{kind} \"{id}\": {error}")]
pub struct BuildError {
    pub kind: Kind,
    pub id: String,
    // Not a `source`: the message already includes it, and anyhow's `{:#}` would repeat it.
    pub error: ComponentError,
}

fn fail(kind: Kind, id: impl ToString) -> impl FnOnce(ComponentError) -> BuildError {
    move |error| BuildError {
        kind,
        id: id.to_string(),
        error,
    }
}

/// Counts spans into and out of a processor, labelled by processor and pipeline.
struct Counted {
    inner: Arc<dyn Consumer>,
    counter: prometheus::IntCounter,
}

#[async_trait]
impl Consumer for Counted {
    fn capabilities(&self) -> crate::component::Capabilities {
        self.inner.capabilities()
    }

    async fn consume(&self, traces: Traces) -> Result<(), ConsumeError> {
        self.counter.inc_by(traces.span_count() as u64);
        self.inner.consume(traces).await
    }
}

pub struct Service {
    telemetry: Arc<Telemetry>,
    host: Arc<ServiceHost>,
    extensions: Vec<(ComponentId, Arc<dyn Extension>)>,
    exporters: Vec<Arc<QueuedExporter>>,
    /// Per pipeline, first to last.
    processors: Vec<Vec<(ComponentId, Arc<dyn Processor>)>>,
    receivers: Vec<(ComponentId, Arc<dyn Receiver>)>,
    shutdown_timeout: Duration,
}

impl Service {
    /// Creates every component the pipelines and `service.extensions` name. Binds nothing.
    pub fn build(config: &ValidConfig, telemetry: Arc<Telemetry>) -> Result<Self, BuildError> {
        let ctx = |id: &ComponentId| CreateContext::new(id.clone(), telemetry.clone());
        let entry = |kind: Kind, id: &ComponentId| -> Result<&ComponentEntry, BuildError> {
            config.component(kind, id).ok_or_else(|| {
                fail(kind, id)(ComponentError::other(
                    "not configured (validation should have caught this)",
                ))
            })
        };

        // Exporters: one shared instance each, behind its queue.
        let mut exporters: BTreeMap<ComponentId, Arc<QueuedExporter>> = BTreeMap::new();
        for pipeline in &config.pipelines {
            for id in &pipeline.exporters {
                if exporters.contains_key(id) {
                    continue;
                }
                let e = entry(Kind::Exporter, id)?;
                let Built::Exporter(exporter) = e
                    .factory
                    .create(ctx(id), &e.config, None)
                    .map_err(fail(Kind::Exporter, id))?
                else {
                    return Err(fail(Kind::Exporter, id)(ComponentError::other(
                        "factory built the wrong kind",
                    )));
                };
                let settings = e.exporter_settings.clone().unwrap_or_default();
                exporters.insert(
                    id.clone(),
                    QueuedExporter::new(id.clone(), exporter, settings, &telemetry),
                );
            }
        }

        // Pipelines, built from the exporters back to the first processor.
        let mut processors = Vec::new();
        let mut heads: BTreeMap<&str, Arc<dyn Consumer>> = BTreeMap::new();
        for pipeline in &config.pipelines {
            let outs: Vec<Arc<dyn Consumer>> = pipeline
                .exporters
                .iter()
                .filter_map(|id| exporters.get(id).map(|e| e.clone() as Arc<dyn Consumer>))
                .collect();
            let mut next = Fanout::of(outs);
            let mut chain = Vec::new();
            for id in pipeline.processors.iter().rev() {
                let e = entry(Kind::Processor, id)?;
                let m: ProcessorMetrics =
                    telemetry.metrics.processor(&id.to_string(), &pipeline.id);
                let counted_next: Arc<dyn Consumer> = Arc::new(Counted {
                    inner: next,
                    counter: m.outgoing,
                });
                let Built::Processor(p) = e
                    .factory
                    .create(
                        CreateContext {
                            pipeline: Some(pipeline.id.clone()),
                            ..ctx(id)
                        },
                        &e.config,
                        Some(counted_next),
                    )
                    .map_err(fail(Kind::Processor, id))?
                else {
                    return Err(fail(Kind::Processor, id)(ComponentError::other(
                        "factory built the wrong kind",
                    )));
                };
                next = Arc::new(Counted {
                    inner: p.clone() as Arc<dyn Consumer>,
                    counter: m.incoming,
                });
                chain.push((id.clone(), p));
            }
            chain.reverse();
            processors.push(chain);
            heads.insert(pipeline.id.as_str(), next);
        }

        // Receivers: one instance per id, feeding every pipeline that names it.
        let memory = telemetry.metrics.pipeline_memory();
        let mut receivers: Vec<(ComponentId, Arc<dyn Receiver>)> = Vec::new();
        for pipeline in &config.pipelines {
            for id in &pipeline.receivers {
                if receivers.iter().any(|(r, _)| r == id) {
                    continue;
                }
                let targets: Vec<Arc<dyn Consumer>> = config
                    .pipelines
                    .iter()
                    .filter(|p| p.receivers.contains(id))
                    .filter_map(|p| heads.get(p.id.as_str()).cloned())
                    .collect();
                let e = entry(Kind::Receiver, id)?;
                let next = PipelineEntry::new(Fanout::of(targets), memory.clone());
                let Built::Receiver(r) = e
                    .factory
                    .create(ctx(id), &e.config, Some(next))
                    .map_err(fail(Kind::Receiver, id))?
                else {
                    return Err(fail(Kind::Receiver, id)(ComponentError::other(
                        "factory built the wrong kind",
                    )));
                };
                receivers.push((id.clone(), r));
            }
        }

        let mut extensions = Vec::new();
        for name in &config.service.extensions {
            let id = ComponentId::parse(name)
                .map_err(|e| fail(Kind::Extension, name)(ComponentError::other(e)))?;
            let e = entry(Kind::Extension, &id)?;
            let Built::Extension(x) = e
                .factory
                .create(ctx(&id), &e.config, None)
                .map_err(fail(Kind::Extension, &id))?
            else {
                return Err(fail(Kind::Extension, &id)(ComponentError::other(
                    "factory built the wrong kind",
                )));
            };
            extensions.push((id, x));
        }

        let host = Arc::new(ServiceHost {
            exporters: exporters
                .iter()
                .map(|(id, q)| (id.clone(), q.exporter().clone()))
                .collect(),
            extensions: extensions.iter().cloned().collect(),
            status: telemetry.status.clone(),
        });
        Ok(Self {
            telemetry,
            host,
            extensions,
            exporters: exporters.into_values().collect(),
            processors,
            receivers,
            shutdown_timeout: config.service.shutdown_timeout.0.get(),
        })
    }

    pub fn host(&self) -> Arc<dyn Host> {
        self.host.clone()
    }

    /// Starts downstream-first. On failure, stops what was started and returns the error.
    pub async fn start(&self) -> Result<(), BuildError> {
        self.telemetry.status.set_state(ServiceState::Starting);
        if let Err(e) = self.start_all().await {
            self.shutdown().await;
            return Err(e);
        }
        self.telemetry.status.set_state(ServiceState::Ready);
        tracing::info!("everything is ready; pipelines are running");
        Ok(())
    }

    async fn start_all(&self) -> Result<(), BuildError> {
        let host: Arc<dyn Host> = self.host.clone();
        for (id, x) in self.extensions_in_dependency_order() {
            x.start(host.clone())
                .await
                .map_err(fail(Kind::Extension, id))?;
        }
        for e in &self.exporters {
            e.start(host.clone())
                .await
                .map_err(fail(Kind::Exporter, e.id()))?;
        }
        for chain in &self.processors {
            for (id, p) in chain.iter().rev() {
                p.start(host.clone())
                    .await
                    .map_err(fail(Kind::Processor, id))?;
            }
        }
        for (id, r) in &self.receivers {
            r.start(host.clone())
                .await
                .map_err(fail(Kind::Receiver, id))?;
        }
        Ok(())
    }

    /// Extensions after the ones they depend on; listed order otherwise.
    fn extensions_in_dependency_order(&self) -> Vec<(ComponentId, Arc<dyn Extension>)> {
        let mut ordered: Vec<(ComponentId, Arc<dyn Extension>)> = Vec::new();
        let mut pending = self.extensions.clone();
        while !pending.is_empty() {
            let before = pending.len();
            pending.retain(|(id, x)| {
                let ready = x.dependencies().iter().all(|d| {
                    ordered.iter().any(|(o, _)| o == d)
                        || !self.extensions.iter().any(|(e, _)| e == d)
                });
                if ready {
                    ordered.push((id.clone(), x.clone()));
                }
                !ready
            });
            if pending.len() == before {
                // A cycle: validation cannot see dependencies, so start the rest as listed.
                ordered.append(&mut pending);
            }
        }
        ordered
    }

    /// Stops upstream-first: receivers stop accepting, processors flush in pipeline order,
    /// exporter queues drain until `service.shutdown_timeout`, then extensions stop.
    /// Safe to call on a service that never started, and more than once.
    pub async fn shutdown(&self) {
        self.telemetry.status.set_state(ServiceState::Stopping);
        let deadline = Instant::now() + self.shutdown_timeout;
        for (id, r) in &self.receivers {
            if let Err(e) = r.shutdown().await {
                tracing::warn!(receiver = %id, "shutdown: {e}");
            }
        }
        for chain in &self.processors {
            for (id, p) in chain {
                if let Err(e) = p.shutdown().await {
                    tracing::warn!(processor = %id, "shutdown: {e}");
                }
            }
        }
        let drains = self.exporters.iter().map(|e| async move {
            if let Err(err) = e.shutdown(deadline).await {
                tracing::warn!(exporter = %e.id(), "shutdown: {err}");
            }
        });
        futures::future::join_all(drains).await;
        for (id, x) in self.extensions_in_dependency_order().iter().rev() {
            if let Err(e) = x.shutdown().await {
                tracing::warn!(extension = %id, "shutdown: {e}");
            }
        }
    }

    /// Spans given up on at shutdown, by exporter.
    pub fn undelivered(&self) -> Vec<(ComponentId, u64)> {
        self.exporters
            .iter()
            .map(|e| (e.id().clone(), e.undelivered_at_shutdown()))
            .collect()
    }
}
