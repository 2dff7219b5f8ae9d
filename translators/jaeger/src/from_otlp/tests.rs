//! OTLP -> Jaeger rules, and the round trip OTLP -> Jaeger proto -> OTLP.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

use crate::proto::{self, SpanRefType, ValueType};
use crate::{otlp_to_jaeger, proto_to_otlp};

fn kv(k: &str, v: Value) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn s(v: &str) -> Value {
    Value::StringValue(v.into())
}

const TRACE: [u8; 16] = [
    0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1, 0x80, 0, 0, 0, 0, 0, 0, 2,
];

fn link(trace: [u8; 16], span: u64, ref_type: &str) -> Link {
    Link {
        trace_id: trace.to_vec(),
        span_id: span.to_be_bytes().to_vec(),
        attributes: vec![kv("opentracing.ref_type", s(ref_type))],
        ..Default::default()
    }
}

fn span(id: u64, kind: SpanKind, status: Option<Status>) -> Span {
    Span {
        trace_id: TRACE.to_vec(),
        span_id: id.to_be_bytes().to_vec(),
        parent_span_id: 1u64.to_be_bytes().to_vec(),
        flags: 1,
        name: format!("op-{id}"),
        kind: kind as i32,
        start_time_unix_nano: 1_700_000_000_123_456_789,
        end_time_unix_nano: 1_700_000_000_223_456_789,
        status,
        ..Default::default()
    }
}

fn scope(name: &str, version: &str, spans: Vec<Span>) -> ScopeSpans {
    ScopeSpans {
        scope: Some(InstrumentationScope {
            name: name.into(),
            version: version.into(),
            ..Default::default()
        }),
        spans,
        schema_url: String::new(),
    }
}

fn resource_spans(attributes: Vec<KeyValue>, scope_spans: Vec<ScopeSpans>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes,
            ..Default::default()
        }),
        scope_spans,
        schema_url: String::new(),
    }
}

/// Everything the rules carry losslessly: every attribute type, events, links of both ref types,
/// every status and kind, several scopes and resources, 128-bit ids, trace state.
fn rich() -> Vec<ResourceSpans> {
    let mut main = span(
        10,
        SpanKind::Server,
        Some(Status {
            code: StatusCode::Error as i32,
            message: "boom".into(),
        }),
    );
    main.trace_state = "vendor=a,other=b".into();
    main.attributes = vec![
        kv("http.method", s("GET")),
        kv("retries", Value::IntValue(-3)),
        kv("ratio", Value::DoubleValue(0.125)),
        kv("cached", Value::BoolValue(false)),
        kv("payload", Value::BytesValue(vec![0, 159, 255])),
    ];
    main.events = vec![
        Event {
            time_unix_nano: 1_700_000_000_150_000_000,
            name: "exception".into(),
            attributes: vec![
                kv("exception.type", s("IOError")),
                kv("attempt", Value::IntValue(2)),
            ],
            dropped_attributes_count: 0,
        },
        Event {
            time_unix_nano: 1_700_000_000_160_000_001,
            name: String::new(),
            attributes: vec![kv("message", s("hi"))],
            dropped_attributes_count: 0,
        },
    ];
    let other_trace = [7u8; 16];
    main.links = vec![
        link(other_trace, 77, "follows_from"),
        link(TRACE, 5, "child_of"),
        link(other_trace, 78, "child_of"),
    ];

    let mut root = span(
        11,
        SpanKind::Client,
        Some(Status {
            code: StatusCode::Ok as i32,
            message: String::new(),
        }),
    );
    root.parent_span_id = Vec::new();
    let spans_b = vec![
        span(12, SpanKind::Producer, None),
        span(13, SpanKind::Consumer, None),
        span(14, SpanKind::Internal, None),
        span(15, SpanKind::Unspecified, None),
    ];
    vec![
        resource_spans(
            vec![
                kv("service.name", s("checkout")),
                kv("host.name", s("h1")),
                kv("process.pid", Value::IntValue(42)),
                kv("load", Value::DoubleValue(0.5)),
                kv("container", Value::BoolValue(true)),
                kv("raw", Value::BytesValue(vec![1, 2, 3])),
            ],
            vec![
                scope("lib-a", "1.0", vec![main, root]),
                scope("lib-b", "", spans_b),
            ],
        ),
        resource_spans(
            vec![kv("service.name", s("cart"))],
            vec![scope("", "", vec![span(20, SpanKind::Server, None)])],
        ),
    ]
}

/// Event attributes lose their order when the `event` field is taken out (the Collector's map
/// removal moves the last entry into the hole); compare them as sets.
fn normalized(mut rs: Vec<ResourceSpans>) -> Vec<ResourceSpans> {
    for span in rs
        .iter_mut()
        .flat_map(|r| r.scope_spans.iter_mut())
        .flat_map(|s| s.spans.iter_mut())
    {
        for e in &mut span.events {
            e.attributes.sort_by(|a, b| a.key.cmp(&b.key));
        }
    }
    rs
}

fn round_trip(rs: &[ResourceSpans]) -> Vec<ResourceSpans> {
    otlp_to_jaeger(rs)
        .into_iter()
        .flat_map(proto_to_otlp)
        .collect()
}

#[test]
fn a_rich_batch_survives_otlp_to_jaeger_and_back() {
    let input = rich();
    let batches = otlp_to_jaeger(&input);
    assert_eq!(batches.len(), 2);
    assert_eq!(normalized(round_trip(&input)), normalized(input));
}

#[test]
fn documented_losses_of_the_round_trip() {
    let mut sp = span(
        10,
        SpanKind::Server,
        Some(Status {
            code: 0,
            message: "unset but described".into(),
        }),
    );
    sp.flags = 0x301; // sampled + W3C "random" + has-is-remote bits
    sp.dropped_attributes_count = 3;
    sp.dropped_events_count = 4;
    sp.dropped_links_count = 5;
    sp.attributes = vec![
        kv(
            "map",
            Value::KvlistValue(KeyValueList {
                values: vec![kv("b", Value::IntValue(1)), kv("a", s("x"))],
            }),
        ),
        kv(
            "list",
            Value::ArrayValue(ArrayValue {
                values: vec![AnyValue {
                    value: Some(Value::BoolValue(true)),
                }],
            }),
        ),
    ];
    let mut l = link([9; 16], 3, "follows_from");
    l.attributes.push(kv("extra", s("dropped")));
    l.trace_state = "dropped=1".into();
    let mut bare = link([9; 16], 4, "");
    bare.attributes.clear();
    sp.links = vec![l, bare];
    let out = round_trip(&[resource_spans(
        vec![kv("service.name", s("svc"))],
        vec![scope("lib", "1", vec![sp])],
    )]);
    let got = &out[0].scope_spans[0].spans[0];
    // Maps and arrays come back as their JSON text.
    assert_eq!(got.attributes[0], kv("map", s(r#"{"a":"x","b":1}"#)));
    assert_eq!(got.attributes[1], kv("list", s("[true]")));
    // Only the sampled bit of the flags and no dropped counts.
    assert_eq!(got.flags, 1);
    assert_eq!(
        (
            got.dropped_attributes_count,
            got.dropped_events_count,
            got.dropped_links_count
        ),
        (0, 0, 0)
    );
    // A message on an unset status has no Jaeger status tag to ride with: it stays an attribute.
    assert_eq!(got.status, None);
    assert_eq!(
        got.attributes[2],
        kv("otel.status_description", s("unset but described"))
    );
    // Links keep only their ids and ref type; a link without one comes back as follows_from.
    assert_eq!(
        got.links[0].attributes,
        vec![kv("opentracing.ref_type", s("follows_from"))]
    );
    assert!(got.links[0].trace_state.is_empty());
    assert_eq!(
        got.links[1].attributes,
        vec![kv("opentracing.ref_type", s("follows_from"))]
    );
}

#[test]
fn a_root_span_linked_into_its_own_trace_gains_that_link_as_parent() {
    // Jaeger treats the first same-trace reference as the parent, so this is lossy by design.
    let mut sp = span(10, SpanKind::Internal, None);
    sp.parent_span_id.clear();
    sp.links = vec![link(TRACE, 4, "follows_from")];
    let out = round_trip(&[resource_spans(
        vec![kv("service.name", s("svc"))],
        vec![scope("", "", vec![sp])],
    )]);
    let got = &out[0].scope_spans[0].spans[0];
    assert_eq!(got.parent_span_id, 4u64.to_be_bytes());
    assert_eq!(got.links.len(), 1);
}

fn tag_keys(tags: &[proto::KeyValue]) -> Vec<&str> {
    tags.iter().map(|t| t.key.as_str()).collect()
}

#[test]
fn span_tags_come_in_the_collectors_order() {
    let mut sp = span(
        10,
        SpanKind::Client,
        Some(Status {
            code: StatusCode::Error as i32,
            message: "m".into(),
        }),
    );
    sp.trace_state = "a=b".into();
    sp.attributes = vec![kv("x", s("1"))];
    let b = otlp_to_jaeger(&[resource_spans(vec![], vec![scope("lib", "2", vec![sp])])]);
    let tags = &b[0].spans[0].tags;
    assert_eq!(
        tag_keys(tags),
        [
            "otel.scope.name",
            "otel.scope.version",
            "x",
            "span.kind",
            "otel.status_code",
            "error",
            "otel.status_description",
            "w3c.tracestate"
        ]
    );
    assert_eq!(tags[5].v_type, ValueType::Bool as i32);
    assert!(tags[5].v_bool);
    // No resource attributes: the Collector's placeholder service name.
    assert_eq!(
        b[0].process.as_ref().map(|p| p.service_name.as_str()),
        Some("OTLPResourceNoServiceName")
    );
}

#[test]
fn parent_and_links_become_references_with_the_parent_first() {
    let mut sp = span(10, SpanKind::Server, None);
    sp.links = vec![
        link([3; 16], 4, "child_of"),
        link(TRACE, 1, "follows_from"),
        Link {
            trace_id: vec![5; 16],
            span_id: vec![0, 0, 0, 0, 0, 0, 0, 6],
            ..Default::default()
        },
    ];
    let b = otlp_to_jaeger(&[resource_spans(
        vec![kv("service.name", s("svc"))],
        vec![scope("", "", vec![sp])],
    )]);
    let refs: Vec<(u8, i32)> = b[0].spans[0]
        .references
        .iter()
        .map(|r| (r.span_id[7], r.ref_type))
        .collect();
    let (c, f) = (SpanRefType::ChildOf as i32, SpanRefType::FollowsFrom as i32);
    // The link to the parent only retypes the parent reference.
    assert_eq!(refs, [(1, f), (4, c), (6, f)]);
}

#[test]
fn events_become_logs_with_the_name_as_event_field() {
    let mut sp = span(10, SpanKind::Server, None);
    sp.events = vec![
        Event {
            time_unix_nano: 1_500_000_001,
            name: "e".into(),
            attributes: vec![kv("k", s("v"))],
            dropped_attributes_count: 0,
        },
        Event {
            time_unix_nano: 0,
            name: "shadowed".into(),
            attributes: vec![kv("event", s("own"))],
            dropped_attributes_count: 0,
        },
    ];
    let b = otlp_to_jaeger(&[resource_spans(
        vec![kv("service.name", s("svc"))],
        vec![scope("", "", vec![sp])],
    )]);
    let logs = &b[0].spans[0].logs;
    assert_eq!(tag_keys(&logs[0].fields), ["event", "k"]);
    assert_eq!(
        logs[0].timestamp,
        Some(prost_types::Timestamp {
            seconds: 1,
            nanos: 500_000_001
        })
    );
    assert_eq!(tag_keys(&logs[1].fields), ["event"]);
    assert_eq!(logs[1].fields[0].v_str, "own");
}

#[test]
fn empty_resource_spans_are_skipped_and_ids_are_fixed_width() {
    assert!(otlp_to_jaeger(&[ResourceSpans::default()]).is_empty());
    let mut sp = span(10, SpanKind::Server, None);
    sp.parent_span_id.clear();
    sp.trace_id.clear();
    let b = otlp_to_jaeger(&[resource_spans(vec![], vec![scope("", "", vec![sp])])]);
    assert_eq!(b[0].spans[0].trace_id, vec![0; 16]);
    assert_eq!(b[0].spans[0].span_id.len(), 8);
    assert!(b[0].spans[0].references.is_empty());
    assert_eq!(
        b[0].spans[0].duration,
        Some(prost_types::Duration {
            seconds: 0,
            nanos: 100_000_000
        })
    );
}

/// A start time of u64::MAX wrapped to -1 ns, which the query API showed as 0 (1970).
#[test]
fn times_past_the_year_2262_saturate_instead_of_wrapping() {
    let mut sp = span(2, SpanKind::Internal, None);
    sp.start_time_unix_nano = u64::MAX;
    sp.end_time_unix_nano = u64::MAX;
    sp.events = vec![Event { time_unix_nano: u64::MAX, name: "e".into(), ..Default::default() }];
    let batches = otlp_to_jaeger(&[resource_spans(vec![], vec![scope("s", "1", vec![sp])])]);
    let out = &batches[0].spans[0];
    let start = out.start_time.as_ref().expect("a start time");
    assert_eq!((start.seconds, start.nanos), (i64::MAX / 1_000_000_000, (i64::MAX % 1_000_000_000) as i32));
    let duration = out.duration.as_ref().expect("a duration");
    assert_eq!((duration.seconds, duration.nanos), (0, 0));
    assert_eq!(out.logs[0].timestamp, out.start_time);
}
