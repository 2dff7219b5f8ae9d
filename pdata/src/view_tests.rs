#![allow(clippy::unwrap_used)]
//! The views hold what prost's decode holds: every view is rebuilt into prost structs field by
//! field (`crate::fuzzing::rebuild`, which the fuzz target `otlp_proto` runs too) and
//! compared with prost's decode of the same bytes, for real requests and for mutations of them
//! that the validator accepts.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use rand::{Rng, SeedableRng};

use super::*;
use crate::fuzzing::{decode_without_strindex, rebuild, Rebuild};
use crate::validate::validate_request;

fn kv(key: &str, value: Option<any_value::Value>) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: value.map(|v| AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn every_value() -> Vec<KeyValue> {
    use any_value::Value as V;
    vec![
        kv("s", Some(V::StringValue("text".into()))),
        kv("i", Some(V::IntValue(-42))),
        kv("b", Some(V::BoolValue(true))),
        kv("d", Some(V::DoubleValue(0.25))),
        kv("x", Some(V::BytesValue(vec![0xbe, 0xef]))),
        kv(
            "a",
            Some(V::ArrayValue(ArrayValue {
                values: vec![AnyValue {
                    value: Some(V::IntValue(1)),
                }],
            })),
        ),
        kv(
            "m",
            Some(V::KvlistValue(KeyValueList {
                values: vec![kv("inner", Some(V::StringValue("v".into())))],
            })),
        ),
        kv("absent", None),
        KeyValue {
            key: "empty".into(),
            value: Some(AnyValue { value: None }),
            key_strindex: 3,
        },
    ]
}

fn request() -> ExportTraceServiceRequest {
    let span = |n: u8| Span {
        trace_id: vec![n; 16],
        span_id: vec![n; 8],
        trace_state: "k=v".into(),
        parent_span_id: vec![9; 8],
        flags: 0x301,
        name: format!("op{n}"),
        kind: 3,
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_000_000_500,
        attributes: every_value(),
        dropped_attributes_count: 1,
        events: vec![Event {
            time_unix_nano: 7,
            name: "exception".into(),
            attributes: every_value(),
            dropped_attributes_count: 2,
        }],
        dropped_events_count: 3,
        links: vec![Link {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            trace_state: "a=b".into(),
            attributes: every_value(),
            dropped_attributes_count: 4,
            flags: 1,
        }],
        dropped_links_count: 5,
        status: Some(Status {
            message: "boom".into(),
            code: 2,
        }),
    };
    ExportTraceServiceRequest {
        resource_spans: vec![
            ResourceSpans {
                resource: Some(Resource {
                    attributes: every_value(),
                    dropped_attributes_count: 6,
                    ..Default::default()
                }),
                scope_spans: vec![
                    ScopeSpans {
                        scope: Some(InstrumentationScope {
                            name: "lib".into(),
                            version: "1".into(),
                            ..Default::default()
                        }),
                        spans: vec![span(1), span(2)],
                        schema_url: "s".into(),
                    },
                    ScopeSpans::default(),
                ],
                schema_url: "r".into(),
            },
            ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span::default()],
                    ..Default::default()
                }],
                ..Default::default()
            },
        ],
    }
}

/// prost's decode, `key_strindex` cleared (the views do not read it).
fn prost_decode(bytes: &[u8]) -> ExportTraceServiceRequest {
    decode_without_strindex(bytes).unwrap()
}

#[test]
fn views_of_a_prost_encoded_request_hold_what_prost_decodes() {
    let bytes = request().encode_to_vec();
    let rebuilt = rebuild(&bytes).unwrap();
    assert_eq!(rebuilt, prost_decode(&bytes));
    let first = resource_spans(&bytes)
        .unwrap()
        .iter()
        .next()
        .unwrap()
        .unwrap();
    let span = first.scope_spans.iter().next().unwrap().unwrap();
    let span = span.spans.iter().next().unwrap().unwrap();
    assert_eq!(span.name, "op1");
    assert_eq!(span.attributes.len(), every_value().len());
    // An attribute's raw bytes are its `AnyValue`, as prost decodes it.
    let decoded = prost_decode(&bytes);
    let want = &decoded.resource_spans[0].scope_spans[0].spans[0].attributes;
    for (kv, want) in span.attributes.iter().zip(want) {
        let raw = kv.unwrap().value.map(|v| AnyValue::decode(v.raw).unwrap());
        assert_eq!(raw.as_ref(), want.value.as_ref());
    }
    assert_eq!(resource_spans(&bytes).unwrap().len(), 2);
}

#[test]
fn the_last_scalar_wins_and_a_repeated_message_is_refused_as_merged() {
    // A span whose name occurs twice: prost keeps the second.
    let mut twice = Vec::new();
    let one = Span {
        name: "first".into(),
        ..Default::default()
    };
    let two = Span {
        name: "second".into(),
        status: Some(Status::default()),
        ..Default::default()
    };
    one.encode(&mut twice).unwrap();
    two.encode(&mut twice).unwrap();
    let view = SpanView::from_wire(&twice).unwrap();
    assert_eq!(view.name, "second");
    // Status twice: prost merges them; the view says so.
    let mut merged = twice.clone();
    two.encode(&mut merged).unwrap();
    assert_eq!(
        SpanView::from_wire(&merged).unwrap_err(),
        ViewError::Merged("status")
    );
}

#[test]
fn malformed_bytes_are_errors_not_panics() {
    let bytes = request().encode_to_vec();
    for len in 0..bytes.len() {
        let _ = rebuild_lenient(&bytes[..len]);
    }
}

/// Walks everything, ignoring the result (for inputs the validator might refuse).
fn rebuild_lenient(bytes: &[u8]) -> Result<(), ViewError> {
    for rs in resource_spans(bytes)? {
        for ss in rs?.scope_spans {
            for s in ss?.spans {
                let s = s?;
                for kv in s.attributes {
                    let _ = kv?;
                }
                for e in s.events {
                    for kv in e?.attributes {
                        let _ = kv?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Whatever the validator accepts, the views either read exactly as prost decodes or say
/// the bytes need prost's merge.
#[test]
fn views_of_accepted_mutations_agree_with_prost() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let base = request().encode_to_vec();
    let (mut same, mut merged, mut refused) = (0, 0, 0);
    for _ in 0..20_000 {
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
        if validate_request(&bytes).is_err() {
            refused += 1;
            let _ = rebuild_lenient(&bytes);
            continue;
        }
        match rebuild(&bytes) {
            Ok(rebuilt) => {
                assert_eq!(rebuilt, prost_decode(&bytes), "{bytes:?}");
                same += 1;
            }
            Err(Rebuild::View(ViewError::Merged(_))) => merged += 1,
            Err(e) => panic!("accepted bytes the views refuse ({e}): {bytes:?}"),
        }
    }
    assert!(
        same > 1000 && refused > 1000,
        "same {same}, merged {merged}, refused {refused}"
    );
}
