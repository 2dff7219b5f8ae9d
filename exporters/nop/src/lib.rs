//! nop exporter: accepts every batch and drops it.
//!
//! It exists so benchmarks can measure the gateway itself (receivers, processors, the
//! engine's queue and fan-out) without any backend cost, and so a pipeline can be
//! wired up before its real destination exists — as the Collector's `nop` exporter.

mod config;
mod exporter;

use std::sync::Arc;

use tracegate_core::{ComponentError, CreateContext, Exporter, ExporterFactory, Stability};

pub use config::Config;
pub use exporter::NopExporter;

/// Builds [`NopExporter`]s for the `nop` type.
pub struct NopExporterFactory;

impl ExporterFactory for NopExporterFactory {
    const TYPE: &'static str = "nop";
    const STABILITY: Stability = Stability::Stable;
    type Config = Config;

    fn create(&self, _ctx: CreateContext, _config: Config) -> Result<Arc<dyn Exporter>, ComponentError> {
        Ok(Arc::new(NopExporter))
    }
}

tracegate_core::register_exporter!(NopExporterFactory);

#[cfg(test)]
mod tests {
    use tracegate_core::factory::Registry;
    use tracegate_core::Kind;

    #[test]
    fn registered_as_a_builtin_exporter() {
        let registry = Registry::builtin();
        let factory = registry.get(Kind::Exporter, "nop").map(|f| f.stability());
        assert_eq!(factory, Some(tracegate_core::Stability::Stable));
    }
}
