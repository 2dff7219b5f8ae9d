//! Settings of the `span` processor, with the Collector's names. Every regex is compiled
//! once, when the config is validated ([`FromConfig`]), so a bad one is reported at load time
//! with its path (`name::to_attributes::rules::0`), never at the first span, and `create` is
//! handed the compiled rules.

use serde::{Deserialize, Serialize};
use tracegate_core::config::ConfigProblem;
use tracegate_core::factory::{ComponentConfig, FromConfig};
use tracegate_span_rules::{MatchProperties, SpanEditRules};

use crate::rules::SpanRules;

/// `span`: rename spans from attributes, extract attributes from names, set the status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpanConfig {
    pub name: NameConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include: Option<MatchProperties>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclude: Option<MatchProperties>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NameConfig {
    /// New name: these attributes' values joined by `separator`; all must be present.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub from_attributes: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub separator: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_attributes: Option<ToAttributesConfig>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ToAttributesConfig {
    /// Regexes over the span name; each named group becomes an attribute and its part of the
    /// name is replaced by `{group}`.
    pub rules: Vec<String>,
    pub break_after_match: bool,
    pub keep_original_name: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatusConfig {
    /// Ok, Error or Unset.
    pub code: String,
    /// Only with code Error.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
}

impl ComponentConfig for SpanConfig {
    type Validated = SpanEditRules<SpanRules>;

    fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        if self.name.from_attributes.is_empty() && self.name.to_attributes.is_none() && self.status.is_none() {
            p.push(ConfigProblem::new(
                "",
                "nothing to do: set name::from_attributes, name::to_attributes or status",
            ));
        }
        p
    }
}

impl FromConfig<SpanConfig> for SpanEditRules<SpanRules> {
    fn from_config(c: &SpanConfig, problems: &mut Vec<ConfigProblem>) -> Option<Self> {
        let rules = SpanEditRules::compile(SpanRules::compile(c), c.include.as_ref(), c.exclude.as_ref());
        rules.map_err(|e| problems.extend(e)).ok()
    }
}
