//! A batch that exercises every part of the OTLP tree, for byte-identical round trips.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use tracegate_core::{ComponentId, CreateContext, Traces};

fn attr(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

pub(crate) fn sample_traces() -> Traces {
    let span = |i: u8| Span {
        trace_id: vec![0xab; 16],
        span_id: vec![i; 8],
        parent_span_id: if i == 1 { vec![] } else { vec![1; 8] },
        name: format!("op-{i}"),
        kind: span::SpanKind::Server as i32,
        start_time_unix_nano: 1_700_000_000_000_000_000 + u64::from(i),
        end_time_unix_nano: 1_700_000_000_500_000_000,
        attributes: vec![
            attr("http.status_code", any_value::Value::IntValue(200)),
            attr("error", any_value::Value::BoolValue(i == 2)),
        ],
        events: vec![span::Event {
            name: "log".into(),
            time_unix_nano: 5,
            ..Default::default()
        }],
        status: Some(Status {
            code: 2,
            message: "boom".into(),
        }),
        ..Default::default()
    };
    Traces::new(vec![ResourceSpans {
        resource: Some(Resource {
            attributes: vec![attr(
                "service.name",
                any_value::Value::StringValue("checkout".into()),
            )],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            scope: Some(InstrumentationScope {
                name: "lib".into(),
                version: "1.0".into(),
                ..Default::default()
            }),
            spans: (1..=3).map(span).collect(),
            ..Default::default()
        }],
        schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
    }])
}

pub(crate) fn ctx(id: &str) -> CreateContext {
    CreateContext::new(
        ComponentId::parse(id).unwrap(),
        tracegate_core::telemetry::Telemetry::new(),
    )
}
