//! The `batch` processor, as the Collector's: groups spans into batches of `send_batch_size`,
//! splits anything over `send_batch_max_size`, and sends what it holds after `timeout`.
//!
//! One deliberate difference: the Collector's batch processor answers the sender at once and
//! loses the batch if the next component refuses it. Here a batch the next component refuses
//! with a retryable error goes back to the front of the buffer and is sent again on the next
//! flush, and once the buffer holds twice the batch size new data is refused with a retryable
//! error. So backpressure (a full `block` queue, a memory limiter) reaches the client as
//! UNAVAILABLE / 503, and nothing accepted is dropped silently.
//!
//! Another: `wait_for_result` is on by default (a sender is answered once the next component
//! accepted its spans, so an acknowledged span is never only in this processor's memory), and
//! with it what is held is sent at once while the next component is idle, so a request never
//! waits out `timeout` (see `waiters` and [`EARLY_SENDS`]). `wait_for_result: false` restores
//! the Collector's answer-at-once (docs/durability.md).

mod batcher;
mod config;
mod split;
mod waiters;

use std::sync::Arc;

use tracegate_core::component::{ComponentError, Consumer, Processor};
use tracegate_core::factory::{CreateContext, ProcessorFactory, Stability};

pub use batcher::{BatchProcessor, EARLY_SENDS};
pub use config::BatchConfig;
pub use split::split_off_spans;

pub struct BatchProcessorFactory;

impl ProcessorFactory for BatchProcessorFactory {
    const TYPE: &'static str = "batch";
    const STABILITY: Stability = Stability::Beta;
    type Config = BatchConfig;

    fn create(
        &self,
        ctx: CreateContext,
        config: BatchConfig,
        next: Arc<dyn Consumer>,
    ) -> Result<Arc<dyn Processor>, ComponentError> {
        Ok(BatchProcessor::new(ctx.id, config, next))
    }
}

tracegate_core::register_processor!(BatchProcessorFactory);
