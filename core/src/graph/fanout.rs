//! Offers one batch to several consumers at once.
//!
//! The batch is shared, never copied here: each consumer gets a clone of the `Arc` handle and
//! a consumer that changes data copies on write (`Traces::make_mut`). Consumers run
//! concurrently, so a slow one delays the caller only as long as the slowest branch takes to
//! accept (an exporter's queue accepts at once unless `when_full: block` says to wait).

use std::sync::Arc;

use async_trait::async_trait;

use crate::component::{Capabilities, ConsumeError, Consumer};
use crate::data::Traces;

pub struct Fanout {
    consumers: Vec<Arc<dyn Consumer>>,
}

impl Fanout {
    /// A single consumer is returned as is: no fan-out node on the hot path when not needed.
    pub fn of(mut consumers: Vec<Arc<dyn Consumer>>) -> Arc<dyn Consumer> {
        if consumers.len() == 1 {
            if let Some(only) = consumers.pop() {
                return only;
            }
        }
        Arc::new(Self { consumers })
    }
}

#[async_trait]
impl Consumer for Fanout {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            mutates_data: self.consumers.iter().any(|c| c.capabilities().mutates_data),
        }
    }

    async fn consume(&self, traces: Traces) -> Result<(), ConsumeError> {
        let results =
            futures::future::join_all(self.consumers.iter().map(|c| c.consume(traces.clone())))
                .await;
        // The most actionable error wins: a retryable one means the client should send again
        // (some branches may then see the batch twice, which is the at-least-once contract).
        let mut worst: Option<ConsumeError> = None;
        for err in results.into_iter().filter_map(Result::err) {
            let rank = |e: &ConsumeError| match e {
                ConsumeError::Retryable(_) => 3,
                ConsumeError::Throttled { .. } => 2,
                ConsumeError::Permanent(_) => 1,
            };
            if worst.as_ref().is_none_or(|w| rank(&err) > rank(w)) {
                worst = Some(err);
            }
        }
        worst.map_or(Ok(()), Err)
    }
}
