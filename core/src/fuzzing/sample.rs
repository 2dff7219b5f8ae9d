//! A request with every field and value shape OTLP traces have, from which the seed inputs
//! of the fuzz targets are made (each crate's `write_fuzz_seeds` encodes it its own way).

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value::Value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), key_strindex: 0 }
}

fn every_value() -> Vec<KeyValue> {
    vec![
        kv("http.route", Value::StringValue("/api/orders/{id}".into())),
        kv("http.status_code", Value::IntValue(500)),
        kv("error", Value::BoolValue(true)),
        kv("ratio", Value::DoubleValue(0.25)),
        kv("blob", Value::BytesValue(vec![0xbe, 0xef])),
        kv("list", Value::ArrayValue(ArrayValue { values: vec![AnyValue { value: Some(Value::IntValue(1)) }] })),
        kv("map", Value::KvlistValue(KeyValueList { values: vec![kv("inner", Value::StringValue("v".into()))] })),
    ]
}

/// Two resources; spans with a parent, events, a link, an error status and every value type.
pub fn sample_request() -> ExportTraceServiceRequest {
    let span = |n: u8, parent: Vec<u8>| Span {
        trace_id: vec![0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c],
        span_id: vec![0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, n],
        trace_state: "vendor=x".into(),
        parent_span_id: parent,
        flags: 0x301,
        name: format!("GET /api/orders/{n}"),
        kind: 2,
        start_time_unix_nano: 1_700_000_000_000_000_000 + u64::from(n) * 1000,
        end_time_unix_nano: 1_700_000_000_000_500_000,
        attributes: every_value(),
        dropped_attributes_count: 1,
        events: vec![Event {
            time_unix_nano: 1_700_000_000_000_100_000,
            name: "exception".into(),
            attributes: vec![kv("exception.message", Value::StringValue("boom".into()))],
            dropped_attributes_count: 0,
        }],
        dropped_events_count: 0,
        links: vec![Link {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            trace_state: String::new(),
            attributes: vec![kv("link", Value::IntValue(1))],
            dropped_attributes_count: 0,
            flags: 1,
        }],
        dropped_links_count: 0,
        status: Some(Status { message: "internal error".into(), code: 2 }),
    };
    let resource = |service: &str| Resource {
        attributes: vec![kv("service.name", Value::StringValue(service.into())), kv("host.name", Value::StringValue("web-1".into()))],
        dropped_attributes_count: 0,
        entity_refs: Vec::new(),
    };
    ExportTraceServiceRequest {
        resource_spans: vec![
            ResourceSpans {
                resource: Some(resource("checkout")),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope { name: "io.opentelemetry.http".into(), version: "1.0".into(), ..Default::default() }),
                    spans: vec![span(1, Vec::new()), span(2, vec![0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 1])],
                    schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
                }],
                schema_url: String::new(),
            },
            ResourceSpans {
                resource: Some(resource("payments")),
                scope_spans: vec![ScopeSpans { scope: None, spans: vec![span(3, Vec::new())], schema_url: String::new() }],
                schema_url: String::new(),
            },
        ],
    }
}
