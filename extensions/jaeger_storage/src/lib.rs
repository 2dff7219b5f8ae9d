//! Trace storage owned by an extension, as in Jaeger v2.
//!
//! - [`JaegerStorageExtension`] (`jaeger_storage`): opens each configured backend once
//!   (`backends: { <name>: { sled | memory | elasticsearch | opensearch: {...} } }`, see
//!   [`config`]) and offers each as the `dyn TraceStore` capability under its name.
//! - [`JaegerStorageExporter`] (`jaeger_storage_exporter`): a pipeline exporter writing to one
//!   backend by name (`trace_storage: <name>`).
//! - `jaeger_query` reads one by name (`storage: { traces: <name> }`).
//!
//! So a query-only process needs no pipeline exporter to own its store, and a store written by
//! several pipelines and read by the query service is opened once. The `sled`, `memory` and
//! `elasticsearch` exporters stay as shorthands: each is a store of its own, offered under its
//! exporter id.

pub mod config;
mod exporter;
mod extension;

use std::sync::Arc;

use tracegate_core::{ComponentError, CreateContext, Exporter, ExporterFactory, Extension, ExtensionFactory, Stability};

pub use config::{Backend, Config};
pub use exporter::{ExporterConfig, JaegerStorageExporter};
pub use extension::JaegerStorageExtension;

/// Builds [`JaegerStorageExtension`]s for the `jaeger_storage` type.
pub struct JaegerStorageFactory;

impl ExtensionFactory for JaegerStorageFactory {
    const TYPE: &'static str = "jaeger_storage";
    const STABILITY: Stability = Stability::Alpha;
    type Config = Config;

    fn create(&self, ctx: CreateContext, config: Config) -> Result<Arc<dyn Extension>, ComponentError> {
        Ok(Arc::new(JaegerStorageExtension::open(&ctx, &config)?))
    }
}

/// Builds [`JaegerStorageExporter`]s for the `jaeger_storage_exporter` type.
pub struct JaegerStorageExporterFactory;

impl ExporterFactory for JaegerStorageExporterFactory {
    const TYPE: &'static str = "jaeger_storage_exporter";
    const STABILITY: Stability = Stability::Alpha;
    type Config = ExporterConfig;

    fn create(&self, ctx: CreateContext, config: ExporterConfig) -> Result<Arc<dyn Exporter>, ComponentError> {
        Ok(Arc::new(JaegerStorageExporter::new(ctx.id.to_string(), config)))
    }
}

tracegate_core::register_extension!(JaegerStorageFactory);
tracegate_core::register_exporter!(JaegerStorageExporterFactory);

#[cfg(test)]
mod tests;
