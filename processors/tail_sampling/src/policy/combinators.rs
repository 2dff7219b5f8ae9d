//! `and` (every sub-policy samples) and `composite` (sub-policies in order, each with a share
//! of a spans-per-second budget), as the Collector's.

use super::{Decision, EvalContext, NamedPolicy, PolicyError};
use crate::policy_config::{AndConfig, CompositeConfig};

#[derive(Clone, Debug)]
pub struct And {
    subs: Vec<NamedPolicy>,
}

impl And {
    pub fn new(c: &AndConfig) -> Result<Self, PolicyError> {
        let subs = c.and_sub_policy.iter().enumerate().map(|(i, p)| {
            NamedPolicy::from_config(p).map_err(|e| e.under(&format!("and::and_sub_policy::{i}")))
        });
        Ok(Self { subs: subs.collect::<Result<_, _>>()? })
    }

    /// Stops at the first sub-policy that does not sample (later stateful ones, such as a rate
    /// limit, are not charged for a trace that is not kept).
    pub fn evaluate(&mut self, ctx: &EvalContext<'_>) -> Decision {
        for sub in &mut self.subs {
            if matches!(sub.policy.evaluate(ctx), Decision::NotSampled | Decision::InvertNotSampled) {
                return Decision::NotSampled;
            }
        }
        Decision::Sampled
    }
}

#[derive(Clone, Debug)]
struct SubPolicy {
    policy: NamedPolicy,
    allocated_sps: i64,
    sampled_sps: i64,
}

#[derive(Clone, Debug)]
pub struct Composite {
    subs: Vec<SubPolicy>,
    max_total_sps: i64,
    current_second: i64,
}

impl Composite {
    pub fn new(c: &CompositeConfig) -> Result<Self, PolicyError> {
        // Ordered by `policy_order`, then any sub-policy it does not name, in list order.
        let mut ordered: Vec<&crate::policy_config::PolicyConfig> = c
            .policy_order
            .iter()
            .filter_map(|n| c.composite_sub_policy.iter().find(|p| &p.name == n))
            .collect();
        for p in &c.composite_sub_policy {
            if !ordered.iter().any(|o| o.name == p.name) {
                ordered.push(p);
            }
        }
        let total = c.max_total_spans_per_second as f64;
        let subs = ordered
            .into_iter()
            .map(|p| {
                // The Collector's allocation: `percent` of the total; a listed policy with 0
                // percent gets an equal share; an unlisted one gets nothing.
                let allocated = match c.rate_allocation.iter().find(|a| a.policy == p.name) {
                    Some(a) if a.percent > 0 => (a.percent as f64 / 100.0 * total) as i64,
                    Some(_) => (total / c.composite_sub_policy.len().max(1) as f64) as i64,
                    None => 0,
                };
                let at = c.composite_sub_policy.iter().position(|q| std::ptr::eq(q, p)).unwrap_or_default();
                let policy = NamedPolicy::from_config(p).map_err(|e| e.under(&format!("composite::composite_sub_policy::{at}")))?;
                Ok(SubPolicy { policy, allocated_sps: allocated, sampled_sps: 0 })
            })
            .collect::<Result<_, PolicyError>>()?;
        Ok(Self { subs, max_total_sps: c.max_total_spans_per_second, current_second: i64::MIN })
    }

    /// The first sub-policy that samples decides: the trace is kept if that sub-policy's
    /// share (and the total) still has room this second, otherwise it is not kept.
    pub fn evaluate(&mut self, ctx: &EvalContext<'_>) -> Decision {
        if self.current_second != ctx.now_second {
            self.current_second = ctx.now_second;
            for s in &mut self.subs {
                s.sampled_sps = 0;
            }
        }
        let spans = ctx.trace.span_count() as i64;
        for sub in &mut self.subs {
            if matches!(sub.policy.policy.evaluate(ctx), Decision::Sampled | Decision::InvertSampled) {
                let if_sampled = sub.sampled_sps + spans;
                if if_sampled <= sub.allocated_sps && if_sampled <= self.max_total_sps {
                    sub.sampled_sps = if_sampled;
                    return Decision::Sampled;
                }
                return Decision::NotSampled;
            }
        }
        Decision::NotSampled
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::super::test_support::*;
    use super::*;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;

    #[test]
    fn and_needs_every_sub_policy() {
        let mut p = policy(
            "{name: a, type: and, and: {and_sub_policy: [\
               {name: x, type: numeric_attribute, numeric_attribute: {key: n, min_value: 1, max_value: 10}},\
               {name: y, type: string_attribute, string_attribute: {key: s, values: [v]}}]}}",
        );
        let both = trace_with(vec![], vec![span(vec![kv("n", Value::IntValue(5)), kv("s", Value::StringValue("v".into()))])]);
        let one = trace_with(vec![], vec![span(vec![kv("n", Value::IntValue(5))])]);
        assert_eq!(eval(&mut p, &both), Decision::Sampled);
        assert_eq!(eval(&mut p, &one), Decision::NotSampled);
        assert_eq!(eval(&mut p, &trace_with(vec![], vec![])), Decision::NotSampled);
        let mut inv = policy(
            "{name: a, type: and, and: {and_sub_policy: [{name: x, type: always_sample},\
               {name: y, type: string_attribute, string_attribute: {key: s, values: [v], invert_match: true}}]}}",
        );
        assert_eq!(eval(&mut inv, &both), Decision::NotSampled, "inverted match inside and excludes");
        assert_eq!(eval(&mut inv, &one), Decision::Sampled);
    }

    #[test]
    fn composite_allocates_rate_in_policy_order() {
        let mut p = policy(
            "{name: c, type: composite, composite: {max_total_spans_per_second: 10, policy_order: [errors, rest],\
               composite_sub_policy: [{name: rest, type: always_sample},\
                 {name: errors, type: boolean_attribute, boolean_attribute: {key: err, value: true}}],\
               rate_allocation: [{policy: errors, percent: 50}, {policy: rest, percent: 30}]}}",
        );
        let err = trace_with(vec![], vec![span(vec![kv("err", Value::BoolValue(true))]); 2]);
        let plain = trace_with(vec![], vec![span(vec![]); 2]);
        // errors has 5 spans/s: two traces of 2 fit, the third does not (and does not fall
        // through to `rest`, as in the Collector).
        assert_eq!(eval_at(&mut p, &err, 1), Decision::Sampled);
        assert_eq!(eval_at(&mut p, &err, 1), Decision::Sampled);
        assert_eq!(eval_at(&mut p, &err, 1), Decision::NotSampled);
        // rest has 3 spans/s.
        assert_eq!(eval_at(&mut p, &plain, 1), Decision::Sampled);
        assert_eq!(eval_at(&mut p, &plain, 1), Decision::NotSampled);
        assert_eq!(eval_at(&mut p, &plain, 2), Decision::Sampled, "budgets reset each second");
    }

    #[test]
    fn composite_sub_policy_without_allocation_never_samples() {
        let mut p = policy(
            "{name: c, type: composite, composite: {max_total_spans_per_second: 100,\
               composite_sub_policy: [{name: a, type: always_sample}], rate_allocation: []}}",
        );
        assert_eq!(eval_at(&mut p, &trace_with(vec![], vec![span(vec![])]), 1), Decision::NotSampled);
    }
}
