//! The `kafka` exporter: the collector half of Jaeger's scale-out topology. Collectors write
//! spans to a Kafka topic; ingesters (the `kafka` receiver) read them into storage at their
//! own pace, so a slow or down store never pushes back on applications.
//!
//! What it shares with the `kafka` receiver (the encodings, the client settings, librdkafka's
//! logging, the topic rule) lives in the `tracegate-kafka` library, so the two sides cannot
//! disagree and neither component depends on the other.
//!
//! - [`config`]: the Collector's kafkaexporter keys, with validation.
//! - [`exporter`]: one librdkafka producer, delivery reports, failure classification.

pub mod config;
pub mod exporter;

use std::sync::Arc;

use tracegate_core::{ComponentError, CreateContext, Exporter, ExporterFactory, Stability};

pub use config::Config;
pub use exporter::KafkaExporter;
pub use tracegate_kafka::Encoding;

/// Builds [`KafkaExporter`]s for the `kafka` type.
pub struct KafkaExporterFactory;

impl ExporterFactory for KafkaExporterFactory {
    const TYPE: &'static str = "kafka";
    const STABILITY: Stability = Stability::Beta;
    type Config = Config;

    fn create(
        &self,
        ctx: CreateContext,
        config: Config,
    ) -> Result<Arc<dyn Exporter>, ComponentError> {
        Ok(Arc::new(KafkaExporter::new(ctx.id, config)))
    }
}

tracegate_core::register_exporter!(KafkaExporterFactory);

#[cfg(test)]
mod tests {
    use tracegate_core::factory::Registry;
    use tracegate_core::{Kind, Stability};

    #[test]
    fn registered_as_a_builtin_exporter() {
        let registry = Registry::builtin();
        let stability = registry.get(Kind::Exporter, "kafka").map(|f| f.stability());
        assert_eq!(stability, Some(Stability::Beta));
    }
}
