//! Settings of the memory store: only `max_traces` (default 100000), as Jaeger's memory
//! storage. When full, the trace stored first is evicted, so memory stays bounded under any
//! load while the newest traces stay queryable.

use serde::{Deserialize, Serialize};
use tracegate_core::config::ConfigProblem;
use tracegate_core::factory::ComponentConfig;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Most traces kept; the oldest (first stored) is evicted to make room.
    pub max_traces: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self { max_traces: 100_000 }
    }
}

impl ComponentConfig for Config {
    type Validated = Self;

    fn validate(&self) -> Vec<ConfigProblem> {
        if self.max_traces == 0 {
            return vec![ConfigProblem::new("max_traces", "must be at least 1 (it bounds the traces kept in memory)")];
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    fn parse(yaml: &str) -> Result<Config, Vec<String>> {
        tracegate_core::testing::parse_config_messages::<Config>(yaml)
    }

    #[test]
    fn defaults_and_errors() {
        assert_eq!(parse("{}").expect("defaults").max_traces, 100_000);
        assert_eq!(parse("max_traces: 5").expect("valid").max_traces, 5);
        let err = parse("max_traces: 0").expect_err("zero");
        assert_eq!(err, ["max_traces: must be at least 1 (it bounds the traces kept in memory)"]);
        let err = parse("path: /tmp").expect_err("unknown key");
        assert!(err[0].contains("unknown field `path`"), "{err:?}");
    }
}
