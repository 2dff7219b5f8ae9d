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
//!
//! Spans, resources and scopes are read through the view traits of `tracegate_pdata::read`,
//! so the matcher takes a span in either form a batch has: the structs this store keeps, or
//! request bytes read in place, with nothing decoded to be searched (the tests hold both
//! forms to the same answers).

use std::time::{Duration, UNIX_EPOCH};

use tracegate_core::storage::TraceQuery;
use tracegate_pdata::read::{AnyValueRead, AttributeRead, AttributesRead, Read, ScopeRead, SpanRead, Value};

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

/// `StatusCode` numbers (`opentelemetry_proto`'s `status::StatusCode`).
const STATUS_OK: i32 = 1;
const STATUS_ERROR: i32 = 2;

/// Where a span was recorded: its resource and its scope, each read through the view traits
/// of `tracegate_pdata::read` (the borrowed structs, or views of request bytes).
pub struct Origin<R, C> {
    pub resource: Option<R>,
    pub scope: Option<C>,
}

/// The query's conditions except the service, which the caller checks on the resource. The
/// span is read through the view traits, so a batch is matched in whichever form it is,
/// without a decode; an error is bytes a view refuses (never for structs).
pub fn span_matches<'a, S, R, C>(query: &TraceQuery, span: &S, origin: &Origin<R, C>) -> Read<bool>
where
    S: SpanRead<'a>,
    R: AttributesRead<'a>,
    C: ScopeRead<'a>,
{
    if query.operation.as_ref().is_some_and(|op| op != span.name()) {
        return Ok(false);
    }
    let start = UNIX_EPOCH + Duration::from_nanos(span.start_time_unix_nano());
    if query.start_min.is_some_and(|min| start < min) || query.start_max.is_some_and(|max| start > max) {
        return Ok(false);
    }
    let duration = Duration::from_nanos(span.end_time_unix_nano().saturating_sub(span.start_time_unix_nano()));
    if query.duration_min.is_some_and(|min| duration < min) || query.duration_max.is_some_and(|max| duration > max) {
        return Ok(false);
    }
    for (k, v) in &query.tags {
        if !has_tag(span, origin, k, v)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Whether one of `attrs` is `key` with the value `want`.
fn in_list<'a, A: AttributeRead<'a>>(attrs: impl Iterator<Item = Read<A>>, key: &str, want: &str) -> Read<bool> {
    for attr in attrs {
        let attr = attr?;
        if attr.key() == key && value_matches(&attr, want)? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn has_tag<'a, S, R, C>(span: &S, origin: &Origin<R, C>, key: &str, want: &str) -> Read<bool>
where
    S: SpanRead<'a>,
    R: AttributesRead<'a>,
    C: ScopeRead<'a>,
{
    let scope = origin.scope.as_ref();
    if in_list(span.attributes(), key, want)?
        || origin.resource.as_ref().map_or(Ok(false), |r| in_list(r.attributes(), key, want))?
        || scope.map_or(Ok(false), |s| in_list(s.attributes(), key, want))?
    {
        return Ok(true);
    }
    for event in span.events() {
        if in_list(event?.attributes(), key, want)? {
            return Ok(true);
        }
    }
    for link in span.links() {
        if in_list(link?.attributes(), key, want)? {
            return Ok(true);
        }
    }
    let status = span.status().map_or(0, |s| s.code);
    Ok(match key {
        "otel.scope.name" | "scope.name" => scope.is_some_and(|s| !s.name().is_empty() && s.name() == want),
        "otel.scope.version" | "scope.version" => scope.is_some_and(|s| !s.version().is_empty() && s.version() == want),
        "span.kind" => kind_name(span.kind()) == want && !want.is_empty(),
        "error" => status == STATUS_ERROR && want == "true",
        "otel.status_code" => (status == STATUS_ERROR && want == "ERROR") || (status == STATUS_OK && want == "OK"),
        _ => false,
    })
}

fn value_matches<'a, A: AttributeRead<'a>>(attr: &A, want: &str) -> Read<bool> {
    let Some(value) = attr.value() else { return Ok(want.is_empty()) };
    Ok(match value.value() {
        Value::Empty => want.is_empty(),
        Value::Str(s) => s == want,
        Value::Bool(b) => want == if b { "true" } else { "false" },
        Value::Int(i) => want.parse::<i64>().is_ok_and(|w| w == i),
        Value::Double(f) => want.parse::<f64>().is_ok_and(|w| w == f),
        Value::Bytes(b) => b.iter().map(|x| format!("{x:02x}")).collect::<String>() == want.to_ascii_lowercase(),
        // Jaeger shows maps and arrays as JSON strings; matching them is not worth a codec here.
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
    use prost::Message;
    use tracegate_pdata::read::{ResourceSpansRead, ScopeSpansRead, TracesRead};
    use tracegate_pdata::view;

    use super::*;

    fn kv(key: &str, value: V) -> KeyValue {
        KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
    }

    fn query(tags: &[(&str, &str)]) -> TraceQuery {
        TraceQuery { tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), ..Default::default() }
    }

    /// Whether `span` (under `resource` and `scope`) meets `q`, read as structs and read in
    /// place from its request bytes: the two must agree.
    fn matches(q: &TraceQuery, span: &Span, resource: Option<&Resource>, scope: Option<&InstrumentationScope>) -> bool {
        let rs = ResourceSpans {
            resource: resource.cloned(),
            scope_spans: vec![ScopeSpans { scope: scope.cloned(), spans: vec![span.clone()], ..Default::default() }],
            ..Default::default()
        };
        let as_structs = span_matches(q, &span, &Origin { resource, scope }).expect("structs never fail");
        let bytes = ExportTraceServiceRequest { resource_spans: vec![rs] }.encode_to_vec();
        let rs = view::resource_spans(&bytes).expect("view").resource_spans().next().expect("one").expect("read");
        let ss = rs.scope_spans().next().expect("one").expect("read");
        let span = ss.spans().next().expect("one").expect("read");
        let origin = Origin { resource: rs.resource(), scope: ss.scope().expect("scope") };
        let in_place = span_matches(q, &span, &origin).expect("valid bytes");
        assert_eq!(as_structs, in_place, "structs and bytes agree on {q:?}");
        as_structs
    }

    #[test]
    fn tags_match_span_resource_and_event_attributes_by_value() {
        let span = Span {
            kind: 2,
            status: Some(Status { code: STATUS_ERROR, ..Default::default() }),
            attributes: vec![kv("n", V::IntValue(7)), kv("f", V::DoubleValue(1.5)), kv("b", V::BoolValue(true))],
            events: vec![Event { attributes: vec![kv("event", V::StringValue("retry".into()))], ..Default::default() }],
            ..Default::default()
        };
        let resource = Resource {
            attributes: vec![kv("host", V::StringValue("h1".into())), kv("raw", V::BytesValue(vec![0xab, 1]))],
            ..Default::default()
        };
        for tags in [
            &[("n", "7"), ("f", "1.50"), ("b", "true")][..],
            &[("host", "h1"), ("event", "retry"), ("raw", "AB01")],
            &[("span.kind", "server"), ("error", "true"), ("otel.status_code", "ERROR")],
        ] {
            assert!(matches(&query(tags), &span, Some(&resource), None), "{tags:?}");
        }
        for tags in [&[("n", "8")][..], &[("b", "false")], &[("host", "h2")], &[("span.kind", "client")], &[("n", "7"), ("x", "1")]] {
            assert!(!matches(&query(tags), &span, Some(&resource), None), "{tags:?}");
        }
    }

    #[test]
    fn tags_match_scope_and_link_attributes_and_the_scope_name() {
        let span = Span {
            links: vec![Link { attributes: vec![kv("reason", V::StringValue("retry".into()))], ..Default::default() }],
            ..Default::default()
        };
        let scope = InstrumentationScope {
            name: "jdbc".into(),
            version: "2.1".into(),
            attributes: vec![kv("team", V::IntValue(7))],
            ..Default::default()
        };
        for tags in [
            &[("reason", "retry"), ("team", "7")][..],
            &[("otel.scope.name", "jdbc"), ("otel.scope.version", "2.1")],
            &[("scope.name", "jdbc"), ("scope.version", "2.1")],
        ] {
            assert!(matches(&query(tags), &span, None, Some(&scope)), "{tags:?}");
        }
        for tags in [&[("reason", "batch")][..], &[("team", "8")], &[("otel.scope.name", "netty")], &[("scope.version", "")]] {
            assert!(!matches(&query(tags), &span, None, Some(&scope)), "{tags:?}");
        }
        assert!(!matches(&query(&[("team", "7")]), &span, None, None), "no scope, no scope attributes");
    }

    #[test]
    fn duration_and_time_bounds_apply_to_the_span() {
        let span = Span { start_time_unix_nano: 2_000_000_000, end_time_unix_nano: 2_500_000_000, ..Default::default() };
        let at = |s: u64| Some(UNIX_EPOCH + Duration::from_secs(s));
        let ms = |m: u64| Some(Duration::from_millis(m));
        let ok = |q: TraceQuery| matches(&q, &span, None, None);
        assert!(ok(TraceQuery { duration_min: ms(500), duration_max: ms(500), start_min: at(2), start_max: at(2), ..Default::default() }));
        assert!(!ok(TraceQuery { duration_min: ms(501), ..Default::default() }));
        assert!(!ok(TraceQuery { duration_max: ms(499), ..Default::default() }));
        assert!(!ok(TraceQuery { start_min: at(3), ..Default::default() }));
        assert!(!ok(TraceQuery { start_max: at(1), ..Default::default() }));
        assert!(!ok(TraceQuery { operation: Some("x".into()), ..Default::default() }));
    }
}
