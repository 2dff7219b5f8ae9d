//! The `kafka` exporter: the collector half of Jaeger's scale-out topology. Collectors write
//! spans to a Kafka topic; ingesters (the `kafka` receiver) read them into storage at their
//! own pace, so a slow or down store never pushes back on applications.
//!
//! This crate also holds what the receiver shares with it, as public modules, so the two
//! sides cannot disagree: [`encoding`] (the four message encodings, both directions) and
//! [`client`] (brokers, SASL, TLS, librdkafka pass-through). The receiver depends on this
//! crate for them; a third crate would have to be added to the workspace for no other gain.
//!
//! - [`config`]: the Collector's kafkaexporter keys, with validation.
//! - [`exporter`]: one librdkafka producer, delivery reports, failure classification.
//! - [`jaeger_json`]: Jaeger's `json` Kafka encoding (protobuf JSON of `model.Span`).

pub mod client;
pub mod config;
pub mod context;
pub mod encoding;
pub mod exporter;
#[doc(hidden)]
pub mod fuzzing;
pub mod jaeger_json;

use std::sync::Arc;

use tracegate_core::{ComponentError, CreateContext, Exporter, ExporterFactory, Stability};

pub use config::Config;
pub use encoding::Encoding;
pub use exporter::KafkaExporter;

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
