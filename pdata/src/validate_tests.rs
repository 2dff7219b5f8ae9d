#![allow(clippy::unwrap_used)]
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, KeyValue, KeyValueList};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use rand::{Rng, SeedableRng};

use super::*;

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn span(n: u8) -> Span {
    Span {
        trace_id: vec![n; 16],
        span_id: vec![n; 8],
        parent_span_id: if n % 2 == 0 { vec![] } else { vec![7; 8] },
        name: format!("op-{n}"),
        kind: 2,
        // Later spans start earlier, so the oldest start is the last span's.
        start_time_unix_nano: 1_700_000_000_000_000_000 - u64::from(n) * 1_000,
        end_time_unix_nano: 1_700_000_000_000_100_000,
        attributes: vec![
            kv("http.method", any_value::Value::StringValue("GET".into())),
            kv("http.status_code", any_value::Value::IntValue(200)),
            kv("ratio", any_value::Value::DoubleValue(0.5)),
            kv("ok", any_value::Value::BoolValue(true)),
            kv("név", any_value::Value::StringValue("ünï".into())),
            kv("negative", any_value::Value::IntValue(-1)),
            kv("url", any_value::Value::StringValue("https://x.example/a/b?c=d".into())),
            kv("body", any_value::Value::StringValue("y".repeat(130))),
            kv(
                "map",
                any_value::Value::KvlistValue(KeyValueList {
                    values: vec![kv("inner", any_value::Value::StringValue("v".into()))],
                }),
            ),
            kv(
                "list",
                any_value::Value::ArrayValue(ArrayValue {
                    values: vec![AnyValue {
                        value: Some(any_value::Value::BytesValue(vec![1, 2])),
                    }],
                }),
            ),
        ],
        events: vec![Event {
            time_unix_nano: 5,
            name: "ev".into(),
            ..Default::default()
        }],
        links: vec![Link {
            trace_id: vec![9; 16],
            span_id: vec![9; 8],
            flags: 1,
            ..Default::default()
        }],
        status: Some(Status {
            message: "boom".into(),
            code: 2,
        }),
        flags: 0x100,
        ..Default::default()
    }
}

fn request(spans_per_scope: u8) -> ExportTraceServiceRequest {
    let rs = |svc: &str| ResourceSpans {
        resource: Some(Resource {
            attributes: vec![kv(
                "service.name",
                any_value::Value::StringValue(svc.into()),
            )],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans: (1..=spans_per_scope).map(span).collect(),
            ..Default::default()
        }],
        schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
    };
    ExportTraceServiceRequest {
        resource_spans: vec![rs("a"), rs("b")],
    }
}

#[test]
fn a_prost_encoded_request_is_valid_and_counted() {
    let bytes = request(3).encode_to_vec();
    let summary = validate_request(&bytes).unwrap();
    assert_eq!(
        summary,
        RequestSummary {
            spans: 6,
            resource_spans: 2,
            has_invalid_ids: false,
            oldest_start_ns: 1_700_000_000_000_000_000 - 3_000,
        }
    );
    let empty = validate_request(&[]).unwrap();
    assert_eq!((empty.spans, empty.oldest_start_ns), (0, u64::MAX), "no span: nothing starts before the end of time");
}

#[test]
fn bad_ids_are_flagged_not_refused() {
    for bad in [
        Span {
            trace_id: vec![0; 16],
            ..span(1)
        },
        Span {
            trace_id: vec![1; 15],
            ..span(1)
        },
        Span {
            span_id: vec![],
            ..span(1)
        },
        Span {
            parent_span_id: vec![1; 4],
            ..span(1)
        },
    ] {
        let mut req = request(1);
        req.resource_spans[0].scope_spans[0].spans.push(bad);
        let summary = validate_request(&req.encode_to_vec()).unwrap();
        assert!(summary.has_invalid_ids);
        assert_eq!(summary.spans, 3);
    }
}

#[test]
fn invalid_utf8_in_a_string_field_is_refused_like_prost() {
    let mut req = request(1);
    req.resource_spans[0].scope_spans[0].spans[0].name = "NAME".into();
    let mut bytes = req.encode_to_vec();
    let at = bytes.windows(4).position(|w| w == b"NAME").unwrap();
    bytes[at] = 0xff;
    assert!(ExportTraceServiceRequest::decode(bytes.as_slice()).is_err());
    assert_eq!(validate_request(&bytes), Err(Declined));
}

#[test]
fn wrong_wire_type_and_truncation_are_refused() {
    // Field 1 (resource_spans) as a varint.
    assert_eq!(validate_request(&[0x08, 0x01]), Err(Declined));
    let bytes = request(2).encode_to_vec();
    for cut in [1, bytes.len() / 2 + 1, bytes.len() - 1] {
        assert!(validate_request(&bytes[..cut]).is_err(), "cut at {cut}");
    }
}

#[test]
fn unknown_fields_are_skipped_and_groups_refused() {
    let mut bytes = request(1).encode_to_vec();
    // Unknown field 99 as a varint, then as a length-delimited value.
    bytes.extend([0x98, 0x06, 0x05, 0x9a, 0x06, 0x01, 0x00]);
    assert_eq!(validate_request(&bytes).unwrap().spans, 2);
    // A group (field 99, start + end) is legal protobuf but outside what this checker follows.
    let group = [0x9b, 0x06, 0x9c, 0x06];
    assert_eq!(validate_request(&group), Err(Declined));
}

/// The promise the lazy decode relies on: whatever the checker accepts, prost decodes, and
/// the span counts agree. Mutations of real requests probe the edges.
#[test]
fn whatever_is_accepted_prost_decodes_with_the_same_span_count() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let base = request(2).encode_to_vec();
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..40_000 {
        let mut bytes = base.clone();
        for _ in 0..rng.random_range(1..4) {
            let at = rng.random_range(0..bytes.len());
            match rng.random_range(0..4) {
                0 => bytes[at] ^= 1 << rng.random_range(0..8),
                1 => bytes[at] = rng.random(),
                2 => bytes.truncate(at),
                _ => bytes.insert(at, rng.random()),
            }
            if bytes.is_empty() {
                break;
            }
        }
        match validate_request(&bytes) {
            Ok(summary) => {
                accepted += 1;
                let decoded = ExportTraceServiceRequest::decode(bytes.as_slice())
                    .unwrap_or_else(|e| panic!("accepted bytes prost refuses ({e}): {bytes:?}"));
                let spans: usize = decoded
                    .resource_spans
                    .iter()
                    .flat_map(|r| &r.scope_spans)
                    .map(|s| s.spans.len())
                    .sum();
                assert_eq!(spans, summary.spans);
                assert_eq!(decoded.resource_spans.len(), summary.resource_spans);
            }
            Err(_) => refused += 1,
        }
    }
    // Both branches must be exercised for the test to mean anything.
    assert!(
        accepted > 1000 && refused > 1000,
        "accepted {accepted}, refused {refused}"
    );
}

#[test]
fn deep_nesting_is_refused_before_prost_would() {
    let mut value = AnyValue {
        value: Some(any_value::Value::IntValue(1)),
    };
    for _ in 0..40 {
        value = AnyValue {
            value: Some(any_value::Value::ArrayValue(ArrayValue {
                values: vec![value],
            })),
        };
    }
    let mut req = request(1);
    req.resource_spans[0].scope_spans[0].spans[0].attributes = vec![KeyValue {
        key: "deep".into(),
        value: Some(value),
        ..Default::default()
    }];
    let bytes = req.encode_to_vec();
    assert_eq!(validate_request(&bytes), Err(Declined));
    assert!(
        ExportTraceServiceRequest::decode(bytes.as_slice()).is_ok(),
        "prost allows this depth"
    );
}

/// The short-string test reads overlapping words; a bad byte at any position of any short
/// length must still be caught, in keys and in values.
#[test]
fn a_bad_byte_anywhere_in_a_short_attribute_string_is_refused() {
    for len in 1..=20 {
        for at in 0..len {
            for in_key in [true, false] {
                let text = "a".repeat(len);
                let mut req = request(1);
                let attr = kv(
                    if in_key { &text } else { "k" },
                    any_value::Value::StringValue(if in_key { "v".into() } else { text.clone() }),
                );
                req.resource_spans[0].scope_spans[0].spans[0].attributes = vec![attr];
                let mut bytes = req.encode_to_vec();
                let start = bytes.windows(len).position(|w| w == text.as_bytes()).unwrap();
                bytes[start + at] = 0xff;
                assert!(ExportTraceServiceRequest::decode(bytes.as_slice()).is_err());
                assert_eq!(validate_request(&bytes), Err(Declined), "len {len}, byte {at}, key {in_key}");
            }
        }
    }
}
