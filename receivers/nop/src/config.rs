//! The nop receiver takes no settings; an empty struct that still refuses unknown keys, so
//! a typo (or a setting meant for another receiver) is reported instead of silently ignored.

use serde::{Deserialize, Serialize};
use tracegate_core::factory::ComponentConfig;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {}

impl ComponentConfig for Config {
    type Validated = Self;
}

#[cfg(test)]
mod tests {
    use tracegate_core::factory::parse_typed;

    use super::*;

    #[test]
    fn accepts_empty_and_rejects_unknown_keys() {
        assert!(parse_typed::<Config>(None).is_ok());
        let raw: serde_yaml_ng::Value = serde_yaml_ng::from_str("{}").expect("static yaml");
        assert!(parse_typed::<Config>(Some(&raw)).is_ok());
        let raw: serde_yaml_ng::Value = serde_yaml_ng::from_str("endpoint: 0.0.0.0:4317").expect("static yaml");
        let problems = parse_typed::<Config>(Some(&raw)).err().unwrap_or_default();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("unknown field `endpoint`"), "{}", problems[0]);
    }
}
