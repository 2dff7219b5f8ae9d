//! Settings of the `attributes` processor, with the Collector's names. Every regex and action
//! is compiled once, when the config is validated ([`FromConfig`]), so a bad one is reported
//! at load time with its path (`actions::2::pattern`), never at the first span, and `create`
//! is handed the compiled rules.

use serde::{Deserialize, Serialize};
use tracegate_core::config::ConfigProblem;
use tracegate_core::factory::{ComponentConfig, FromConfig};

use tracegate_span_rules::{ActionConfig, Actions, MatchProperties, SpanEditRules};

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
    type Validated = SpanEditRules<Actions>;

    fn validate(&self) -> Vec<ConfigProblem> {
        if self.actions.is_empty() {
            return vec![ConfigProblem::new("actions", "missing: list at least one action")];
        }
        Vec::new()
    }
}

impl FromConfig<AttributesConfig> for SpanEditRules<Actions> {
    fn from_config(c: &AttributesConfig, problems: &mut Vec<ConfigProblem>) -> Option<Self> {
        let rules = SpanEditRules::compile(Actions::compile(&c.actions, "actions"), c.include.as_ref(), c.exclude.as_ref());
        rules.map_err(|e| problems.extend(e)).ok()
    }
}
