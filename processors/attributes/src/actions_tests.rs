//! The attribute actions (the shared rule engine's [`Actions`]), driven through the
//! `attributes` processor's config as users write it.

use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use tracegate_core::testing::{parse_config_messages, validated_config};

use tracegate_span_rules::value::{self, kv};
use tracegate_span_rules::Actions;

use crate::config::AttributesConfig;

fn s(v: &str) -> V {
    V::StringValue(v.to_string())
}

fn attrs(pairs: &[(&str, V)]) -> Vec<KeyValue> {
    pairs.iter().map(|(k, v)| kv(k, v.clone())).collect()
}

fn get<'a>(a: &'a [KeyValue], key: &str) -> Option<&'a V> {
    value::find(a, key).and_then(value::value_of)
}

/// Compiles the actions of an `attributes` config written in YAML.
fn actions(yaml: &str) -> Actions {
    validated_config::<AttributesConfig>(yaml).unwrap_or_else(|e| panic!("config rejected: {e:?}")).edit
}

fn problems(yaml: &str) -> Vec<String> {
    match parse_config_messages::<AttributesConfig>(yaml) {
        Ok(_) => panic!("config should be rejected: {yaml}"),
        Err(e) => e,
    }
}

#[test]
fn insert_adds_only_missing_keys_with_typed_values() {
    let a = actions("actions: [ {key: env, value: prod, action: insert}, {key: n, value: 2245, action: insert}, {key: b, value: true, action: INSERT}, {key: f, value: 1.5, action: insert}, {key: q, value: '7', action: insert} ]");
    let mut x = attrs(&[("env", s("dev"))]);
    a.apply(&mut x);
    assert_eq!(get(&x, "env"), Some(&s("dev")), "insert never overwrites");
    assert_eq!(get(&x, "n"), Some(&V::IntValue(2245)));
    assert_eq!(get(&x, "b"), Some(&V::BoolValue(true)));
    assert_eq!(get(&x, "f"), Some(&V::DoubleValue(1.5)));
    assert_eq!(get(&x, "q"), Some(&s("7")), "a quoted number stays a string");
}

#[test]
fn update_changes_only_existing_keys_and_upsert_does_both() {
    let a = actions("actions: [ {key: a, value: new, action: update}, {key: missing, value: x, action: update}, {key: b, value: 1, action: upsert}, {key: c, value: 2, action: upsert} ]");
    let mut x = attrs(&[("a", s("old")), ("b", s("old"))]);
    a.apply(&mut x);
    assert_eq!(get(&x, "a"), Some(&s("new")));
    assert_eq!(get(&x, "missing"), None, "update does not insert");
    assert_eq!(get(&x, "b"), Some(&V::IntValue(1)));
    assert_eq!(get(&x, "c"), Some(&V::IntValue(2)));
    assert_eq!(x.len(), 3);
}

#[test]
fn from_attribute_copies_and_a_missing_source_does_nothing() {
    let a = actions("actions: [ {key: copy, from_attribute: orig, action: upsert}, {key: other, from_attribute: nope, action: upsert} ]");
    let mut x = attrs(&[("orig", V::IntValue(5))]);
    a.apply(&mut x);
    assert_eq!(get(&x, "copy"), Some(&V::IntValue(5)));
    assert_eq!(get(&x, "other"), None);
}

#[test]
fn delete_by_key_and_by_pattern() {
    let a = actions(r#"actions: [ {key: password, action: delete}, {pattern: "^secret\\.", action: delete} ]"#);
    let mut x = attrs(&[("password", s("p")), ("secret.a", s("1")), ("secret.b", s("2")), ("keep", s("k")), ("not.secret.c", s("3"))]);
    a.apply(&mut x);
    let keys: Vec<&str> = x.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["keep", "not.secret.c"]);
}

#[test]
fn hash_is_sha256_hex_of_existing_values_of_any_scalar_type() {
    let a = actions("actions: [ {key: email, action: hash}, {key: missing, action: hash}, {pattern: '^id', action: hash} ]");
    let mut x = attrs(&[("email", s("abc")), ("id_num", V::IntValue(1)), ("other", s("x"))]);
    a.apply(&mut x);
    assert_eq!(get(&x, "email"), Some(&s("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")));
    assert_eq!(get(&x, "missing"), None);
    let hashed_int = value::hash(Some(&V::IntValue(1)));
    assert_eq!(get(&x, "id_num"), Some(&s(&hashed_int)));
    assert_eq!(hashed_int.len(), 64);
    assert_eq!(get(&x, "other"), Some(&s("x")));
}

#[test]
fn extract_named_groups_into_attributes() {
    let a = actions(r#"actions: [ {key: http.url, pattern: "^(?P<http_protocol>.*):\\/\\/(?P<http_domain>[^/]*)(?P<http_path>.*)$", action: extract} ]"#);
    let mut x = attrs(&[("http.url", s("https://example.com/a/b")), ("http_path", s("stale"))]);
    a.apply(&mut x);
    assert_eq!(get(&x, "http_protocol"), Some(&s("https")));
    assert_eq!(get(&x, "http_domain"), Some(&s("example.com")));
    assert_eq!(get(&x, "http_path"), Some(&s("/a/b")), "existing targets are overwritten");
    assert_eq!(get(&x, "http.url"), Some(&s("https://example.com/a/b")), "the source stays");
}

#[test]
fn extract_ignores_non_strings_and_non_matches() {
    let a = actions(r#"actions: [ {key: v, pattern: "^(?P<digits>\\d+)$", action: extract} ]"#);
    let mut x = attrs(&[("v", V::IntValue(42))]);
    a.apply(&mut x);
    assert_eq!(x.len(), 1, "wrong type: nothing extracted");
    let mut y = attrs(&[("v", s("abc"))]);
    a.apply(&mut y);
    assert_eq!(y.len(), 1, "no match: nothing extracted");
}

#[test]
fn convert_changes_type_and_leaves_unconvertible_values() {
    let a = actions("actions: [ {key: code, action: convert, converted_type: int}, {key: bad, action: convert, converted_type: int}, {key: ratio, action: convert, converted_type: double}, {key: n, action: convert, converted_type: string}, {key: none, action: convert, converted_type: int} ]");
    let mut x = attrs(&[("code", s("200")), ("bad", s("2xx")), ("ratio", V::IntValue(3)), ("n", V::BoolValue(false))]);
    a.apply(&mut x);
    assert_eq!(get(&x, "code"), Some(&V::IntValue(200)));
    assert_eq!(get(&x, "bad"), Some(&s("2xx")));
    assert_eq!(get(&x, "ratio"), Some(&V::DoubleValue(3.0)));
    assert_eq!(get(&x, "n"), Some(&s("false")));
    assert_eq!(get(&x, "none"), None);
}

#[test]
fn actions_run_in_order() {
    let a = actions("actions: [ {key: a, value: '1', action: insert}, {key: a, action: convert, converted_type: int}, {key: b, from_attribute: a, action: insert} ]");
    let mut x = Vec::new();
    a.apply(&mut x);
    assert_eq!(get(&x, "b"), Some(&V::IntValue(1)));
}

#[test]
fn config_errors_name_the_action_and_field() {
    let e = problems(r#"actions: [ {key: a, value: 1, action: insert}, {key: u, pattern: "(", action: extract} ]"#);
    assert!(e.iter().any(|m| m.starts_with("actions::1::pattern: invalid regex")), "{e:?}");
    let e = problems(r#"actions: [ {key: u, pattern: "^(.*)$", action: extract} ]"#);
    assert!(e.iter().any(|m| m.starts_with("actions::0::pattern:") && m.contains("no named groups")), "{e:?}");
    let e = problems(r#"actions: [ {key: u, pattern: "^(?P<a>.)(.)$", action: extract} ]"#);
    assert!(e.iter().any(|m| m.starts_with("actions::0::pattern:") && m.contains("unnamed group")), "{e:?}");
    let e = problems(r#"actions: [ {pattern: "[", action: delete} ]"#);
    assert!(e.iter().any(|m| m.starts_with("actions::0::pattern: invalid regex")), "{e:?}");
    let e = problems("actions: [ {key: a, action: insert} ]");
    assert!(e.iter().any(|m| m.starts_with("actions::0:") && m.contains("needs \"value\"")), "{e:?}");
    let e = problems("actions: [ {key: a, value: 1, from_attribute: b, action: upsert} ]");
    assert!(e.iter().any(|m| m.contains("only one")), "{e:?}");
    let e = problems("actions: [ {key: a, action: convert, converted_type: float} ]");
    assert!(e.iter().any(|m| m.starts_with("actions::0::converted_type: unknown type")), "{e:?}");
    let e = problems("actions: [ {key: a, action: frobnicate} ]");
    assert!(e.iter().any(|m| m.starts_with("actions::0::action: unknown action")), "{e:?}");
    let e = problems("actions: [ {key: a, from_context: metadata.x, action: insert} ]");
    assert!(e.iter().any(|m| m.starts_with("actions::0::from_context: from_context is not supported")), "{e:?}");
    let e = problems("actions: [ {action: delete} ]");
    assert!(e.iter().any(|m| m.starts_with("actions::0::key:")), "{e:?}");
    let e = problems("actions: []");
    assert!(e.iter().any(|m| m.starts_with("actions: missing")), "{e:?}");
    let e = problems("actions: [ {key: a, value: 1, action: insert, bogus: 1} ]");
    assert!(e.iter().any(|m| m.contains("bogus")), "{e:?}");
}
