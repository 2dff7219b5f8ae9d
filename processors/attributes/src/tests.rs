//! Processor-level tests: include/exclude, copy on write, resource and span processors.

use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use tracegate_core::component::Consumer;
use tracegate_core::data::Traces;
use tracegate_core::testing::parse_config_messages;

use crate::testutil::*;
use crate::*;

fn attributes(yaml: &str) -> AttributesProcessor {
    let cfg: AttributesConfig = parse_config_messages(yaml).unwrap_or_else(|e| panic!("{e:?}"));
    let actions = Actions::compile(&cfg.actions, "actions").unwrap_or_else(|e| panic!("{e:?}"));
    let matcher = SpanMatcher::compile(cfg.include.as_ref(), cfg.exclude.as_ref(), "").unwrap_or_else(|e| panic!("{e:?}"));
    AttributesProcessor::new(actions, matcher, Sink::new())
}

fn span_proc(yaml: &str) -> SpanProcessor {
    let cfg: SpanConfig = parse_config_messages(yaml).unwrap_or_else(|e| panic!("{e:?}"));
    let rules = SpanRules::compile(&cfg).unwrap_or_else(|e| panic!("{e:?}"));
    let matcher = SpanMatcher::compile(cfg.include.as_ref(), cfg.exclude.as_ref(), "").unwrap_or_else(|e| panic!("{e:?}"));
    SpanProcessor::new(rules, matcher, Sink::new())
}

fn first_span(t: &Traces) -> &tracegate_core::data::Span {
    &t.resource_spans()[0].scope_spans[0].spans[0]
}

fn two_services() -> Traces {
    Traces::new(vec![
        batch("checkout", vec![span("GET /cart", 1, &[("http.method", s("GET"))]), span("db.query", 1, &[])]),
        batch("frontend", vec![span("GET /", 2, &[("http.method", s("GET"))])]),
    ])
}

#[test]
fn a_batch_no_rule_changes_passes_through_as_the_same_arc() {
    let p = attributes("{actions: [ {key: absent, value: x, action: update}, {key: nope, action: delete} ]}");
    let original = two_services();
    let mut t = original.clone();
    assert!(!p.process(&mut t));
    assert!(t.shares_with(&original), "no change must not clone the batch");

    let p = attributes("{actions: [ {key: env, value: prod, action: insert} ], include: {match_type: strict, services: [nobody]}}");
    let mut t = original.clone();
    assert!(!p.process(&mut t));
    assert!(t.shares_with(&original), "no span selected: no clone");

    let mut empty = Traces::default();
    let before = empty.clone();
    assert!(!p.process(&mut empty));
    assert!(empty.shares_with(&before), "empty batch passes through");
}

#[test]
fn a_changed_shared_batch_is_copied_and_the_original_is_untouched() {
    let p = attributes("{actions: [ {key: env, value: prod, action: insert} ], include: {match_type: strict, services: [frontend]}}");
    let original = two_services();
    let mut t = original.clone();
    assert!(p.process(&mut t));
    assert!(!t.shares_with(&original));
    assert_eq!(get(&t.resource_spans()[1].scope_spans[0].spans[0].attributes, "env"), Some(&s("prod")));
    assert_eq!(get(&t.resource_spans()[0].scope_spans[0].spans[0].attributes, "env"), None, "checkout not included");
    assert!(original.resource_spans().iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans).all(|s| get(&s.attributes, "env").is_none()));
}

#[test]
fn every_span_after_the_first_change_is_processed() {
    let p = attributes("{actions: [ {key: x, value: 1, action: upsert} ]}");
    let mut t = two_services();
    p.process(&mut t);
    let all: Vec<_> = t.resource_spans().iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans).collect();
    assert_eq!(all.len(), 3);
    assert!(all.iter().all(|s| get(&s.attributes, "x") == Some(&V::IntValue(1))));
}

#[test]
fn include_and_exclude_select_spans_exclude_wins() {
    let p = attributes(r#"{actions: [ {key: hit, value: true, action: insert} ],
        include: {match_type: regexp, span_names: ["^GET"]},
        exclude: {match_type: strict, services: [frontend]}}"#);
    let mut t = two_services();
    p.process(&mut t);
    let hit = |i: usize, j: usize| get(&t.resource_spans()[i].scope_spans[0].spans[j].attributes, "hit").is_some();
    assert!(hit(0, 0), "checkout GET /cart: included");
    assert!(!hit(0, 1), "db.query: name does not match");
    assert!(!hit(1, 0), "frontend: excluded");
}

#[test]
fn matching_by_attributes_kinds_resources_and_libraries() {
    let cases = [
        ("{match_type: strict, attributes: [{key: http.method, value: GET}]}", [true, false, true]),
        ("{match_type: strict, attributes: [{key: http.method}]}", [true, false, true]),
        ("{match_type: strict, attributes: [{key: http.method, value: 1}]}", [false, false, false]),
        ("{match_type: regexp, attributes: [{key: http.method, value: '^G'}]}", [true, false, true]),
        ("{match_type: strict, span_kinds: [SPAN_KIND_SERVER]}", [true, true, true]),
        ("{match_type: strict, span_kinds: [SPAN_KIND_CLIENT]}", [false, false, false]),
        ("{match_type: strict, resources: [{key: service.name, value: frontend}]}", [false, false, true]),
        ("{match_type: strict, libraries: [{name: lib}]}", [true, true, true]),
        ("{match_type: strict, libraries: [{name: lib, version: '2.0'}]}", [false, false, false]),
        ("{match_type: regexp, services: ['check']}", [true, true, false]),
    ];
    for (include, want) in cases {
        let p = attributes(&format!("{{actions: [ {{key: hit, value: 1, action: insert}} ], include: {include}}}"));
        let mut t = two_services();
        p.process(&mut t);
        let got: Vec<bool> = t.resource_spans().iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans).map(|s| get(&s.attributes, "hit").is_some()).collect();
        assert_eq!(got, want, "include {include}");
    }
}

#[test]
fn match_config_errors_carry_their_path() {
    let e = parse_config_messages::<AttributesConfig>(r#"{actions: [{key: a, action: delete}], include: {match_type: regexp, span_names: ["("]}}"#).err().unwrap_or_default();
    assert!(e.iter().any(|m| m.starts_with("include::span_names::0: invalid regex")), "{e:?}");
    let e = parse_config_messages::<AttributesConfig>(r#"{actions: [{key: a, action: delete}], exclude: {match_type: regexp, attributes: [{key: k, value: "["}]}}"#).err().unwrap_or_default();
    assert!(e.iter().any(|m| m.starts_with("exclude::attributes::0::value: invalid regex")), "{e:?}");
    let e = parse_config_messages::<AttributesConfig>("{actions: [{key: a, action: delete}], include: {services: [x]}}").err().unwrap_or_default();
    assert!(e.iter().any(|m| m.starts_with("include::match_type: missing")), "{e:?}");
    let e = parse_config_messages::<AttributesConfig>("{actions: [{key: a, action: delete}], include: {match_type: strict}}").err().unwrap_or_default();
    assert!(e.iter().any(|m| m.starts_with("include: set at least one")), "{e:?}");
    let e = parse_config_messages::<AttributesConfig>("{actions: [{key: a, action: delete}], include: {match_type: strict, span_kinds: [server]}}").err().unwrap_or_default();
    assert!(e.iter().any(|m| m.starts_with("include::span_kinds::0: unknown span kind")), "{e:?}");
}

#[test]
fn resource_processor_edits_resources_copy_on_write() {
    let cfg: ResourceConfig = parse_config_messages("attributes: [ {key: deployment.environment, value: prod, action: upsert}, {key: host.name, action: delete} ]").unwrap_or_else(|e| panic!("{e:?}"));
    let p = ResourceProcessor::new(Actions::compile(&cfg.attributes, "attributes").unwrap_or_else(|e| panic!("{e:?}")), Sink::new());
    let original = two_services();
    let mut t = original.clone();
    assert!(p.process(&mut t));
    for rs in t.resource_spans() {
        assert_eq!(get(&rs.resource.as_ref().map(|r| r.attributes.clone()).unwrap_or_default(), "deployment.environment"), Some(&s("prod")));
    }
    let mut again = t.clone();
    assert!(!p.process(&mut again), "already applied: nothing changes");
    assert!(again.shares_with(&t));
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

#[tokio::test]
async fn consume_sends_the_processed_batch_on() {
    let sink = Sink::new();
    let cfg: AttributesConfig = parse_config_messages("actions: [ {key: env, value: prod, action: insert} ]").unwrap_or_else(|e| panic!("{e:?}"));
    let p = AttributesProcessor::new(Actions::compile(&cfg.actions, "actions").unwrap_or_else(|e| panic!("{e:?}")), None, sink.clone() as Arc<dyn Consumer>);
    assert!(p.consume(two_services()).await.is_ok());
    let got = sink.batches();
    assert_eq!(got.len(), 1);
    assert_eq!(get(&first_span(&got[0]).attributes, "env"), Some(&s("prod")));
}
