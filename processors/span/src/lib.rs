//! The `span` processor, as the Collector's `spanprocessor`: for each span `include`/`exclude`
//! select, rename it from attribute values, pull attributes out of its name, set its status
//! ([`rules`]). Selection and the copy-on-write walk are the shared rule engine's
//! ([`tracegate_span_rules`]).

mod config;
mod rules;

use std::sync::Arc;

use tracegate_core::component::{ComponentError, Consumer, Processor};
use tracegate_core::factory::{CreateContext, ProcessorFactory, Stability};
use tracegate_span_rules::{SpanEditProcessor, SpanEditRules};

pub use config::{NameConfig, SpanConfig, StatusConfig, ToAttributesConfig};
pub use rules::SpanRules;

/// The `span` processor: the rules on each selected span.
pub type SpanProcessor = SpanEditProcessor<SpanRules>;

pub struct SpanProcessorFactory;

impl ProcessorFactory for SpanProcessorFactory {
    const TYPE: &'static str = "span";
    const STABILITY: Stability = Stability::Alpha;
    type Config = SpanConfig;

    fn create(&self, _ctx: CreateContext, rules: SpanEditRules<SpanRules>, next: Arc<dyn Consumer>) -> Result<Arc<dyn Processor>, ComponentError> {
        Ok(Arc::new(SpanProcessor::new(rules, next)))
    }
}

tracegate_core::register_processor!(SpanProcessorFactory);

#[cfg(test)]
mod tests;
