//! debug exporter: writes spans to the service's log, as the Collector's `debug` exporter.
//!
//! It is the first thing to reach for when a pipeline does not do what one expects: put it
//! beside the real exporter and see what actually arrives, at `basic` (counts), `normal`
//! (a line per span) or `detailed` (every field) verbosity.

mod config;
mod exporter;
mod format;
mod sampler;
mod values;

use std::sync::Arc;

use tracegate_core::{ComponentError, CreateContext, Exporter, ExporterFactory, Stability};

pub use config::{Config, Verbosity};
pub use exporter::DebugExporter;
pub use format::format_batch;

/// Builds [`DebugExporter`]s for the `debug` type.
pub struct DebugExporterFactory;

impl ExporterFactory for DebugExporterFactory {
    const TYPE: &'static str = "debug";
    const STABILITY: Stability = Stability::Development;
    type Config = Config;

    fn create(&self, _ctx: CreateContext, config: Config) -> Result<Arc<dyn Exporter>, ComponentError> {
        Ok(Arc::new(DebugExporter::new(&config)))
    }
}

tracegate_core::register_exporter!(DebugExporterFactory);

#[cfg(test)]
mod tests {
    use tracegate_core::factory::Registry;
    use tracegate_core::Kind;

    #[test]
    fn registered_as_a_builtin_exporter() {
        let registry = Registry::builtin();
        let factory = registry.get(Kind::Exporter, "debug").map(|f| f.stability());
        assert_eq!(factory, Some(tracegate_core::Stability::Development));
    }
}
