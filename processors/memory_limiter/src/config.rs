//! `memory_limiter` settings, with the Collector's names, defaults and validation messages.
//!
//! As in the Collector, nothing is on by default: `check_interval` and one of `limit_mib` /
//! `limit_percentage` must be given, so a bare `memory_limiter:` is a config error rather than
//! a limiter that never limits.

use serde::{Deserialize, Serialize};
use tracegate_core::config::{ConfigProblem, GoDuration};
use tracegate_core::factory::ComponentConfig;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// How often memory is measured (required, > 0). The Collector recommends 1s.
    pub check_interval: GoDuration,
    /// The hard limit in MiB. Takes precedence over `limit_percentage`.
    pub limit_mib: u32,
    /// The largest growth expected between two measurements, in MiB; data is refused above
    /// `limit_mib - spike_limit_mib`. 0: 20% of the limit.
    pub spike_limit_mib: u32,
    /// The hard limit as a percentage of the total memory (the cgroup limit when one is set,
    /// else the machine's `MemTotal`).
    pub limit_percentage: u32,
    /// The spike allowance as a percentage of the total memory. 0: 20% of the limit.
    pub spike_limit_percentage: u32,
    /// Accepted for Collector configs; tracegate has no garbage collector to force, so this
    /// only takes part in validation.
    pub min_gc_interval_when_soft_limited: GoDuration,
    /// As `min_gc_interval_when_soft_limited`.
    pub min_gc_interval_when_hard_limited: GoDuration,
}

impl ComponentConfig for Config {
    type Validated = Self;

    /// The Collector's checks in its order, with its messages; unlike it, every problem is
    /// reported at once, each on the field it is about.
    fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        if self.check_interval.is_zero() {
            p.push(ConfigProblem::new("check_interval", "'check_interval' must be greater than zero"));
        }
        if self.min_gc_interval_when_soft_limited.get() < self.min_gc_interval_when_hard_limited.get() {
            p.push(ConfigProblem::new(
                "min_gc_interval_when_soft_limited",
                "'min_gc_interval_when_soft_limited' should be larger than 'min_gc_interval_when_hard_limited'",
            ));
        }
        if self.limit_mib == 0 && self.limit_percentage == 0 {
            p.push(ConfigProblem::new("limit_mib", "'limit_mib' or 'limit_percentage' must be greater than zero"));
        }
        if self.limit_percentage > 100 || self.spike_limit_percentage > 100 {
            let field = if self.limit_percentage > 100 { "limit_percentage" } else { "spike_limit_percentage" };
            p.push(ConfigProblem::new(
                field,
                "'limit_percentage' and 'spike_limit_percentage' must be greater than zero and less than or equal to hundred",
            ));
        }
        if self.limit_mib > 0 && self.limit_mib <= self.spike_limit_mib {
            p.push(ConfigProblem::new("spike_limit_mib", "'spike_limit_mib' must be smaller than 'limit_mib'"));
        }
        if self.limit_percentage > 0 && self.limit_percentage <= self.spike_limit_percentage {
            p.push(ConfigProblem::new(
                "spike_limit_percentage",
                "'spike_limit_percentage' must be smaller than 'limit_percentage'",
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

    fn parse(yaml: &str) -> Result<Config, Vec<String>> {
        tracegate_core::testing::parse_config_messages::<Config>(yaml)
    }

    #[test]
    fn collector_config_is_read_as_written() {
        let c = parse("check_interval: 1s\nlimit_mib: 4000\nspike_limit_mib: 800").unwrap();
        assert_eq!((c.check_interval.get(), c.limit_mib, c.spike_limit_mib), (Duration::from_secs(1), 4000, 800));
        let c = parse("check_interval: 1s\nlimit_percentage: 50\nspike_limit_percentage: 30").unwrap();
        assert_eq!((c.limit_percentage, c.spike_limit_percentage), (50, 30));
        parse("check_interval: 1s\nlimit_mib: 10\nmin_gc_interval_when_soft_limited: 10s").unwrap();
    }

    #[test]
    fn a_bare_limiter_is_an_error_as_in_the_collector() {
        assert_eq!(
            parse("{}").unwrap_err(),
            [
                "check_interval: 'check_interval' must be greater than zero",
                "limit_mib: 'limit_mib' or 'limit_percentage' must be greater than zero",
            ]
        );
    }

    #[test]
    fn bad_limits_name_their_field() {
        assert_eq!(
            parse("check_interval: 1s\nlimit_mib: 100\nspike_limit_mib: 100").unwrap_err(),
            ["spike_limit_mib: 'spike_limit_mib' must be smaller than 'limit_mib'"]
        );
        assert_eq!(
            parse("check_interval: 1s\nlimit_percentage: 50\nspike_limit_percentage: 60").unwrap_err(),
            ["spike_limit_percentage: 'spike_limit_percentage' must be smaller than 'limit_percentage'"]
        );
        assert_eq!(
            parse("check_interval: 1s\nlimit_percentage: 101").unwrap_err(),
            ["limit_percentage: 'limit_percentage' and 'spike_limit_percentage' must be greater than zero and less than or equal to hundred"]
        );
        assert_eq!(
            parse("check_interval: 1s\nlimit_mib: 10\nmin_gc_interval_when_hard_limited: 5s").unwrap_err(),
            ["min_gc_interval_when_soft_limited: 'min_gc_interval_when_soft_limited' should be larger than 'min_gc_interval_when_hard_limited'"]
        );
        let err = parse("check_interval: 1s\nlimit_mib: -1").unwrap_err();
        assert!(err[0].starts_with("limit_mib: "), "{err:?}");
        let err = parse("check_interval: 1s\nlimit_mib: 10\nballast_size_mib: 5").unwrap_err();
        assert!(err[0].contains("unknown field `ballast_size_mib`"), "{err:?}");
    }
}
