//! `probabilistic_sampler` settings, with the Collector's names and defaults.

use serde::{Deserialize, Serialize};
use tracegate_core::config::ConfigProblem;
use tracegate_core::factory::ComponentConfig;

use crate::tracestate::MIN_SAMPLING_PROBABILITY;

/// How the decision is computed (the Collector's `mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SamplerMode {
    /// FNV-1a over `hash_seed` and the trace id, 14-bit buckets: the legacy Collector hash.
    HashSeed,
    /// W3C consistent sampling at an absolute probability.
    Equalizing,
    /// W3C consistent sampling that multiplies the arriving probability by the ratio.
    Proportional,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProbabilisticSamplerConfig {
    /// Percent of traces kept; 0 keeps none, 100 or more keeps all. A float32, as the
    /// Collector's, because the hash_seed rate is computed in float32.
    pub sampling_percentage: f32,
    /// Seed of the hash in `hash_seed` mode; a non-zero seed also selects that mode.
    pub hash_seed: u32,
    /// `hash_seed`, `proportional` or `equalizing`; unset: `hash_seed` when a seed is set,
    /// otherwise `proportional`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<SamplerMode>,
    /// Drop spans whose randomness cannot be read (empty trace id, malformed tracestate,
    /// inconsistent `th`) instead of keeping them.
    pub fail_closed: bool,
    /// Hex digits of the threshold written as `ot=th:` (1..=14).
    pub sampling_precision: u8,
    /// Logs only in the Collector; accepted so shared configs load, unused for traces.
    pub attribute_source: String,
    /// Logs only in the Collector; accepted, unused for traces.
    pub from_attribute: String,
    /// Logs only in the Collector; accepted, unused for traces (spans use the
    /// `sampling.priority` attribute, as the Collector's trace sampler does).
    pub sampling_priority: String,
}

impl Default for ProbabilisticSamplerConfig {
    fn default() -> Self {
        Self {
            sampling_percentage: 0.0,
            hash_seed: 0,
            mode: None,
            fail_closed: true,
            sampling_precision: 4,
            attribute_source: "traceID".to_string(),
            from_attribute: String::new(),
            sampling_priority: String::new(),
        }
    }
}

impl ProbabilisticSamplerConfig {
    /// The mode in effect, after the Collector's rule for an unset `mode`.
    pub fn effective_mode(&self) -> SamplerMode {
        match self.mode {
            Some(m) => m,
            None if self.hash_seed != 0 => SamplerMode::HashSeed,
            None => SamplerMode::Proportional,
        }
    }
}

impl ComponentConfig for ProbabilisticSamplerConfig {
    type Validated = Self;

    fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        let pct = f64::from(self.sampling_percentage);
        if !pct.is_finite() {
            p.push(ConfigProblem::new("sampling_percentage", format!("must be a finite number, got {pct}")));
        } else if pct < 0.0 {
            p.push(ConfigProblem::new("sampling_percentage", format!("must not be negative, got {pct}")));
        } else if pct > 0.0 && pct / 100.0 < MIN_SAMPLING_PROBABILITY {
            p.push(ConfigProblem::new("sampling_percentage", format!("{pct}% is too small (the minimum is 2^-56 as a ratio); use 0 to keep nothing")));
        }
        if self.sampling_precision == 0 || self.sampling_precision > 14 {
            p.push(ConfigProblem::new("sampling_precision", format!("must be between 1 and 14 hex digits, got {}", self.sampling_precision)));
        }
        if self.attribute_source != "traceID" && self.attribute_source != "record" {
            p.push(ConfigProblem::new("attribute_source", format!("must be \"traceID\" or \"record\", got {:?}", self.attribute_source)));
        }
        p
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use tracegate_core::testing::parse_config_messages;

    #[test]
    fn defaults_and_mode_rule_follow_the_collector() {
        let c: ProbabilisticSamplerConfig = parse_config_messages("sampling_percentage: 10").unwrap();
        assert!(c.fail_closed);
        assert_eq!(c.sampling_precision, 4);
        assert_eq!(c.effective_mode(), SamplerMode::Proportional);
        let c: ProbabilisticSamplerConfig = parse_config_messages("{sampling_percentage: 10, hash_seed: 22}").unwrap();
        assert_eq!(c.effective_mode(), SamplerMode::HashSeed);
        let c: ProbabilisticSamplerConfig = parse_config_messages("{hash_seed: 22, mode: equalizing}").unwrap();
        assert_eq!(c.effective_mode(), SamplerMode::Equalizing);
    }

    #[test]
    fn bad_values_are_reported_with_their_key() {
        let errs = parse_config_messages::<ProbabilisticSamplerConfig>("{sampling_percentage: -1, sampling_precision: 15}").unwrap_err();
        assert!(errs.iter().any(|e| e.starts_with("sampling_percentage: must not be negative")), "{errs:?}");
        assert!(errs.iter().any(|e| e.starts_with("sampling_precision:")), "{errs:?}");
        let errs = parse_config_messages::<ProbabilisticSamplerConfig>("mode: fast").unwrap_err();
        assert!(errs[0].starts_with("mode:"), "{errs:?}");
        let errs = parse_config_messages::<ProbabilisticSamplerConfig>("sampling_percentage: .nan").unwrap_err();
        assert!(errs[0].starts_with("sampling_percentage: must be a finite"), "{errs:?}");
        let errs = parse_config_messages::<ProbabilisticSamplerConfig>("sampling_percentage: 1e-20").unwrap_err();
        assert!(errs[0].contains("too small"), "{errs:?}");
        assert!(parse_config_messages::<ProbabilisticSamplerConfig>("sampling_percentage: 250").is_ok());
        assert!(parse_config_messages::<ProbabilisticSamplerConfig>("samplng_percentage: 25").is_err());
    }
}
