//! The `elasticsearch` exporter: writes spans into Elasticsearch in Jaeger's own index layout
//! and documents, and reads them back as a [`TraceReader`](tracegate_core::storage::TraceReader)
//! for `jaeger_query`.
//!
//! Why Jaeger's layout rather than an OTLP-shaped one: users scaling out the way Jaeger does
//! keep their existing tools — Jaeger's query service, its index cleaner and rollover scripts,
//! Kibana dashboards built on `jaeger-span-*` — working on the data tracegate writes.
//! See [`doc`] for the documents, [`exporter`] for the bulk writes and failure handling,
//! [`reader`] for the queries and [`templates`] for the index templates.

mod client;
mod coalesce;
mod config;
pub mod doc;
mod exporter;
pub mod indices_config;
mod reader;
pub mod templates;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tls_tests;
#[cfg(test)]
mod auth_tests;

use std::sync::Arc;

use tracegate_core::{ComponentError, CreateContext, Exporter, ExporterFactory, Stability};

pub use config::{Auth, Bulk, Config, EsVersion, TagsAsFields, Tls};
pub use exporter::{ElasticsearchExporter, ITEM_ATTEMPTS};
pub use reader::EsReader;

/// Builds [`ElasticsearchExporter`]s for the `elasticsearch` type.
pub struct ElasticsearchExporterFactory;

impl ExporterFactory for ElasticsearchExporterFactory {
    const TYPE: &'static str = "elasticsearch";
    const STABILITY: Stability = Stability::Alpha;
    type Config = Config;

    fn create(&self, ctx: CreateContext, config: Config) -> Result<Arc<dyn Exporter>, ComponentError> {
        let opts = prometheus::Opts::new(
            "tracegate_exporter_elasticsearch_dropped_documents",
            "Documents Elasticsearch refused for good in a bulk answer (4xx items such as mapping errors).",
        )
        .const_label("exporter", ctx.id.to_string());
        let registry = ctx.telemetry.metrics.registry();
        let metric = prometheus::IntCounter::with_opts(opts).ok().filter(|c| registry.register(Box::new(c.clone())).is_ok());
        Ok(Arc::new(ElasticsearchExporter::with_metric(config, metric)?))
    }
}

tracegate_core::register_exporter!(ElasticsearchExporterFactory);
