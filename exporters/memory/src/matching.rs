//! Whether a span meets a [`TraceQuery`], by Jaeger v2's rules (its memory store's
//! `validSpan` / `findKeyValInTrace`): every condition must hold for this one span; a tag
//! matches an attribute of the span, its resource (process), its instrumentation scope, one of
//! its events (logs) or one of its links. Tag values are compared as Jaeger compares them, by
//! their string form, with numbers compared by value so `1.5` finds `1.50`.
//!
//! The tags Jaeger's model derives from OTLP fields match too, because that is what users of
//! the Jaeger UI search for: `span.kind`, `error`, `otel.status_code`, and the scope's name and
//! version as `otel.scope.name` / `otel.scope.version` (Jaeger v2's memory store reads them as
//! `scope.name` / `scope.version`; both spellings work).

use std::time::{Duration, UNIX_EPOCH};

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::Span;
use tracegate_core::storage::TraceQuery;

/// Jaeger's name for an OTLP span kind; empty when unspecified.
pub fn kind_name(kind: i32) -> &'static str {
    match kind {
        1 => "internal",
        2 => "server",
        3 => "client",
        4 => "producer",
        5 => "consumer",
        _ => "",
    }
}

pub fn span_duration(span: &Span) -> Duration {
    Duration::from_nanos(span.end_time_unix_nano.saturating_sub(span.start_time_unix_nano))
}

/// Where a span was recorded: its resource's attributes and its scope.
#[derive(Clone, Copy, Default)]
pub struct Origin<'a> {
    pub resource: &'a [KeyValue],
    pub scope: Option<&'a InstrumentationScope>,
}

/// The query's conditions except the service, which the caller checks on the resource.
pub fn span_matches(query: &TraceQuery, span: &Span, origin: Origin<'_>) -> bool {
    if query.operation.as_ref().is_some_and(|op| *op != span.name) {
        return false;
    }
    let start = UNIX_EPOCH + Duration::from_nanos(span.start_time_unix_nano);
    if query.start_min.is_some_and(|min| start < min) || query.start_max.is_some_and(|max| start > max) {
        return false;
    }
    let duration = span_duration(span);
    if query.duration_min.is_some_and(|min| duration < min) || query.duration_max.is_some_and(|max| duration > max) {
        return false;
    }
    query.tags.iter().all(|(k, v)| has_tag(span, origin, k, v))
}

fn has_tag(span: &Span, origin: Origin<'_>, key: &str, want: &str) -> bool {
    let in_list = |attrs: &[KeyValue]| attrs.iter().any(|a| a.key == key && value_matches(a, want));
    let scope = origin.scope;
    if in_list(&span.attributes)
        || in_list(origin.resource)
        || scope.is_some_and(|s| in_list(&s.attributes))
        || span.events.iter().any(|e| in_list(&e.attributes))
        || span.links.iter().any(|l| in_list(&l.attributes))
    {
        return true;
    }
    let status = span.status.as_ref().map_or(0, |s| s.code);
    match key {
        "otel.scope.name" | "scope.name" => scope.is_some_and(|s| !s.name.is_empty() && s.name == want),
        "otel.scope.version" | "scope.version" => scope.is_some_and(|s| !s.version.is_empty() && s.version == want),
        "span.kind" => kind_name(span.kind) == want && !want.is_empty(),
        "error" => status == StatusCode::Error as i32 && want == "true",
        "otel.status_code" => {
            (status == StatusCode::Error as i32 && want == "ERROR") || (status == StatusCode::Ok as i32 && want == "OK")
        }
        _ => false,
    }
}

fn value_matches(attr: &KeyValue, want: &str) -> bool {
    let Some(value) = attr.value.as_ref().and_then(|v| v.value.as_ref()) else {
        return want.is_empty();
    };
    match value {
        Value::StringValue(s) => s == want,
        Value::BoolValue(b) => want == if *b { "true" } else { "false" },
        Value::IntValue(i) => want.parse::<i64>().is_ok_and(|w| w == *i),
        Value::DoubleValue(f) => want.parse::<f64>().is_ok_and(|w| w == *f),
        Value::BytesValue(b) => b.iter().map(|x| format!("{x:02x}")).collect::<String>() == want.to_ascii_lowercase(),
        // Jaeger shows maps and arrays as JSON strings; matching them is not worth a codec here.
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::AnyValue;
    use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
    use opentelemetry_proto::tonic::trace::v1::Status;

    use super::*;

    fn kv(key: &str, value: Value) -> KeyValue {
        KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
    }

    fn query(tags: &[(&str, &str)]) -> TraceQuery {
        TraceQuery { tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), ..Default::default() }
    }

    #[test]
    fn tags_match_span_resource_and_event_attributes_by_value() {
        let span = Span {
            kind: 2,
            status: Some(Status { code: StatusCode::Error as i32, ..Default::default() }),
            attributes: vec![kv("n", Value::IntValue(7)), kv("f", Value::DoubleValue(1.5)), kv("b", Value::BoolValue(true))],
            events: vec![Event { attributes: vec![kv("event", Value::StringValue("retry".into()))], ..Default::default() }],
            ..Default::default()
        };
        let resource = [kv("host", Value::StringValue("h1".into())), kv("raw", Value::BytesValue(vec![0xab, 1]))];
        let origin = Origin { resource: &resource, scope: None };
        for tags in [
            &[("n", "7"), ("f", "1.50"), ("b", "true")][..],
            &[("host", "h1"), ("event", "retry"), ("raw", "AB01")],
            &[("span.kind", "server"), ("error", "true"), ("otel.status_code", "ERROR")],
        ] {
            assert!(span_matches(&query(tags), &span, origin), "{tags:?}");
        }
        for tags in [&[("n", "8")][..], &[("b", "false")], &[("host", "h2")], &[("span.kind", "client")], &[("n", "7"), ("x", "1")]] {
            assert!(!span_matches(&query(tags), &span, origin), "{tags:?}");
        }
    }

    #[test]
    fn tags_match_scope_and_link_attributes_and_the_scope_name() {
        let span = Span {
            links: vec![Link { attributes: vec![kv("reason", Value::StringValue("retry".into()))], ..Default::default() }],
            ..Default::default()
        };
        let scope = InstrumentationScope {
            name: "jdbc".into(),
            version: "2.1".into(),
            attributes: vec![kv("team", Value::IntValue(7))],
            ..Default::default()
        };
        let origin = Origin { resource: &[], scope: Some(&scope) };
        for tags in [
            &[("reason", "retry"), ("team", "7")][..],
            &[("otel.scope.name", "jdbc"), ("otel.scope.version", "2.1")],
            &[("scope.name", "jdbc"), ("scope.version", "2.1")],
        ] {
            assert!(span_matches(&query(tags), &span, origin), "{tags:?}");
        }
        for tags in [&[("reason", "batch")][..], &[("team", "8")], &[("otel.scope.name", "netty")], &[("scope.version", "")]] {
            assert!(!span_matches(&query(tags), &span, origin), "{tags:?}");
        }
        assert!(!span_matches(&query(&[("team", "7")]), &span, Origin::default()), "no scope, no scope attributes");
    }

    #[test]
    fn duration_and_time_bounds_apply_to_the_span() {
        let span = Span { start_time_unix_nano: 2_000_000_000, end_time_unix_nano: 2_500_000_000, ..Default::default() };
        let at = |s: u64| Some(UNIX_EPOCH + Duration::from_secs(s));
        let ms = |m: u64| Some(Duration::from_millis(m));
        let ok = |q: TraceQuery| span_matches(&q, &span, Origin::default());
        assert!(ok(TraceQuery { duration_min: ms(500), duration_max: ms(500), start_min: at(2), start_max: at(2), ..Default::default() }));
        assert!(!ok(TraceQuery { duration_min: ms(501), ..Default::default() }));
        assert!(!ok(TraceQuery { duration_max: ms(499), ..Default::default() }));
        assert!(!ok(TraceQuery { start_min: at(3), ..Default::default() }));
        assert!(!ok(TraceQuery { start_max: at(1), ..Default::default() }));
        assert!(!ok(TraceQuery { operation: Some("x".into()), ..Default::default() }));
    }
}
