//! Rendering of OTLP values the way the Collector's `otlptext` package prints them, so a
//! user comparing our debug output with the Collector's sees the same words: `Str(x)`,
//! `Int(5)`, span kinds as `Server`, status codes as `Error`, times as Go prints `time.Time`.

use std::fmt::Write;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::AnyValue;

/// Lower-case hex, as trace and span ids are written everywhere (OTLP JSON, Jaeger UI).
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// `Type(value)`, e.g. `Str(GET)`, `Int(200)`, `Map({"a":1})`; a missing value is `Empty()`.
pub fn typed_value(v: Option<&AnyValue>) -> String {
    let (kind, text) = match v.and_then(|v| v.value.as_ref()) {
        None => ("Empty", String::new()),
        Some(Value::StringValue(s)) => ("Str", s.clone()),
        Some(Value::BoolValue(b)) => ("Bool", b.to_string()),
        Some(Value::IntValue(i)) => ("Int", i.to_string()),
        Some(Value::DoubleValue(d)) => ("Double", d.to_string()),
        Some(Value::BytesValue(b)) => ("Bytes", base64(b)),
        Some(Value::ArrayValue(_)) => ("Slice", json(v).to_string()),
        Some(Value::KvlistValue(_)) => ("Map", json(v).to_string()),
        Some(Value::StringValueStrindex(i)) => ("Strindex", i.to_string()),
    };
    format!("{kind}({text})")
}

/// The value as plain JSON, as Go's `pcommon.Value.AsString` renders maps and slices.
fn json(v: Option<&AnyValue>) -> serde_json::Value {
    use serde_json::Value as J;
    match v.and_then(|v| v.value.as_ref()) {
        None => J::Null,
        Some(Value::StringValue(s)) => J::String(s.clone()),
        Some(Value::BoolValue(b)) => J::Bool(*b),
        Some(Value::IntValue(i)) => J::from(*i),
        Some(Value::DoubleValue(d)) => J::from(*d),
        Some(Value::BytesValue(b)) => J::String(base64(b)),
        Some(Value::ArrayValue(a)) => J::Array(a.values.iter().map(|v| json(Some(v))).collect()),
        Some(Value::KvlistValue(kv)) => {
            J::Object(kv.values.iter().map(|kv| (kv.key.clone(), json(kv.value.as_ref()))).collect())
        }
        Some(Value::StringValueStrindex(i)) => J::from(*i),
    }
}

/// Standard, padded base64, as Go's `AsString` renders bytes.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Span kind as the Collector names it (`ptrace.SpanKind.String()`).
pub fn kind_name(kind: i32) -> String {
    match kind {
        0 => "Unspecified".into(),
        1 => "Internal".into(),
        2 => "Server".into(),
        3 => "Client".into(),
        4 => "Producer".into(),
        5 => "Consumer".into(),
        other => format!("SpanKind({other})"),
    }
}

/// Status code as the Collector names it (`ptrace.StatusCode.String()`).
pub fn status_name(code: i32) -> String {
    match code {
        0 => "Unset".into(),
        1 => "Ok".into(),
        2 => "Error".into(),
        other => format!("StatusCode({other})"),
    }
}

/// Unix nanoseconds as Go prints a UTC `time.Time`: `2020-02-11 20:26:12.000000321 +0000 UTC`
/// (trailing zeros of the fraction dropped, no fraction when it is zero).
pub fn go_time(unix_nanos: u64) -> String {
    tracegate_core::timefmt::go_time_string(unix_nanos)
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValue, KeyValueList};

    use super::*;

    fn v(value: Value) -> AnyValue {
        AnyValue { value: Some(value) }
    }

    #[test]
    fn values_print_with_their_type_like_the_collector() {
        assert_eq!(typed_value(Some(&v(Value::StringValue("GET".into())))), "Str(GET)");
        assert_eq!(typed_value(Some(&v(Value::IntValue(-7)))), "Int(-7)");
        assert_eq!(typed_value(Some(&v(Value::DoubleValue(1.5)))), "Double(1.5)");
        assert_eq!(typed_value(Some(&v(Value::BoolValue(true)))), "Bool(true)");
        assert_eq!(typed_value(Some(&v(Value::BytesValue(b"hello".to_vec())))), "Bytes(aGVsbG8=)");
        assert_eq!(typed_value(None), "Empty()");
        let list = v(Value::ArrayValue(ArrayValue {
            values: vec![v(Value::IntValue(1)), v(Value::StringValue("a".into()))],
        }));
        assert_eq!(typed_value(Some(&list)), r#"Slice([1,"a"])"#);
        let map = v(Value::KvlistValue(KeyValueList {
            values: vec![KeyValue { key: "k".into(), value: Some(v(Value::BoolValue(false))), ..Default::default() }],
        }));
        assert_eq!(typed_value(Some(&map)), r#"Map({"k":false})"#);
    }

    #[test]
    fn base64_pads_every_tail_length() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(&[0xff, 0xfe, 0xfd, 0xfc]), "//79/A==");
    }

    #[test]
    fn times_print_like_go() {
        assert_eq!(go_time(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(go_time(1_581_452_772_000_000_321), "2020-02-11 20:26:12.000000321 +0000 UTC");
        assert_eq!(go_time(951_782_400_500_000_000), "2000-02-29 00:00:00.5 +0000 UTC");
        assert_eq!(go_time(u64::MAX), "2554-07-21 23:34:33.709551615 +0000 UTC");
    }

    #[test]
    fn unknown_enum_numbers_are_shown_not_hidden() {
        assert_eq!(kind_name(2), "Server");
        assert_eq!(kind_name(9), "SpanKind(9)");
        assert_eq!(status_name(2), "Error");
        assert_eq!(status_name(-1), "StatusCode(-1)");
    }
}
