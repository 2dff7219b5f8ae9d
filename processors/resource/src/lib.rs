//! The `resource` processor, as the Collector's: the attribute actions of the `attributes`
//! processor (the shared rule engine, [`tracegate_span_rules`]) on every resource of a batch,
//! copy on write: a batch whose resources already hold what the actions would set is passed
//! on as the same shared `Arc`.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tracegate_core::component::{Capabilities, ComponentError, ConsumeError, Consumer, Lifecycle, Processor};
use tracegate_core::config::ConfigProblem;
use tracegate_core::data::Traces;
use tracegate_core::factory::{ComponentConfig, CreateContext, FromConfig, ProcessorFactory, Stability};
use tracegate_span_rules::cow::edit_resources;
use tracegate_span_rules::{ActionConfig, Actions};

/// `resource`: the attribute actions on resource attributes (listed under `attributes`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResourceConfig {
    pub attributes: Vec<ActionConfig>,
}

impl ComponentConfig for ResourceConfig {
    /// The actions, compiled once when the config is validated.
    type Validated = Actions;

    fn validate(&self) -> Vec<ConfigProblem> {
        if self.attributes.is_empty() {
            return vec![ConfigProblem::new("attributes", "missing: list at least one action")];
        }
        Vec::new()
    }
}

impl FromConfig<ResourceConfig> for Actions {
    fn from_config(c: &ResourceConfig, problems: &mut Vec<ConfigProblem>) -> Option<Self> {
        Actions::compile(&c.attributes, "attributes").map_err(|e| problems.extend(e)).ok()
    }
}

pub struct ResourceProcessor {
    actions: Actions,
    next: Arc<dyn Consumer>,
}

impl ResourceProcessor {
    pub fn new(actions: Actions, next: Arc<dyn Consumer>) -> Self {
        Self { actions, next }
    }

    /// Applies the actions to every resource (copy on write). Returns true if anything changed.
    pub fn process(&self, traces: &mut Traces) -> bool {
        edit_resources(traces, |resource| self.actions.apply(resource))
    }
}

#[async_trait]
impl Consumer for ResourceProcessor {
    fn capabilities(&self) -> Capabilities {
        Capabilities { mutates_data: true }
    }

    async fn consume(&self, mut traces: Traces) -> Result<(), ConsumeError> {
        self.process(&mut traces);
        self.next.consume(traces).await
    }
}

#[async_trait]
impl Lifecycle for ResourceProcessor {}

impl Processor for ResourceProcessor {}

pub struct ResourceProcessorFactory;

impl ProcessorFactory for ResourceProcessorFactory {
    const TYPE: &'static str = "resource";
    const STABILITY: Stability = Stability::Beta;
    type Config = ResourceConfig;

    fn create(&self, _ctx: CreateContext, actions: Actions, next: Arc<dyn Consumer>) -> Result<Arc<dyn Processor>, ComponentError> {
        Ok(Arc::new(ResourceProcessor::new(actions, next)))
    }
}

tracegate_core::register_processor!(ResourceProcessorFactory);

#[cfg(test)]
mod tests {
    use tracegate_core::testing::{parse_config_messages, validated_config};
    use tracegate_span_rules::testing::*;

    use super::*;

    #[test]
    fn resource_processor_edits_resources_copy_on_write() {
        let actions = validated_config::<ResourceConfig>("attributes: [ {key: deployment.environment, value: prod, action: upsert}, {key: host.name, action: delete} ]")
            .unwrap_or_else(|e| panic!("{e:?}"));
        let p = ResourceProcessor::new(actions, Sink::new());
        let original = two_services();
        let mut t = original.clone();
        assert!(p.process(&mut t));
        for rs in t.resource_spans() {
            assert_eq!(get(&rs.resource.as_ref().map(|r| r.attributes.clone()).unwrap_or_default(), "deployment.environment"), Some(&s("prod")));
        }
        let mut again = t.clone();
        assert!(!p.process(&mut again), "already applied: nothing changes");
        assert!(again.shares_with(&t));
    }

    #[test]
    fn resource_config_reports_under_attributes() {
        let e = parse_config_messages::<ResourceConfig>(r#"attributes: [ {key: x, pattern: "(", action: hash} ]"#).err().unwrap_or_default();
        assert!(e.iter().any(|m| m.starts_with("attributes::0::pattern: invalid regex")), "{e:?}");
        assert!(parse_config_messages::<ResourceConfig>("{}").is_err(), "no actions is an error");
    }

    #[tokio::test]
    async fn consume_sends_the_edited_batch_on() {
        let sink = Sink::new();
        let actions = validated_config::<ResourceConfig>("attributes: [ {key: env, value: prod, action: insert} ]").unwrap_or_else(|e| panic!("{e:?}"));
        let p = ResourceProcessor::new(actions, sink.clone());
        assert!(p.consume(two_services()).await.is_ok());
        let got = sink.batches();
        assert_eq!(got.len(), 1);
        let resource = got[0].resource_spans()[0].resource.clone().unwrap_or_default();
        assert_eq!(get(&resource.attributes, "env"), Some(&s("prod")));
    }
}
