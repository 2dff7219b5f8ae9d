//! Zipkin v2 JSON (`POST /api/v2/spans`, a JSON list of spans) -> [`model::Span`], with
//! zipkin-go's decoding rules, which the Collector uses:
//!
//! - `traceId` is 1 to 32 hex digits, left-padded to 128 bits (64-bit ids fill the low
//!   half); `id` and `parentId` are hex 64-bit numbers; `id` must not be zero, an empty
//!   `parentId` means none;
//! - `timestamp`/`duration` are unsigned epoch microseconds; 0 means absent;
//! - endpoint `ipv4`/`ipv6` are parsed as IP addresses (either family in either field, as Go's
//!   `net.ParseIP` allows), and an endpoint carrying nothing is dropped;
//! - `tags` values must be strings; unknown fields are ignored; `null` list entries are
//!   skipped and `null` fields read as absent.
//!
//! Stricter than zipkin-go in one place: a span without a `traceId`, or with an all-zero one,
//! is refused rather than translated into an OTLP span without a trace id, which no OTLP
//! consumer accepts.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::error::{DecodeError, Format};
use crate::model::{self, dedupe_tags, go_ip_string, Annotation, Endpoint, Kind};

#[derive(Deserialize)]
struct JsonSpan<'a> {
    #[serde(rename = "traceId", borrow)]
    trace_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(rename = "parentId", borrow)]
    parent_id: Option<Cow<'a, str>>,
    name: Option<String>,
    #[serde(borrow)]
    kind: Option<Cow<'a, str>>,
    timestamp: Option<u64>,
    duration: Option<u64>,
    debug: Option<bool>,
    shared: Option<bool>,
    #[serde(rename = "localEndpoint", borrow)]
    local_endpoint: Option<JsonEndpoint<'a>>,
    #[serde(rename = "remoteEndpoint", borrow)]
    remote_endpoint: Option<JsonEndpoint<'a>>,
    annotations: Option<Vec<Option<JsonAnnotation>>>,
    tags: Option<Tags>,
}

#[derive(Deserialize)]
struct JsonEndpoint<'a> {
    #[serde(rename = "serviceName")]
    service_name: Option<String>,
    #[serde(borrow)]
    ipv4: Option<Cow<'a, str>>,
    #[serde(borrow)]
    ipv6: Option<Cow<'a, str>>,
    port: Option<u16>,
}

#[derive(Deserialize)]
struct JsonAnnotation {
    timestamp: Option<u64>,
    value: Option<String>,
}

/// Tags in arrival order, straight into a `Vec` (no map, no hashing); `null` values read as
/// empty strings, as Go stores them.
struct Tags(Vec<(String, String)>);

impl<'de> Deserialize<'de> for Tags {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TagsVisitor;
        impl<'de> Visitor<'de> for TagsVisitor {
            type Value = Tags;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of string tags")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tags, A::Error> {
                let mut tags = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Option<String>>()? {
                    tags.push((k, v.unwrap_or_default()));
                }
                Ok(Tags(tags))
            }
        }
        d.deserialize_map(TagsVisitor)
    }
}

/// Decodes a v2 JSON body.
pub fn decode(body: &[u8]) -> Result<Vec<model::Span>, DecodeError> {
    decode_list(body, Format::V2Json, |s: JsonSpan| convert(s))
}

/// Reads a JSON list, converting each element as soon as it is parsed: the raw form of one
/// span at a time is alive, never the whole list, and `null` entries take no memory at all
/// (a body of `[null,null,...]` must not cost hundreds of bytes per five sent). The first
/// unusable span stops the decoding.
pub(crate) fn decode_list<'de, T, U>(
    body: &'de [u8],
    format: Format,
    convert: impl FnMut(T) -> Result<U, String>,
) -> Result<Vec<U>, DecodeError>
where
    T: Deserialize<'de>,
{
    let mut de = serde_json::Deserializer::from_slice(body);
    let list = ListSeed { convert, _element: std::marker::PhantomData }
        .deserialize(&mut de)
        .and_then(|list| de.end().map(|()| list))
        .map_err(|e| DecodeError::syntax(format, e))?;
    Ok(list)
}

struct ListSeed<T, F> {
    convert: F,
    _element: std::marker::PhantomData<fn() -> T>,
}

impl<'de, T, U, F> DeserializeSeed<'de> for ListSeed<T, F>
where
    T: Deserialize<'de>,
    F: FnMut(T) -> Result<U, String>,
{
    type Value = Vec<U>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<U>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, T, U, F> Visitor<'de> for ListSeed<T, F>
where
    T: Deserialize<'de>,
    F: FnMut(T) -> Result<U, String>,
{
    type Value = Vec<U>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of spans")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Vec<U>, A::Error> {
        let mut out = Vec::new();
        let mut index = 0usize;
        while let Some(element) = seq.next_element::<Option<T>>()? {
            if let Some(element) = element {
                let converted = (self.convert)(element)
                    .map_err(|reason| de::Error::custom(format!("span {index}: {reason}")))?;
                out.push(converted);
            }
            index += 1;
        }
        Ok(out)
    }
}

fn convert(s: JsonSpan) -> Result<model::Span, String> {
    let (trace_id_high, trace_id_low) = match s.trace_id.as_deref() {
        None | Some("") => return Err("valid traceId required".into()),
        Some(t) => parse_trace_id(t).ok_or_else(|| format!("invalid traceId \"{t}\": expected 1 to 32 hex digits"))?,
    };
    if trace_id_high == 0 && trace_id_low == 0 {
        return Err("valid traceId required (it is all zero)".into());
    }
    let id = match s.id.as_deref() {
        None | Some("") => 0,
        Some(t) => parse_hex_u64(t).ok_or_else(|| format!("invalid id \"{t}\": expected a hex 64-bit span id"))?,
    };
    if id == 0 {
        return Err("valid span id required".into());
    }
    let parent_id = match s.parent_id.as_deref() {
        None => None,
        Some("") => Some(0),
        Some(t) => Some(parse_hex_u64(t).ok_or_else(|| format!("invalid parentId \"{t}\": expected a hex 64-bit span id"))?),
    };
    let mut tags = s.tags.map(|t| t.0).unwrap_or_default();
    dedupe_tags(&mut tags);
    let annotations = s
        .annotations
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .map(|a| Annotation { timestamp_us: a.timestamp.unwrap_or(0), value: a.value.unwrap_or_default() })
        .collect();
    Ok(model::Span {
        trace_id_high,
        trace_id_low,
        id,
        parent_id,
        name: s.name.unwrap_or_default(),
        kind: s.kind.as_deref().map(Kind::from_name).unwrap_or_default(),
        timestamp_us: s.timestamp.filter(|t| *t > 0),
        duration_us: s.duration.unwrap_or(0),
        shared: s.shared.unwrap_or(false),
        debug: s.debug.unwrap_or(false),
        local_endpoint: endpoint(s.local_endpoint)?,
        remote_endpoint: endpoint(s.remote_endpoint)?,
        annotations,
        tags,
    })
}

fn endpoint(e: Option<JsonEndpoint>) -> Result<Option<Endpoint>, String> {
    let Some(e) = e else { return Ok(None) };
    let ip = |field: &str, text: Option<Cow<str>>| -> Result<Option<String>, String> {
        match text.as_deref() {
            None | Some("") => Ok(None),
            Some(t) => t
                .parse::<IpAddr>()
                .map(|ip| Some(go_ip_string(ip)))
                .map_err(|_| format!("invalid IP address in {field}: \"{t}\"")),
        }
    };
    let endpoint = Endpoint {
        service_name: e.service_name.unwrap_or_default(),
        ipv4: ip("ipv4", e.ipv4)?,
        ipv6: ip("ipv6", e.ipv6)?,
        port: e.port.unwrap_or(0),
    };
    Ok((!endpoint.is_empty()).then_some(endpoint))
}

/// zipkin-go's `TraceIDFromHex`: up to 32 hex digits, the last 16 are the low half.
pub fn parse_trace_id(hex: &str) -> Option<(u64, u64)> {
    // Checked before splitting by byte length: a multi-byte character would make the split
    // point fall inside it (found by the v2_json fuzz target).
    if hex.is_empty() || hex.len() > 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    if hex.len() > 16 {
        let (high, low) = hex.split_at(hex.len() - 16);
        Some((parse_hex_u64(high)?, parse_hex_u64(low)?))
    } else {
        Some((0, parse_hex_u64(hex)?))
    }
}

/// Go's `strconv.ParseUint(s, 16, 64)`: hex digits only, no sign or prefix, must fit 64 bits
/// (leading zeros beyond 16 digits are fine).
pub fn parse_hex_u64(hex: &str) -> Option<u64> {
    if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    /// Regression: the fuzz crash `crash-0892ab04…` (a 17-byte trace id whose first
    /// character is two bytes long) panicked in `split_at`.
    #[test]
    fn non_ascii_trace_ids_are_errors_not_panics() {
        assert_eq!(super::parse_trace_id("\u{02e4}f7183fb1d4c&f5f"), None);
        assert_eq!(super::parse_trace_id("\u{02e4}0123456789abcdef"), None);
        let body = "[{\"traceId\":\"\u{02e4}f7183fb1d4c&f5f\",\"id\":\"6b221d5bc9e6496c\"}]";
        assert!(super::decode(body.as_bytes()).is_err());
    }
    use super::*;

    #[test]
    fn ids_are_left_padded_hex() {
        assert_eq!(parse_trace_id("1"), Some((0, 1)));
        assert_eq!(parse_trace_id("5af7183fb1d4cf5f"), Some((0, 0x5af7183fb1d4cf5f)));
        assert_eq!(parse_trace_id("1f5af7183fb1d4cf5f"), Some((0x1f, 0x5af7183fb1d4cf5f)));
        assert_eq!(parse_trace_id("463ac35c9f6413ad48485a3953bb6124"), Some((0x463ac35c9f6413ad, 0x48485a3953bb6124)));
        for bad in ["", "xyz", "+1", "0x12", &"1".repeat(33)] {
            assert_eq!(parse_trace_id(bad), None, "{bad}");
        }
        assert_eq!(parse_hex_u64("00000000000000000001"), Some(1));
        assert_eq!(parse_hex_u64("10000000000000000"), None);
    }

    #[test]
    fn a_brave_span_decodes() {
        let body = br#"[{"traceId":"5af7183fb1d4cf5f","parentId":"6b221d5bc9e6496c","id":"352bff9a74ca9ad2",
            "kind":"CLIENT","name":"get /api","timestamp":1556604172355737,"duration":1431,
            "localEndpoint":{"serviceName":"frontend","ipv4":"192.168.99.1","port":8081},
            "remoteEndpoint":{"serviceName":"backend","ipv6":"::ffff:172.19.0.2","port":9000},
            "annotations":[{"timestamp":1556604172355800,"value":"ws"}],
            "tags":{"http.method":"GET","http.path":"/api","dup":"1","dup":"2"},"shared":true,"debug":true}, null]"#;
        let spans = decode(body).unwrap();
        assert_eq!(spans.len(), 1);
        let s = &spans[0];
        assert_eq!((s.trace_id_high, s.trace_id_low), (0, 0x5af7183fb1d4cf5f));
        assert_eq!(s.parent_id, Some(0x6b221d5bc9e6496c));
        assert_eq!(s.kind, Kind::Client);
        assert_eq!(s.timestamp_us, Some(1556604172355737));
        assert_eq!(s.local_endpoint.as_ref().unwrap().ipv4.as_deref(), Some("192.168.99.1"));
        assert_eq!(s.remote_endpoint.as_ref().unwrap().ipv6.as_deref(), Some("172.19.0.2"));
        assert_eq!(s.tags.len(), 3);
        assert_eq!(s.tags[2], ("dup".to_string(), "2".to_string()));
        assert!(s.shared && s.debug);
    }

    #[test]
    fn bad_bodies_say_why() {
        let cases: [(&[u8], &str); 10] = [
            (b"[{\"traceId\":\"1\",\"id\":\"2\"", "EOF while parsing"),
            (b"{}", "expected a list of spans"),
            (br#"[{"traceId":"1","id":"2","tags":{"a":1}}]"#, "invalid type: integer `1`"),
            (br#"[{"traceId":"zz","id":"2"}]"#, "span 0: invalid traceId \"zz\""),
            (br#"[{"traceId":"1","id":"0"}]"#, "valid span id required"),
            (br#"[{"id":"2"}]"#, "valid traceId required"),
            (br#"[{"traceId":"0000","id":"2"}]"#, "traceId required (it is all zero)"),
            (br#"[{"traceId":"1","id":"2","parentId":"q"}]"#, "invalid parentId"),
            (br#"[{"traceId":"1","id":"2","localEndpoint":{"ipv4":"1.2.3"}}]"#, "invalid IP address in ipv4"),
            (br#"[{"traceId":"1","id":"2","timestamp":-1}]"#, "invalid value: integer `-1`"),
        ];
        for (body, want) in cases {
            let e = decode(body).unwrap_err().to_string();
            assert!(e.starts_with("cannot decode the Zipkin v2 JSON body"), "{e}");
            assert!(e.contains(want), "{e} should contain {want}");
        }
    }

    #[test]
    fn empty_values_read_as_absent() {
        let body = br#"[{"traceId":"1","id":"2","parentId":"","name":null,"timestamp":0,
            "localEndpoint":{"serviceName":"","ipv4":""},"tags":{"k":null},"annotations":null}]"#;
        let s = &decode(body).unwrap()[0];
        assert_eq!(s.parent_id, Some(0));
        assert_eq!(s.timestamp_us, None);
        assert_eq!(s.local_endpoint, None);
        assert_eq!(s.tags, vec![("k".to_string(), String::new())]);
        assert_eq!(decode(b"[null, null]").unwrap(), vec![]);
        assert!(decode(b"[] trailing").unwrap_err().to_string().contains("trailing characters"));
    }
}
