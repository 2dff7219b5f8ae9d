//! Creating the graph's parts from a validated config, one at a time, so that the first
//! build and every reload make components the same way: exporters behind their queue,
//! a pipeline's processors from its fan-out back to its head, receivers feeding a [`Switch`],
//! extensions. [`Graph`] is what runs, with a fingerprint of each part's config so a reload
//! can tell what changed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_yaml_ng::Value;

use super::lookups::Lookups;
use super::{Fanout, PipelineEntry, ServiceHost, Switch};
use crate::component::{ComponentError, ConsumeError, Consumer, Extension, Processor, Receiver};
use crate::config::{ComponentEntry, Pipeline, ValidConfig};
use crate::data::Traces;
use crate::factory::{Built, CreateContext};
use crate::id::{ComponentId, Kind};
use crate::queue::QueuedExporter;
use crate::telemetry::{ProcessorMetrics, ServiceStatus, Telemetry};

/// A component failed to be created or started.
#[derive(Debug, thiserror::Error)]
#[error("{kind} \"{id}\": {error}")]
pub struct BuildError {
    pub kind: Kind,
    pub id: String,
    // Not a `source`: the message already includes it, and anyhow's `{:#}` would repeat it.
    pub error: ComponentError,
}

pub(super) fn fail(kind: Kind, id: impl ToString) -> impl FnOnce(ComponentError) -> BuildError {
    move |error| BuildError { kind, id: id.to_string(), error }
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

// Each running part keeps what it looked up on its host when it started (see `lookups`).

pub(super) struct RunningExtension {
    pub id: ComponentId,
    pub fingerprint: Value,
    pub extension: Arc<dyn Extension>,
    pub lookups: Arc<Lookups>,
}

pub(super) struct RunningExporter {
    pub fingerprint: Value,
    pub queued: Arc<QueuedExporter>,
    pub lookups: Arc<Lookups>,
}

pub(super) struct RunningPipeline {
    pub id: String,
    pub fingerprint: Value,
    /// First to last.
    pub processors: Vec<(ComponentId, Arc<dyn Processor>)>,
    pub head: Arc<dyn Consumer>,
    /// Of all its processors: a pipeline is replaced as a whole.
    pub lookups: Arc<Lookups>,
}

pub(super) struct RunningReceiver {
    pub id: ComponentId,
    pub fingerprint: Value,
    pub receiver: Arc<dyn Receiver>,
    pub switch: Arc<Switch>,
    pub lookups: Arc<Lookups>,
}

/// What runs: the parts in config order, each with the fingerprint of the config it runs with.
pub(super) struct Graph {
    pub extensions: Vec<RunningExtension>,
    pub exporters: BTreeMap<ComponentId, RunningExporter>,
    pub pipelines: Vec<RunningPipeline>,
    pub receivers: Vec<RunningReceiver>,
    pub shutdown_timeout: Duration,
}

impl Graph {
    /// A host that shows components the graph's exporters and extensions as they are now.
    pub fn host(&self, status: Arc<ServiceStatus>) -> Arc<ServiceHost> {
        Arc::new(ServiceHost {
            exporters: self.exporters.iter().map(|(id, e)| (id.clone(), e.queued.exporter().clone())).collect(),
            extensions: self.extensions.iter().map(|x| (x.id.clone(), x.extension.clone())).collect(),
            status,
        })
    }

    /// The head consumer a receiver feeds: every pipeline of `config` that names it.
    pub fn heads_for(&self, config: &ValidConfig, receiver: &ComponentId) -> Arc<dyn Consumer> {
        let heads = config
            .pipelines
            .iter()
            .filter(|p| p.receivers.contains(receiver))
            .filter_map(|p| self.pipelines.iter().find(|r| r.id == p.id).map(|r| r.head.clone()))
            .collect();
        Fanout::of(heads)
    }
}

pub(super) fn entry<'a>(config: &'a ValidConfig, kind: Kind, id: &ComponentId) -> Result<&'a ComponentEntry, BuildError> {
    config
        .component(kind, id)
        .ok_or_else(|| fail(kind, id)(ComponentError::other("not configured (validation should have caught this)")))
}

fn wrong_kind(kind: Kind, id: &ComponentId) -> BuildError {
    fail(kind, id)(ComponentError::other("factory built the wrong kind"))
}

/// A component's config as it runs; an exporter's includes its queue, retry and timeout.
pub(super) fn fingerprint(entry: &ComponentEntry) -> Value {
    let mut out = serde_yaml_ng::Mapping::new();
    out.insert("config".into(), entry.config.effective.clone());
    if let Some(settings) = &entry.exporter_settings {
        out.insert("engine".into(), serde_yaml_ng::to_value(settings).unwrap_or(Value::Null));
    }
    Value::Mapping(out)
}

/// A pipeline is the same when its processors (with their configs) and exporters are.
pub(super) fn pipeline_fingerprint(config: &ValidConfig, pipeline: &Pipeline) -> Value {
    let processors = pipeline
        .processors
        .iter()
        .map(|id| {
            let fp = config.component(Kind::Processor, id).map(fingerprint).unwrap_or(Value::Null);
            Value::Sequence(vec![Value::String(id.to_string()), fp])
        })
        .collect();
    let exporters = pipeline.exporters.iter().map(|id| Value::String(id.to_string())).collect();
    Value::Sequence(vec![Value::Sequence(processors), Value::Sequence(exporters)])
}

pub(super) fn create_exporter(config: &ValidConfig, id: &ComponentId, telemetry: &Arc<Telemetry>) -> Result<RunningExporter, BuildError> {
    let e = entry(config, Kind::Exporter, id)?;
    let ctx = CreateContext::new(id.clone(), telemetry.clone());
    let Built::Exporter(exporter) = e.factory.create(ctx, &e.config, None).map_err(fail(Kind::Exporter, id))? else {
        return Err(wrong_kind(Kind::Exporter, id));
    };
    let settings = e.exporter_settings.clone().unwrap_or_default();
    Ok(RunningExporter {
        fingerprint: fingerprint(e),
        queued: QueuedExporter::new(id.clone(), exporter, settings, telemetry),
        lookups: Lookups::new(),
    })
}

/// A pipeline's processors, created from its fan-out of `exporters` back to its head.
pub(super) fn build_pipeline(
    config: &ValidConfig,
    pipeline: &Pipeline,
    exporters: &BTreeMap<ComponentId, RunningExporter>,
    telemetry: &Arc<Telemetry>,
) -> Result<RunningPipeline, BuildError> {
    let outs: Vec<Arc<dyn Consumer>> = pipeline
        .exporters
        .iter()
        .filter_map(|id| exporters.get(id).map(|e| e.queued.clone() as Arc<dyn Consumer>))
        .collect();
    let mut next = Fanout::of(outs);
    let mut chain = Vec::new();
    for id in pipeline.processors.iter().rev() {
        let e = entry(config, Kind::Processor, id)?;
        let m: ProcessorMetrics = telemetry.metrics.processor(&id.to_string(), &pipeline.id);
        let counted_next: Arc<dyn Consumer> = Arc::new(Counted { inner: next, counter: m.outgoing });
        let ctx = CreateContext { pipeline: Some(pipeline.id.clone()), ..CreateContext::new(id.clone(), telemetry.clone()) };
        let Built::Processor(p) = e.factory.create(ctx, &e.config, Some(counted_next)).map_err(fail(Kind::Processor, id))? else {
            return Err(wrong_kind(Kind::Processor, id));
        };
        next = Arc::new(Counted { inner: p.clone() as Arc<dyn Consumer>, counter: m.incoming });
        chain.push((id.clone(), p));
    }
    chain.reverse();
    Ok(RunningPipeline {
        id: pipeline.id.clone(),
        fingerprint: pipeline_fingerprint(config, pipeline),
        processors: chain,
        head: next,
        lookups: Lookups::new(),
    })
}

/// A receiver feeding `switch` (through a [`PipelineEntry`], which counts what it holds).
pub(super) fn create_receiver(
    config: &ValidConfig,
    id: &ComponentId,
    switch: Arc<Switch>,
    telemetry: &Arc<Telemetry>,
) -> Result<RunningReceiver, BuildError> {
    let e = entry(config, Kind::Receiver, id)?;
    let next = PipelineEntry::new(switch.clone(), telemetry.metrics.pipeline_memory());
    let ctx = CreateContext::new(id.clone(), telemetry.clone());
    let Built::Receiver(receiver) = e.factory.create(ctx, &e.config, Some(next)).map_err(fail(Kind::Receiver, id))? else {
        return Err(wrong_kind(Kind::Receiver, id));
    };
    Ok(RunningReceiver { id: id.clone(), fingerprint: fingerprint(e), receiver, switch, lookups: Lookups::new() })
}

pub(super) fn create_extension(config: &ValidConfig, id: &ComponentId, telemetry: &Arc<Telemetry>) -> Result<RunningExtension, BuildError> {
    let e = entry(config, Kind::Extension, id)?;
    let ctx = CreateContext::new(id.clone(), telemetry.clone());
    let Built::Extension(extension) = e.factory.create(ctx, &e.config, None).map_err(fail(Kind::Extension, id))? else {
        return Err(wrong_kind(Kind::Extension, id));
    };
    Ok(RunningExtension { id: id.clone(), fingerprint: fingerprint(e), extension, lookups: Lookups::new() })
}

/// The ids of `service.extensions`, parsed.
pub(super) fn extension_ids(config: &ValidConfig) -> Result<Vec<ComponentId>, BuildError> {
    config
        .service
        .extensions
        .iter()
        .map(|name| ComponentId::parse(name).map_err(|e| fail(Kind::Extension, name)(ComponentError::other(e))))
        .collect()
}

/// `extensions` ordered so each comes after the ones it depends on; listed order otherwise.
pub(super) fn in_dependency_order(extensions: Vec<(ComponentId, Arc<dyn Extension>)>) -> Vec<(ComponentId, Arc<dyn Extension>)> {
    let all: Vec<ComponentId> = extensions.iter().map(|(id, _)| id.clone()).collect();
    let mut ordered: Vec<(ComponentId, Arc<dyn Extension>)> = Vec::new();
    let mut pending = extensions;
    while !pending.is_empty() {
        let before = pending.len();
        pending.retain(|(id, x)| {
            let ready = x.dependencies().iter().all(|d| ordered.iter().any(|(o, _)| o == d) || !all.contains(d));
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
