//! Attribute values: the typed literal a config gives (`value: 2245` is an int, `value: true`
//! a bool), and the Collector's rules for turning an attribute into a string, hashing it and
//! converting it, so results match what an OTel Collector produces for the same input.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, KeyValueList};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Any YAML scalar, list or map, kept with its type (the Collector's `value: any`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ConfigValue {
    Bool(bool),
    Int(i64),
    Double(f64),
    Str(String),
    List(Vec<ConfigValue>),
    Map(BTreeMap<String, ConfigValue>),
}

impl ConfigValue {
    pub fn to_value(&self) -> V {
        match self {
            ConfigValue::Bool(b) => V::BoolValue(*b),
            ConfigValue::Int(i) => V::IntValue(*i),
            ConfigValue::Double(d) => V::DoubleValue(*d),
            ConfigValue::Str(s) => V::StringValue(s.clone()),
            ConfigValue::List(l) => V::ArrayValue(ArrayValue {
                values: l.iter().map(|v| AnyValue { value: Some(v.to_value()) }).collect(),
            }),
            ConfigValue::Map(m) => V::KvlistValue(KeyValueList {
                values: m.iter().map(|(k, v)| kv(k, v.to_value())).collect(),
            }),
        }
    }
}

pub fn kv(key: &str, value: V) -> KeyValue {
    KeyValue { key: key.to_string(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

/// The value of an attribute; `None` for an empty value.
pub fn value_of(kv: &KeyValue) -> Option<&V> {
    kv.value.as_ref().and_then(|v| v.value.as_ref())
}

/// The first attribute with this key (OTLP maps are lists; the Collector reads the first).
pub fn find<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a KeyValue> {
    attrs.iter().find(|kv| kv.key == key)
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: shortest form, never an exponent.
pub fn format_double(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    format!("{d}")
}

/// pdata's `Value.AsString`: strings as they are, numbers and bools in Go's formatting,
/// bytes as base64, lists and maps as JSON, empty as "".
pub fn as_string(v: Option<&V>) -> String {
    match v {
        None => String::new(),
        Some(V::StringValue(s)) => s.clone(),
        Some(V::BoolValue(b)) => b.to_string(),
        Some(V::IntValue(i)) => i.to_string(),
        Some(V::DoubleValue(d)) => format_double(*d),
        Some(V::BytesValue(b)) => base64(b),
        Some(other) => to_json(Some(other)).to_string(),
    }
}

fn to_json(v: Option<&V>) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        None => J::Null,
        Some(V::StringValue(s)) => J::String(s.clone()),
        Some(V::BoolValue(b)) => J::Bool(*b),
        Some(V::IntValue(i)) => J::from(*i),
        Some(V::DoubleValue(d)) => serde_json::Number::from_f64(*d).map_or(J::Null, J::Number),
        Some(V::BytesValue(b)) => J::String(base64(b)),
        Some(V::ArrayValue(a)) => J::Array(a.values.iter().map(|x| to_json(x.value.as_ref())).collect()),
        Some(V::KvlistValue(m)) => {
            J::Object(m.values.iter().map(|kv| (kv.key.clone(), to_json(value_of(kv)))).collect())
        }
        // Dictionary references (profiles only) never appear in traces.
        Some(_) => J::Null,
    }
}

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

/// The Collector's SHA-256 hasher: strings hash their bytes, bools one byte, ints and doubles
/// their 8 little-endian bytes; anything else becomes "".
pub fn hash(v: Option<&V>) -> String {
    let digest = match v {
        Some(V::StringValue(s)) => Sha256::digest(s.as_bytes()),
        Some(V::BoolValue(b)) => Sha256::digest([u8::from(*b)]),
        Some(V::IntValue(i)) => Sha256::digest(i.to_le_bytes()),
        Some(V::DoubleValue(d)) => Sha256::digest(d.to_bits().to_le_bytes()),
        _ => return String::new(),
    };
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        hex.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    hex
}

/// Target of the `convert` action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvertTo {
    Int,
    Double,
    Str,
}

/// The converted value, or `None` when it is already of that type or cannot be converted
/// (the Collector leaves such values as they are).
pub fn convert(v: Option<&V>, to: ConvertTo) -> Option<V> {
    match (to, v?) {
        (ConvertTo::Str, V::StringValue(_)) => None,
        (ConvertTo::Str, other) => Some(V::StringValue(as_string(Some(other)))),
        (ConvertTo::Int, V::DoubleValue(d)) => Some(V::IntValue(*d as i64)),
        (ConvertTo::Int, V::BoolValue(b)) => Some(V::IntValue(i64::from(*b))),
        (ConvertTo::Int, V::StringValue(s)) => s.parse::<i64>().ok().map(V::IntValue),
        (ConvertTo::Double, V::IntValue(i)) => Some(V::DoubleValue(*i as f64)),
        (ConvertTo::Double, V::BoolValue(b)) => Some(V::DoubleValue(if *b { 1.0 } else { 0.0 })),
        (ConvertTo::Double, V::StringValue(s)) => s.parse::<f64>().ok().map(V::DoubleValue),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_matches_sha256_of_the_collector_byte_forms() {
        // sha256("") and sha256("abc"): well-known vectors.
        assert_eq!(hash(Some(&V::StringValue(String::new()))), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(hash(Some(&V::StringValue("abc".into()))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        // bool true hashes the single byte 0x01.
        assert_eq!(hash(Some(&V::BoolValue(true))), "4bf5122f344554c53bde2ebb8cd2b7e3d1600ad631c385a5d7cce23c7785459a");
        assert_eq!(hash(Some(&V::IntValue(1))), hash(Some(&V::IntValue(1))));
        assert_ne!(hash(Some(&V::IntValue(1))), hash(Some(&V::IntValue(2))));
        assert_eq!(hash(None), "");
        assert_eq!(hash(Some(&V::BytesValue(vec![1]))), "");
    }

    #[test]
    fn convert_follows_the_collector() {
        assert_eq!(convert(Some(&V::StringValue("42".into())), ConvertTo::Int), Some(V::IntValue(42)));
        assert_eq!(convert(Some(&V::StringValue("4x".into())), ConvertTo::Int), None, "failure leaves value");
        assert_eq!(convert(Some(&V::DoubleValue(2.9)), ConvertTo::Int), Some(V::IntValue(2)));
        assert_eq!(convert(Some(&V::BoolValue(true)), ConvertTo::Double), Some(V::DoubleValue(1.0)));
        assert_eq!(convert(Some(&V::StringValue("1.5".into())), ConvertTo::Double), Some(V::DoubleValue(1.5)));
        assert_eq!(convert(Some(&V::IntValue(7)), ConvertTo::Str), Some(V::StringValue("7".into())));
        assert_eq!(convert(Some(&V::DoubleValue(3.0)), ConvertTo::Str), Some(V::StringValue("3".into())));
        assert_eq!(convert(Some(&V::IntValue(7)), ConvertTo::Int), None, "already an int");
        assert_eq!(convert(None, ConvertTo::Str), None);
    }

    #[test]
    fn as_string_renders_like_pdata() {
        assert_eq!(as_string(Some(&V::BytesValue(b"hi!".to_vec()))), "aGkh");
        assert_eq!(as_string(Some(&V::BytesValue(b"h".to_vec()))), "aA==");
        let list = ConfigValue::List(vec![ConfigValue::Int(1), ConfigValue::Str("a".into())]).to_value();
        assert_eq!(as_string(Some(&list)), r#"[1,"a"]"#);
        assert_eq!(as_string(Some(&V::DoubleValue(0.1))), "0.1");
    }
}
