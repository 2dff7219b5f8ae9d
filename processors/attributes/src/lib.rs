//! The `attributes`, `resource`, `span` and `filter` processors, with the OpenTelemetry
//! Collector's config names and semantics, so configs carry over:
//!
//! - `attributes`: insert/update/upsert/delete/hash/extract/convert span attributes, for the
//!   spans `include`/`exclude` select;
//! - `resource`: the same actions on resource attributes;
//! - `span`: rename spans from attributes, pull attributes out of names, set the status;
//! - `filter`: drop spans (or, a tracegate addition, whole traces) matching OTTL conditions.
//!
//! They live in one crate because they share the action engine, the include/exclude matcher
//! and the copy-on-write walk over a batch ([`cow`]): a batch no rule changes is passed on as
//! the same shared `Arc`, never copied.

mod actions;
mod attributes;
mod config;
mod cow;
mod filter;
mod matcher;
mod span;
mod span_edit;
mod value;

use std::sync::Arc;

use tracegate_core::component::{ComponentError, Consumer, Processor};
use tracegate_core::config::ConfigProblem;
use tracegate_core::factory::{CreateContext, ProcessorFactory, Stability};

pub use actions::{ActionConfig, Actions};
pub use attributes::{AttributesProcessor, ResourceProcessor};
pub use config::{AttributesConfig, NameConfig, ResourceConfig, SpanConfig, StatusConfig, ToAttributesConfig};
pub use filter::{ErrorMode, FilterConfig, FilterProcessor, LegacySpans, Rules as FilterRules, TraceConditions};
pub use matcher::{AttributeMatch, LibraryMatch, MatchProperties, SpanMatcher};
pub use span::{SpanProcessor, SpanRules};
pub use value::ConfigValue;

/// `validate` already ran on the config, so these only fail on an engine bug.
fn config_error(problems: Vec<ConfigProblem>) -> ComponentError {
    ComponentError::Config(problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
}

pub struct AttributesProcessorFactory;

impl ProcessorFactory for AttributesProcessorFactory {
    const TYPE: &'static str = "attributes";
    const STABILITY: Stability = Stability::Beta;
    type Config = AttributesConfig;

    fn create(&self, _ctx: CreateContext, cfg: AttributesConfig, next: Arc<dyn Consumer>) -> Result<Arc<dyn Processor>, ComponentError> {
        let actions = Actions::compile(&cfg.actions, "actions").map_err(config_error)?;
        let matcher = SpanMatcher::compile(cfg.include.as_ref(), cfg.exclude.as_ref(), "").map_err(config_error)?;
        Ok(Arc::new(AttributesProcessor::new(actions, matcher, next)))
    }
}

pub struct ResourceProcessorFactory;

impl ProcessorFactory for ResourceProcessorFactory {
    const TYPE: &'static str = "resource";
    const STABILITY: Stability = Stability::Beta;
    type Config = ResourceConfig;

    fn create(&self, _ctx: CreateContext, cfg: ResourceConfig, next: Arc<dyn Consumer>) -> Result<Arc<dyn Processor>, ComponentError> {
        let actions = Actions::compile(&cfg.attributes, "attributes").map_err(config_error)?;
        Ok(Arc::new(ResourceProcessor::new(actions, next)))
    }
}

pub struct SpanProcessorFactory;

impl ProcessorFactory for SpanProcessorFactory {
    const TYPE: &'static str = "span";
    const STABILITY: Stability = Stability::Alpha;
    type Config = SpanConfig;

    fn create(&self, _ctx: CreateContext, cfg: SpanConfig, next: Arc<dyn Consumer>) -> Result<Arc<dyn Processor>, ComponentError> {
        let rules = SpanRules::compile(&cfg).map_err(config_error)?;
        let matcher = SpanMatcher::compile(cfg.include.as_ref(), cfg.exclude.as_ref(), "").map_err(config_error)?;
        Ok(Arc::new(SpanProcessor::new(rules, matcher, next)))
    }
}

pub struct FilterProcessorFactory;

impl ProcessorFactory for FilterProcessorFactory {
    const TYPE: &'static str = "filter";
    const STABILITY: Stability = Stability::Alpha;
    type Config = FilterConfig;

    fn create(&self, ctx: CreateContext, cfg: FilterConfig, next: Arc<dyn Consumer>) -> Result<Arc<dyn Processor>, ComponentError> {
        let rules = FilterRules::compile(&cfg).map_err(config_error)?;
        Ok(Arc::new(FilterProcessor::new(ctx.id.clone(), rules, ctx.processor_metrics(), next)))
    }
}

tracegate_core::register_processor!(AttributesProcessorFactory);
tracegate_core::register_processor!(ResourceProcessorFactory);
tracegate_core::register_processor!(SpanProcessorFactory);
tracegate_core::register_processor!(FilterProcessorFactory);

#[cfg(test)]
mod testutil;
#[cfg(test)]
mod tests;
