//! The exporter itself. `export` does no work at all — not even counting spans — because
//! benchmarks use it to measure everything *but* the exporter; the engine's queue already
//! counts what was sent.

use async_trait::async_trait;
use tracegate_core::{ConsumeError, Exporter, Lifecycle, Traces};

/// Accepts and drops every batch.
#[derive(Debug, Default)]
pub struct NopExporter;

impl Lifecycle for NopExporter {}

#[async_trait]
impl Exporter for NopExporter {
    #[inline]
    async fn export(&self, _traces: Traces) -> Result<(), ConsumeError> {
        Ok(())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use tracegate_core::factory::{parse_typed, Built, DynFactory, ExporterAdapter};
    use tracegate_core::telemetry::Telemetry;
    use tracegate_core::testing::blank_spans;
    use tracegate_core::{ComponentId, CreateContext};

    use super::*;
    use crate::{Config, NopExporterFactory};

    #[tokio::test]
    async fn accepts_any_batch_and_shuts_down_without_start() {
        let factory = ExporterAdapter(NopExporterFactory);
        let parsed = parse_typed::<Config>(None).map_err(|p| format!("{p:?}")).expect("empty config");
        let ctx = CreateContext::new(ComponentId::parse("nop").expect("valid id"), Telemetry::new());
        let Ok(Built::Exporter(exporter)) = factory.create(ctx, &parsed, None) else {
            panic!("factory did not build an exporter");
        };
        exporter.shutdown().await.expect("shutdown without start");
        assert_eq!(exporter.export(blank_spans(5)).await, Ok(()));
        assert_eq!(exporter.export(Traces::default()).await, Ok(()));
        exporter.shutdown().await.expect("first shutdown");
        exporter.shutdown().await.expect("second shutdown");
    }
}
