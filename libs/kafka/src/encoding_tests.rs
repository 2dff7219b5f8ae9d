//! Each encoding round-trips through encode -> bytes -> decode with nothing changed.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

use super::*;

const ALL: [Encoding; 4] = [
    Encoding::OtlpProto,
    Encoding::OtlpJson,
    Encoding::JaegerProto,
    Encoding::JaegerJson,
];
const MAX: usize = 1_000_000;

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

pub(crate) fn span(trace: [u8; 16], id: u64, parent: u64) -> Span {
    Span {
        trace_id: trace.to_vec(),
        span_id: id.to_be_bytes().to_vec(),
        parent_span_id: if parent == 0 {
            Vec::new()
        } else {
            parent.to_be_bytes().to_vec()
        },
        flags: 1,
        name: format!("op-{id}"),
        kind: SpanKind::Server as i32,
        start_time_unix_nano: 1_700_000_000_123_456_789,
        end_time_unix_nano: 1_700_000_000_223_456_789,
        ..Default::default()
    }
}

fn scope(name: &str, spans: Vec<Span>) -> ScopeSpans {
    ScopeSpans {
        scope: Some(InstrumentationScope {
            name: name.into(),
            version: "1.0".into(),
            ..Default::default()
        }),
        spans,
        schema_url: String::new(),
    }
}

fn resource(service: &str, scope_spans: Vec<ScopeSpans>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![
                kv("service.name", s(service)),
                kv("host.name", s("h1")),
                kv("pid", Value::IntValue(42)),
            ],
            ..Default::default()
        }),
        scope_spans,
        schema_url: String::new(),
    }
}

const T1: [u8; 16] = [
    0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1, 0x80, 0, 0, 0, 0, 0, 0, 2,
];
const T2: [u8; 16] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34];

/// Four spans with every attribute type, events, links, statuses and kinds, two resources and
/// scopes, two traces (one with a 64-bit id): everything the Jaeger model carries losslessly.
fn rich() -> Traces {
    let mut main = span(T1, 10, 1);
    main.status = Some(Status {
        code: StatusCode::Error as i32,
        message: "boom".into(),
    });
    main.trace_state = "vendor=a".into();
    main.attributes = vec![
        kv("http.method", s("GET")),
        kv("retries", Value::IntValue(-3)),
        kv("ratio", Value::DoubleValue(0.125)),
        kv("cached", Value::BoolValue(false)),
        kv("payload", Value::BytesValue(vec![0, 159, 255])),
    ];
    main.events = vec![Event {
        time_unix_nano: 1_700_000_000_150_000_000,
        name: "exception".into(),
        attributes: vec![kv("exception.type", s("IOError"))],
        dropped_attributes_count: 0,
    }];
    main.links = vec![Link {
        trace_id: vec![7; 16],
        span_id: 77u64.to_be_bytes().to_vec(),
        attributes: vec![kv("opentracing.ref_type", s("follows_from"))],
        ..Default::default()
    }];
    let mut client = span(T2, 11, 0);
    client.kind = SpanKind::Client as i32;
    client.status = Some(Status {
        code: StatusCode::Ok as i32,
        message: String::new(),
    });
    let mut internal = span(T1, 12, 10);
    internal.kind = SpanKind::Internal as i32;
    internal.end_time_unix_nano = internal.start_time_unix_nano + 1_000;
    Traces::new(vec![
        resource(
            "checkout",
            vec![
                scope("lib-a", vec![main, client]),
                scope("lib-b", vec![internal]),
            ],
        ),
        resource("cart", vec![scope("lib-c", vec![span(T2, 20, 11)])]),
    ])
}

fn decode_all(encoding: Encoding, records: &[Record]) -> Traces {
    let mut decoded = Decoded::default();
    for r in records {
        let n = decoded.push(encoding, &r.payload).expect("decodes");
        assert_eq!(n, r.spans);
    }
    decoded.finish()
}

#[test]
fn every_encoding_round_trips_with_nothing_changed() {
    let input = rich();
    for encoding in ALL {
        let records = encode(encoding, &input, false, MAX).expect("encodes");
        let output = decode_all(encoding, &records);
        assert_eq!(output.span_count(), 4, "{encoding:?}");
        // (An event with several attributes would come back from Jaeger with them reordered,
        // a translator rule; one attribute keeps the comparison exact.)
        assert_eq!(
            output.resource_spans(),
            input.resource_spans(),
            "{encoding:?}"
        );
        // And the bytes: decoding then encoding again writes the same messages.
        let again = encode(encoding, &output, false, MAX).expect("re-encodes");
        assert_eq!(again, records, "{encoding:?}");
    }
}

#[test]
fn the_copy_free_proto_path_writes_the_request_bytes() {
    let input = rich();
    let records = encode(Encoding::OtlpProto, &input, false, MAX).expect("encodes");
    assert_eq!(records[0].payload, input.to_request().encode_to_vec());
}

#[test]
fn a_batch_still_in_received_bytes_is_produced_as_those_bytes_and_read_back_as_bytes() {
    let received = Bytes::from(rich().to_request().encode_to_vec());
    let input = Traces::from_protobuf(received.clone()).expect("valid");
    let records = encode(Encoding::OtlpProto, &input, false, MAX).expect("encodes");
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0].payload.as_ptr(),
        received.as_ptr(),
        "no copy, no re-encode"
    );
    // Over the message limit it is split like any batch, not sent oversized.
    let small = encode(Encoding::OtlpProto, &input, false, received.len() / 2).expect("encodes");
    assert!(small.len() > 1);
    assert_eq!(
        small.iter().map(|r| r.spans).sum::<usize>(),
        input.span_count()
    );
    let mut decoded = Decoded::default();
    decoded
        .push(Encoding::OtlpProto, &received)
        .expect("decodes");
    decoded
        .push(Encoding::OtlpProto, &received)
        .expect("decodes");
    let joined = decoded.finish();
    assert!(joined.is_encoded(), "messages are joined as bytes");
    assert_eq!(joined.span_count(), 2 * input.span_count());
    assert_eq!(
        &joined.resource_spans()[..input.resource_spans().len()],
        input.resource_spans()
    );
}

#[test]
fn otlp_is_one_unkeyed_message_unless_partitioned_by_trace() {
    let input = rich();
    for encoding in [Encoding::OtlpProto, Encoding::OtlpJson] {
        let records = encode(encoding, &input, false, MAX).expect("encodes");
        assert_eq!(records.len(), 1);
        assert_eq!((records[0].key.as_ref(), records[0].spans), (None, 4));

        let records = encode(encoding, &input, true, MAX).expect("encodes");
        let keys: Vec<String> = records
            .iter()
            .map(|r| String::from_utf8(r.key.clone().unwrap_or_default()).unwrap_or_default())
            .collect();
        assert_eq!(
            keys,
            [
                "deadbeef000000018000000000000002",
                "00000000000000000000000000001234"
            ]
        );
        assert_eq!(records.iter().map(|r| r.spans).collect::<Vec<_>>(), [2, 2]);
        for r in &records {
            let t = decode(encoding, &r.payload).expect("decodes");
            let ids: Vec<&[u8]> = t
                .resource_spans()
                .iter()
                .flat_map(|r| &r.scope_spans)
                .flat_map(|s| &s.spans)
                .map(|s| &s.trace_id[..])
                .collect();
            assert!(
                ids.windows(2).all(|w| w[0] == w[1]),
                "one trace per message"
            );
            // Resource and scope travel with each span.
            assert!(t
                .resource_spans()
                .iter()
                .all(|r| r.resource.is_some() && r.scope_spans.iter().all(|s| s.scope.is_some())));
        }
        assert_eq!(
            decode_all(encoding, &records).resource_spans().len(),
            3,
            "cart/checkout resources regrouped per trace"
        );
    }
}

#[test]
fn jaeger_writes_one_span_per_message_keyed_like_jaeger() {
    let records = encode(Encoding::JaegerProto, &rich(), true, MAX).expect("encodes");
    assert_eq!(records.len(), 4);
    let keys: Vec<&[u8]> = records
        .iter()
        .map(|r| r.key.as_deref().unwrap_or_default())
        .collect();
    assert_eq!(keys[0], b"deadbeef000000018000000000000002");
    assert_eq!(
        keys[1], b"0000000000001234",
        "a 64-bit trace id is printed as 16 digits"
    );
    for r in &records {
        let span = proto::Span::decode(r.payload.as_ref()).expect("a model.Span");
        let process = span.process.expect("each message carries its process");
        assert!(["checkout", "cart"].contains(&process.service_name.as_str()));
    }
    assert_eq!(jaeger_trace_id_string(&[0; 16]), "0000000000000000");
    assert_eq!(jaeger_trace_id_string(&[1, 2]), "0000000000000102");
}

#[test]
fn an_oversized_otlp_batch_is_split_to_fit() {
    let spans: Vec<Span> = (1..=1000).map(|i| span(T1, i, 0)).collect();
    let input = Traces::new(vec![resource(
        "big",
        vec![
            scope("a", spans[..400].to_vec()),
            scope("b", spans[400..].to_vec()),
        ],
    )]);
    for encoding in [Encoding::OtlpProto, Encoding::OtlpJson] {
        let records = encode(encoding, &input, false, 20_000).expect("encodes");
        assert!(
            records.len() > 2,
            "{encoding:?}: {} messages",
            records.len()
        );
        assert!(
            records.iter().all(|r| r.payload.len() <= 20_000),
            "{encoding:?}"
        );
        let out = decode_all(encoding, &records);
        let ids: Vec<Vec<u8>> = out
            .resource_spans()
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .map(|s| s.span_id.clone())
            .collect();
        let want: Vec<Vec<u8>> = spans.iter().map(|s| s.span_id.clone()).collect();
        assert_eq!(ids, want, "{encoding:?}: every span once, in order");
    }
}

#[test]
fn malformed_messages_are_errors_not_panics() {
    let garbage: [&[u8]; 5] = [
        b"\xff\xff\xff\xff",
        b"{\"resourceSpans\": 3}",
        b"not json",
        b"\x0a\x05abc",
        b"{\"traceId\": \"!!\"}",
    ];
    for encoding in ALL {
        for bytes in garbage {
            let mut decoded = Decoded::default();
            // Some garbage happens to be a valid (empty) protobuf message; none may panic, and
            // an error adds nothing.
            if decoded.push(encoding, bytes).is_err() {
                assert_eq!(decoded.spans(), 0);
            }
        }
        assert!(
            decode(encoding, b"\xff\xff\xff\xff").is_err(),
            "{encoding:?}"
        );
        // A truncated real message.
        let records = encode(encoding, &rich(), false, MAX).expect("encodes");
        let whole = &records[0].payload;
        assert!(
            decode(encoding, &whole[..whole.len() - 3]).is_err(),
            "{encoding:?} truncated"
        );
    }
}

/// Found by the fuzz target `kafka_message`: an empty `jaeger_proto` message decodes to a
/// span with every field at zero, which the translation skips (as the Collector does); the
/// batch counted it as a span it did not hold.
#[test]
fn an_empty_jaeger_message_is_no_span() {
    let mut decoded = Decoded::default();
    assert_eq!(decoded.push(Encoding::JaegerProto, b"").unwrap(), 0);
    assert_eq!(decoded.push(Encoding::JaegerJson, b"{}").unwrap(), 0);
    assert_eq!(decoded.spans(), 0);
    assert_eq!(decoded.finish().span_count(), 0);
}
