//! Builders for policy tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use tracegate_core::data::Span;

use super::{Decision, EvalContext, Policy};
use crate::policy_config::PolicyConfig;
use crate::trace_data::{ResourceKey, ScopeKey, TraceData};

pub fn kv(key: &str, v: Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(v) }), ..Default::default() }
}

pub fn span(attrs: Vec<KeyValue>) -> Span {
    Span { trace_id: vec![1; 16], span_id: vec![2; 8], attributes: attrs, start_time_unix_nano: 1_000_000_000, end_time_unix_nano: 1_001_000_000, ..Default::default() }
}

pub fn trace_with(resource_attrs: Vec<KeyValue>, spans: Vec<Span>) -> TraceData {
    let r = Arc::new(ResourceKey { resource: Some(Resource { attributes: resource_attrs, ..Default::default() }), schema_url: String::new(), tenant: None });
    let s = Arc::new(ScopeKey::default());
    let mut t = TraceData::default();
    for sp in spans {
        t.push(&r, &s, sp);
    }
    t
}

pub fn policy(yaml: &str) -> Policy {
    let cfg: PolicyConfig = serde_yaml_ng::from_str(yaml).expect("test policy YAML");
    let mut problems = Vec::new();
    cfg.validate("p", crate::policy_config::Level::Top, &mut problems);
    assert!(problems.is_empty(), "{problems:?}");
    Policy::from_config(&cfg).expect("policy builds")
}

pub fn eval(p: &mut Policy, t: &TraceData) -> Decision {
    eval_at(p, t, 0)
}

pub fn eval_at(p: &mut Policy, t: &TraceData, now_second: i64) -> Decision {
    p.evaluate(&EvalContext { trace_id: &[7; 16], trace: t, now_second })
}
