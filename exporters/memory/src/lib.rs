//! memory exporter: keeps the newest traces in memory and serves them to `jaeger_query`.
//!
//! The counterpart of Jaeger's memory storage: nothing survives a restart, but it needs no
//! disk, answers every query the `TraceReader` contract defines, and makes a quick demo
//! (`exporters: { memory: {} }` + `jaeger_query: { storage: memory }`) or a test of the query
//! API possible without a database.

mod config;
mod matching;
mod red_metrics;
mod store;

use std::sync::Arc;

use tracegate_core::{ComponentError, CreateContext, Exporter, ExporterFactory, Stability};

pub use config::Config;
pub use store::MemoryStore;

/// Builds [`MemoryStore`]s for the `memory` type.
pub struct MemoryExporterFactory;

impl ExporterFactory for MemoryExporterFactory {
    const TYPE: &'static str = "memory";
    const STABILITY: Stability = Stability::Alpha;
    type Config = Config;

    fn create(&self, _ctx: CreateContext, config: Config) -> Result<Arc<dyn Exporter>, ComponentError> {
        Ok(Arc::new(MemoryStore::new(config.max_traces)))
    }
}

tracegate_core::register_exporter!(MemoryExporterFactory);

#[cfg(test)]
mod tests {
    use tracegate_core::factory::Registry;
    use tracegate_core::Kind;

    #[test]
    fn registered_as_a_builtin_exporter() {
        let registry = Registry::builtin();
        let factory = registry.get(Kind::Exporter, "memory").map(|f| f.stability());
        assert_eq!(factory, Some(tracegate_core::Stability::Alpha));
    }
}
