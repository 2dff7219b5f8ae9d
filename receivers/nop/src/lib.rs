//! nop receiver: a receiver that never produces data.
//!
//! A pipeline needs at least one receiver; this one lets a pipeline exist without opening a
//! port — for benchmarks that push into the pipeline directly, for tests, and for configs
//! that only want extensions running — as the Collector's `nop` receiver.

mod config;
mod receiver;

use std::sync::Arc;

use tracegate_core::{ComponentError, Consumer, CreateContext, Receiver, ReceiverFactory, Stability};

pub use config::Config;
pub use receiver::NopReceiver;

/// Builds [`NopReceiver`]s for the `nop` type.
pub struct NopReceiverFactory;

impl ReceiverFactory for NopReceiverFactory {
    const TYPE: &'static str = "nop";
    const STABILITY: Stability = Stability::Stable;
    type Config = Config;

    fn create(
        &self,
        _ctx: CreateContext,
        _config: Config,
        _next: Arc<dyn Consumer>,
    ) -> Result<Arc<dyn Receiver>, ComponentError> {
        Ok(Arc::new(NopReceiver))
    }
}

tracegate_core::register_receiver!(NopReceiverFactory);

#[cfg(test)]
mod tests {
    use tracegate_core::factory::Registry;
    use tracegate_core::Kind;

    #[test]
    fn registered_as_a_builtin_receiver() {
        let registry = Registry::builtin();
        let factory = registry.get(Kind::Receiver, "nop").map(|f| f.stability());
        assert_eq!(factory, Some(tracegate_core::Stability::Stable));
    }
}
