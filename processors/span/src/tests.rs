//! The span processor's rules through its config as users write it.

use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use tracegate_core::data::Traces;
use tracegate_core::testing::{parse_config_messages, validated_config};
use tracegate_span_rules::testing::*;

use crate::*;

fn span_proc(yaml: &str) -> SpanProcessor {
    SpanProcessor::new(validated_config::<SpanConfig>(yaml).unwrap_or_else(|e| panic!("{e:?}")), Sink::new())
}

#[test]
fn span_renames_from_attributes_only_when_all_are_present() {
    let p = span_proc(r#"name: {from_attributes: [db.svc, operation, n], separator: "::"}"#);
    let mut t = Traces::new(vec![batch("svc", vec![
        span("old", 1, &[("db.svc", s("location")), ("operation", s("get")), ("n", V::IntValue(3))]),
        span("keep", 1, &[("db.svc", s("location"))]),
    ])]);
    p.process(&mut t);
    assert_eq!(names(&t), ["location::get::3", "keep"]);
}

#[test]
fn span_to_attributes_extracts_and_rewrites_the_name() {
    let p = span_proc(r#"name: {to_attributes: {rules: ["^/api/v1/document/(?P<documentId>.*)/update$"]}}"#);
    let mut t = Traces::new(vec![batch("svc", vec![span("/api/v1/document/12345678/update", 1, &[]), span("/other", 1, &[])])]);
    p.process(&mut t);
    assert_eq!(names(&t), ["/api/v1/document/{documentId}/update", "/other"]);
    assert_eq!(get(&first_span(&t).attributes, "documentId"), Some(&s("12345678")));
}

#[test]
fn span_to_attributes_rules_chain_unless_break_after_match() {
    let rules = r#"rules: ["^/(?P<a>[^/]+)/", "/(?P<b>[^/{}]+)$"]"#;
    let p = span_proc(&format!("name: {{to_attributes: {{{rules}}}}}"));
    let mut t = Traces::new(vec![batch("svc", vec![span("/x/y", 1, &[])])]);
    p.process(&mut t);
    assert_eq!(names(&t), ["/{a}/{b}"]);
    let p = span_proc(&format!("name: {{to_attributes: {{{rules}, break_after_match: true}}}}"));
    let mut t = Traces::new(vec![batch("svc", vec![span("/x/y", 1, &[])])]);
    p.process(&mut t);
    assert_eq!(names(&t), ["/{a}/y"]);
}

#[test]
fn span_status_follows_the_collector() {
    let p = span_proc("status: {code: Error, description: boom}");
    let mut t = Traces::new(vec![batch("svc", vec![with_status(span("a", 1, &[]), 1)])]);
    p.process(&mut t);
    let st = first_span(&t).status.clone().unwrap_or_default();
    assert_eq!((st.code, st.message.as_str()), (2, "boom"), "the processor overwrites any status, Ok included");
    let p = span_proc("status: {code: Unset}");
    let original = Traces::new(vec![batch("svc", vec![span("a", 1, &[])])]);
    let mut t = original.clone();
    assert!(!p.process(&mut t), "already unset: no change");
    assert!(t.shares_with(&original));
}

#[test]
fn span_config_errors() {
    let e = parse_config_messages::<SpanConfig>("status: {code: Ok, description: x}").err().unwrap_or_default();
    assert!(e.iter().any(|m| m.starts_with("status::description:")), "{e:?}");
    let e = parse_config_messages::<SpanConfig>("status: {code: OK}").err().unwrap_or_default();
    assert!(e.iter().any(|m| m.starts_with("status::code: unknown")), "{e:?}");
    let e = parse_config_messages::<SpanConfig>(r#"name: {to_attributes: {rules: ["(?P<x>", "ok"]}}"#).err().unwrap_or_default();
    assert!(e.iter().any(|m| m.starts_with("name::to_attributes::rules::0: invalid regex")), "{e:?}");
    let e = parse_config_messages::<SpanConfig>("{}").err().unwrap_or_default();
    assert!(e.iter().any(|m| m.starts_with("nothing to do")), "{e:?}");
}
