//! The engine-owned exporter settings, written inside each exporter's config as in the
//! Collector's exporterhelper: `sending_queue`, `retry_on_failure`, `timeout`.

use serde::{Deserialize, Serialize};

use crate::config::{ConfigProblem, GoDuration};

/// What a full queue does with a new batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Drop the new batch and count it; the sender is told it was accepted. Never stalls the
    /// pipeline, so one dead exporter cannot hold up the others in a fan-out.
    #[default]
    DropNewest,
    /// Wait up to `block_timeout` for room, then refuse the batch with a retryable error, which
    /// the receiver turns into UNAVAILABLE / 503: backpressure reaches the client and nothing is
    /// accepted that is then dropped.
    Block,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueSettings {
    pub enabled: bool,
    pub num_consumers: usize,
    /// Capacity in batches (requests), as the Collector's default sizer counts.
    pub queue_size: usize,
    pub when_full: WhenFull,
    /// How long `block` waits for room before refusing.
    pub block_timeout: GoDuration,
    /// The id of a `file_storage` extension: keeps the queue on disk (see `queue::disk`), as
    /// the Collector's `sending_queue.storage`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            num_consumers: 10,
            queue_size: 1000,
            when_full: WhenFull::DropNewest,
            block_timeout: GoDuration::from_secs(5),
            storage: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrySettings {
    pub enabled: bool,
    pub initial_interval: GoDuration,
    pub randomization_factor: f64,
    pub multiplier: f64,
    pub max_interval: GoDuration,
    /// Give up after this long; 0 retries forever.
    pub max_elapsed_time: GoDuration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            enabled: true,
            initial_interval: GoDuration::from_secs(5),
            randomization_factor: 0.5,
            multiplier: 1.5,
            max_interval: GoDuration::from_secs(30),
            max_elapsed_time: GoDuration::from_secs(300),
        }
    }
}

/// All engine-owned settings of one exporter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExporterSettings {
    pub sending_queue: QueueSettings,
    pub retry_on_failure: RetrySettings,
    /// Limit on one export call.
    pub timeout: GoDuration,
}

impl Default for ExporterSettings {
    fn default() -> Self {
        Self {
            sending_queue: QueueSettings::default(),
            retry_on_failure: RetrySettings::default(),
            timeout: GoDuration::from_secs(5),
        }
    }
}

impl ExporterSettings {
    /// The keys the engine takes out of an exporter's config before the exporter sees it.
    pub const KEYS: [&'static str; 3] = ["sending_queue", "retry_on_failure", "timeout"];

    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        let q = &self.sending_queue;
        if q.enabled && q.queue_size == 0 {
            p.push(ConfigProblem::new(
                "sending_queue::queue_size",
                "must be at least 1",
            ));
        }
        if !q.enabled && q.storage.is_some() {
            p.push(ConfigProblem::new(
                "sending_queue::storage",
                "needs the sending queue enabled",
            ));
        }
        if q.enabled && q.num_consumers == 0 {
            p.push(ConfigProblem::new(
                "sending_queue::num_consumers",
                "must be at least 1",
            ));
        }
        let r = &self.retry_on_failure;
        if r.enabled {
            if r.initial_interval.is_zero() {
                p.push(ConfigProblem::new(
                    "retry_on_failure::initial_interval",
                    "must be greater than 0",
                ));
            }
            if !(0.0..=1.0).contains(&r.randomization_factor) {
                p.push(ConfigProblem::new(
                    "retry_on_failure::randomization_factor",
                    "must be between 0 and 1",
                ));
            }
            if r.multiplier < 1.0 || !r.multiplier.is_finite() {
                p.push(ConfigProblem::new(
                    "retry_on_failure::multiplier",
                    "must be at least 1",
                ));
            }
            if r.max_interval < r.initial_interval {
                p.push(ConfigProblem::new(
                    "retry_on_failure::max_interval",
                    "must not be less than initial_interval",
                ));
            }
        }
        if self.timeout.is_zero() {
            p.push(ConfigProblem::new("timeout", "must be greater than 0"));
        }
        p
    }
}
