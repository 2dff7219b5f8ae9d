//! The Collector's newer per-signal block, which Jaeger v2's Kafka configs use:
//!
//! ```yaml
//! exporters: { kafka: { brokers: [...], traces: { topic: jaeger-spans, encoding: otlp_proto } } }
//! receivers: { kafka: { brokers: [...], traces: { topics: [jaeger-spans], encoding: otlp_proto } } }
//! ```
//!
//! It names the same two things as the older flat `topic` and `encoding` keys, which stay
//! valid; a block value wins over the flat default, and both written with different values
//! is an error. tracegate only carries traces, so `traces` is the only signal block.

use serde::{Deserialize, Serialize};
use tracegate_core::config::ConfigProblem;

use crate::Encoding;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TracesSignal {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// The receiver's form: the topics to read (one per receiver here).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
}

impl TracesSignal {
    /// The topic named here, if any.
    pub fn topic(&self) -> Option<&str> {
        self.topic.as_deref().or(self.topics.first().map(String::as_str))
    }

    /// Problems of the block next to the flat keys (`flat_topic` and `flat_encoding` as
    /// written, or their defaults); `receiver` allows `topics`.
    pub fn validate(&self, flat_topic: &str, default_topic: &str, flat_encoding: Encoding, receiver: bool) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if !receiver && !self.topics.is_empty() {
            problems.push(ConfigProblem::new("traces::topics", "an exporter writes to one topic: traces: { topic: <name> }"));
        }
        if self.topics.len() > 1 {
            problems.push(ConfigProblem::new(
                "traces::topics",
                format!("{} topics: a kafka receiver reads one topic; add a receiver per topic (kafka/<name>)", self.topics.len()),
            ));
        }
        if self.topic.is_some() && !self.topics.is_empty() {
            problems.push(ConfigProblem::new("traces::topic", "set topic or topics, not both"));
        }
        if let Some(topic) = self.topic() {
            if flat_topic != default_topic && flat_topic != topic {
                problems.push(ConfigProblem::new("traces", format!("topic \"{topic}\" here and topic \"{flat_topic}\" disagree; keep one")));
            }
        }
        if let Some(encoding) = self.encoding {
            if flat_encoding != Encoding::default() && flat_encoding != encoding {
                problems.push(ConfigProblem::new(
                    "traces::encoding",
                    format!("{} here and encoding {} disagree; keep one", encoding.as_str(), flat_encoding.as_str()),
                ));
            }
        }
        problems
    }
}
