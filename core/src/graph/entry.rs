//! [`PipelineEntry`]: what stands between a receiver and the pipelines it feeds, counting each
//! request's bytes as held by the pipelines until they have answered it.
//!
//! Every request a receiver accepts passes here once, whatever the number of pipelines it
//! feeds (the batch is shared between them, not copied), so the count is of data, not of
//! handles. See [`PipelineMemory`] for why the engine counts this rather than reading RSS.

use std::sync::Arc;

use async_trait::async_trait;

use crate::component::{Capabilities, ConsumeError, Consumer};
use crate::data::Traces;
use crate::telemetry::PipelineMemory;

pub struct PipelineEntry {
    next: Arc<dyn Consumer>,
    memory: PipelineMemory,
}

impl PipelineEntry {
    pub fn new(next: Arc<dyn Consumer>, memory: PipelineMemory) -> Arc<Self> {
        Arc::new(Self { next, memory })
    }
}

#[async_trait]
impl Consumer for PipelineEntry {
    fn capabilities(&self) -> Capabilities {
        self.next.capabilities()
    }

    async fn consume(&self, traces: Traces) -> Result<(), ConsumeError> {
        let _held = self.memory.hold(traces.encoded_len());
        self.next.consume(traces).await
    }
}
