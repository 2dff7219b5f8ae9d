//! Processor-level tests: include/exclude, copy on write, consuming.

use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use tracegate_core::component::Consumer;
use tracegate_core::data::Traces;
use tracegate_core::testing::{parse_config_messages, validated_config};

use tracegate_span_rules::testing::*;

use crate::*;

fn attributes(yaml: &str) -> AttributesProcessor {
    AttributesProcessor::new(validated_config::<AttributesConfig>(yaml).unwrap_or_else(|e| panic!("{e:?}")), Sink::new())
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

#[tokio::test]
async fn consume_sends_the_processed_batch_on() {
    let sink = Sink::new();
    let rules = validated_config::<AttributesConfig>("actions: [ {key: env, value: prod, action: insert} ]").unwrap_or_else(|e| panic!("{e:?}"));
    let p = AttributesProcessor::new(rules, sink.clone() as Arc<dyn Consumer>);
    assert!(p.consume(two_services()).await.is_ok());
    let got = sink.batches();
    assert_eq!(got.len(), 1);
    assert_eq!(get(&first_span(&got[0]).attributes, "env"), Some(&s("prod")));
}
