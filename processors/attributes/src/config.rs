//! Settings of the `attributes` processor, with the Collector's names. `validate` compiles
//! every regex and action, so a bad one is reported at load time with its path
//! (`actions::2::pattern`), never at the first span.

use serde::{Deserialize, Serialize};
use tracegate_core::config::ConfigProblem;
use tracegate_core::factory::ComponentConfig;

use tracegate_span_rules::{ActionConfig, Actions, MatchProperties, SpanMatcher};

/// `attributes`: actions on span attributes, for the spans `include`/`exclude` select.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttributesConfig {
    pub actions: Vec<ActionConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include: Option<MatchProperties>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclude: Option<MatchProperties>,
}

impl ComponentConfig for AttributesConfig {
    fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        if self.actions.is_empty() {
            p.push(ConfigProblem::new("actions", "missing: list at least one action"));
        }
        p.extend(Actions::compile(&self.actions, "actions").err().unwrap_or_default());
        p.extend(SpanMatcher::compile(self.include.as_ref(), self.exclude.as_ref(), "").err().unwrap_or_default());
        p
    }
}
