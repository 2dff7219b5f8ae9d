//! The pipe-packed forms the Collector's Zipkin exporter writes and its translator unpacks:
//!
//! - an annotation `name|{"attr":value,...}|droppedCount` is an event with attributes;
//! - a tag `otlp.link.N` = `traceId|spanId|traceState|{"attr":value,...}|droppedCount` is a
//!   link.
//!
//! The JSON part may itself contain `|`; everything between the fixed fields is rejoined.
//! JSON strings, booleans and numbers become attributes (whole numbers as ints, as Go's
//! `float64` test does); nested values are ignored.
//!
//! Where the Collector fails the whole batch on a part that does not parse, tracegate keeps
//! the data instead: such an annotation becomes an event named by the whole annotation text,
//! such a tag stays an ordinary attribute.

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};

use crate::attrs;
use crate::model::Annotation;

pub fn unpack_event(annotation: Annotation) -> Event {
    let time_unix_nano = annotation.timestamp_us.wrapping_mul(1000);
    if !annotation.value.contains('|') {
        return Event { time_unix_nano, name: annotation.value, ..Default::default() };
    }
    let parts: Vec<&str> = annotation.value.split('|').collect();
    let named = |name: &str| Event { time_unix_nano, name: name.to_string(), ..Default::default() };
    if parts.len() < 3 {
        // Go splits unconditionally: `a|b` is named `a`.
        return named(parts[0]);
    }
    let json = middle(&parts, 1);
    match (json_attributes(&json), parts[parts.len() - 1].parse::<u32>()) {
        (Some(attributes), Ok(dropped_attributes_count)) => Event {
            time_unix_nano,
            name: parts[0].to_string(),
            attributes,
            dropped_attributes_count,
        },
        _ => Event { time_unix_nano, name: annotation.value, ..Default::default() },
    }
}

/// `Ok(None)`: too few parts, which the Collector drops silently. `Err`: a part did not parse.
pub fn unpack_link(value: &str) -> Result<Option<Link>, ()> {
    let parts: Vec<&str> = value.split('|').collect();
    if parts.len() < 5 {
        return Ok(None);
    }
    let trace_id = hex_id::<16>(parts[0])?;
    let span_id = hex_id::<8>(parts[1])?;
    let attributes = json_attributes(&middle(&parts, 3)).ok_or(())?;
    let dropped_attributes_count = parts[parts.len() - 1].parse::<u32>().map_err(|_| ())?;
    Ok(Some(Link {
        trace_id,
        span_id,
        trace_state: parts[2].to_string(),
        attributes,
        dropped_attributes_count,
        ..Default::default()
    }))
}

/// The JSON between the fixed leading fields and the trailing dropped count.
fn middle(parts: &[&str], from: usize) -> String {
    parts[from..parts.len() - 1].join("|")
}

/// An id as hex, optionally quoted; empty means the zero id (no bytes).
fn hex_id<const N: usize>(text: &str) -> Result<Vec<u8>, ()> {
    let text = match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) if text.len() >= 2 => inner,
        _ => text,
    };
    if text.is_empty() {
        return Ok(Vec::new());
    }
    if text.len() != 2 * N {
        return Err(());
    }
    let mut out = Vec::with_capacity(N);
    for pair in text.as_bytes().chunks(2) {
        let hi = (pair[0] as char).to_digit(16).ok_or(())?;
        let lo = (pair[1] as char).to_digit(16).ok_or(())?;
        out.push((hi * 16 + lo) as u8);
    }
    if out.iter().all(|b| *b == 0) {
        out.clear();
    }
    Ok(out)
}

fn json_attributes(json: &str) -> Option<Vec<KeyValue>> {
    // Go unmarshals `null` into a nil map without error.
    let map: Option<serde_json::Map<String, serde_json::Value>> = serde_json::from_str(json).ok()?;
    let mut out = Vec::new();
    for (key, value) in map.unwrap_or_default() {
        let value = match value {
            serde_json::Value::String(s) => attrs::string_value(s),
            serde_json::Value::Bool(b) => attrs::bool_value(b),
            serde_json::Value::Number(n) => {
                let d = n.as_f64().unwrap_or(0.0);
                if d % 1.0 == 0.0 {
                    attrs::int_value(d as i64)
                } else {
                    attrs::double_value(d)
                }
            }
            _ => continue,
        };
        out.push(attrs::kv(key, value));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;

    fn annotation(value: &str) -> Annotation {
        Annotation { timestamp_us: 5, value: value.to_string() }
    }

    #[test]
    fn events_unpack_name_attributes_and_dropped_count() {
        let e = unpack_event(annotation(r#"retry|{"attempt":2,"ratio":0.5,"ok":true,"who":"a|b","nested":{}}|3"#));
        assert_eq!(e.name, "retry");
        assert_eq!(e.time_unix_nano, 5000);
        assert_eq!(e.dropped_attributes_count, 3);
        let got: Vec<_> = e.attributes.iter().map(|kv| (kv.key.as_str(), kv.value.clone().unwrap().value.unwrap())).collect();
        assert_eq!(
            got,
            vec![
                ("attempt", Value::IntValue(2)),
                ("ok", Value::BoolValue(true)),
                ("ratio", Value::DoubleValue(0.5)),
                ("who", Value::StringValue("a|b".into())),
            ]
        );
    }

    #[test]
    fn plain_and_odd_annotations_keep_their_text() {
        assert_eq!(unpack_event(annotation("cache miss")).name, "cache miss");
        assert_eq!(unpack_event(annotation("a|b")).name, "a");
        // Would fail the whole batch in the Collector.
        let e = unpack_event(annotation("GET|/api|x"));
        assert_eq!((e.name.as_str(), e.attributes.len()), ("GET|/api|x", 0));
    }

    #[test]
    fn links_unpack_and_reject_bad_parts() {
        let link = unpack_link(r#"0102030405060708090a0b0c0d0e0f10|0102030405060708|k=v|{"a":"b"}|1"#)
            .unwrap()
            .unwrap();
        assert_eq!(link.trace_id[15], 0x10);
        assert_eq!(link.span_id[0], 1);
        assert_eq!(link.trace_state, "k=v");
        assert_eq!(link.attributes[0].key, "a");
        assert_eq!(link.dropped_attributes_count, 1);
        assert_eq!(unpack_link("a|b|c|d"), Ok(None));
        assert_eq!(unpack_link("zz|0102030405060708||{}|0"), Err(()));
        assert_eq!(unpack_link("|\"\"||null|0").unwrap().unwrap().trace_id, Vec::<u8>::new());
    }
}
