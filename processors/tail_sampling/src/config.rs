//! `tail_sampling` settings, with the Collector's names and defaults, plus tracegate's memory
//! budget and spill (`max_memory_mib`, `spill`), which the Collector does not have.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tracegate_core::config::{ConfigProblem, GoDuration};
use tracegate_core::factory::{ComponentConfig, FromConfig};

use crate::policy::NamedPolicy;
use crate::policy_config::{Level, PolicyConfig};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TailSamplingConfig {
    /// How long after a trace's first span arrives it is decided.
    pub decision_wait: GoDuration,
    /// Traces held at once (pending and recently decided); the oldest goes when full.
    pub num_traces: u64,
    /// Sizes the trace table up front, to avoid rehashing under load.
    pub expected_new_traces_per_sec: u64,
    pub decision_cache: DecisionCacheConfig,
    /// Stop evaluating at the first policy that samples (the Collector's option of that name).
    pub sample_on_first_match: bool,
    /// Bytes (MiB) the pending traces may hold in memory, spans and table together; past it
    /// the oldest go to `spill`, or are dropped without one. 0: no bound but `num_traces`.
    pub max_memory_mib: u64,
    /// Where traces go past `max_memory_mib`.
    pub spill: Option<SpillConfig>,
    pub policies: Vec<PolicyConfig>,
}

/// A directory for spilled traces: `directory`, or the directory of a `file_storage`
/// extension named by `storage` (a subdirectory per processor and pipeline).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpillConfig {
    pub directory: Option<PathBuf>,
    pub storage: Option<String>,
}

/// Remembers decided trace ids beyond `num_traces`, so late spans follow the decision.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecisionCacheConfig {
    pub sampled_cache_size: usize,
    pub non_sampled_cache_size: usize,
}

impl Default for TailSamplingConfig {
    fn default() -> Self {
        Self {
            decision_wait: GoDuration::from_secs(30),
            num_traces: 50_000,
            expected_new_traces_per_sec: 0,
            decision_cache: DecisionCacheConfig::default(),
            sample_on_first_match: false,
            max_memory_mib: 0,
            spill: None,
            policies: Vec::new(),
        }
    }
}

/// What `create` is given: the settings and the policies compiled from them, once, when the
/// config is validated. Each processor (one per pipeline) starts from its own clone, since
/// policies such as `rate_limiting` keep state.
#[derive(Clone, Debug)]
pub struct TailSampling {
    pub config: TailSamplingConfig,
    pub policies: Vec<NamedPolicy>,
}

impl FromConfig<TailSamplingConfig> for TailSampling {
    fn from_config(config: &TailSamplingConfig, problems: &mut Vec<ConfigProblem>) -> Option<Self> {
        let mut policies = Vec::new();
        for (i, p) in config.policies.iter().enumerate() {
            match NamedPolicy::from_config(p) {
                Ok(policy) => policies.push(policy),
                Err(e) => problems.push(ConfigProblem::new(e.path, e.message).under(&format!("policies::{i}"))),
            }
        }
        (policies.len() == config.policies.len()).then(|| Self { config: config.clone(), policies })
    }
}

impl ComponentConfig for TailSamplingConfig {
    type Validated = TailSampling;

    fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        if self.decision_wait.is_zero() {
            p.push(ConfigProblem::new("decision_wait", "must be greater than 0"));
        }
        if self.num_traces == 0 {
            p.push(ConfigProblem::new("num_traces", "must be greater than 0"));
        }
        if let Some(spill) = &self.spill {
            if self.max_memory_mib == 0 {
                p.push(ConfigProblem::new("spill", "set max_memory_mib too: traces are spilled only past that budget"));
            }
            match (&spill.directory, &spill.storage) {
                (None, None) => p.push(ConfigProblem::new("spill", "set directory (a path) or storage (a file_storage extension)")),
                (Some(_), Some(_)) => p.push(ConfigProblem::new("spill", "set directory or storage, not both")),
                (Some(d), None) if d.as_os_str().is_empty() => p.push(ConfigProblem::new("spill::directory", "must not be empty")),
                (None, Some(id)) => match tracegate_core::id::ComponentId::parse(id) {
                    Err(e) => p.push(ConfigProblem::new("spill::storage", e.to_string())),
                    Ok(id) if id.type_name() != tracegate_core::queue::STORAGE_EXTENSION_TYPE => {
                        p.push(ConfigProblem::new("spill::storage", format!("\"{id}\" is not a storage extension; name a file_storage extension")))
                    }
                    Ok(_) => {}
                },
                _ => {}
            }
        }
        if self.max_memory_mib > (u64::MAX >> 20) {
            p.push(ConfigProblem::new("max_memory_mib", "is too large"));
        }
        if self.policies.is_empty() {
            p.push(ConfigProblem::new("policies", "list at least one policy (e.g. {name: all, type: always_sample})"));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, policy) in self.policies.iter().enumerate() {
            policy.validate(&format!("policies::{i}"), Level::Top, &mut p);
            if !policy.name.is_empty() && !seen.insert(policy.name.as_str()) {
                p.push(ConfigProblem::new(format!("policies::{i}::name"), format!("duplicate policy name {:?}", policy.name)));
            }
        }
        p
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use tracegate_core::testing::parse_config_messages;

    fn errors(yaml: &str) -> Vec<String> {
        parse_config_messages::<TailSamplingConfig>(yaml).unwrap_err()
    }

    #[test]
    fn defaults_are_the_collectors() {
        let c: TailSamplingConfig = parse_config_messages("policies: [{name: all, type: always_sample}]").unwrap();
        assert_eq!(c.decision_wait, GoDuration::from_secs(30));
        assert_eq!(c.num_traces, 50_000);
        assert_eq!(c.decision_cache, DecisionCacheConfig::default());
        let c: TailSamplingConfig = parse_config_messages("policies: [{name: s, type: string_attribute, string_attribute: {key: k, values: [a]}}]").unwrap();
        assert_eq!(c.policies[0].string_attribute.as_ref().unwrap().cache_max_size, 128);
        assert_eq!((c.max_memory_mib, c.spill), (0, None), "no budget unless asked");
    }

    #[test]
    fn memory_budget_and_spill_shapes() {
        let c: TailSamplingConfig = parse_config_messages("{max_memory_mib: 64, spill: {directory: /tmp/spill}, policies: [{name: a, type: always_sample}]}").unwrap();
        assert_eq!(c.spill.unwrap().directory.unwrap(), PathBuf::from("/tmp/spill"));
        let c: TailSamplingConfig = parse_config_messages("{max_memory_mib: 64, spill: {storage: file_storage/tail}, policies: [{name: a, type: always_sample}]}").unwrap();
        assert_eq!(c.spill.unwrap().storage.as_deref(), Some("file_storage/tail"));
        let c: TailSamplingConfig = parse_config_messages("{max_memory_mib: 64, policies: [{name: a, type: always_sample}]}").unwrap();
        assert_eq!(c.spill, None, "a budget without a spill drops the oldest");

        let e = errors("{spill: {directory: /tmp/x}, policies: [{name: a, type: always_sample}]}");
        assert!(e.iter().any(|e| e.starts_with("spill: set max_memory_mib")), "{e:?}");
        let e = errors("{max_memory_mib: 1, spill: {}, policies: [{name: a, type: always_sample}]}");
        assert!(e.iter().any(|e| e.starts_with("spill: set directory")), "{e:?}");
        let e = errors("{max_memory_mib: 1, spill: {directory: /x, storage: file_storage}, policies: [{name: a, type: always_sample}]}");
        assert!(e.iter().any(|e| e.contains("not both")), "{e:?}");
        let e = errors("{max_memory_mib: 1, spill: {storage: sled}, policies: [{name: a, type: always_sample}]}");
        assert!(e.iter().any(|e| e.starts_with("spill::storage") && e.contains("file_storage")), "{e:?}");
        let e = errors("{max_memory_mib: 1, spill: {path: /x}, policies: [{name: a, type: always_sample}]}");
        assert!(e.iter().any(|e| e.starts_with("spill")), "{e:?}");
    }

    #[test]
    fn collector_config_shapes_load() {
        let yaml = r#"
decision_wait: 10s
num_traces: 100
expected_new_traces_per_sec: 10
decision_cache: {sampled_cache_size: 1000, non_sampled_cache_size: 1000}
policies:
  - {name: test-policy-1, type: always_sample}
  - {name: test-policy-2, type: latency, latency: {threshold_ms: 5000, upper_threshold_ms: 10000}}
  - {name: test-policy-3, type: numeric_attribute, numeric_attribute: {key: key1, min_value: 50, max_value: 100}}
  - {name: test-policy-4, type: probabilistic, probabilistic: {sampling_percentage: 10}}
  - {name: test-policy-5, type: status_code, status_code: {status_codes: [ERROR, UNSET]}}
  - {name: test-policy-6, type: string_attribute, string_attribute: {key: key2, values: [value1, value2]}}
  - {name: test-policy-7, type: string_attribute, string_attribute: {key: key2, values: [value1, val*], enabled_regex_matching: true, cache_max_size: 10}}
  - {name: test-policy-8, type: rate_limiting, rate_limiting: {spans_per_second: 35}}
  - {name: test-policy-9, type: string_attribute, string_attribute: {key: http.url, values: ['\/health', '\/metrics'], enabled_regex_matching: true, invert_match: true}}
  - {name: test-policy-10, type: span_count, span_count: {min_spans: 2, max_spans: 20}}
  - {name: test-policy-11, type: trace_state, trace_state: {key: key3, values: [value1, value2]}}
  - {name: test-policy-12, type: boolean_attribute, boolean_attribute: {key: key4, value: true}}
  - name: and-policy-1
    type: and
    and:
      and_sub_policy:
        - {name: test-and-policy-1, type: numeric_attribute, numeric_attribute: {key: key1, min_value: 50, max_value: 100}}
        - {name: test-and-policy-2, type: string_attribute, string_attribute: {key: key2, values: [value1, value2]}}
  - name: composite-policy-1
    type: composite
    composite:
      max_total_spans_per_second: 1000
      policy_order: [test-composite-policy-1, test-composite-policy-2, test-composite-policy-3]
      composite_sub_policy:
        - {name: test-composite-policy-1, type: numeric_attribute, numeric_attribute: {key: key1, min_value: 50, max_value: 100}}
        - {name: test-composite-policy-2, type: string_attribute, string_attribute: {key: key2, values: [value1, value2]}}
        - {name: test-composite-policy-3, type: always_sample}
      rate_allocation:
        - {policy: test-composite-policy-1, percent: 50}
        - {policy: test-composite-policy-2, percent: 25}
"#;
        let c: TailSamplingConfig = parse_config_messages(yaml).unwrap();
        assert_eq!(c.policies.len(), 14);
        assert_eq!(c.decision_cache.sampled_cache_size, 1000);
    }

    #[test]
    fn invalid_regex_is_reported_at_its_path() {
        let e = errors(
            "policies: [{name: a, type: always_sample}, {name: b, type: always_sample}, \
             {name: c, type: string_attribute, string_attribute: {key: k, values: ['(unclosed'], enabled_regex_matching: true}}]",
        );
        assert!(e.iter().any(|e| e.starts_with("policies::2::string_attribute::values: invalid regular expression")), "{e:?}");
    }

    #[test]
    fn unknown_and_misplaced_policies_are_config_errors() {
        let e = errors("policies: [{name: a, type: always_sample}, {name: b, type: sometimes}]");
        assert!(e.iter().any(|e| e.starts_with("policies::1::type: unknown policy type \"sometimes\"")), "{e:?}");
        let e = errors("policies: [{name: a, type: ottl_condition}]");
        assert!(e[0].contains("not supported"), "{e:?}");
        let e = errors("policies: [{name: a, type: latency}]");
        assert!(e.iter().any(|e| e.starts_with("policies::0::latency:")), "{e:?}");
        let e = errors("policies: [{name: a, type: and, and: {and_sub_policy: [{name: b, type: composite, composite: {max_total_spans_per_second: 1, composite_sub_policy: [{name: c, type: always_sample}]}}]}}]");
        assert!(e.iter().any(|e| e.starts_with("policies::0::and::and_sub_policy::0::type")), "{e:?}");
        let e = errors("policies: [{name: a, type: always_sample, bogus: 1}]");
        assert!(e[0].starts_with("policies"), "{e:?}");
        let e = errors("policies: [{name: a, type: always_sample}, {name: a, type: always_sample}]");
        assert!(e[0].contains("duplicate"), "{e:?}");
        let e = errors("policies: []");
        assert!(e[0].starts_with("policies:"), "{e:?}");
        let e = errors("{num_traces: 0, policies: [{name: a, type: status_code, status_code: {status_codes: [FAIL]}}]}");
        assert!(e.iter().any(|e| e.starts_with("num_traces")), "{e:?}");
        assert!(e.iter().any(|e| e.starts_with("policies::0::status_code::status_codes::0")), "{e:?}");
        let e = errors(
            "policies: [{name: c, type: composite, composite: {max_total_spans_per_second: 10, policy_order: [x], \
             composite_sub_policy: [{name: y, type: always_sample}], rate_allocation: [{policy: z, percent: 120}]}}]",
        );
        assert!(e.iter().any(|e| e.starts_with("policies::0::composite::policy_order::0")), "{e:?}");
        assert!(e.iter().any(|e| e.starts_with("policies::0::composite::rate_allocation::0::policy")), "{e:?}");
        assert!(e.iter().any(|e| e.starts_with("policies::0::composite::rate_allocation::0::percent")), "{e:?}");
    }
}
