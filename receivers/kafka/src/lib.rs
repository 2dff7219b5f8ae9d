//! The `kafka` receiver: the ingester half of Jaeger's scale-out topology. It reads spans that
//! collectors (the `kafka` exporter, Jaeger's collector, the OTel Collector) wrote to a topic,
//! as a member of a consumer group, and feeds them into the pipeline, typically a store.
//!
//! It commits a message's offset only after the pipeline accepted its spans, so a crash
//! replays instead of losing; messages that do not decode are counted and skipped, never a
//! stall. The encodings and client settings come from the `tracegate-kafka` library the
//! exporter uses too, so what one side writes the other reads.
//!
//! - [`config`]: the Collector's kafkareceiver keys, with validation.
//! - [`receiver`]: the consumer, its task, commit and close.
//! - [`batch`]: decoding fetched messages into one batch and delivering it with retry.

pub mod batch;
pub mod config;
pub mod receiver;

use std::sync::Arc;

use tracegate_core::{ComponentError, Consumer, CreateContext, Receiver, ReceiverFactory, Stability};

pub use config::Config;
pub use receiver::KafkaReceiver;

/// Creates `kafka` receivers.
pub struct KafkaReceiverFactory;

impl ReceiverFactory for KafkaReceiverFactory {
    const TYPE: &'static str = "kafka";
    const STABILITY: Stability = Stability::Beta;
    type Config = Config;

    fn create(&self, ctx: CreateContext, config: Config, next: Arc<dyn Consumer>) -> Result<Arc<dyn Receiver>, ComponentError> {
        Ok(Arc::new(KafkaReceiver::new(ctx.id, config, next, &ctx.telemetry)))
    }
}

tracegate_core::register_receiver!(KafkaReceiverFactory);

#[cfg(test)]
mod tests {
    use tracegate_core::factory::Registry;
    use tracegate_core::{Kind, Stability};

    #[test]
    fn registered_as_a_builtin_receiver() {
        let registry = Registry::builtin();
        let stability = registry.get(Kind::Receiver, "kafka").map(|f| f.stability());
        assert_eq!(stability, Some(Stability::Beta));
    }
}
