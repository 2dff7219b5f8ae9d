//! OTLP map and array values as the JSON string Jaeger gets for them.
//!
//! Jaeger tags cannot nest, so the Collector stores a map or array value as a string tag holding
//! `pcommon.Value.AsString()`: Go's `encoding/json` of the raw value. This reproduces that output:
//! map keys sorted (a repeated key keeps its last value), bytes as padded base64, `<`, `>`, `&`,
//! U+2028 and U+2029 escaped, floats in Go's format (`1e+21`, `1e-7`), and "" as a whole when a
//! NaN or infinity appears anywhere (Go's encoder fails there and the Collector ignores the error).

use std::collections::BTreeMap;
use std::fmt::Write;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::AnyValue;

/// The JSON text of a value, or "" when Go's encoder would fail.
pub(crate) fn to_json(value: &Value) -> String {
    let mut out = String::new();
    match write_value(&mut out, Some(value)) {
        Some(()) => out,
        None => String::new(),
    }
}

fn write_value(out: &mut String, v: Option<&Value>) -> Option<()> {
    match v {
        None | Some(Value::StringValueStrindex(_)) => out.push_str("null"),
        Some(Value::StringValue(s)) => write_string(out, s),
        Some(Value::BoolValue(b)) => out.push_str(if *b { "true" } else { "false" }),
        Some(Value::IntValue(i)) => {
            let _ = write!(out, "{i}");
        }
        Some(Value::DoubleValue(f)) => write_float(out, *f)?,
        Some(Value::BytesValue(b)) => {
            out.push('"');
            base64(out, b);
            out.push('"');
        }
        Some(Value::ArrayValue(a)) => {
            out.push('[');
            for (i, item) in a.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, inner(item))?;
            }
            out.push(']');
        }
        Some(Value::KvlistValue(kvs)) => {
            let sorted: BTreeMap<&str, Option<&Value>> = kvs
                .values
                .iter()
                .map(|kv| (kv.key.as_str(), kv.value.as_ref().and_then(inner)))
                .collect();
            out.push('{');
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k);
                out.push(':');
                write_value(out, v)?;
            }
            out.push('}');
        }
    }
    Some(())
}

fn inner(v: &AnyValue) -> Option<&Value> {
    v.value.as_ref()
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}') => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's `encoding/json` float format: shortest round-trip digits, plain notation unless the
/// magnitude is below 1e-6 or at least 1e21, then an exponent with an explicit sign.
fn write_float(out: &mut String, f: f64) -> Option<()> {
    if !f.is_finite() {
        return None;
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => {
                let _ = write!(out, "{mantissa}e+{exp}");
            }
            _ => out.push_str(&s),
        }
    } else {
        let _ = write!(out, "{f}");
    }
    Some(())
}

fn base64(out: &mut String, bytes: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValue, KeyValueList};

    fn any(v: Value) -> AnyValue {
        AnyValue { value: Some(v) }
    }

    fn kv(k: &str, v: Value) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(any(v)),
            ..Default::default()
        }
    }

    #[test]
    fn maps_sort_keys_and_keep_the_last_duplicate() {
        let map = Value::KvlistValue(KeyValueList {
            values: vec![
                kv("b", Value::IntValue(1)),
                kv("a", Value::StringValue("x<y>&\"\n".into())),
                kv("b", Value::BoolValue(true)),
                KeyValue {
                    key: "n".into(),
                    value: None,
                    ..Default::default()
                },
            ],
        });
        assert_eq!(
            to_json(&map),
            r#"{"a":"x\u003cy\u003e\u0026\"\n","b":true,"n":null}"#
        );
    }

    #[test]
    fn arrays_bytes_and_floats_read_like_go() {
        let arr = Value::ArrayValue(ArrayValue {
            values: vec![
                any(Value::BytesValue(b"hello".to_vec())),
                any(Value::DoubleValue(1e21)),
                any(Value::DoubleValue(1.5e-7)),
                any(Value::DoubleValue(3.0)),
                any(Value::DoubleValue(0.25)),
                any(Value::ArrayValue(ArrayValue::default())),
            ],
        });
        assert_eq!(to_json(&arr), r#"["aGVsbG8=",1e+21,1.5e-7,3,0.25,[]]"#);
    }

    #[test]
    fn non_finite_floats_make_the_whole_value_empty() {
        let arr = Value::ArrayValue(ArrayValue {
            values: vec![any(Value::IntValue(1)), any(Value::DoubleValue(f64::NAN))],
        });
        assert_eq!(to_json(&arr), "");
    }

    #[test]
    fn base64_pads() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
        ] {
            let mut s = String::new();
            base64(&mut s, input.as_bytes());
            assert_eq!(s, want);
        }
    }
}
