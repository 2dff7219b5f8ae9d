//! Builders for policy tests: traces held as the processor holds them (OTLP bytes under
//! interned heads), built from prost structs for readability.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use tracegate_core::data::Span;

use super::{Decision, EvalContext, Policy};
use crate::heads::Heads;
use crate::held::{HeldTrace, TraceView};
use crate::ingest::head;
use crate::policy_config::PolicyConfig;

pub fn kv(key: &str, v: Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(v) }), ..Default::default() }
}

pub fn span(attrs: Vec<KeyValue>) -> Span {
    Span { trace_id: vec![1; 16], span_id: vec![2; 8], attributes: attrs, start_time_unix_nano: 1_000_000_000, end_time_unix_nano: 1_001_000_000, ..Default::default() }
}

/// A held trace with the heads its records name.
pub struct TestTrace {
    resources: Heads,
    held: HeldTrace,
}

impl TestTrace {
    pub fn view(&self) -> TraceView<'_> {
        TraceView::new(&self.held, &self.resources)
    }
}

pub fn trace_with(resource_attrs: Vec<KeyValue>, spans: Vec<Span>) -> TestTrace {
    let mut resources = Heads::default();
    let resource = Resource { attributes: resource_attrs, ..Default::default() }.encode_to_vec();
    let mut held = HeldTrace::default();
    for s in spans {
        let r = resources.intern(None, &head(Some(&resource), ""));
        held.push_spans(r, 0, &[&s.encode_to_vec()]);
    }
    TestTrace { resources, held }
}

pub fn policy(yaml: &str) -> Policy {
    let cfg: PolicyConfig = serde_yaml_ng::from_str(yaml).expect("test policy YAML");
    let mut problems = Vec::new();
    cfg.validate("p", crate::policy_config::Level::Top, &mut problems);
    assert!(problems.is_empty(), "{problems:?}");
    Policy::from_config(&cfg).expect("policy builds")
}

pub fn eval(p: &mut Policy, t: &TestTrace) -> Decision {
    eval_at(p, t, 0)
}

pub fn eval_at(p: &mut Policy, t: &TestTrace, now_second: i64) -> Decision {
    p.evaluate(&EvalContext { trace_id: &[7; 16], trace: &t.view(), now_second })
}
