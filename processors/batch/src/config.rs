//! `batch` processor settings, with the Collector's names and defaults.

use serde::{Deserialize, Serialize};
use tracegate_core::config::{ConfigProblem, GoDuration};
use tracegate_core::factory::ComponentConfig;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatchConfig {
    /// Send once this many spans are held (0: only the timeout sends).
    pub send_batch_size: usize,
    /// Never send more than this many spans in one batch (0: no limit).
    pub send_batch_max_size: usize,
    /// Send what is held this long after the first span of a batch arrived (0: at once).
    pub timeout: GoDuration,
    /// The Collector batches separately per value of these client metadata keys. tracegate's
    /// receivers do not carry client metadata into the pipeline, so a non-empty list is a
    /// config error rather than a setting silently ignored.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metadata_keys: Vec<String>,
    /// Answer a sender only once the next component accepted all of its spans (see
    /// `waiters`), so an acknowledged span is never only in this processor's memory. On by
    /// default (the Collector's default is off): with it, what is held is also sent at once
    /// while the next component is idle (`batcher::EARLY_SENDS`), so no request waits out
    /// `timeout`. `false` is the opt-out for speed: senders are answered when the spans are
    /// in this buffer, and a kill loses them (docs/durability.md).
    pub wait_for_result: bool,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            send_batch_size: 8192,
            send_batch_max_size: 0,
            timeout: GoDuration::from_millis(200),
            metadata_keys: Vec::new(),
            wait_for_result: true,
        }
    }
}

impl ComponentConfig for BatchConfig {
    type Validated = Self;

    fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        if self.send_batch_max_size > 0 && self.send_batch_max_size < self.send_batch_size {
            p.push(ConfigProblem::new(
                "send_batch_max_size",
                format!(
                    "must be 0 or at least send_batch_size ({})",
                    self.send_batch_size
                ),
            ));
        }
        if !self.metadata_keys.is_empty() {
            p.push(ConfigProblem::new(
                "metadata_keys",
                "is not supported: receivers do not pass client metadata to processors, so batches cannot be \
                 split by it; remove metadata_keys (all data is batched together)",
            ));
        }
        if self.send_batch_size == 0 && self.timeout.is_zero() {
            p.push(ConfigProblem::new(
                "timeout",
                "must be greater than 0 when send_batch_size is 0",
            ));
        }
        p
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use super::*;

    fn parse(yaml: &str) -> Result<BatchConfig, Vec<String>> {
        tracegate_core::testing::parse_config_messages::<BatchConfig>(yaml)
    }

    #[test]
    fn collector_defaults() {
        let c = parse("{}").unwrap();
        assert_eq!(
            (c.send_batch_size, c.send_batch_max_size, c.timeout.get()),
            (8192, 0, Duration::from_millis(200))
        );
        let c =
            parse("send_batch_size: 100\nsend_batch_max_size: 200\ntimeout: 1s\nmetadata_keys: []")
                .unwrap();
        assert_eq!(
            (c.send_batch_size, c.send_batch_max_size, c.timeout.get()),
            (100, 200, Duration::from_secs(1))
        );
    }

    #[test]
    fn bad_settings_name_their_field() {
        assert_eq!(
            parse("send_batch_size: 100\nsend_batch_max_size: 50").unwrap_err(),
            ["send_batch_max_size: must be 0 or at least send_batch_size (100)"]
        );
        assert_eq!(
            parse("send_batch_size: 0\ntimeout: 0s").unwrap_err(),
            ["timeout: must be greater than 0 when send_batch_size is 0"]
        );
        let err = parse("metadata_keys: [tenant]").unwrap_err();
        assert!(
            err[0].starts_with("metadata_keys: is not supported"),
            "{err:?}"
        );
    }
}
