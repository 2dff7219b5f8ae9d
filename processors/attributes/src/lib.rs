//! The `attributes` processor, as the Collector's: insert/update/upsert/delete/hash/extract/
//! convert span attributes, for the spans `include`/`exclude` select. The actions, the matcher
//! and the copy-on-write walk are the shared rule engine ([`tracegate_span_rules`]): a batch no
//! action changes is passed on as the same shared `Arc`, never copied.

mod config;

use std::sync::Arc;

use tracegate_core::component::{ComponentError, Consumer, Processor};
use tracegate_core::factory::{CreateContext, ProcessorFactory, Stability};
use tracegate_span_rules::{Actions, SpanEditProcessor, SpanEditRules};

pub use config::AttributesConfig;

/// The `attributes` processor: the actions on each selected span.
pub type AttributesProcessor = SpanEditProcessor<Actions>;

pub struct AttributesProcessorFactory;

impl ProcessorFactory for AttributesProcessorFactory {
    const TYPE: &'static str = "attributes";
    const STABILITY: Stability = Stability::Beta;
    type Config = AttributesConfig;

    fn create(&self, _ctx: CreateContext, rules: SpanEditRules<Actions>, next: Arc<dyn Consumer>) -> Result<Arc<dyn Processor>, ComponentError> {
        Ok(Arc::new(AttributesProcessor::new(rules, next)))
    }
}

tracegate_core::register_processor!(AttributesProcessorFactory);

#[cfg(test)]
mod actions_tests;
#[cfg(test)]
mod tests;
