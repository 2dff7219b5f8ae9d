//! `jaeger_storage_exporter`: writes a pipeline's spans to a backend of the `jaeger_storage`
//! extension, named by `trace_storage` (Jaeger v2's key). The store is found at start with
//! `host.capability::<dyn TraceStore>(name)`; the engine's queue, retry and timeout sit in
//! front of this exporter as in front of any. What the store reports (spans past retention)
//! and whether its success is durable (sled syncs) pass through, so "acknowledged" keeps its
//! meaning with the store behind an extension.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tracegate_core::config::{ConfigProblem, NameReference};
use tracegate_core::factory::ComponentConfig;
use tracegate_core::storage::{TraceStore, TraceWriter};
use tracegate_core::{ComponentError, ConsumeError, ExportReport, Exporter, Host, Lifecycle, Traces};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExporterConfig {
    /// The backend to write: a name under `jaeger_storage`'s `backends` (or a storage
    /// exporter's id).
    pub trace_storage: String,
}

impl ComponentConfig for ExporterConfig {
    type Validated = Self;

    fn references(&self) -> Vec<NameReference> {
        vec![NameReference::new("trace_storage", self.trace_storage.clone(), "a trace store")]
    }

    fn validate(&self) -> Vec<ConfigProblem> {
        if self.trace_storage.is_empty() {
            return vec![ConfigProblem::new(
                "trace_storage",
                "required: the name of a jaeger_storage backend to write to, e.g. trace_storage: some_store",
            )];
        }
        Vec::new()
    }
}

pub struct JaegerStorageExporter {
    id: String,
    config: ExporterConfig,
    writer: OnceLock<Arc<dyn TraceWriter>>,
}

impl JaegerStorageExporter {
    pub fn new(id: String, config: ExporterConfig) -> Self {
        Self { id, config, writer: OnceLock::new() }
    }
}

#[async_trait]
impl Lifecycle for JaegerStorageExporter {
    async fn start(&self, host: Arc<dyn Host>) -> Result<(), ComponentError> {
        if self.writer.get().is_some() {
            return Ok(());
        }
        let name = &self.config.trace_storage;
        let store = host.capability::<dyn TraceStore>(name).map_err(|e| {
            ComponentError::Config(format!(
                "trace_storage: {e}; name a backend of the jaeger_storage extension (listed in service::extensions)"
            ))
        })?;
        let _ = self.writer.set(store.writer());
        tracing::info!(exporter = %self.id, trace_storage = %name, "writing to the trace storage backend");
        Ok(())
    }
}

#[async_trait]
impl Exporter for JaegerStorageExporter {
    async fn export(&self, traces: Traces) -> Result<(), ConsumeError> {
        self.export_reporting(traces).await.map(|_| ())
    }

    async fn export_reporting(&self, traces: Traces) -> Result<ExportReport, ConsumeError> {
        match self.writer.get() {
            Some(writer) => writer.write(traces).await,
            None => Err(ConsumeError::retryable(format!("{} is not started", self.id))),
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    /// The store's promise once it is known (after start); before, false.
    fn durable_on_success(&self) -> bool {
        self.writer.get().is_some_and(|w| w.durable_on_success())
    }
}
