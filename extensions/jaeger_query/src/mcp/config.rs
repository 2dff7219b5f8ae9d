//! The `ai:` block of `jaeger_query`, in Jaeger 2.x's shape: `ai: { mcp: {} }` serves the MCP
//! tools at `<base_path>/api/ai/mcp/` on the query port. Absent means off, as in Jaeger (whose
//! all-in-one config turns it on, as tracegate's does). Jaeger's AI chat keys (`agent_url`, ...)
//! and `skills_dir` are not served here, so naming them is a config error that says so.
//!
//! The result-size limits, with Jaeger's defaults where Jaeger has the limit:
//!
//! | key | default | |
//! | --- | --- | --- |
//! | `max_search_results` | `100` | most traces `search_traces` returns (its `search_depth` is clamped to it; Jaeger's) |
//! | `max_span_details_per_request` | `20` | most spans `get_span_details` is asked for and `get_trace_errors` returns (Jaeger's) |
//! | `max_topology_spans` | `1000` | most spans `get_trace_topology` lists and segments `get_critical_path` returns |
//! | `max_sessions` | `256` | MCP sessions open at once; a new one past it is refused (Jaeger has no bound) |
//!
//! Jaeger lists at most `max_span_details_per_request` (20) spans in a topology and does not
//! say so; tracegate has a limit of its own for it and marks a cut answer `truncated`.

use serde::{Deserialize, Serialize};
use tracegate_core::config::ConfigProblem;

pub const DEFAULT_MAX_SEARCH_RESULTS: usize = 100;
pub const DEFAULT_MAX_SPAN_DETAILS: usize = 20;
pub const DEFAULT_MAX_TOPOLOGY_SPANS: usize = 1000;
pub const DEFAULT_MAX_SESSIONS: usize = 256;

/// `jaeger_query.ai`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AiConfig {
    /// The MCP endpoint; present (even `mcp: {}`) turns it on.
    #[serde(deserialize_with = "tracegate_core::config::de::null_as_default", skip_serializing_if = "Option::is_none")]
    pub mcp: Option<McpConfig>,
    /// Jaeger's AI assistant backend (a websocket agent behind the UI's chat): not available,
    /// accepted with a warning (the MCP tools above are).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_url: Option<String>,
}

/// `jaeger_query.ai.mcp`: the limits on the tools' answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct McpConfig {
    pub max_search_results: usize,
    pub max_span_details_per_request: usize,
    pub max_topology_spans: usize,
    pub max_sessions: usize,
}

impl Default for McpConfig {
    fn default() -> Self {
        Self {
            max_search_results: DEFAULT_MAX_SEARCH_RESULTS,
            max_span_details_per_request: DEFAULT_MAX_SPAN_DETAILS,
            max_topology_spans: DEFAULT_MAX_TOPOLOGY_SPANS,
            max_sessions: DEFAULT_MAX_SESSIONS,
        }
    }
}

impl AiConfig {
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let agent = self.agent_url.as_ref().map(|url| {
            ConfigProblem::warning(
                "ai::agent_url",
                format!("the UI's AI assistant ({url}) is not available; the MCP tools for agents are (ai: {{ mcp: {{}} }})"),
            )
        });
        let Some(mcp) = &self.mcp else { return agent.into_iter().collect() };
        let mut problems: Vec<ConfigProblem> = agent.into_iter().collect();
        problems.extend([
            ("ai::mcp::max_search_results", mcp.max_search_results, DEFAULT_MAX_SEARCH_RESULTS),
            ("ai::mcp::max_span_details_per_request", mcp.max_span_details_per_request, DEFAULT_MAX_SPAN_DETAILS),
            ("ai::mcp::max_topology_spans", mcp.max_topology_spans, DEFAULT_MAX_TOPOLOGY_SPANS),
            ("ai::mcp::max_sessions", mcp.max_sessions, DEFAULT_MAX_SESSIONS),
        ]
        .into_iter()
        .filter(|(_, value, _)| *value == 0)
        .map(|(key, _, default)| ConfigProblem::new(key, format!("must be at least 1 (default {default})"))));
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<crate::Config, Vec<String>> {
        tracegate_core::testing::parse_config_messages::<crate::Config>(yaml)
    }

    #[test]
    fn off_unless_named_as_in_jaeger_with_jaegers_limits() {
        assert_eq!(parse("storage: s").expect("valid").ai, None);
        for yaml in ["{storage: s, ai: {mcp: {}}}", "{storage: s, ai: {mcp: }}"] {
            let ai = parse(yaml).expect(yaml).ai.expect("ai");
            assert_eq!(ai.mcp, Some(McpConfig { max_search_results: 100, max_span_details_per_request: 20, max_topology_spans: 1000, max_sessions: 256 }));
        }
        let c = parse("{storage: s, ai: {mcp: {max_search_results: 5, max_topology_spans: 50}}}").expect("valid");
        let mcp = c.ai.and_then(|ai| ai.mcp).expect("mcp");
        assert_eq!((mcp.max_search_results, mcp.max_span_details_per_request, mcp.max_topology_spans), (5, 20, 50));
    }

    #[test]
    fn limits_are_validated_and_jaegers_chat_backend_is_a_warning() {
        let err = parse("{storage: s, ai: {mcp: {max_search_results: 0}}}").expect_err("zero");
        assert_eq!(err, ["ai::mcp::max_search_results: must be at least 1 (default 100)"]);
        // Jaeger's config.yaml names its chat agent beside the MCP tools: it runs, warned.
        let raw: serde_yaml_ng::Value = serde_yaml_ng::from_str("{storage: s, ai: {agent_url: 'ws://localhost:16688', mcp: {}}}").expect("yaml");
        let parsed = tracegate_core::factory::parse_typed::<crate::Config>(Some(&raw)).ok().expect("valid");
        assert_eq!(parsed.warnings.len(), 1);
        assert!(parsed.warnings[0].to_string().starts_with("ai::agent_url: the UI's AI assistant (ws://localhost:16688) is not available"));
        let err = parse("{storage: s, ai: {chat: {}}}").expect_err("unknown key");
        assert!(err[0].contains("unknown field `chat`"), "{err:?}");
    }
}
