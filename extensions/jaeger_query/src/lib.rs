//! jaeger_query extension: Jaeger's query service (HTTP API on 16686 and api_v3) over a
//! storage exporter, as Jaeger v2's `jaeger_query` extension does over `jaeger_storage`.
//!
//! It exists so the Jaeger UI, Grafana's Jaeger data source and scripts written against
//! Jaeger work unchanged against tracegate: same paths, parameters, JSON shapes and error
//! texts. It reads through the [`TraceReader`](tracegate_core::storage::TraceReader) of the
//! exporter named by `storage`, found through the `Host` at start, so the database is opened
//! once, by the exporter.
//!
//! With `grpc:` it also serves Jaeger's gRPC QueryService (api_v2 and api_v3) on 16685
//! ([`grpc`]), over the same reader and bounds.
//!
//! Unlike Jaeger's, its answers are bounded (issue 15; [`QueryBounds`] says how and why): `limit`
//! is clamped to `max_limit`, an answer is written within `max_response_bytes`, an expensive
//! query (search, trace by id, dependencies) has `query_timeout` and one of
//! `max_concurrent_queries` slots, and what was clamped, cut, refused or timed out is counted
//! in `tracegate_extension_jaeger_query_*` metrics ([`QueryMetrics`]). Clamped and cut answers stay
//! in Jaeger's shapes (a note in `errors`, a `Warning` header), so the UI keeps working.

mod answer;
mod api;
mod apiv3;
mod apiv3_params;
mod bounds;
mod clockskew;
mod config;
mod csp;
mod extension;
pub mod grpc;
#[doc(hidden)]
pub mod fuzzing;
mod live;
pub mod mcp;
mod metrics;
mod model;
mod params;
mod rfc3339;
mod router;
mod spm;
mod static_files;
mod summary;
mod tenancy;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use tracegate_core::{ComponentError, CreateContext, Extension, ExtensionFactory, Stability};

pub use api::ApiState;
pub use bounds::QueryBounds;
pub use config::{BasePath, ByteSize, Config, GrpcConfig, HttpConfig};
pub use extension::JaegerQueryExtension;
pub use metrics::QueryMetrics;
pub use router::router;

/// Builds [`JaegerQueryExtension`]s for the `jaeger_query` type.
pub struct JaegerQueryFactory;

impl ExtensionFactory for JaegerQueryFactory {
    const TYPE: &'static str = "jaeger_query";
    const STABILITY: Stability = Stability::Alpha;
    type Config = Config;

    fn create(&self, ctx: CreateContext, config: Config) -> Result<Arc<dyn Extension>, ComponentError> {
        let metrics = QueryMetrics::new(&ctx.id.to_string());
        metrics.register(ctx.telemetry.metrics.registry());
        Ok(Arc::new(JaegerQueryExtension::with_metrics(ctx.id.to_string(), config, metrics).count_tenancy_in(&ctx.telemetry)))
    }
}

tracegate_core::register_extension!(JaegerQueryFactory);
