//! Jaeger v2's `indices:` block of the Elasticsearch/OpenSearch settings:
//!
//! ```yaml
//! indices:
//!   index_prefix: jaeger-main
//!   spans: { date_layout: "2006-01-02", rollover_frequency: day, shards: 5, replicas: 1 }
//!   services: {...}   dependencies: {...}   sampling: {...}
//! ```
//!
//! Read onto what this store has: `index_prefix` is the prefix of every index (as the flat
//! `index_prefix`), the spans' `shards`/`replicas` go into the templates (one pair for the
//! span and service templates; a different pair for another index is warned about), and the
//! layout must be Jaeger's default daily one (`2006-01-02`, `day`), the only one this store
//! writes and reads; any other is an error saying so. `priority` (template priority) is
//! accepted and not used.

use serde::{Deserialize, Serialize};
use tracegate_core::config::ConfigProblem;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Indices {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub index_prefix: String,
    #[serde(skip_serializing_if = "IndexOptions::is_empty")]
    pub spans: IndexOptions,
    #[serde(skip_serializing_if = "IndexOptions::is_empty")]
    pub services: IndexOptions,
    #[serde(skip_serializing_if = "IndexOptions::is_empty")]
    pub dependencies: IndexOptions,
    #[serde(skip_serializing_if = "IndexOptions::is_empty")]
    pub sampling: IndexOptions,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndexOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_layout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollover_frequency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shards: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
}

impl IndexOptions {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Jaeger's default (Go's reference date), the layout of `jaeger-span-YYYY-MM-DD`.
const DAILY_LAYOUT: &str = "2006-01-02";

impl Indices {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    pub(crate) fn validate(&self, flat_prefix: &str) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if !self.index_prefix.is_empty() && !flat_prefix.is_empty() && self.index_prefix != flat_prefix {
            problems.push(ConfigProblem::new(
                "indices::index_prefix",
                format!("\"{}\" and index_prefix \"{flat_prefix}\" disagree; keep one", self.index_prefix),
            ));
        }
        for (name, o) in [("spans", &self.spans), ("services", &self.services), ("dependencies", &self.dependencies), ("sampling", &self.sampling)] {
            if let Some(layout) = o.date_layout.as_deref().filter(|l| *l != DAILY_LAYOUT) {
                problems.push(ConfigProblem::new(
                    format!("indices::{name}::date_layout"),
                    format!("\"{layout}\" is not available: indices are daily, jaeger-<kind>-YYYY-MM-DD (date_layout \"{DAILY_LAYOUT}\"); for other rotation use use_aliases with your own rollover"),
                ));
            }
            if let Some(freq) = o.rollover_frequency.as_deref().filter(|f| *f != "day") {
                problems.push(ConfigProblem::new(
                    format!("indices::{name}::rollover_frequency"),
                    format!("\"{freq}\" is not available: indices roll over daily (\"day\"); for other rotation use use_aliases with your own rollover"),
                ));
            }
            if name != "spans" && (o.shards.is_some_and(|s| Some(s) != self.spans.shards) || o.replicas.is_some_and(|r| Some(r) != self.spans.replicas)) {
                problems.push(ConfigProblem::warning(
                    format!("indices::{name}"),
                    "one shards/replicas pair applies to every template this store writes: the spans' one",
                ));
            }
        }
        if self.spans.shards == Some(0) {
            problems.push(ConfigProblem::new("indices::spans::shards", "must be at least 1"));
        }
        problems
    }
}
