//! A search's first look at a trace segment: walks the protobuf bytes of an
//! `ExportTraceServiceRequest` and reports, per span, the resource's service, the span name,
//! start and end, without decoding attributes or allocating anything.
//!
//! Why: a search block holds ~1000 spans, and decoding all of them with prost (every attribute
//! becomes owned strings) was most of a service+operation, service+duration or service+tag
//! search. The walk rejects almost every span from these four fields; only a trace that still
//! can match is decoded in full and checked exactly (`read.rs`), so the walk only has to be
//! a correct superset, never the final word.

use prost::encoding::decode_varint;

/// One span as the walk sees it.
pub struct SpanHead<'a> {
    pub service: &'a [u8],
    pub name: &'a [u8],
    pub start: u64,
    pub end: u64,
}

/// Iterates the fields of one message: (field number, wire type, payload). Varints and fixed
/// fields yield their raw bytes; `None` ends the walk on malformed input.
struct Fields<'a>(&'a [u8]);

impl<'a> Iterator for Fields<'a> {
    type Item = Option<(u32, u8, &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        Some(self.field())
    }
}

impl<'a> Fields<'a> {
    fn field(&mut self) -> Option<(u32, u8, &'a [u8])> {
        let key = decode_varint(&mut self.0).ok()?;
        let (field, wire) = (u32::try_from(key >> 3).ok()?, (key & 7) as u8);
        let len = match wire {
            0 => {
                let before = self.0;
                decode_varint(&mut self.0).ok()?;
                let used = before.len() - self.0.len();
                return Some((field, wire, &before[..used]));
            }
            1 => 8,
            2 => usize::try_from(decode_varint(&mut self.0).ok()?).ok()?,
            5 => 4,
            _ => {
                self.0 = &[];
                return None;
            }
        };
        if self.0.len() < len {
            self.0 = &[];
            return None;
        }
        let (payload, rest) = self.0.split_at(len);
        self.0 = rest;
        Some((field, wire, payload))
    }
}

fn fixed64(b: &[u8]) -> u64 {
    b.try_into().map(u64::from_le_bytes).unwrap_or(0)
}

/// The resource's `service.name` as `codec::service_of` reads it: the first attribute with
/// that key, if its value is a string; empty otherwise.
fn service_of_resource(resource: &[u8]) -> &[u8] {
    for f in Fields(resource) {
        let Some((1, 2, kv)) = f else { continue };
        let (mut key, mut value) = (None, None);
        for g in Fields(kv) {
            match g {
                Some((1, 2, k)) => key = Some(k),
                Some((2, 2, v)) => value = Some(v),
                _ => {}
            }
        }
        if key == Some(b"service.name".as_slice()) {
            let mut text: &[u8] = b"";
            for h in Fields(value.unwrap_or_default()).flatten() {
                text = if let (1, 2, s) = h { s } else { b"" };
            }
            return text;
        }
    }
    b""
}

/// Calls `f` for every span of the segment; returns false if the bytes are malformed (the
/// caller then falls back to a full decode, which reports the error).
pub fn spans(segment: &[u8], mut f: impl FnMut(&SpanHead<'_>)) -> bool {
    for rs in Fields(segment) {
        let Some((field, wire, rs)) = rs else { return false };
        if (field, wire) != (1, 2) {
            continue;
        }
        // The last resource field wins, as in prost's merge of a repeated message field.
        let mut service: &[u8] = b"";
        for g in Fields(rs) {
            match g {
                Some((1, 2, res)) => service = service_of_resource(res),
                Some(_) => {}
                None => return false,
            }
        }
        for g in Fields(rs).flatten() {
            let (2, 2, ss) = g else { continue };
            for h in Fields(ss) {
                let Some((field, wire, span)) = h else { return false };
                if (field, wire) != (2, 2) {
                    continue;
                }
                let mut head = SpanHead { service, name: b"", start: 0, end: 0 };
                for k in Fields(span) {
                    match k {
                        Some((5, 2, name)) => head.name = name,
                        Some((7, 1, v)) => head.start = fixed64(v),
                        Some((8, 1, v)) => head.end = fixed64(v),
                        Some(_) => {}
                        None => return false,
                    }
                }
                f(&head);
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{encode_segment, service_of};
    use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    fn kv(k: &str, v: Value) -> KeyValue {
        KeyValue { key: k.into(), value: Some(AnyValue { value: Some(v) }), ..Default::default() }
    }

    #[test]
    fn walk_sees_what_a_full_decode_sees() {
        let span = |name: &str, start: u64| Span {
            name: name.into(),
            start_time_unix_nano: start,
            end_time_unix_nano: start + 5,
            attributes: vec![kv("a", Value::IntValue(3))],
            ..Default::default()
        };
        let batch = vec![
            ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv("x", Value::BoolValue(true)), kv("service.name", Value::StringValue("api".into()))],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans { spans: vec![span("GET", 10), span("PUT", 20)], ..Default::default() }],
                schema_url: String::new(),
            },
            ResourceSpans {
                resource: Some(Resource { attributes: vec![kv("service.name", Value::IntValue(1))], ..Default::default() }),
                scope_spans: vec![ScopeSpans { spans: vec![span("", 0)], ..Default::default() }],
                schema_url: String::new(),
            },
        ];
        let mut seg = Vec::new();
        encode_segment(&batch, &[(0, 0, 0), (0, 0, 1), (1, 0, 0)], &mut seg);
        let mut seen = Vec::new();
        assert!(spans(&seg, |h| seen.push((h.service.to_vec(), h.name.to_vec(), h.start, h.end))));
        assert_eq!(service_of(&batch[1]), "");
        let want = vec![
            (b"api".to_vec(), b"GET".to_vec(), 10, 15),
            (b"api".to_vec(), b"PUT".to_vec(), 20, 25),
            (Vec::new(), Vec::new(), 0, 5),
        ];
        assert_eq!(seen, want);
        assert!(!spans(&seg[..seg.len() - 3], |_| {}));
    }
}
