//! The receiver itself: it holds no `next` consumer because it never sends anything, and
//! opens nothing, so start and shutdown have nothing to do.

use tracegate_core::{Lifecycle, Receiver};

/// Receives nothing.
#[derive(Debug, Default)]
pub struct NopReceiver;

impl Lifecycle for NopReceiver {}

impl Receiver for NopReceiver {}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;
    use tracegate_core::factory::{parse_typed, Built, DynFactory, ReceiverAdapter};
    use tracegate_core::telemetry::Telemetry;
    use tracegate_core::{ComponentId, ConsumeError, Consumer, CreateContext, Traces};

    use crate::{Config, NopReceiverFactory};

    #[derive(Default)]
    struct CountingConsumer(AtomicUsize);

    #[async_trait]
    impl Consumer for CountingConsumer {
        async fn consume(&self, _traces: Traces) -> Result<(), ConsumeError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[tokio::test]
    async fn never_calls_next_and_shutdown_is_idempotent() {
        let factory = ReceiverAdapter(NopReceiverFactory);
        let parsed = parse_typed::<Config>(None).map_err(|p| format!("{p:?}")).expect("empty config");
        let ctx = CreateContext::new(ComponentId::parse("nop").expect("valid id"), Telemetry::new());
        let next = Arc::new(CountingConsumer::default());
        let Ok(Built::Receiver(receiver)) = factory.create(ctx, &parsed, Some(next.clone())) else {
            panic!("factory did not build a receiver");
        };
        receiver.shutdown().await.expect("shutdown without start");
        receiver.shutdown().await.expect("second shutdown");
        tokio::task::yield_now().await;
        assert_eq!(next.0.load(Ordering::SeqCst), 0);
    }
}
