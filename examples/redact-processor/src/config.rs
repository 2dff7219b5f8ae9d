//! The `redact` processor's config.

use regex::Regex;
use serde::{Deserialize, Serialize};
use tracegate_plugin_abi::ConfigIssue;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Regular expressions (Rust `regex` syntax). Every match inside a string attribute value
    /// is replaced by `mask`; the rest of the value stays readable.
    pub patterns: Vec<String>,
    /// What a match becomes.
    pub mask: String,
    /// Only attributes with these keys are looked at; empty: every attribute.
    pub keys: Vec<String>,
    /// Also redact resource attributes (host names, service instance ids...).
    pub resource: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self { patterns: Vec::new(), mask: "***".into(), keys: Vec::new(), resource: true }
    }
}

impl Config {
    /// Problems a user can fix; pure, so `tracegate validate` reports them.
    pub fn issues(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        if self.patterns.is_empty() {
            issues.push(ConfigIssue::new("patterns", "at least one pattern is required, e.g. patterns: ['\\d{4}-\\d{4}-\\d{4}-\\d{4}']"));
        }
        for (i, p) in self.patterns.iter().enumerate() {
            if let Err(e) = Regex::new(p) {
                // The regex error is multi-line (it draws a caret); its last line says what is wrong.
                let reason = e.to_string().lines().last().unwrap_or_default().trim().to_string();
                issues.push(ConfigIssue::new(format!("patterns[{i}]"), format!("invalid regular expression {p:?}: {reason}")));
            }
        }
        issues
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Config {
        serde_json_like(json)
    }

    fn serde_json_like(yaml: &str) -> Config {
        serde_yaml_ng::from_str(yaml).expect("test config parses")
    }

    #[test]
    fn defaults_and_problems() {
        let c = parse("{}");
        assert_eq!(c.mask, "***");
        assert!(c.resource);
        assert_eq!(c.issues(), vec![ConfigIssue::new("patterns", "at least one pattern is required, e.g. patterns: ['\\d{4}-\\d{4}-\\d{4}-\\d{4}']")]);
        let bad = parse("patterns: ['ok', '(unclosed']");
        let issues = bad.issues();
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].path, "patterns[1]");
        assert!(issues[0].message.starts_with("invalid regular expression \"(unclosed\": "), "{}", issues[0].message);
    }
}
