use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use tracegate_core::component::Consumer;
use tracegate_core::telemetry::Metrics;
use tracegate_core::testing::{parse_config_messages, validated_config};

use super::*;
use tracegate_span_rules::testing::*;

fn rules(yaml: &str) -> FilterRules {
    validated_config::<FilterConfig>(yaml).unwrap_or_else(|e| panic!("{e:?}"))
}

fn problems(yaml: &str) -> Vec<String> {
    parse_config_messages::<FilterConfig>(yaml).err().unwrap_or_else(|| panic!("should be rejected: {yaml}"))
}

/// checkout: "GET /cart" (trace 1, server, 1000ns), "db.query" (trace 1, error status, 5000ns);
/// frontend: "GET /" (trace 2, http.status_code 200).
fn sample() -> Traces {
    let mut slow = with_status(span("db.query", 1, &[("db.system", s("postgres"))]), 2);
    slow.end_time_unix_nano = 6_000;
    slow.kind = 3;
    slow.parent_span_id = vec![9; 8];
    Traces::new(vec![
        batch("checkout", vec![span("GET /cart", 1, &[("http.method", s("GET"))]), slow]),
        batch("frontend", vec![span("GET /", 2, &[("http.status_code", V::IntValue(200)), ("ratio", V::DoubleValue(0.5))])]),
    ])
}

/// Names left after filtering `sample()` with one span condition.
fn kept(condition: &str) -> Vec<String> {
    let r = rules(&format!("traces: {{span: [{condition:?}]}}"));
    let mut t = sample();
    r.apply(&mut t).unwrap_or_else(|e| panic!("{condition}: {e}"));
    names(&t)
}

#[test]
fn ottl_conditions_drop_what_they_match() {
    let cases: &[(&str, &[&str])] = &[
        (r#"attributes["http.method"] == "GET""#, &["db.query", "GET /"]),
        (r#"resource.attributes["service.name"] == "checkout""#, &["GET /"]),
        (r#"name == "GET /""#, &["GET /cart", "db.query"]),
        (r#"IsMatch(name, "^GET")"#, &["db.query"]),
        (r#"not IsMatch(name, "^GET")"#, &["GET /cart", "GET /"]),
        ("kind == SPAN_KIND_CLIENT", &["GET /cart", "GET /"]),
        ("status.code == STATUS_CODE_ERROR", &["GET /cart", "GET /"]),
        ("status.code != STATUS_CODE_ERROR", &["db.query"]),
        ("end_time_unix_nano - start_time_unix_nano < 2000", &["db.query"]),
        ("end_time_unix_nano - start_time_unix_nano >= 5000", &["GET /cart", "GET /"]),
        (r#"attributes["http.status_code"] >= 200 and attributes["http.status_code"] < 300"#, &["GET /cart", "db.query"]),
        (r#"attributes["ratio"] > 0.4"#, &["GET /cart", "db.query"]),
        (r#"attributes["http.status_code"] == 200.0"#, &["GET /cart", "db.query"]),
        (r#"attributes["missing"] == nil"#, &[]),
        (r#"attributes["missing"] != nil"#, &["GET /cart", "db.query", "GET /"]),
        (r#"attributes["missing"] == "x""#, &["GET /cart", "db.query", "GET /"]),
        (r#"attributes["http.status_code"] == "200""#, &["GET /cart", "db.query", "GET /"]),
        (r#"attributes["http.method"] > 5"#, &["GET /cart", "db.query", "GET /"]),
        (r#"(name == "GET /" or name == "db.query") and not (kind == SPAN_KIND_CLIENT)"#, &["GET /cart", "db.query"]),
        ("IsRootSpan()", &["db.query"]),
        (r#"span.name == "GET /cart""#, &["db.query", "GET /"]),
        (r#"instrumentation_scope.name == "lib""#, &[]),
        (r#"trace_id.string == "02020202020202020202020202020202""#, &["GET /cart", "db.query"]),
        (r#"IsMatch(attributes["http.status_code"], "^2")"#, &["GET /cart", "db.query"]),
        ("false", &["GET /cart", "db.query", "GET /"]),
    ];
    for (cond, want) in cases {
        assert_eq!(kept(cond), *want, "condition {cond}");
    }
}

#[test]
fn whole_traces_are_dropped_when_one_span_matches() {
    let r = rules("traces: {trace: [\"status.code == STATUS_CODE_ERROR\"]}");
    let mut t = sample();
    assert_eq!(r.apply(&mut t), Ok(2));
    assert_eq!(names(&t), ["GET /"]);
    assert_eq!(t.resource_spans().len(), 1, "an emptied resource is removed");
}

#[test]
fn nothing_matched_means_no_copy() {
    let r = rules(r#"traces: {span: ['name == "nope"'], trace: ['name == "nope"']}"#);
    let original = sample();
    let mut t = original.clone();
    assert_eq!(r.apply(&mut t), Ok(0));
    assert!(t.shares_with(&original));
    let mut empty = Traces::default();
    assert_eq!(r.apply(&mut empty), Ok(0));
}

#[test]
fn legacy_spans_include_and_exclude() {
    let r = rules("spans: {exclude: {match_type: strict, services: [frontend]}}");
    let mut t = sample();
    assert_eq!(r.apply(&mut t), Ok(1));
    assert_eq!(names(&t), ["GET /cart", "db.query"]);
    let r = rules("spans: {include: {match_type: regexp, span_names: ['^GET']}}");
    let mut t = sample();
    assert_eq!(r.apply(&mut t), Ok(1));
    assert_eq!(names(&t), ["GET /cart", "GET /"]);
}

#[test]
fn evaluation_errors_follow_error_mode() {
    let conds = r#"traces: {span: ['attributes["http.method"] - 1 > 0', 'name == "GET /"']}"#;
    let mut t = sample();
    assert!(rules(conds).apply(&mut t).is_err(), "propagate is the default");
    for mode in ["ignore", "silent"] {
        let mut t = sample();
        assert_eq!(rules(&format!("{{error_mode: {mode}, {conds}}}")).apply(&mut t), Ok(1), "{mode}");
    }
}

#[test]
fn unsupported_or_invalid_conditions_are_config_errors_with_their_index() {
    let cases = [
        (r#"traces: {span: ['name == "a"', 'IsMatch(name, "(")']}"#, "traces::span::1:", "invalid regex"),
        (r#"traces: {span: ['replace_pattern(name, "a", "b")']}"#, "traces::span::0:", "not supported"),
        (r#"traces: {span: ['attributes["a"]["b"] == 1']}"#, "traces::span::0:", "nested"),
        (r#"traces: {span: ['events == 1']}"#, "traces::span::0:", "path events is not supported"),
        (r#"traces: {span: ['name']}"#, "traces::span::0:", "not a boolean"),
        (r#"traces: {span: ['name == "a" and']}"#, "traces::span::0:", "ends too early"),
        (r#"traces: {span: ['name == "a']}"#, "traces::span::0:", "unterminated"),
        (r#"traces: {span: ['name == "a" name']}"#, "traces::span::0:", "unexpected"),
        (r#"traces: {trace: ['1 and name == "a"']}"#, "traces::trace::0:", "boolean"),
        (r#"traces: {spanevent: ['name == "a"']}"#, "traces::spanevent:", "not supported"),
        (r#"{traces: {span: ['name == "a"']}, spans: {exclude: {match_type: strict, services: [x]}}}"#, "spans:", "cannot be used together"),
        (r#"spans: {exclude: {match_type: regexp, services: ["("]}}"#, "spans::exclude::services::0:", "invalid regex"),
        ("error_mode: loud", "error_mode:", "unknown variant"),
        (r#"traces: {span: ['name == "ü" and ü == 1']}"#, "traces::span::0:", "unexpected character"),
        (r#"traces: {span: ['attributes["n"] == 99999999999999999999']}"#, "traces::span::0:", "bad number"),
    ];
    for (yaml, path, text) in cases {
        let e = problems(yaml);
        assert!(e.iter().any(|m| m.starts_with(path) && m.contains(text)), "{yaml}: {e:?}");
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("{}name == \"a\"{}", "(".repeat(5000), ")".repeat(5000));
    let e = problems(&format!("traces: {{span: [{deep:?}]}}"));
    assert!(e.iter().any(|m| m.contains("nests too deeply")), "{e:?}");
    let nots = format!("{}name == \"a\"", "not ".repeat(5000));
    assert!(!problems(&format!("traces: {{span: [{nots:?}]}}")).is_empty());
}

#[tokio::test]
async fn drops_are_counted_and_an_emptied_batch_is_not_sent_on() {
    let metrics = Metrics::new();
    let m = metrics.processor("filter", "traces");
    let sink = Sink::new();
    let p = FilterProcessor::new(
        ComponentId::parse("filter").unwrap_or_else(|e| panic!("{e:?}")),
        rules(r#"traces: {span: ['IsMatch(name, ".*")']}"#),
        m.clone(),
        sink.clone() as Arc<dyn Consumer>,
    );
    assert!(p.consume(sample()).await.is_ok());
    assert_eq!(m.dropped.get(), 3);
    assert!(sink.batches().is_empty(), "nothing left to send");

    let p = FilterProcessor::new(
        ComponentId::parse("filter").unwrap_or_else(|e| panic!("{e:?}")),
        rules(r#"traces: {span: ['name == "GET /"']}"#),
        m.clone(),
        sink.clone() as Arc<dyn Consumer>,
    );
    assert!(p.consume(sample()).await.is_ok());
    assert_eq!(m.dropped.get(), 4);
    assert_eq!(sink.batches().len(), 1);
    assert_eq!(names(&sink.batches()[0]), ["GET /cart", "db.query"]);
}
