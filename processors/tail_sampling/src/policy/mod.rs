//! Policy evaluators, one per Collector policy type, and the Collector's rule for combining
//! their answers into one decision per trace (see [`combine`]).
//!
//! Policies read the held trace through views over its OTLP bytes ([`TraceView`]): nothing is
//! decoded into structs, and no per-trace summary is kept beside the bytes. A summary (error
//! flag, min start / max end, the attributes the policies name) would be cheaper to evaluate,
//! but it costs memory on every pending trace, must be kept for every attribute any policy
//! could ask for (regex policies see every value), and spilled traces are read back for the
//! decision anyway, because a sampled trace must be sent. Walking a trace's bytes once per
//! policy is cheap next to receiving them (`benches/tail_sampling.rs`).

mod attributes;
mod basic;
mod combinators;

use tracegate_pdata::view::{KeyValueView, Many, ValueView};

use crate::held::TraceView;
use crate::policy_config::PolicyConfig;

pub use attributes::{BooleanAttribute, NumericAttribute, StringAttribute, TraceStateFilter};
pub use basic::{probabilistic_threshold, Latency, Probabilistic, RateLimiting, SpanCount, StatusCode};
pub use combinators::{And, Composite};

/// One policy's answer. The inverted answers come from `invert_match` policies and have
/// their own precedence (see [`combine`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Sampled,
    NotSampled,
    InvertSampled,
    InvertNotSampled,
}

/// The trace being decided and the wall-clock second (rate limits count per second).
pub struct EvalContext<'a> {
    pub trace_id: &'a [u8; 16],
    pub trace: &'a TraceView<'a>,
    pub now_second: i64,
}

#[derive(Clone, Debug)]
pub enum Policy {
    AlwaysSample,
    Latency(Latency),
    StatusCode(StatusCode),
    Numeric(NumericAttribute),
    String(StringAttribute),
    Boolean(BooleanAttribute),
    Probabilistic(Probabilistic),
    RateLimiting(RateLimiting),
    SpanCount(SpanCount),
    TraceState(TraceStateFilter),
    And(And),
    Composite(Composite),
}

/// A named policy, as `policies:` lists them.
#[derive(Clone, Debug)]
pub struct NamedPolicy {
    pub name: String,
    pub policy: Policy,
}

/// A policy that does not compile; `path` is relative to the policy's entry in `policies`
/// (`string_attribute::values`), so the config problem names the key.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct PolicyError {
    pub path: String,
    pub message: String,
}

impl PolicyError {
    /// This error of a sub-policy, under its parent's key for it (`and::and_sub_policy::0`).
    pub fn under(self, prefix: &str) -> Self {
        let path = if self.path.is_empty() { prefix.to_string() } else { format!("{prefix}::{}", self.path) };
        Self { path, ..self }
    }
}

impl Policy {
    /// Builds an evaluator from a validated config: once, when the config is validated.
    pub fn from_config(cfg: &PolicyConfig) -> Result<Self, PolicyError> {
        let missing = || PolicyError { path: cfg.policy_type.clone(), message: "missing".into() };
        Ok(match cfg.policy_type.as_str() {
            "always_sample" => Policy::AlwaysSample,
            "latency" => Policy::Latency(Latency::new(cfg.latency.as_ref().ok_or_else(missing)?)),
            "status_code" => Policy::StatusCode(StatusCode::new(cfg.status_code.as_ref().ok_or_else(missing)?)),
            "numeric_attribute" => Policy::Numeric(NumericAttribute::new(cfg.numeric_attribute.as_ref().ok_or_else(missing)?)),
            "string_attribute" => Policy::String(
                StringAttribute::new(cfg.string_attribute.as_ref().ok_or_else(missing)?)
                    .map_err(|message| PolicyError { path: "string_attribute::values".into(), message })?,
            ),
            "boolean_attribute" => Policy::Boolean(BooleanAttribute::new(cfg.boolean_attribute.as_ref().ok_or_else(missing)?)),
            "probabilistic" => Policy::Probabilistic(Probabilistic::new(cfg.probabilistic.as_ref().ok_or_else(missing)?)),
            "rate_limiting" => Policy::RateLimiting(RateLimiting::new(cfg.rate_limiting.as_ref().ok_or_else(missing)?)),
            "span_count" => Policy::SpanCount(SpanCount::new(cfg.span_count.as_ref().ok_or_else(missing)?)),
            "trace_state" => Policy::TraceState(TraceStateFilter::new(cfg.trace_state.as_ref().ok_or_else(missing)?)),
            "and" => Policy::And(And::new(cfg.and.as_ref().ok_or_else(missing)?)?),
            "composite" => Policy::Composite(Composite::new(cfg.composite.as_ref().ok_or_else(missing)?)?),
            other => return Err(PolicyError { path: "type".into(), message: format!("unknown policy type {other:?}") }),
        })
    }

    pub fn evaluate(&mut self, ctx: &EvalContext<'_>) -> Decision {
        match self {
            Policy::AlwaysSample => Decision::Sampled,
            Policy::Latency(p) => p.evaluate(ctx.trace),
            Policy::StatusCode(p) => p.evaluate(ctx.trace),
            Policy::Numeric(p) => p.evaluate(ctx.trace),
            Policy::String(p) => p.evaluate(ctx.trace),
            Policy::Boolean(p) => p.evaluate(ctx.trace),
            Policy::Probabilistic(p) => p.evaluate(ctx.trace_id),
            Policy::RateLimiting(p) => p.evaluate(ctx.trace, ctx.now_second),
            Policy::SpanCount(p) => p.evaluate(ctx.trace),
            Policy::TraceState(p) => p.evaluate(ctx.trace),
            Policy::And(p) => p.evaluate(ctx),
            Policy::Composite(p) => p.evaluate(ctx),
        }
    }
}

impl NamedPolicy {
    pub fn from_config(cfg: &PolicyConfig) -> Result<Self, PolicyError> {
        Ok(Self { name: cfg.name.clone(), policy: Policy::from_config(cfg)? })
    }
}

/// The Collector's precedence: any inverted "not sampled" drops the trace (an
/// `invert_match` policy acts as an exclusion); otherwise any "sampled" keeps it; otherwise an
/// inverted "sampled" keeps it unless some policy said "not sampled"; otherwise it is dropped.
pub fn combine(decisions: impl IntoIterator<Item = Decision>) -> bool {
    let (mut sampled, mut not_sampled, mut inv_sampled, mut inv_not_sampled) = (false, false, false, false);
    for d in decisions {
        match d {
            Decision::Sampled => sampled = true,
            Decision::NotSampled => not_sampled = true,
            Decision::InvertSampled => inv_sampled = true,
            Decision::InvertNotSampled => inv_not_sampled = true,
        }
    }
    if inv_not_sampled {
        false
    } else if sampled {
        true
    } else {
        inv_sampled && !not_sampled
    }
}

/// Runs every policy on one trace and combines their answers. With `first_match`, stops at
/// the first policy that samples (later, possibly stateful, policies are not consulted).
pub fn decide(policies: &mut [NamedPolicy], ctx: &EvalContext<'_>, first_match: bool) -> bool {
    let mut decisions = Vec::with_capacity(policies.len());
    for p in policies.iter_mut() {
        let d = p.policy.evaluate(ctx);
        decisions.push(d);
        if first_match && d == Decision::Sampled {
            break;
        }
    }
    combine(decisions)
}

/// The value of the first attribute named `key` (an attribute the views cannot read counts
/// as absent).
pub(crate) fn attr<'a>(attrs: Many<'a, KeyValueView<'a>>, key: &str) -> Option<ValueView<'a>> {
    attrs.iter().filter_map(Result::ok).find(|kv| kv.key == key).and_then(|kv| kv.value).map(|v| v.value)
}

/// Sampled when any resource or span of the trace satisfies the condition.
pub(crate) fn any_resource_or_span<'a>(trace: &TraceView<'a>, mut cond: impl FnMut(Many<'a, KeyValueView<'a>>) -> bool) -> Decision {
    let mut last_resource = None;
    for group in trace.groups() {
        if last_resource != Some(group.resource_id) {
            last_resource = Some(group.resource_id);
            if group.resource.is_some_and(|r| cond(r.attributes)) {
                return Decision::Sampled;
            }
        }
        if group.spans.iter().filter_map(Result::ok).any(|s| cond(s.attributes)) {
            return Decision::Sampled;
        }
    }
    Decision::NotSampled
}

/// The inverted form: InvertNotSampled as soon as a resource or span matches, InvertSampled
/// when none does.
pub(crate) fn invert_any_resource_or_span<'a>(trace: &TraceView<'a>, cond: impl FnMut(Many<'a, KeyValueView<'a>>) -> bool) -> Decision {
    match any_resource_or_span(trace, cond) {
        Decision::Sampled => Decision::InvertNotSampled,
        _ => Decision::InvertSampled,
    }
}

#[cfg(test)]
pub(crate) mod test_support;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::Decision::*;
    use super::*;

    #[test]
    fn precedence_is_the_collectors() {
        assert!(!combine([]));
        assert!(combine([Sampled, NotSampled]));
        assert!(!combine([Sampled, InvertNotSampled]), "an inverted not-sampled excludes the trace");
        assert!(combine([InvertSampled]));
        assert!(!combine([InvertSampled, NotSampled]));
        assert!(combine([InvertSampled, NotSampled, Sampled]));
        assert!(!combine([NotSampled]));
    }
}
