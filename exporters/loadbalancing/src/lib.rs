//! The `loadbalancing` exporter: sends every span of a trace (or of a service) to the same
//! backend out of several, as the Collector's loadbalancingexporter does, so that tail
//! sampling, or span metrics per service, can run on more than one tracegate.
//!
//! The pieces, each in its own module:
//! - [`config`]: the Collector's config shape (`routing_key`, `protocol.otlp`, `resolver`);
//! - [`resolver`]: the backend names, a fixed list or a DNS name's addresses;
//! - [`ring`]: the consistent-hash ring that maps a routing key to a backend, so a change of
//!   backends moves only the keys of the ring's moved arcs;
//! - [`route`]: cuts a batch per backend, as bytes when it arrived as bytes;
//! - [`backends`]: one `otlp` exporter per backend behind the engine's own queue, retry and
//!   timeout, created when a backend appears; when one leaves, what its queue holds goes to
//!   the traces' new owners (the rule is in its docs); its `orphans` module opens, at start,
//!   the persistent queues an earlier run left for backends no longer routed to;
//! - `lineage`: which instance of an id is the newest across a config reload (it sets the
//!   backends gauge, and the old one hands its removed backends' spans to its ring);
//! - [`exporter`]: the exporter the pipeline sees.
//!
//! The engine puts no queue of its own in front of this exporter
//! ([`Exporter::queues_per_destination`]): the queues are the backends', and a sender is
//! answered once its batch's pieces are in them.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod backends;
pub mod config;
pub mod exporter;
mod lineage;
mod metrics;
pub mod resolver;
pub mod ring;
pub mod route;

use std::sync::Arc;

use tracegate_core::{ComponentError, CreateContext, Exporter, ExporterFactory, Stability};

pub use config::{LoadBalancing, LoadBalancingConfig, RoutingKey};
pub use exporter::LoadBalancingExporter;

/// Builds [`LoadBalancingExporter`]s for the `loadbalancing` type.
pub struct LoadBalancingExporterFactory;

impl ExporterFactory for LoadBalancingExporterFactory {
    const TYPE: &'static str = "loadbalancing";
    const STABILITY: Stability = Stability::Beta;
    type Config = LoadBalancingConfig;

    fn create(&self, ctx: CreateContext, validated: LoadBalancing) -> Result<Arc<dyn Exporter>, ComponentError> {
        let LoadBalancing { config, resolver } = validated;
        let metrics = metrics::LoadBalancerMetrics::new(&metrics::Families::of(&ctx.telemetry.metrics), &ctx.id, resolver.kind());
        let backends = backends::BackendSet::new(
            ctx.id.clone(),
            config.routing_key,
            config.protocol.otlp,
            ctx.telemetry.clone(),
            metrics.clone(),
        );
        Ok(Arc::new(LoadBalancingExporter::new(ctx.id, resolver, backends, metrics)))
    }
}

tracegate_core::register_exporter!(LoadBalancingExporterFactory);

#[cfg(test)]
mod exporter_tests;
#[cfg(test)]
mod reload_tests;
