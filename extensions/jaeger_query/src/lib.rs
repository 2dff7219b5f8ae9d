//! jaeger_query extension: Jaeger's query service (HTTP API on 16686 and api_v3) over a
//! storage exporter, as Jaeger v2's `jaeger_query` extension does over `jaeger_storage`.
//!
//! It exists so the Jaeger UI, Grafana's Jaeger data source and scripts written against
//! Jaeger work unchanged against tracegate: same paths, parameters, JSON shapes and error
//! texts. It reads through the [`TraceReader`](tracegate_core::storage::TraceReader) of the
//! exporter named by `storage`, found through the `Host` at start, so the database is opened
//! once, by the exporter.

mod api;
mod apiv3;
mod clockskew;
mod config;
mod extension;
mod live;
mod model;
mod params;
mod rfc3339;
mod router;
mod static_files;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use tracegate_core::{ComponentError, CreateContext, Extension, ExtensionFactory, Stability};

pub use api::ApiState;
pub use config::{BasePath, Config, HttpConfig};
pub use extension::JaegerQueryExtension;
pub use router::router;

/// Builds [`JaegerQueryExtension`]s for the `jaeger_query` type.
pub struct JaegerQueryFactory;

impl ExtensionFactory for JaegerQueryFactory {
    const TYPE: &'static str = "jaeger_query";
    const STABILITY: Stability = Stability::Alpha;
    type Config = Config;

    fn create(&self, ctx: CreateContext, config: Config) -> Result<Arc<dyn Extension>, ComponentError> {
        Ok(Arc::new(JaegerQueryExtension::new(ctx.id.to_string(), config)))
    }
}

tracegate_core::register_extension!(JaegerQueryFactory);
