//! Policies over attribute values (resource or span) and tracestate entries.
//!
//! An attribute of another type than the policy expects never matches (the Collector reads
//! it as the type's zero value, so a string attribute counts as 0 for `numeric_attribute`;
//! that surprise is not kept).

use std::collections::HashMap;

use regex::Regex;
use tracegate_pdata::view::ValueView;

use super::{any_resource_or_span, attr, invert_any_resource_or_span, Decision};
use crate::held::TraceView;
use crate::policy_config::{BooleanAttributeConfig, NumericAttributeConfig, StringAttributeConfig, TraceStateConfig};

#[derive(Clone, Debug)]
pub struct NumericAttribute {
    key: String,
    min: i64,
    max: i64,
    invert: bool,
}

impl NumericAttribute {
    pub fn new(c: &NumericAttributeConfig) -> Self {
        Self { key: c.key.clone(), min: c.min_value.unwrap_or(i64::MIN), max: c.max_value.unwrap_or(i64::MAX), invert: c.invert_match }
    }

    pub fn evaluate(&self, trace: &TraceView<'_>) -> Decision {
        let hit = |attrs| matches!(attr(attrs, &self.key), Some(ValueView::Int(v)) if (self.min..=self.max).contains(&v));
        if self.invert {
            invert_any_resource_or_span(trace, hit)
        } else {
            any_resource_or_span(trace, hit)
        }
    }
}

#[derive(Clone, Debug)]
pub struct BooleanAttribute {
    key: String,
    value: bool,
    invert: bool,
}

impl BooleanAttribute {
    pub fn new(c: &BooleanAttributeConfig) -> Self {
        Self { key: c.key.clone(), value: c.value, invert: c.invert_match }
    }

    pub fn evaluate(&self, trace: &TraceView<'_>) -> Decision {
        let hit = |attrs| matches!(attr(attrs, &self.key), Some(ValueView::Bool(v)) if v == self.value);
        if self.invert {
            invert_any_resource_or_span(trace, hit)
        } else {
            any_resource_or_span(trace, hit)
        }
    }
}

#[derive(Clone, Debug)]
enum Matcher {
    Exact(Vec<String>),
    /// Unanchored, as Go's `MatchString`; results per distinct value are cached.
    Regex { regexes: Vec<Regex>, cache: HashMap<String, bool>, cache_max: usize },
}

impl Matcher {
    fn matches(&mut self, v: &str) -> bool {
        match self {
            Matcher::Exact(values) => values.iter().any(|x| x == v),
            Matcher::Regex { regexes, cache, cache_max } => {
                if let Some(hit) = cache.get(v) {
                    return *hit;
                }
                let hit = regexes.iter().any(|r| r.is_match(v));
                if *cache_max > 0 {
                    // A bounded cache: dropping it all when full is cheaper than tracking
                    // recency, and the hot values come back within one trace.
                    if cache.len() >= *cache_max {
                        cache.clear();
                    }
                    cache.insert(v.to_string(), hit);
                }
                hit
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct StringAttribute {
    key: String,
    matcher: Matcher,
    invert: bool,
}

impl StringAttribute {
    /// Compiles the regexes (with `enabled_regex_matching`); the error names the bad one.
    pub fn new(c: &StringAttributeConfig) -> Result<Self, String> {
        let matcher = if c.enabled_regex_matching {
            let compile = |v: &String| Regex::new(v).map_err(|e| format!("invalid regular expression {v:?}: {e}"));
            let regexes = c.values.iter().map(compile).collect::<Result<_, _>>()?;
            Matcher::Regex { regexes, cache: HashMap::new(), cache_max: c.cache_max_size }
        } else {
            Matcher::Exact(c.values.clone())
        };
        Ok(Self { key: c.key.clone(), matcher, invert: c.invert_match })
    }

    pub fn evaluate(&mut self, trace: &TraceView<'_>) -> Decision {
        let key = self.key.as_str();
        let matcher = &mut self.matcher;
        let hit = |attrs| match attr(attrs, key) {
            Some(ValueView::Str(s)) => matcher.matches(s),
            _ => false,
        };
        if self.invert {
            invert_any_resource_or_span(trace, hit)
        } else {
            any_resource_or_span(trace, hit)
        }
    }
}

#[derive(Clone, Debug)]
pub struct TraceStateFilter {
    key: String,
    values: Vec<String>,
}

impl TraceStateFilter {
    pub fn new(c: &TraceStateConfig) -> Self {
        Self { key: c.key.clone(), values: c.values.clone() }
    }

    /// Sampled when some span's W3C tracestate has `key` with one of the values.
    pub fn evaluate(&self, trace: &TraceView<'_>) -> Decision {
        let hit = trace.spans().any(|s| {
            s.trace_state
                .split(',')
                .filter_map(|e| e.trim().split_once('='))
                .any(|(k, v)| k == self.key && self.values.iter().any(|x| x == v))
        });
        if hit {
            Decision::Sampled
        } else {
            Decision::NotSampled
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::super::test_support::*;
    use super::*;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use tracegate_core::data::Span;

    fn s(k: &str, v: Value) -> Span {
        span(vec![kv(k, v)])
    }

    #[test]
    fn numeric_range_on_span_or_resource() {
        let mut p = policy("{name: n, type: numeric_attribute, numeric_attribute: {key: code, min_value: 500, max_value: 599}}");
        assert_eq!(eval(&mut p, &trace_with(vec![], vec![s("code", Value::IntValue(503))])), Decision::Sampled);
        assert_eq!(eval(&mut p, &trace_with(vec![kv("code", Value::IntValue(500))], vec![span(vec![])])), Decision::Sampled);
        assert_eq!(eval(&mut p, &trace_with(vec![], vec![s("code", Value::IntValue(200))])), Decision::NotSampled);
        assert_eq!(eval(&mut p, &trace_with(vec![], vec![span(vec![])])), Decision::NotSampled, "missing attribute");
        assert_eq!(eval(&mut p, &trace_with(vec![], vec![s("code", Value::StringValue("503".into()))])), Decision::NotSampled, "wrong type");
        assert_eq!(eval(&mut p, &trace_with(vec![], vec![])), Decision::NotSampled, "empty trace");
        let mut open = policy("{name: n, type: numeric_attribute, numeric_attribute: {key: code, min_value: 500}}");
        assert_eq!(eval(&mut open, &trace_with(vec![], vec![s("code", Value::IntValue(i64::MAX))])), Decision::Sampled);
        let mut inv = policy("{name: n, type: numeric_attribute, numeric_attribute: {key: code, min_value: 500, max_value: 599, invert_match: true}}");
        assert_eq!(eval(&mut inv, &trace_with(vec![], vec![s("code", Value::IntValue(503))])), Decision::InvertNotSampled);
        assert_eq!(eval(&mut inv, &trace_with(vec![], vec![s("code", Value::IntValue(200))])), Decision::InvertSampled);
        assert_eq!(eval(&mut inv, &trace_with(vec![], vec![span(vec![])])), Decision::InvertSampled);
    }

    #[test]
    fn string_exact_regex_and_inverted() {
        let mut p = policy("{name: s, type: string_attribute, string_attribute: {key: http.url, values: [/a, /b]}}");
        assert_eq!(eval(&mut p, &trace_with(vec![], vec![s("http.url", Value::StringValue("/b".into()))])), Decision::Sampled);
        assert_eq!(eval(&mut p, &trace_with(vec![], vec![s("http.url", Value::StringValue("/b/c".into()))])), Decision::NotSampled, "exact");
        assert_eq!(eval(&mut p, &trace_with(vec![], vec![s("http.url", Value::IntValue(1))])), Decision::NotSampled, "wrong type");
        assert_eq!(eval(&mut p, &trace_with(vec![], vec![span(vec![])])), Decision::NotSampled, "missing");
        let mut re = policy("{name: s, type: string_attribute, string_attribute: {key: svc, values: ['^pay.*', 'cart'], enabled_regex_matching: true, cache_max_size: 1}}");
        for _ in 0..3 {
            assert_eq!(eval(&mut re, &trace_with(vec![kv("svc", Value::StringValue("payments".into()))], vec![span(vec![])])), Decision::Sampled);
            assert_eq!(eval(&mut re, &trace_with(vec![], vec![s("svc", Value::StringValue("my-cart-svc".into()))])), Decision::Sampled, "unanchored");
            assert_eq!(eval(&mut re, &trace_with(vec![], vec![s("svc", Value::StringValue("repay".into()))])), Decision::NotSampled);
        }
        let mut inv = policy("{name: s, type: string_attribute, string_attribute: {key: http.url, values: ['/health'], enabled_regex_matching: true, invert_match: true}}");
        assert_eq!(eval(&mut inv, &trace_with(vec![], vec![span(vec![]), s("http.url", Value::StringValue("/healthz".into()))])), Decision::InvertNotSampled);
        assert_eq!(eval(&mut inv, &trace_with(vec![], vec![s("http.url", Value::StringValue("/api".into()))])), Decision::InvertSampled);
    }

    #[test]
    fn boolean_matches_value_and_type() {
        let mut p = policy("{name: b, type: boolean_attribute, boolean_attribute: {key: debug, value: true}}");
        assert_eq!(eval(&mut p, &trace_with(vec![], vec![s("debug", Value::BoolValue(true))])), Decision::Sampled);
        assert_eq!(eval(&mut p, &trace_with(vec![], vec![s("debug", Value::BoolValue(false))])), Decision::NotSampled);
        assert_eq!(eval(&mut p, &trace_with(vec![], vec![s("debug", Value::StringValue("true".into()))])), Decision::NotSampled);
        let mut inv = policy("{name: b, type: boolean_attribute, boolean_attribute: {key: debug, value: false, invert_match: true}}");
        assert_eq!(eval(&mut inv, &trace_with(vec![], vec![s("debug", Value::BoolValue(false))])), Decision::InvertNotSampled);
        assert_eq!(eval(&mut inv, &trace_with(vec![], vec![span(vec![])])), Decision::InvertSampled);
    }

    #[test]
    fn trace_state_entry() {
        let mut p = policy("{name: t, type: trace_state, trace_state: {key: tenant, values: [gold]}}");
        let with = |ts: &str| trace_with(vec![], vec![Span { trace_state: ts.into(), ..span(vec![]) }]);
        assert_eq!(eval(&mut p, &with("ot=th:8, tenant=gold")), Decision::Sampled);
        assert_eq!(eval(&mut p, &with("tenant=silver")), Decision::NotSampled);
        assert_eq!(eval(&mut p, &with("garbage,,=")), Decision::NotSampled);
        assert_eq!(eval(&mut p, &with("")), Decision::NotSampled);
    }
}
