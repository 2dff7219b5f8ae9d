//! OTLP/JSON, as the OTLP spec defines it: protobuf's JSON mapping with hex (not base64)
//! trace and span ids, enums as numbers, and 64-bit integers as decimal strings (numbers are
//! accepted too).
//!
//! Requests are decoded with `opentelemetry-proto`'s `with-serde` derives, which follow those
//! rules (the tests below pin the forms that matter, with a body written as the spec shows
//! it). Responses are written by hand: the derived `Serialize` renders `rejectedSpans` as a
//! number and an absent `partialSuccess` as `null`, neither of which is the spec's form.

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use serde_json::{json, Map, Value};

use crate::status::{RetryInfo, RpcStatus};

pub fn decode_request(body: &[u8]) -> Result<ExportTraceServiceRequest, serde_json::Error> {
    check_shape(body)?;
    serde_json::from_slice(body)
}

/// serde's derived `Deserialize` also takes a struct written as an array of its fields, so
/// `[]` and `[[]]` were accepted as empty requests, and `{"resourceSpans": [[]]}` as a request
/// with an empty resource. Protobuf's JSON mapping (and the Collector, through `protojson`)
/// writes every message as an object, so this walk refuses an array wherever a message
/// belongs, before the real decode: at the top, directly inside an array (every repeated
/// field of OTLP traces holds messages or strings, never arrays), and as the value of a
/// singular message field. It builds nothing, so it costs a second tokenizing pass only.
fn check_shape(body: &[u8]) -> Result<(), serde_json::Error> {
    use serde::Deserializer as _;
    let mut de = serde_json::Deserializer::from_slice(body);
    de.deserialize_any(Shape::Request)?;
    de.end()
}

/// The keys of singular message fields in OTLP trace JSON (camelCase, and the proto names).
const MESSAGE_FIELDS: [&str; 8] = [
    "resource",
    "scope",
    "status",
    "value",
    "arrayValue",
    "kvlistValue",
    "array_value",
    "kvlist_value",
];

/// Where a JSON value stands: where a message must be, or anywhere else.
#[derive(Clone, Copy)]
enum Shape {
    Request,
    Element,
    Field(&'static str),
    Any,
}

impl<'de> serde::de::DeserializeSeed<'de> for Shape {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Shape {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OTLP JSON")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let what = match self {
            Shape::Request => "the body must be a JSON object (an ExportTraceServiceRequest)".into(),
            Shape::Element => "each element of a repeated field must be a JSON object".into(),
            Shape::Field(name) => format!("\"{name}\" must be a JSON object"),
            Shape::Any => {
                while seq.next_element_seed(Shape::Element)?.is_some() {}
                return Ok(());
            }
        };
        Err(serde::de::Error::custom(format!("{what}, not an array")))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(field) = map.next_key_seed(FieldKey)? {
            map.next_value_seed(match field {
                Some(name) => Shape::Field(name),
                None => Shape::Any,
            })?;
        }
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// A key of an object: `Some(name)` when it is a singular message field.
struct FieldKey;

impl<'de> serde::de::DeserializeSeed<'de> for FieldKey {
    type Value = Option<&'static str>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for FieldKey {
    type Value = Option<&'static str>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(MESSAGE_FIELDS.into_iter().find(|m| *m == key))
    }
}

pub fn encode_response(response: &ExportTraceServiceResponse) -> Vec<u8> {
    let mut root = Map::new();
    if let Some(ps) = &response.partial_success {
        let mut partial = Map::new();
        if ps.rejected_spans != 0 {
            partial.insert(
                "rejectedSpans".into(),
                Value::String(ps.rejected_spans.to_string()),
            );
        }
        if !ps.error_message.is_empty() {
            partial.insert(
                "errorMessage".into(),
                Value::String(ps.error_message.clone()),
            );
        }
        root.insert("partialSuccess".into(), Value::Object(partial));
    }
    Value::Object(root).to_string().into_bytes()
}

/// `google.rpc.Status` in protobuf's JSON mapping; a `RetryInfo` detail becomes
/// `{"@type": "...RetryInfo", "retryDelay": "1.500s"}`.
pub fn encode_status(status: &RpcStatus) -> Vec<u8> {
    let details: Vec<Value> = status
        .details
        .iter()
        .filter_map(|any| {
            let info = RetryInfo::decode(any.value.as_slice()).ok()?;
            let delay = info
                .retry_delay
                .map(|d| duration_string(d.seconds, d.nanos));
            Some(json!({ "@type": any.type_url, "retryDelay": delay }))
        })
        .collect();
    let mut root = json!({ "code": status.code, "message": status.message });
    if !details.is_empty() {
        root["details"] = Value::Array(details);
    }
    root.to_string().into_bytes()
}

/// protobuf JSON's Duration form: seconds with 0, 3, 6 or 9 fractional digits.
fn duration_string(seconds: i64, nanos: i32) -> String {
    if nanos == 0 {
        return format!("{seconds}s");
    }
    let mut frac = format!("{:09}", nanos.unsigned_abs());
    while frac.ends_with("000") {
        frac.truncate(frac.len() - 3);
    }
    format!("{seconds}.{frac}s")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::testutil::SPEC_EXAMPLE;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;

    #[test]
    fn spec_example_decodes_exactly() {
        let req = decode_request(SPEC_EXAMPLE.as_bytes()).unwrap();
        let span = &req.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.trace_id, hex("5b8efff798038103d269b633813fc60c"));
        assert_eq!(span.span_id, hex("eee19b7ec3c1b174"));
        assert_eq!(span.parent_span_id, hex("eee19b7ec3c1b173"));
        assert_eq!(span.kind, 2);
        assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
        assert_eq!(span.end_time_unix_nano, 1_544_712_661_000_000_000);
        assert_eq!(span.events[0].time_unix_nano, 1_544_712_660_500_000_000);
        assert_eq!(span.status.as_ref().unwrap().code, 2);
        let attr = |k: &str| {
            span.attributes
                .iter()
                .find(|kv| kv.key == k)
                .unwrap()
                .value
                .clone()
                .unwrap()
                .value
                .unwrap()
        };
        assert_eq!(attr("count"), Av::IntValue(42));
        assert_eq!(attr("small"), Av::IntValue(7));
        assert_eq!(attr("ratio"), Av::DoubleValue(0.5));
        assert_eq!(attr("ok"), Av::BoolValue(true));
        assert!(matches!(attr("list"), Av::ArrayValue(a) if a.values.len() == 1));
        let scope = req.resource_spans[0].scope_spans[0].scope.as_ref().unwrap();
        assert_eq!(
            (scope.name.as_str(), scope.version.as_str()),
            ("my.library", "1.0.0")
        );
    }

    /// serde's derives took `[]` and `[[]]` as empty requests (a struct written as an array).
    #[test]
    fn arrays_where_messages_belong_are_refused() {
        for (body, why) in [
            ("[]", "the body must be a JSON object (an ExportTraceServiceRequest), not an array"),
            ("[[]]", "the body must be a JSON object"),
            (" \n[{}]", "the body must be a JSON object"),
            (r#"{"resourceSpans": [[]]}"#, "each element of a repeated field must be a JSON object, not an array"),
            (r#"{"resourceSpans": [{"scopeSpans": [{"spans": [[]]}]}]}"#, "each element"),
            (r#"{"resourceSpans": [{"resource": []}]}"#, "\"resource\" must be a JSON object, not an array"),
            (r#"{"resourceSpans": [{"scopeSpans": [{"spans": [{"status": [1]}]}]}]}"#, "\"status\" must be a JSON object"),
        ] {
            let e = decode_request(body.as_bytes()).unwrap_err().to_string();
            assert!(e.contains(why), "{body}: {e}");
        }
        // Arrays where OTLP has them are fine, and so is an empty object.
        decode_request(SPEC_EXAMPLE.as_bytes()).unwrap();
        assert!(decode_request(b"{}").unwrap().resource_spans.is_empty());
        assert!(decode_request(b"{} x").is_err(), "trailing bytes");
    }

    #[test]
    fn omitted_fields_take_defaults() {
        let req =
            decode_request(br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"x"}]}]}]}"#)
                .unwrap();
        let span = &req.resource_spans[0].scope_spans[0].spans[0];
        assert!(span.trace_id.is_empty());
        assert_eq!(span.kind, 0);
        assert!(decode_request(b"{}").unwrap().resource_spans.is_empty());
    }

    #[test]
    fn malformed_values_are_errors() {
        for body in [
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}"#,
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C","startTimeUnixNano":"soon"}]}]}]}"#,
            r#"{"resourceSpans":"nope"}"#,
            r#"[1,2,3]"#,
            "",
        ] {
            assert!(decode_request(body.as_bytes()).is_err(), "{body}");
        }
    }

    #[test]
    fn responses_use_the_spec_form() {
        assert_eq!(
            encode_response(&ExportTraceServiceResponse::default()),
            b"{}"
        );
        let resp = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 3,
                error_message: "bad ids".into(),
            }),
        };
        let v: Value = serde_json::from_slice(&encode_response(&resp)).unwrap();
        assert_eq!(
            v,
            json!({"partialSuccess": {"rejectedSpans": "3", "errorMessage": "bad ids"}})
        );
        // And the crate's own decoder reads it back, as an OTel SDK would.
        let back: ExportTraceServiceResponse = serde_json::from_value(json!({
            "partialSuccess": {"rejectedSpans": 3, "errorMessage": "bad ids"}
        }))
        .unwrap();
        assert_eq!(back, resp);
    }

    #[test]
    fn status_bodies_carry_retry_delay() {
        let s = RpcStatus::new(tonic::Code::ResourceExhausted, "slow down")
            .with_retry_delay(std::time::Duration::from_millis(1500));
        let v: Value = serde_json::from_slice(&encode_status(&s)).unwrap();
        assert_eq!(
            v,
            json!({"code": 8, "message": "slow down", "details": [
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.500s"}
            ]})
        );
        assert_eq!(duration_string(2, 0), "2s");
        assert_eq!(duration_string(0, 1), "0.000000001s");
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
