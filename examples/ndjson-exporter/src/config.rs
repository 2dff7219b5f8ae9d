//! The `ndjson` exporter's config.

use serde::{Deserialize, Serialize};
use tracegate_plugin_abi::ConfigIssue;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the files go; created if missing.
    pub directory: String,
    /// File names are `<prefix>-<unix millis>-<n>.ndjson`.
    pub file_prefix: String,
    /// A file that reaches this size is closed and the next batch starts a new one.
    pub max_file_bytes: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self { directory: String::new(), file_prefix: "spans".into(), max_file_bytes: 64 << 20 }
    }
}

impl Config {
    pub fn issues(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        if self.directory.is_empty() {
            issues.push(ConfigIssue::new("directory", "is required, e.g. directory: ./spans"));
        }
        if self.file_prefix.is_empty() || self.file_prefix.contains(['/', '\\']) {
            issues.push(ConfigIssue::new("file_prefix", "must be a non-empty file name part without '/'"));
        }
        if self.max_file_bytes == 0 {
            issues.push(ConfigIssue::new("max_file_bytes", "must be greater than 0"));
        }
        issues
    }
}
