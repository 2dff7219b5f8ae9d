//! Jaeger's JSON: the exact jsonpb shape, and reading back what jsonpb may write.

use prost_types::{Duration, Timestamp};
use serde_json::json;
use tracegate_translator_jaeger::proto::{self, KeyValue, SpanRefType, ValueType};

use super::*;

fn kv(key: &str, v_type: ValueType) -> KeyValue {
    KeyValue {
        key: key.into(),
        v_type: v_type as i32,
        ..Default::default()
    }
}

fn sample() -> proto::Span {
    let mut trace = vec![0u8; 16];
    trace[15] = 0x12;
    let id = |b: u8| vec![0, 0, 0, 0, 0, 0, 0, b];
    proto::Span {
        trace_id: trace.clone(),
        span_id: id(0x34),
        operation_name: "op".into(),
        references: vec![
            proto::SpanRef {
                trace_id: trace.clone(),
                span_id: id(0x35),
                ref_type: SpanRefType::ChildOf as i32,
            },
            proto::SpanRef {
                trace_id: trace,
                span_id: id(0x35),
                ref_type: SpanRefType::FollowsFrom as i32,
            },
        ],
        flags: 1,
        start_time: Some(Timestamp {
            seconds: 1_485_449_191,
            nanos: 639_875_000,
        }),
        duration: Some(Duration {
            seconds: 0,
            nanos: 139_000,
        }),
        tags: vec![
            KeyValue {
                v_str: "v".into(),
                ..kv("k", ValueType::String)
            },
            KeyValue {
                v_int64: -5,
                ..kv("n", ValueType::Int64)
            },
            KeyValue {
                v_float64: 1.5,
                ..kv("f", ValueType::Float64)
            },
            KeyValue {
                v_bool: true,
                ..kv("b", ValueType::Bool)
            },
            KeyValue {
                v_binary: vec![1, 2],
                ..kv("bin", ValueType::Binary)
            },
        ],
        logs: vec![proto::Log {
            timestamp: Some(Timestamp {
                seconds: 1_485_449_191,
                nanos: 0,
            }),
            fields: vec![KeyValue {
                v_str: "x".into(),
                ..kv("event", ValueType::String)
            }],
        }],
        process: Some(proto::Process {
            service_name: "svc".into(),
            tags: vec![KeyValue {
                v_str: "h".into(),
                ..kv("host", ValueType::String)
            }],
        }),
        process_id: String::new(),
        warnings: vec![],
    }
}

fn expected() -> serde_json::Value {
    json!({
        "traceId": "AAAAAAAAAAAAAAAAAAAAEg==",
        "spanId": "AAAAAAAAADQ=",
        "operationName": "op",
        "references": [
            {"traceId": "AAAAAAAAAAAAAAAAAAAAEg==", "spanId": "AAAAAAAAADU="},
            {"traceId": "AAAAAAAAAAAAAAAAAAAAEg==", "spanId": "AAAAAAAAADU=", "refType": "FOLLOWS_FROM"}
        ],
        "flags": 1,
        "startTime": "2017-01-26T16:46:31.639875Z",
        "duration": "0.000139s",
        "tags": [
            {"key": "k", "vStr": "v"},
            {"key": "n", "vType": "INT64", "vInt64": "-5"},
            {"key": "f", "vType": "FLOAT64", "vFloat64": 1.5},
            {"key": "b", "vType": "BOOL", "vBool": true},
            {"key": "bin", "vType": "BINARY", "vBinary": "AQI="}
        ],
        "logs": [{"timestamp": "2017-01-26T16:46:31Z", "fields": [{"key": "event", "vStr": "x"}]}],
        "process": {"serviceName": "svc", "tags": [{"key": "host", "vStr": "h"}]}
    })
}

#[test]
fn writes_what_jaegers_jsonpb_writes() {
    let bytes = encode_span(&sample()).expect("encodes");
    let got: serde_json::Value = serde_json::from_slice(&bytes).expect("valid JSON");
    assert_eq!(got, expected());
    assert_eq!(decode_span(&bytes).expect("decodes"), sample());
}

#[test]
fn reads_the_other_forms_jsonpb_accepts() {
    // snake_case keys, enums and int64 as numbers, an offset time, URL-safe unpadded base64.
    let text = r#"{"trace_id":"AAAAAAAAAAAAAAAAAAAAEg","span_id":"AAAAAAAAADQ=","operation_name":"op",
        "references":[{"traceId":"AAAAAAAAAAAAAAAAAAAAEg==","spanId":"AAAAAAAAADU=","refType":1}],
        "start_time":"2017-01-26T17:46:31.5+01:00","duration":"-1.5s",
        "tags":[{"key":"n","vType":2,"vInt64":-5},{"key":"f","vType":"FLOAT64","vFloat64":"NaN"}]}"#;
    let span = decode_span(text.as_bytes()).expect("decodes");
    assert_eq!(span.trace_id, sample().trace_id);
    assert_eq!(span.references[0].ref_type, SpanRefType::FollowsFrom as i32);
    assert_eq!(
        span.start_time,
        Some(Timestamp {
            seconds: 1_485_449_191,
            nanos: 500_000_000
        })
    );
    assert_eq!(
        span.duration,
        Some(Duration {
            seconds: -1,
            nanos: -500_000_000
        })
    );
    assert_eq!(span.tags[0].v_int64, -5);
    assert!(span.tags[1].v_float64.is_nan());
}

#[test]
fn time_edges_round_trip() {
    for (seconds, nanos, text) in [
        (0, 0, "1970-01-01T00:00:00Z"),
        (1_709_251_199, 1, "2024-02-29T23:59:59.000000001Z"),
        (-62_135_596_800, 0, "0001-01-01T00:00:00Z"),
        (
            253_402_300_799,
            999_999_999,
            "9999-12-31T23:59:59.999999999Z",
        ),
    ] {
        let ts = Timestamp { seconds, nanos };
        assert_eq!(format_timestamp(&ts).as_deref(), Ok(text));
        assert_eq!(parse_timestamp(text), Ok(ts));
    }
    assert!(format_timestamp(&Timestamp {
        seconds: 253_402_300_800,
        nanos: 0
    })
    .is_err());
    assert_eq!(
        format_duration(&Duration {
            seconds: 2,
            nanos: 0
        }),
        "2s"
    );
    assert_eq!(
        format_duration(&Duration {
            seconds: 1,
            nanos: 500_000_000
        }),
        "1.500s"
    );
}

#[test]
fn malformed_json_is_an_error() {
    for bad in [
        &b"[]"[..],
        b"{\"traceId\": 5}",
        b"{\"startTime\": \"yesterday\"}",
        b"{\"startTime\": \"2017-13-01T00:00:00Z\"}",
        b"{\"duration\": \"5\"}",
        b"{\"duration\": \"1.1234567891s\"}",
        b"{\"tags\": [{\"vType\": \"COMPLEX\"}]}",
        b"{\"tags\": [{\"vInt64\": \"1e3\"}]}",
        b"{\"spanId\": \"***\"}",
        b"\xff",
    ] {
        assert!(
            decode_span(bad).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}
