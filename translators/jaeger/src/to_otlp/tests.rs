//! One test per translation rule, with hand-built Jaeger input.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, Span, Status};

use crate::attrs::{get, value_of};
use crate::thrift::{self, Log, SpanRef, SpanRefType, Tag};
use crate::{proto, proto_to_otlp, thrift_to_otlp};

fn span_with(tags: Vec<Tag>) -> thrift::Span {
    thrift::Span {
        trace_id_low: 2,
        trace_id_high: 1,
        span_id: 3,
        operation_name: "op".into(),
        flags: 1,
        start_time: 1_000,
        duration: 5,
        tags,
        ..Default::default()
    }
}

fn batch(spans: Vec<thrift::Span>) -> thrift::Batch {
    thrift::Batch {
        process: thrift::Process {
            service_name: "svc".into(),
            tags: vec![],
        },
        spans,
        ..Default::default()
    }
}

fn one_span(tags: Vec<Tag>) -> Span {
    only_span(thrift_to_otlp(batch(vec![span_with(tags)])))
}

fn only_span(rs: Vec<ResourceSpans>) -> Span {
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].scope_spans.len(), 1);
    assert_eq!(rs[0].scope_spans[0].spans.len(), 1);
    rs[0].scope_spans[0].spans[0].clone()
}

fn keys(attrs: &[KeyValue]) -> Vec<&str> {
    attrs.iter().map(|a| a.key.as_str()).collect()
}

fn val<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    get(attrs, key).flatten()
}

fn s(v: &str) -> Value {
    Value::StringValue(v.into())
}

#[test]
fn process_becomes_the_resource_with_special_keys_renamed() {
    let mut b = batch(vec![span_with(vec![])]);
    b.process.tags = vec![
        Tag::string("hostname", "web-1"),
        Tag::string("jaeger.version", "Go-2.30"),
        Tag::long("pid", 7),
    ];
    let rs = thrift_to_otlp(b);
    let attrs = &rs[0]
        .resource
        .as_ref()
        .map(|r| r.attributes.clone())
        .unwrap_or_default();
    assert_eq!(
        keys(attrs),
        [
            "service.name",
            "host.name",
            "opencensus.exporterversion",
            "pid"
        ]
    );
    assert_eq!(val(attrs, "service.name"), Some(&s("svc")));
    assert_eq!(val(attrs, "host.name"), Some(&s("web-1")));
    assert_eq!(
        val(attrs, "opencensus.exporterversion"),
        Some(&s("Jaeger-Go-2.30"))
    );
    assert_eq!(val(attrs, "pid"), Some(&Value::IntValue(7)));
}

#[test]
fn hostname_stays_when_host_name_is_already_there() {
    let mut b = batch(vec![]);
    b.process.tags = vec![Tag::string("hostname", "a"), Tag::string("host.name", "b")];
    let rs = thrift_to_otlp(b);
    let attrs = &rs[0]
        .resource
        .as_ref()
        .map(|r| r.attributes.clone())
        .unwrap_or_default();
    assert_eq!(keys(attrs), ["service.name", "hostname", "host.name"]);
    assert!(
        rs[0].scope_spans.is_empty(),
        "a batch without spans has no scopes"
    );
}

#[test]
fn tag_types_are_kept_and_a_repeated_key_takes_the_last_value() {
    let unknown = Tag {
        key: "u".into(),
        v_type: thrift::TagType::Unknown(9),
        ..Tag::default()
    };
    let span = one_span(vec![
        Tag::string("s", "x"),
        Tag::bool("b", true),
        Tag::long("l", -5),
        Tag::double("d", 1.5),
        Tag::binary("bin", vec![1, 2]),
        unknown,
        Tag::string("s", "y"),
    ]);
    let a = &span.attributes;
    assert_eq!(keys(a), ["s", "b", "l", "d", "bin", "u"]);
    assert_eq!(val(a, "s"), Some(&s("y")));
    assert_eq!(val(a, "b"), Some(&Value::BoolValue(true)));
    assert_eq!(val(a, "l"), Some(&Value::IntValue(-5)));
    assert_eq!(val(a, "d"), Some(&Value::DoubleValue(1.5)));
    assert_eq!(val(a, "bin"), Some(&Value::BytesValue(vec![1, 2])));
    assert_eq!(
        val(a, "u"),
        Some(&s("<Unknown Jaeger TagType \"<UNSET>\">"))
    );
}

#[test]
fn span_kind_tag_becomes_the_kind_and_is_removed() {
    for (tag, kind) in [
        ("client", SpanKind::Client),
        ("server", SpanKind::Server),
        ("producer", SpanKind::Producer),
        ("consumer", SpanKind::Consumer),
        ("internal", SpanKind::Internal),
        ("weird", SpanKind::Unspecified),
    ] {
        let span = one_span(vec![Tag::string("span.kind", tag), Tag::long("x", 1)]);
        assert_eq!(span.kind, kind as i32, "{tag}");
        assert_eq!(keys(&span.attributes), ["x"]);
    }
}

fn status_of(tags: Vec<Tag>) -> (Option<Status>, Vec<String>) {
    let span = one_span(tags);
    (
        span.status,
        span.attributes.iter().map(|a| a.key.clone()).collect(),
    )
}

fn st(code: StatusCode, message: &str) -> Option<Status> {
    Some(Status {
        code: code as i32,
        message: message.into(),
    })
}

#[test]
fn error_true_is_an_error_status_with_the_description() {
    let (status, rest) = status_of(vec![
        Tag::bool("error", true),
        Tag::string("otel.status_description", "boom"),
        Tag::string("otel.status_code", "OK"),
    ]);
    assert_eq!(status, st(StatusCode::Error, "boom"));
    assert!(rest.is_empty(), "{rest:?}");
    // Without a description, http.status_message is the message and stays an attribute.
    let (status, rest) = status_of(vec![
        Tag::bool("error", true),
        Tag::string("http.status_message", "Bad"),
    ]);
    assert_eq!(status, st(StatusCode::Error, "Bad"));
    assert_eq!(rest, ["http.status_message"]);
}

#[test]
fn error_that_is_false_or_not_a_bool_stays_an_attribute() {
    assert_eq!(
        status_of(vec![Tag::bool("error", false)]),
        (None, vec!["error".to_string()])
    );
    assert_eq!(
        status_of(vec![Tag::string("error", "true")]),
        (None, vec!["error".to_string()])
    );
}

#[test]
fn otel_status_code_sets_the_status_case_insensitively() {
    let (status, rest) = status_of(vec![
        Tag::string("otel.status_code", "ok"),
        Tag::string("otel.status_description", "fine"),
    ]);
    assert_eq!(status, st(StatusCode::Ok, "fine"));
    assert!(rest.is_empty());
    let (status, _) = status_of(vec![Tag::string("otel.status_code", "ERROR")]);
    assert_eq!(status, st(StatusCode::Error, ""));
    let (status, rest) = status_of(vec![Tag::string("otel.status_code", "maybe")]);
    assert_eq!(status, st(StatusCode::Unset, ""));
    assert!(rest.is_empty());
}

#[test]
fn http_status_code_is_the_fallback_and_depends_on_the_kind() {
    let http = |code: Tag, kind: &str| {
        status_of(vec![
            code,
            Tag::string("span.kind", kind),
            Tag::string("http.status_message", "m"),
        ])
    };
    assert_eq!(
        http(Tag::long("http.status_code", 500), "server").0,
        st(StatusCode::Error, "m")
    );
    assert_eq!(
        http(Tag::long("http.status_code", 404), "client").0,
        st(StatusCode::Error, "m")
    );
    assert_eq!(http(Tag::long("http.status_code", 404), "server").0, None);
    assert_eq!(http(Tag::long("http.status_code", 200), "server").0, None);
    assert_eq!(
        http(Tag::string("http.status_code", "503"), "").0,
        st(StatusCode::Error, "m")
    );
    assert_eq!(http(Tag::string("http.status_code", "nope"), "").0, None);
    let (_, rest) = http(Tag::long("http.status_code", 500), "server");
    assert_eq!(rest, ["http.status_code", "http.status_message"]);
}

fn r(ref_type: SpanRefType, trace_low: i64, span_id: i64) -> SpanRef {
    SpanRef {
        ref_type,
        trace_id_low: trace_low,
        trace_id_high: 1,
        span_id,
    }
}

fn ref_type_of(link: &opentelemetry_proto::tonic::trace::v1::span::Link) -> Option<&Value> {
    get(&link.attributes, "opentracing.ref_type").flatten()
}

#[test]
fn parent_comes_from_parent_span_id_then_child_of_then_follows_from() {
    let mut sp = span_with(vec![]);
    sp.parent_span_id = 9;
    sp.references = vec![
        r(SpanRefType::ChildOf, 2, 9),
        r(SpanRefType::FollowsFrom, 5, 4),
    ];
    let span = only_span(thrift_to_otlp(batch(vec![sp.clone()])));
    assert_eq!(span.parent_span_id, 9u64.to_be_bytes());
    assert_eq!(
        span.links.len(),
        1,
        "the CHILD_OF to the parent is not a link"
    );
    assert_eq!(span.links[0].span_id, 4u64.to_be_bytes());
    assert_eq!(span.links[0].trace_id[8..], 5u64.to_be_bytes());
    assert_eq!(ref_type_of(&span.links[0]), Some(&s("follows_from")));

    // No parentSpanId: a FOLLOWS_FROM in the same trace is the parent when no CHILD_OF is,
    // and still becomes a link; a reference into another trace never is a parent.
    sp.parent_span_id = 0;
    sp.references = vec![
        r(SpanRefType::ChildOf, 77, 8),
        r(SpanRefType::FollowsFrom, 2, 6),
    ];
    let span = only_span(thrift_to_otlp(batch(vec![sp.clone()])));
    assert_eq!(span.parent_span_id, 6u64.to_be_bytes());
    assert_eq!(span.links.len(), 2);
    assert_eq!(ref_type_of(&span.links[0]), Some(&s("child_of")));
    assert_eq!(ref_type_of(&span.links[1]), Some(&s("follows_from")));

    sp.references = vec![
        r(SpanRefType::FollowsFrom, 2, 6),
        r(SpanRefType::ChildOf, 2, 5),
    ];
    let span = only_span(thrift_to_otlp(batch(vec![sp])));
    assert_eq!(span.parent_span_id, 5u64.to_be_bytes());
    assert_eq!(span.links.len(), 1);
}

#[test]
fn logs_become_events_named_by_the_event_field() {
    let mut sp = span_with(vec![]);
    sp.logs = vec![
        Log {
            timestamp: 1_500,
            fields: vec![Tag::string("event", "retry"), Tag::long("n", 2)],
        },
        Log {
            timestamp: 1_600,
            fields: vec![Tag::string("message", "hi")],
        },
        Log {
            timestamp: 1_700,
            fields: vec![],
        },
    ];
    let span = only_span(thrift_to_otlp(batch(vec![sp])));
    let e = &span.events;
    assert_eq!(e.len(), 3);
    assert_eq!(
        (e[0].time_unix_nano, e[0].name.as_str()),
        (1_500_000, "retry")
    );
    assert_eq!(keys(&e[0].attributes), ["n"]);
    assert_eq!(
        (e[1].name.as_str(), keys(&e[1].attributes)),
        ("", vec!["message"])
    );
    assert!(e[2].attributes.is_empty());
}

#[test]
fn ids_times_and_flags() {
    let mut sp = span_with(vec![]);
    sp.trace_id_high = -1;
    sp.trace_id_low = 0x0102_0304_0506_0708;
    sp.span_id = -2;
    sp.flags = 3;
    sp.start_time = 1_700_000_000_000_001;
    sp.duration = 999;
    let span = only_span(thrift_to_otlp(batch(vec![sp.clone()])));
    let mut want = vec![0xff; 8];
    want.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(span.trace_id, want);
    assert_eq!(span.span_id, (-2i64).to_be_bytes());
    assert!(span.parent_span_id.is_empty());
    assert_eq!(span.flags, 1, "sampled kept, debug has no OTLP bit");
    assert_eq!(span.start_time_unix_nano, 1_700_000_000_000_001_000);
    assert_eq!(span.end_time_unix_nano, 1_700_000_000_001_000_000);
    sp.flags = 2;
    assert_eq!(only_span(thrift_to_otlp(batch(vec![sp]))).flags, 0);
}

#[test]
fn scope_tags_become_the_scope_and_group_the_spans() {
    let a = span_with(vec![
        Tag::string("otel.scope.name", "lib-a"),
        Tag::string("x", "1"),
    ]);
    let b = span_with(vec![
        Tag::string("otel.library.name", "lib-b"),
        Tag::string("otel.library.version", "2.0"),
    ]);
    let c = span_with(vec![
        Tag::string("otel.scope.name", "lib-a"),
        Tag::string("otel.scope.version", ""),
    ]);
    let plain = span_with(vec![]);
    let rs = thrift_to_otlp(batch(vec![a, b, c, plain]));
    let scopes: Vec<(String, String, usize)> = rs[0]
        .scope_spans
        .iter()
        .map(|ss| {
            let sc = ss.scope.clone().unwrap_or_default();
            (sc.name, sc.version, ss.spans.len())
        })
        .collect();
    let want = [("lib-a", "", 2), ("lib-b", "2.0", 1), ("", "", 1)];
    let want: Vec<_> = want
        .iter()
        .map(|(n, v, c)| (n.to_string(), v.to_string(), *c))
        .collect();
    assert_eq!(scopes, want);
    assert_eq!(keys(&rs[0].scope_spans[0].spans[0].attributes), ["x"]);
    assert!(rs[0].scope_spans[1].spans[0].attributes.is_empty());
}

#[test]
fn w3c_tracestate_becomes_the_trace_state() {
    let span = one_span(vec![
        Tag::string("w3c.tracestate", "a=1,b=2"),
        Tag::long("k", 1),
    ]);
    assert_eq!(span.trace_state, "a=1,b=2");
    assert_eq!(keys(&span.attributes), ["k"]);
}

#[test]
fn blank_spans_are_skipped() {
    let rs = thrift_to_otlp(batch(vec![thrift::Span::default(), span_with(vec![])]));
    assert_eq!(rs[0].scope_spans[0].spans.len(), 1);
}

fn pspan(process: Option<proto::Process>, span_id: u8) -> proto::Span {
    proto::Span {
        trace_id: vec![0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2],
        span_id: vec![0, 0, 0, 0, 0, 0, 0, span_id],
        operation_name: "op".into(),
        process,
        ..Default::default()
    }
}

fn pprocess(name: &str) -> proto::Process {
    proto::Process {
        service_name: name.into(),
        tags: vec![],
    }
}

#[test]
fn proto_spans_with_their_own_process_get_their_own_resource() {
    let b = proto::Batch {
        spans: vec![
            pspan(None, 1),
            pspan(Some(pprocess("other")), 2),
            pspan(Some(pprocess("svc")), 3),
            pspan(Some(pprocess("other")), 4),
        ],
        process: Some(pprocess("svc")),
    };
    let rs = proto_to_otlp(b);
    let names: Vec<(Option<&Value>, usize)> = rs
        .iter()
        .map(|r| {
            let attrs = &r.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
            let n = r.scope_spans.iter().map(|s| s.spans.len()).sum();
            (attrs.first().and_then(value_of), n)
        })
        .collect();
    assert_eq!(names, [(Some(&s("svc")), 2), (Some(&s("other")), 2)]);
}

#[test]
fn proto_unnamed_process_gives_an_empty_resource_and_batches_without_anything_vanish() {
    let b = proto::Batch {
        spans: vec![pspan(None, 1)],
        process: Some(pprocess("OTLPResourceNoServiceName")),
    };
    let rs = proto_to_otlp(b);
    assert_eq!(rs.len(), 1);
    assert!(rs[0]
        .resource
        .as_ref()
        .is_some_and(|r| r.attributes.is_empty()));
    assert!(proto_to_otlp(proto::Batch::default()).is_empty());
}

#[test]
fn proto_ids_times_and_parent() {
    let mut sp = pspan(None, 9);
    sp.start_time = Some(prost_types::Timestamp {
        seconds: 1_700_000_000,
        nanos: 5,
    });
    sp.duration = Some(prost_types::Duration {
        seconds: 1,
        nanos: 10,
    });
    sp.references = vec![proto::SpanRef {
        trace_id: sp.trace_id.clone(),
        span_id: vec![0, 0, 0, 0, 0, 0, 0, 8],
        ref_type: proto::SpanRefType::ChildOf as i32,
    }];
    sp.flags = 1;
    sp.tags = vec![proto::KeyValue {
        key: "k".into(),
        v_type: 42,
        ..Default::default()
    }];
    let span = only_span(proto_to_otlp(proto::Batch {
        spans: vec![sp],
        process: Some(pprocess("svc")),
    }));
    assert_eq!(
        span.trace_id,
        [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2]
    );
    assert_eq!(span.span_id, 9u64.to_be_bytes());
    assert_eq!(span.parent_span_id, 8u64.to_be_bytes());
    assert!(span.links.is_empty());
    assert_eq!(span.start_time_unix_nano, 1_700_000_000_000_000_005);
    assert_eq!(span.end_time_unix_nano, 1_700_000_001_000_000_015);
    assert_eq!(span.flags, 1);
    assert_eq!(
        val(&span.attributes, "k"),
        Some(&s("<Unknown Jaeger TagType \"42\">"))
    );
}
