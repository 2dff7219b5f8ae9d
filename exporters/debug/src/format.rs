//! Turns a batch into the text the debug exporter logs, one function per verbosity.
//!
//! Formatting is kept apart from logging so the text can be tested exactly, and so the
//! exporter logs one event per batch (a multi-line message) rather than thousands of events
//! that other log lines could interleave with. The `detailed` layout follows the Collector's
//! `otlptext` marshaler line for line, so output can be compared with a Collector's.

use std::fmt::Write;

use opentelemetry_proto::tonic::common::v1::KeyValue;
use tracegate_core::config::format_go_duration;
use tracegate_core::data::Span;
use tracegate_core::Traces;

use crate::config::Verbosity;
use crate::values::{go_time, hex, kind_name, status_name, typed_value};

/// The whole log message for one batch. The first line is always the basic summary.
pub fn format_batch(verbosity: Verbosity, traces: &Traces) -> String {
    let mut out = summary(traces);
    match verbosity {
        Verbosity::Basic => {}
        Verbosity::Normal => normal(&mut out, traces),
        Verbosity::Detailed => detailed(&mut out, traces),
    }
    out
}

/// `Traces: 1 resource spans, 3 spans` — the counts the Collector logs at basic verbosity.
pub fn summary(traces: &Traces) -> String {
    format!("Traces: {} resource spans, {} spans", traces.resource_spans().len(), traces.span_count())
}

fn spans(traces: &Traces) -> impl Iterator<Item = &Span> {
    traces.resource_spans().iter().flat_map(|rs| &rs.scope_spans).flat_map(|ss| &ss.spans)
}

fn duration(span: &Span) -> String {
    let nanos = span.end_time_unix_nano.saturating_sub(span.start_time_unix_nano);
    format_go_duration(std::time::Duration::from_nanos(nanos))
}

fn normal(out: &mut String, traces: &Traces) {
    for span in spans(traces) {
        let _ = write!(
            out,
            "\n{} {} {} kind={} duration={}",
            hex(&span.trace_id),
            hex(&span.span_id),
            span.name,
            kind_name(span.kind),
            duration(span),
        );
    }
}

fn attributes(out: &mut String, indent: &str, attrs: &[KeyValue]) {
    for kv in attrs {
        let _ = write!(out, "\n{indent}-> {}: {}", kv.key, typed_value(kv.value.as_ref()));
    }
}

fn detailed(out: &mut String, traces: &Traces) {
    for (i, rs) in traces.resource_spans().iter().enumerate() {
        let _ = write!(out, "\nResourceSpans #{i}\nResource SchemaURL: {}", rs.schema_url);
        if let Some(resource) = &rs.resource {
            if !resource.attributes.is_empty() {
                out.push_str("\nResource attributes:");
                attributes(out, "     ", &resource.attributes);
            }
        }
        for (j, ss) in rs.scope_spans.iter().enumerate() {
            let _ = write!(out, "\nScopeSpans #{j}\nScopeSpans SchemaURL: {}", ss.schema_url);
            let scope = ss.scope.clone().unwrap_or_default();
            let _ = write!(out, "\nInstrumentationScope {} {}", scope.name, scope.version);
            if !scope.attributes.is_empty() {
                out.push_str("\nInstrumentationScope attributes:");
                attributes(out, "     ", &scope.attributes);
            }
            for (k, span) in ss.spans.iter().enumerate() {
                detailed_span(out, k, span);
            }
        }
    }
}

fn detailed_span(out: &mut String, k: usize, span: &Span) {
    let status = span.status.clone().unwrap_or_default();
    let _ = write!(
        out,
        "\nSpan #{k}\
         \n    Trace ID       : {}\
         \n    Parent ID      : {}\
         \n    ID             : {}\
         \n    Name           : {}\
         \n    Kind           : {}\
         \n    Start time     : {}\
         \n    End time       : {}\
         \n    Status code    : {}\
         \n    Status message : {}",
        hex(&span.trace_id),
        hex(&span.parent_span_id),
        hex(&span.span_id),
        span.name,
        kind_name(span.kind),
        go_time(span.start_time_unix_nano),
        go_time(span.end_time_unix_nano),
        status_name(status.code),
        status.message,
    );
    if !span.trace_state.is_empty() {
        let _ = write!(out, "\n    TraceState     : {}", span.trace_state);
    }
    if !span.attributes.is_empty() {
        out.push_str("\nAttributes:");
        attributes(out, "     ", &span.attributes);
    }
    if !span.events.is_empty() {
        out.push_str("\nEvents:");
    }
    for (e, event) in span.events.iter().enumerate() {
        let _ = write!(
            out,
            "\nSpanEvent #{e}\n     -> Name: {}\n     -> Timestamp: {}\n     -> DroppedAttributesCount: {}",
            event.name,
            go_time(event.time_unix_nano),
            event.dropped_attributes_count,
        );
        if !event.attributes.is_empty() {
            out.push_str("\n     -> Attributes::");
            attributes(out, "          ", &event.attributes);
        }
    }
    if !span.links.is_empty() {
        out.push_str("\nLinks:");
    }
    for (l, link) in span.links.iter().enumerate() {
        let _ = write!(
            out,
            "\nSpanLink #{l}\n     -> Trace ID: {}\n     -> ID: {}\n     -> TraceState: {}\n     -> DroppedAttributesCount: {}",
            hex(&link.trace_id),
            hex(&link.span_id),
            link.trace_state,
            link.dropped_attributes_count,
        );
        if !link.attributes.is_empty() {
            out.push_str("\n     -> Attributes::");
            attributes(out, "          ", &link.attributes);
        }
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
    use opentelemetry_proto::tonic::trace::v1::Status;
    use tracegate_core::data::{ResourceSpans, ScopeSpans};

    use super::*;

    fn kv(key: &str, value: Value) -> KeyValue {
        KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
    }

    const START: u64 = 1_581_452_772_000_000_000;

    fn sample() -> Traces {
        let checkout = Span {
            trace_id: vec![0x5b; 16],
            span_id: vec![1, 2, 3, 4, 5, 6, 7, 8],
            parent_span_id: vec![0xee; 8],
            name: "GET /checkout".into(),
            kind: 2,
            start_time_unix_nano: START,
            end_time_unix_nano: START + 1_500_000,
            attributes: vec![kv("http.status_code", Value::IntValue(500))],
            events: vec![Event {
                time_unix_nano: START + 1_000,
                name: "exception".into(),
                attributes: vec![kv("exception.message", Value::StringValue("boom".into()))],
                dropped_attributes_count: 1,
            }],
            links: vec![Link {
                trace_id: vec![0xab; 16],
                span_id: vec![0xcd; 8],
                trace_state: "vendor=1".into(),
                ..Default::default()
            }],
            status: Some(Status { message: "upstream failed".into(), code: 2 }),
            ..Default::default()
        };
        let query = Span {
            trace_id: vec![0x5b; 16],
            span_id: vec![9; 8],
            name: "SELECT".into(),
            kind: 3,
            start_time_unix_nano: START,
            end_time_unix_nano: START + 2_000_000_000,
            ..Default::default()
        };
        Traces::new(vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", Value::StringValue("shop".into()))],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope { name: "shop-lib".into(), version: "1.2".into(), ..Default::default() }),
                spans: vec![checkout, query],
                schema_url: String::new(),
            }],
            schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
        }])
    }

    #[test]
    fn basic_is_one_line_of_counts() {
        assert_eq!(format_batch(Verbosity::Basic, &sample()), "Traces: 1 resource spans, 2 spans");
        assert_eq!(format_batch(Verbosity::Basic, &Traces::default()), "Traces: 0 resource spans, 0 spans");
    }

    #[test]
    fn normal_is_one_line_per_span() {
        let text = format_batch(Verbosity::Normal, &sample());
        let trace = "5b".repeat(16);
        assert_eq!(
            text,
            format!(
                "Traces: 1 resource spans, 2 spans\n\
                 {trace} 0102030405060708 GET /checkout kind=Server duration=1.5ms\n\
                 {trace} 0909090909090909 SELECT kind=Client duration=2s"
            )
        );
    }

    #[test]
    fn detailed_shows_every_field() {
        let text = format_batch(Verbosity::Detailed, &sample());
        let expected = format!(
            "Traces: 1 resource spans, 2 spans
ResourceSpans #0
Resource SchemaURL: https://opentelemetry.io/schemas/1.21.0
Resource attributes:
     -> service.name: Str(shop)
ScopeSpans #0
ScopeSpans SchemaURL: 
InstrumentationScope shop-lib 1.2
Span #0
    Trace ID       : {t}
    Parent ID      : eeeeeeeeeeeeeeee
    ID             : 0102030405060708
    Name           : GET /checkout
    Kind           : Server
    Start time     : 2020-02-11 20:26:12 +0000 UTC
    End time       : 2020-02-11 20:26:12.0015 +0000 UTC
    Status code    : Error
    Status message : upstream failed
Attributes:
     -> http.status_code: Int(500)
Events:
SpanEvent #0
     -> Name: exception
     -> Timestamp: 2020-02-11 20:26:12.000001 +0000 UTC
     -> DroppedAttributesCount: 1
     -> Attributes::
          -> exception.message: Str(boom)
Links:
SpanLink #0
     -> Trace ID: {l}
     -> ID: cdcdcdcdcdcdcdcd
     -> TraceState: vendor=1
     -> DroppedAttributesCount: 0
Span #1
    Trace ID       : {t}
    Parent ID      : 
    ID             : 0909090909090909
    Name           : SELECT
    Kind           : Client
    Start time     : 2020-02-11 20:26:12 +0000 UTC
    End time       : 2020-02-11 20:26:14 +0000 UTC
    Status code    : Unset
    Status message : ",
            t = "5b".repeat(16),
            l = "ab".repeat(16),
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn end_before_start_is_a_zero_duration_not_a_panic() {
        let span = Span { start_time_unix_nano: 10, end_time_unix_nano: 5, ..Default::default() };
        assert_eq!(duration(&span), "0s");
    }
}
