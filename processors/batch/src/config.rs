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
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self { send_batch_size: 8192, send_batch_max_size: 0, timeout: GoDuration::from_millis(200) }
    }
}

impl ComponentConfig for BatchConfig {
    fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        if self.send_batch_max_size > 0 && self.send_batch_max_size < self.send_batch_size {
            p.push(ConfigProblem::new(
                "send_batch_max_size",
                format!("must be 0 or at least send_batch_size ({})", self.send_batch_size),
            ));
        }
        if self.send_batch_size == 0 && self.timeout.is_zero() {
            p.push(ConfigProblem::new("timeout", "must be greater than 0 when send_batch_size is 0"));
        }
        p
    }
}
