//! One entry of `policies:`, in the Collector's shape: `name`, `type`, and a section named
//! after the type (`latency: { threshold_ms: 500 }`). `and` and `composite` nest entries of
//! the same shape (`and_sub_policy`, `composite_sub_policy`).

use serde::{Deserialize, Serialize};
use tracegate_core::config::ConfigProblem;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    pub name: String,
    #[serde(rename = "type")]
    pub policy_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<StatusCodeConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numeric_attribute: Option<NumericAttributeConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub string_attribute: Option<StringAttributeConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boolean_attribute: Option<BooleanAttributeConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probabilistic: Option<ProbabilisticConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limiting: Option<RateLimitingConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span_count: Option<SpanCountConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_state: Option<TraceStateConfig>,
    #[serde(rename = "and", skip_serializing_if = "Option::is_none")]
    pub and: Option<AndConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub composite: Option<CompositeConfig>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LatencyConfig {
    /// Keep traces at least this long (first span start to last span end).
    pub threshold_ms: i64,
    /// When non-zero, keep only traces longer than `threshold_ms` and at most this long.
    pub upper_threshold_ms: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatusCodeConfig {
    /// Any of `OK`, `ERROR`, `UNSET`.
    pub status_codes: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NumericAttributeConfig {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_value: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_value: Option<i64>,
    pub invert_match: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StringAttributeConfig {
    pub key: String,
    pub values: Vec<String>,
    /// Treat `values` as regular expressions (unanchored, as Go's `MatchString`).
    pub enabled_regex_matching: bool,
    /// Distinct attribute values whose regex result is remembered.
    pub cache_max_size: usize,
    pub invert_match: bool,
}

impl Default for StringAttributeConfig {
    fn default() -> Self {
        Self { key: String::new(), values: Vec::new(), enabled_regex_matching: false, cache_max_size: 128, invert_match: false }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BooleanAttributeConfig {
    pub key: String,
    pub value: bool,
    pub invert_match: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProbabilisticConfig {
    /// Salt of the FNV-1a 64 trace id hash; empty: the Collector's "default-hash-seed".
    pub hash_salt: String,
    pub sampling_percentage: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitingConfig {
    pub spans_per_second: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpanCountConfig {
    pub min_spans: i64,
    /// 0: no upper bound.
    pub max_spans: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TraceStateConfig {
    pub key: String,
    pub values: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AndConfig {
    pub and_sub_policy: Vec<PolicyConfig>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompositeConfig {
    pub max_total_spans_per_second: i64,
    /// Sub-policy names in evaluation order; sub-policies not named follow in list order.
    pub policy_order: Vec<String>,
    pub composite_sub_policy: Vec<PolicyConfig>,
    pub rate_allocation: Vec<RateAllocation>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateAllocation {
    pub policy: String,
    pub percent: i64,
}

/// Policy types this processor evaluates.
pub const POLICY_TYPES: &[&str] = &[
    "always_sample",
    "latency",
    "status_code",
    "numeric_attribute",
    "string_attribute",
    "boolean_attribute",
    "probabilistic",
    "rate_limiting",
    "span_count",
    "trace_state",
    "and",
    "composite",
];

/// The Collector's types that tracegate does not evaluate (yet).
const UNSUPPORTED_TYPES: &[&str] = &["ottl_condition", "drop", "bytes_limiting", "not", "skip", "trace_flags"];

/// How deep a policy sits: `and` and `composite` may not nest inside each other, except an
/// `and` inside a `composite` (as the Collector allows).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Top,
    InAnd,
    InComposite,
}

fn section<T>(p: &mut Vec<ConfigProblem>, path: &str, ty: &str, s: &Option<T>) -> bool {
    if s.is_none() && !matches!(ty, "always_sample") {
        p.push(ConfigProblem::new(format!("{path}::{ty}"), format!("policy type \"{ty}\" needs a \"{ty}\" section")));
        return false;
    }
    true
}

impl PolicyConfig {
    /// Checks this entry; `path` is where it sits (`policies::2`).
    pub fn validate(&self, path: &str, level: Level, p: &mut Vec<ConfigProblem>) {
        if self.name.is_empty() {
            p.push(ConfigProblem::new(format!("{path}::name"), "every policy needs a name"));
        }
        let ty = self.policy_type.as_str();
        match ty {
            "" => p.push(ConfigProblem::new(format!("{path}::type"), format!("missing; one of {}", POLICY_TYPES.join(", ")))),
            "always_sample" => {}
            "latency" => {
                if section(p, path, ty, &self.latency) {
                    let l = self.latency.as_ref().map(|l| (l.threshold_ms, l.upper_threshold_ms)).unwrap_or_default();
                    if l.0 < 0 || l.1 < 0 {
                        p.push(ConfigProblem::new(format!("{path}::latency"), "thresholds must not be negative"));
                    } else if l.1 != 0 && l.1 < l.0 {
                        p.push(ConfigProblem::new(format!("{path}::latency::upper_threshold_ms"), "must be 0 or at least threshold_ms"));
                    }
                }
            }
            "status_code" => {
                if let (true, Some(s)) = (section(p, path, ty, &self.status_code), &self.status_code) {
                    if s.status_codes.is_empty() {
                        p.push(ConfigProblem::new(format!("{path}::status_code::status_codes"), "list at least one of OK, ERROR, UNSET"));
                    }
                    for (i, c) in s.status_codes.iter().enumerate() {
                        if !matches!(c.as_str(), "OK" | "ERROR" | "UNSET") {
                            p.push(ConfigProblem::new(format!("{path}::status_code::status_codes::{i}"), format!("unknown status code {c:?}; use OK, ERROR or UNSET")));
                        }
                    }
                }
            }
            "numeric_attribute" => {
                if let (true, Some(n)) = (section(p, path, ty, &self.numeric_attribute), &self.numeric_attribute) {
                    if n.key.is_empty() {
                        p.push(ConfigProblem::new(format!("{path}::numeric_attribute::key"), "must not be empty"));
                    }
                    if n.min_value.is_none() && n.max_value.is_none() {
                        p.push(ConfigProblem::new(format!("{path}::numeric_attribute"), "set min_value, max_value or both"));
                    }
                    if let (Some(lo), Some(hi)) = (n.min_value, n.max_value) {
                        if hi < lo {
                            p.push(ConfigProblem::new(format!("{path}::numeric_attribute::max_value"), "must be at least min_value"));
                        }
                    }
                }
            }
            "string_attribute" => {
                if let (true, Some(s)) = (section(p, path, ty, &self.string_attribute), &self.string_attribute) {
                    if s.key.is_empty() {
                        p.push(ConfigProblem::new(format!("{path}::string_attribute::key"), "must not be empty"));
                    }
                    if s.values.is_empty() {
                        p.push(ConfigProblem::new(format!("{path}::string_attribute::values"), "list at least one value"));
                    }
                    // The regexes are compiled once, right after this check, by
                    // `TailSampling::from_config`, which reports a bad one at this path.
                }
            }
            "boolean_attribute" => {
                if let (true, Some(b)) = (section(p, path, ty, &self.boolean_attribute), &self.boolean_attribute) {
                    if b.key.is_empty() {
                        p.push(ConfigProblem::new(format!("{path}::boolean_attribute::key"), "must not be empty"));
                    }
                }
            }
            "probabilistic" => {
                if let (true, Some(pr)) = (section(p, path, ty, &self.probabilistic), &self.probabilistic) {
                    if !(0.0..=100.0).contains(&pr.sampling_percentage) {
                        p.push(ConfigProblem::new(format!("{path}::probabilistic::sampling_percentage"), "must be between 0 and 100"));
                    }
                }
            }
            "rate_limiting" => {
                if let (true, Some(r)) = (section(p, path, ty, &self.rate_limiting), &self.rate_limiting) {
                    if r.spans_per_second <= 0 {
                        p.push(ConfigProblem::new(format!("{path}::rate_limiting::spans_per_second"), "must be greater than 0"));
                    }
                }
            }
            "span_count" => {
                if let (true, Some(s)) = (section(p, path, ty, &self.span_count), &self.span_count) {
                    if s.min_spans < 0 || s.max_spans < 0 {
                        p.push(ConfigProblem::new(format!("{path}::span_count"), "min_spans and max_spans must not be negative"));
                    } else if s.max_spans != 0 && s.max_spans < s.min_spans {
                        p.push(ConfigProblem::new(format!("{path}::span_count::max_spans"), "must be 0 (no limit) or at least min_spans"));
                    }
                }
            }
            "trace_state" => {
                if let (true, Some(t)) = (section(p, path, ty, &self.trace_state), &self.trace_state) {
                    if t.key.is_empty() || t.values.is_empty() {
                        p.push(ConfigProblem::new(format!("{path}::trace_state"), "needs a key and at least one value"));
                    }
                }
            }
            "and" => {
                if level == Level::InAnd {
                    p.push(ConfigProblem::new(format!("{path}::type"), "an \"and\" policy cannot nest inside another \"and\""));
                }
                if let (true, Some(a)) = (section(p, path, ty, &self.and), &self.and) {
                    if a.and_sub_policy.is_empty() {
                        p.push(ConfigProblem::new(format!("{path}::and::and_sub_policy"), "list at least one sub-policy"));
                    }
                    for (i, sub) in a.and_sub_policy.iter().enumerate() {
                        sub.validate(&format!("{path}::and::and_sub_policy::{i}"), Level::InAnd, p);
                    }
                }
            }
            "composite" => {
                if level != Level::Top {
                    p.push(ConfigProblem::new(format!("{path}::type"), "a \"composite\" policy can only be a top-level policy"));
                }
                if let (true, Some(c)) = (section(p, path, ty, &self.composite), &self.composite) {
                    validate_composite(c, &format!("{path}::composite"), p);
                }
            }
            other if UNSUPPORTED_TYPES.contains(&other) => {
                p.push(ConfigProblem::new(format!("{path}::type"), format!("policy type {other:?} is not supported by tracegate; use one of {}", POLICY_TYPES.join(", "))));
            }
            other => {
                p.push(ConfigProblem::new(format!("{path}::type"), format!("unknown policy type {other:?}; use one of {}", POLICY_TYPES.join(", "))));
            }
        }
    }
}

fn validate_composite(c: &CompositeConfig, path: &str, p: &mut Vec<ConfigProblem>) {
    if c.max_total_spans_per_second <= 0 {
        p.push(ConfigProblem::new(format!("{path}::max_total_spans_per_second"), "must be greater than 0"));
    }
    if c.composite_sub_policy.is_empty() {
        p.push(ConfigProblem::new(format!("{path}::composite_sub_policy"), "list at least one sub-policy"));
    }
    let names: Vec<&str> = c.composite_sub_policy.iter().map(|s| s.name.as_str()).collect();
    for (i, sub) in c.composite_sub_policy.iter().enumerate() {
        sub.validate(&format!("{path}::composite_sub_policy::{i}"), Level::InComposite, p);
    }
    for (i, n) in c.policy_order.iter().enumerate() {
        if !names.contains(&n.as_str()) {
            p.push(ConfigProblem::new(format!("{path}::policy_order::{i}"), format!("no sub-policy named {n:?}")));
        }
    }
    let mut total = 0;
    for (i, a) in c.rate_allocation.iter().enumerate() {
        if !names.contains(&a.policy.as_str()) {
            p.push(ConfigProblem::new(format!("{path}::rate_allocation::{i}::policy"), format!("no sub-policy named {:?}", a.policy)));
        }
        if !(0..=100).contains(&a.percent) {
            p.push(ConfigProblem::new(format!("{path}::rate_allocation::{i}::percent"), "must be between 0 and 100"));
        }
        total += a.percent;
    }
    if total > 100 {
        p.push(ConfigProblem::new(format!("{path}::rate_allocation"), format!("percentages add up to {total}, more than 100")));
    }
}
