//! Zipkin v1 spans (from JSON or Thrift) -> OTLP, following the Collector's `zipkinv1`
//! package, which translates v1 directly rather than through the v2 model:
//!
//! - the first annotation that is a core annotation (`cs`, `cr`, `ms`, `mr`, `ss`, `sr`)
//!   sets the kind (client, producer, consumer, server), and the first core annotation
//!   whose endpoint names a service is the span's endpoint; core annotations become no
//!   events, all others become events named by their value;
//! - without an explicit timestamp the earliest/latest annotation give start and end;
//! - binary annotations become attributes; `lc` is renamed `component` and names the
//!   service when no core annotation did (as does a binary annotation's endpoint, e.g. the
//!   `sa`/`ca` address annotations);
//! - status comes from `census.status_code`, else `otel.status_code`, else an `error` tag,
//!   else `http.status_code` (see [`StatusMapper`]);
//! - spans are grouped into one resource per endpoint (`service.name` plus `ipv4`, `ipv6`
//!   and `port` attributes when the endpoint has an address).

use std::collections::HashMap;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};

use crate::attrs::{self, AttributeMap, START_TIME_ABSENT};

/// The service name of a span whose annotations named none; also the "no endpoint" flag.
pub const UNKNOWN_SERVICE: &str = "unknown-service";

/// A v1 span as both decoders deliver it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct V1Span {
    pub trace_id: Vec<u8>,
    pub span_id: Vec<u8>,
    pub parent_id: Vec<u8>,
    pub name: String,
    pub annotations: Vec<V1Annotation>,
    pub binary_annotations: Vec<V1BinaryAnnotation>,
    pub timestamp: Option<i64>,
    pub duration: i64,
    /// JSON spans without a start time get "now" and the absent-start attribute; Thrift
    /// spans keep 0 (the Collector treats the two encodings differently here).
    pub stamp_missing_start: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct V1Endpoint {
    pub service_name: String,
    pub ipv4: String,
    pub ipv6: String,
    pub port: i32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct V1Annotation {
    pub timestamp: i64,
    pub value: String,
    pub endpoint: Option<V1Endpoint>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct V1BinaryAnnotation {
    pub key: String,
    pub value: AnyValue,
    /// The value as text, used when the key is `lc`.
    pub text: String,
    /// The service name this annotation's endpoint offers as a fallback, if any.
    pub host_service: Option<String>,
}

/// Translates v1 spans into one resource per distinct endpoint, in first-seen order.
pub fn spans_to_otlp(spans: Vec<V1Span>) -> Vec<ResourceSpans> {
    let mut out: Vec<ResourceSpans> = Vec::new();
    let mut by_endpoint: HashMap<String, usize> = HashMap::new();
    for s in spans {
        let (span, endpoint) = convert(s);
        let key = format!("{}-{}-{}-{}", endpoint.service_name, endpoint.ipv4, endpoint.ipv6, endpoint.port);
        let i = *by_endpoint.entry(key).or_insert_with(|| {
            out.push(resource_spans(endpoint));
            out.len() - 1
        });
        if let Some(ss) = out.get_mut(i).and_then(|rs| rs.scope_spans.first_mut()) {
            ss.spans.push(span);
        }
    }
    out
}

fn resource_spans(e: V1Endpoint) -> ResourceSpans {
    let mut attributes = vec![attrs::kv("service.name", attrs::string_value(e.service_name))];
    if !e.ipv4.is_empty() {
        attributes.push(attrs::kv("ipv4", attrs::string_value(e.ipv4)));
    }
    if !e.ipv6.is_empty() {
        attributes.push(attrs::kv("ipv6", attrs::string_value(e.ipv6)));
    }
    if e.port != 0 {
        attributes.push(attrs::kv("port", attrs::string_value(e.port.to_string())));
    }
    ResourceSpans {
        resource: Some(Resource { attributes, ..Default::default() }),
        scope_spans: vec![ScopeSpans::default()],
        ..Default::default()
    }
}

/// Epoch microseconds to nanoseconds; zero and negative times read as 0.
fn micros_to_nanos(us: i64) -> u64 {
    if us <= 0 { 0 } else { (us as u64).wrapping_mul(1000) }
}

fn convert(s: V1Span) -> (Span, V1Endpoint) {
    let mut span = Span::default();
    let mut endpoint = annotations(&mut span, s.annotations);
    let mut attributes = AttributeMap::default();
    let fallback = binary_annotations(&mut span, &mut attributes, s.binary_annotations);
    if endpoint.service_name == UNKNOWN_SERVICE && !fallback.is_empty() {
        endpoint.service_name = fallback;
    }
    if let Some(ts) = s.timestamp {
        span.start_time_unix_nano = micros_to_nanos(ts);
        span.end_time_unix_nano = micros_to_nanos(ts.wrapping_add(s.duration));
    }
    span.name = s.name;
    span.trace_id = s.trace_id;
    span.span_id = s.span_id;
    span.parent_span_id = s.parent_id;
    if s.stamp_missing_start && span.start_time_unix_nano == 0 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        span.start_time_unix_nano = now;
        span.end_time_unix_nano = now;
        attributes.put(START_TIME_ABSENT.to_string(), attrs::bool_value(true));
    }
    span.attributes = attributes.into_vec();
    (span, endpoint)
}

fn annotations(span: &mut Span, annotations: Vec<V1Annotation>) -> V1Endpoint {
    let mut earliest = i64::MAX;
    let mut latest = i64::MIN;
    let mut endpoint: Option<V1Endpoint> = None;
    let mut kind_set = false;
    for a in annotations {
        if a.value.is_empty() {
            continue;
        }
        let named = a
            .endpoint
            .as_ref()
            .is_some_and(|e| !e.service_name.is_empty() && e.service_name != UNKNOWN_SERVICE);
        let kind = match a.value.as_str() {
            "cs" | "cr" => Some(span::SpanKind::Client),
            "ms" => Some(span::SpanKind::Producer),
            "mr" => Some(span::SpanKind::Consumer),
            "ss" | "sr" => Some(span::SpanKind::Server),
            _ => None,
        };
        if endpoint.is_none() && named && kind.is_some() {
            endpoint = a.endpoint.clone();
        }
        if let (false, Some(kind)) = (kind_set, kind) {
            span.kind = kind as i32;
            kind_set = true;
        }
        let ts = micros_to_nanos(a.timestamp);
        if a.timestamp < earliest {
            earliest = a.timestamp;
            span.start_time_unix_nano = ts;
        }
        if a.timestamp > latest {
            latest = a.timestamp;
            span.end_time_unix_nano = ts;
        }
        if kind.is_none() {
            span.events.push(span::Event { time_unix_nano: ts, name: a.value, ..Default::default() });
        }
    }
    endpoint.unwrap_or_else(|| V1Endpoint { service_name: UNKNOWN_SERVICE.to_string(), ..Default::default() })
}

/// Sets attributes and status; returns the fallback service name.
fn binary_annotations(span: &mut Span, attributes: &mut AttributeMap, list: Vec<V1BinaryAnnotation>) -> String {
    let mut fallback = String::new();
    if list.is_empty() {
        return fallback;
    }
    let mut status = StatusMapper::default();
    let mut local_component = String::new();
    for b in list {
        if let Some(service) = b.host_service {
            fallback = service;
        }
        let mut key = b.key;
        if key == "lc" {
            key = "component".to_string();
            local_component = b.text;
        }
        if status.consume(&key, &b.value) {
            continue;
        }
        attributes.put(key, b.value);
    }
    if fallback.is_empty() {
        fallback = local_component;
    }
    span.status = status.status();
    fallback
}

/// The Collector's v1 status rules. Each source keeps an optional code and a message; the
/// first source with a code wins, in the order census, otel, `error` tag, HTTP.
#[derive(Default)]
pub struct StatusMapper {
    census: (Option<i32>, String),
    otel: (Option<i32>, String),
    error_tag: Option<i32>,
    http: (Option<i32>, String),
}

impl StatusMapper {
    /// Records what `key` says about the status; true when the attribute is to be dropped.
    pub fn consume(&mut self, key: &str, value: &AnyValue) -> bool {
        match key {
            "census.status_code" => {
                if let Some(code) = status_code_of(value) {
                    // OpenCensus OK is 0; anything else is an error.
                    self.census.0 = Some(if code == 0 { 1 } else { 2 });
                }
                true
            }
            "census.status_description" | "opencensus.status_description" => {
                self.census.1 = text_of(value);
                true
            }
            "otel.status_code" => {
                // Kept as sent, even when it is no known code.
                if let Some(code) = status_code_of(value) {
                    self.otel.0 = Some(code);
                }
                true
            }
            "otel.status_description" => {
                self.otel.1 = text_of(value);
                true
            }
            "http.status_code" => {
                if let Some(code) = status_code_of(value) {
                    self.http.0 = Some(if (100..400).contains(&code) { 0 } else { 2 });
                }
                false
            }
            "http.status_message" => {
                self.http.1 = text_of(value);
                false
            }
            "error" => {
                self.error_tag = Some(2);
                true
            }
            _ => false,
        }
    }

    pub fn status(self) -> Option<Status> {
        let (code, message) = if let Some(code) = self.census.0 {
            (code, self.census.1)
        } else if let Some(code) = self.otel.0 {
            (code, self.otel.1)
        } else if let Some(code) = self.error_tag {
            let message = if !self.census.1.is_empty() { self.census.1 } else { self.otel.1 };
            (code, message)
        } else if let Some(code) = self.http.0 {
            (code, self.http.1)
        } else {
            return None;
        };
        Some(Status { code, message })
    }
}

/// An int, or a string holding a decimal int, that fits 32 bits.
fn status_code_of(value: &AnyValue) -> Option<i32> {
    match &value.value {
        Some(any_value::Value::IntValue(i)) => i32::try_from(*i).ok(),
        Some(any_value::Value::StringValue(s)) => s.parse::<i64>().ok().and_then(|i| i32::try_from(i).ok()),
        _ => None,
    }
}

/// pcommon's `Value.Str()`: the string, or empty for any other type.
fn text_of(value: &AnyValue) -> String {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use opentelemetry_proto::tonic::common::v1::any_value::Value;

    use super::*;
    use crate::decode::{translate, Options};
    use crate::error::Format;
    use crate::testutil::{attr, str_attr, thrift_spans, TAnnotation, TBinaryAnnotation, TEndpoint, TSpan};

    fn v1_json(body: &str, parse_string_tags: bool) -> Vec<ResourceSpans> {
        translate(Format::V1Json, body.as_bytes(), Options { parse_string_tags, debug: false }).unwrap()
    }

    fn v1_thrift(spans: &[TSpan]) -> Vec<ResourceSpans> {
        translate(Format::V1Thrift, &thrift_spans(spans), Options::default()).unwrap()
    }

    fn resource_attr(rs: &ResourceSpans, key: &str) -> Option<String> {
        str_attr(&rs.resource.as_ref().unwrap().attributes, key)
    }

    /// A server span as py_zipkin's V1_JSON encoder writes it, `"value": true` included.
    const PY_ZIPKIN: &str = r#"[{"traceId": "17133d482ba4f605", "name": "index", "id": "27133d482ba4f605",
        "annotations": [
          {"endpoint": {"serviceName": "webapp", "port": 8080, "ipv4": "127.0.0.1"}, "timestamp": 1600000000123456, "value": "sr"},
          {"endpoint": {"serviceName": "webapp", "port": 8080, "ipv4": "127.0.0.1"}, "timestamp": 1600000000124000, "value": "cache miss"},
          {"endpoint": {"serviceName": "webapp", "port": 8080, "ipv4": "127.0.0.1"}, "timestamp": 1600000000125956, "value": "ss"}],
        "binaryAnnotations": [
          {"key": "http.status_code", "value": "200", "endpoint": {"serviceName": "webapp", "port": 8080, "ipv4": "127.0.0.1"}},
          {"key": "ca", "value": true, "endpoint": {"serviceName": "client", "port": 51000, "ipv6": "2001:db8::1"}}],
        "parentId": "37133d482ba4f605", "timestamp": 1600000000123456, "duration": 2500}]"#;

    #[test]
    fn py_zipkin_v1_json_server_span() {
        let rs = v1_json(PY_ZIPKIN, false);
        assert_eq!(rs.len(), 1);
        assert_eq!(resource_attr(&rs[0], "service.name").as_deref(), Some("webapp"));
        assert_eq!(resource_attr(&rs[0], "ipv4").as_deref(), Some("127.0.0.1"));
        assert_eq!(resource_attr(&rs[0], "port").as_deref(), Some("8080"));
        let s = &rs[0].scope_spans[0].spans[0];
        assert_eq!(s.trace_id, [[0u8; 8], 0x17133d482ba4f605u64.to_be_bytes()].concat());
        assert_eq!(s.parent_span_id, 0x37133d482ba4f605u64.to_be_bytes());
        assert_eq!(s.kind, span::SpanKind::Server as i32);
        assert_eq!((s.start_time_unix_nano, s.end_time_unix_nano), (1600000000123456000, 1600000000125956000));
        assert_eq!(s.events.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["cache miss"]);
        assert_eq!(str_attr(&s.attributes, "http.status_code").as_deref(), Some("200"));
        assert_eq!(attr(&s.attributes, "ca"), Some(&Value::BoolValue(true)));
        // 200 is no error: the HTTP source sets an explicit unset code.
        assert_eq!(s.status.as_ref().map(|st| st.code), Some(0));
        let typed = v1_json(PY_ZIPKIN, true);
        assert_eq!(attr(&typed[0].scope_spans[0].spans[0].attributes, "http.status_code"), Some(&Value::IntValue(200)));
    }

    #[test]
    fn core_annotations_set_kind_and_times() {
        let span = |values: &[(&str, i64)]| {
            let annotations: Vec<String> = values
                .iter()
                .map(|(v, ts)| format!(r#"{{"timestamp":{ts},"value":"{v}","endpoint":{{"serviceName":"svc"}}}}"#))
                .collect();
            let body = format!(r#"[{{"traceId":"0000000000000001","id":"0000000000000002","annotations":[{}]}}]"#, annotations.join(","));
            v1_json(&body, false).remove(0).scope_spans.remove(0).spans.remove(0)
        };
        assert_eq!(span(&[("cs", 10), ("cr", 30)]).kind, span::SpanKind::Client as i32);
        assert_eq!(span(&[("ms", 10)]).kind, span::SpanKind::Producer as i32);
        assert_eq!(span(&[("mr", 10)]).kind, span::SpanKind::Consumer as i32);
        let s = span(&[("foo", 50), ("sr", 20), ("cs", 10), ("ss", 40)]);
        assert_eq!(s.kind, span::SpanKind::Server as i32, "the first core annotation wins");
        assert_eq!((s.start_time_unix_nano, s.end_time_unix_nano), (10_000, 50_000));
        assert_eq!(s.events.len(), 1);
    }

    #[test]
    fn service_name_falls_back_to_binary_annotations_and_local_component() {
        let rs = v1_json(r#"[{"traceId":"0000000000000001","id":"0000000000000002","timestamp":5,
            "binaryAnnotations":[{"key":"lc","value":"my-component"}]}]"#, false);
        assert_eq!(resource_attr(&rs[0], "service.name").as_deref(), Some("my-component"));
        assert_eq!(str_attr(&rs[0].scope_spans[0].spans[0].attributes, "component").as_deref(), Some("my-component"));
        let rs = v1_json(r#"[{"traceId":"0000000000000001","id":"0000000000000002","timestamp":5,
            "binaryAnnotations":[{"key":"sa","value":true,"endpoint":{"serviceName":"db","ipv4":"10.0.0.9"}}]}]"#, false);
        assert_eq!(resource_attr(&rs[0], "service.name").as_deref(), Some("db"));
        assert_eq!(resource_attr(&rs[0], "ipv4"), None, "only the annotations' endpoint gives an address");
        let rs = v1_json(r#"[{"traceId":"0000000000000001","id":"0000000000000002","timestamp":5}]"#, false);
        assert_eq!(resource_attr(&rs[0], "service.name").as_deref(), Some(UNKNOWN_SERVICE));
    }

    #[test]
    fn json_span_without_start_is_stamped_now() {
        let rs = v1_json(r#"[{"traceId":"0000000000000001","id":"0000000000000002"}]"#, false);
        let s = &rs[0].scope_spans[0].spans[0];
        assert!(s.start_time_unix_nano > 1_600_000_000_000_000_000);
        assert_eq!(s.start_time_unix_nano, s.end_time_unix_nano);
        assert_eq!(attr(&s.attributes, attrs::START_TIME_ABSENT), Some(&Value::BoolValue(true)));
    }

    #[test]
    fn status_sources_in_the_collectors_order() {
        let status = |pairs: &[(&str, &str)]| {
            let list: Vec<String> = pairs.iter().map(|(k, v)| format!(r#"{{"key":"{k}","value":"{v}"}}"#)).collect();
            let body = format!(r#"[{{"traceId":"0000000000000001","id":"0000000000000002","timestamp":1,"binaryAnnotations":[{}]}}]"#, list.join(","));
            let s = v1_json(&body, false).remove(0).scope_spans.remove(0).spans.remove(0);
            (s.status.map(|st| (st.code, st.message)), s.attributes.into_iter().map(|a| a.key).collect::<Vec<_>>())
        };
        let (st, keys) = status(&[("http.status_code", "404"), ("http.status_message", "NotFound")]);
        assert_eq!(st, Some((2, "NotFound".to_string())));
        assert_eq!(keys, ["http.status_code", "http.status_message"]);
        let (st, keys) = status(&[("otel.status_code", "2"), ("otel.status_description", "Forbidden"), ("http.status_code", "404")]);
        assert_eq!(st, Some((2, "Forbidden".to_string())));
        assert_eq!(keys, ["http.status_code"]);
        let (st, _) = status(&[("census.status_code", "10"), ("census.status_description", "RPCError"), ("otel.status_code", "7")]);
        assert_eq!(st, Some((2, "RPCError".to_string())));
        assert_eq!(status(&[("census.status_code", "0")]).0, Some((1, String::new())));
        let (st, keys) = status(&[("error", "timeout"), ("otel.status_description", "slow")]);
        assert_eq!((st, keys.len()), (Some((2, "slow".to_string())), 0));
        assert_eq!(status(&[("otel.status_code", "ERROR")]), (None, vec![]));
    }

    #[test]
    fn bad_json_ids_are_refused_with_a_reason() {
        for (body, want) in [
            (r#"[{"traceId":"123","id":"0000000000000002"}]"#, "span 0: zipkinV1 span traceId: hex traceId span has wrong length"),
            (r#"[{"traceId":"0000000000000000","id":"0000000000000002"}]"#, "traceId: ID is zero"),
            (r#"[{"traceId":"0000000000000001","id":"000000000000000g"}]"#, "span id: invalid hex character 'g'"),
            (r#"[{"traceId":"0000000000000001","id":"0000000000000002","parentId":"12"}]"#, "parentId: hex Id has wrong length"),
            (r#"[{"traceId":"0000000000000001","id":"0000000000000002","timestamp":"x"}]"#, "invalid type: string"),
        ] {
            let e = translate(Format::V1Json, body.as_bytes(), Options::default()).unwrap_err().to_string();
            assert!(e.starts_with("cannot decode the Zipkin v1 JSON body"), "{e}");
            assert!(e.contains(want), "{e} should contain {want}");
        }
    }

    fn host(service: &str) -> TEndpoint {
        TEndpoint { ipv4: 0x0a000001, port: -1, service_name: service.into(), ipv6: Some(vec![0; 15].into_iter().chain([1]).collect()) }
    }

    #[test]
    fn thrift_span_types_values_and_endpoints() {
        let ba = |key: &str, value: &[u8], t: i32| TBinaryAnnotation { key: key.into(), value: value.to_vec(), annotation_type: t, host: None };
        let span = TSpan {
            trace_id: 2,
            trace_id_high: Some(1),
            id: 3,
            parent_id: Some(4),
            name: "get".into(),
            annotations: vec![
                TAnnotation { timestamp: 100, value: "cs".into(), host: Some(host("frontend")) },
                TAnnotation { timestamp: 200, value: "cr".into(), host: Some(host("frontend")) },
            ],
            binary_annotations: vec![
                ba("b", &[1], 0),
                ba("bytes", b"hi", 1),
                ba("i16", &[0xff, 0xff], 2),
                ba("i32", &[0, 0, 1, 0], 3),
                ba("i64", &[0xff; 8], 4),
                ba("d", &1.5f64.to_be_bytes(), 5),
                ba("s", b"text", 6),
                ba("short", &[1], 4),
                ba("odd", &[1], 9),
                ba("lc", b"comp", 6),
            ],
            debug: Some(true),
            ..Default::default()
        };
        let rs = v1_thrift(&[span]);
        assert_eq!(resource_attr(&rs[0], "service.name").as_deref(), Some("frontend"));
        assert_eq!(resource_attr(&rs[0], "ipv4").as_deref(), Some("10.0.0.1"));
        assert_eq!(resource_attr(&rs[0], "ipv6").as_deref(), Some("::1"));
        assert_eq!(resource_attr(&rs[0], "port").as_deref(), Some("-1"), "i16 ports sign-extend, as in Go");
        let s = &rs[0].scope_spans[0].spans[0];
        assert_eq!(s.trace_id, [1u64.to_be_bytes(), 2u64.to_be_bytes()].concat());
        assert_eq!((s.span_id.clone(), s.parent_span_id.clone()), (3u64.to_be_bytes().to_vec(), 4u64.to_be_bytes().to_vec()));
        assert_eq!(s.kind, span::SpanKind::Client as i32);
        assert_eq!((s.start_time_unix_nano, s.end_time_unix_nano), (100_000, 200_000));
        let a = &s.attributes;
        assert_eq!(attr(a, "b"), Some(&Value::BoolValue(true)));
        assert_eq!(attr(a, "bytes"), Some(&Value::StringValue("aGk=".into())));
        assert_eq!(attr(a, "i16"), Some(&Value::IntValue(65535)));
        assert_eq!(attr(a, "i32"), Some(&Value::IntValue(256)));
        assert_eq!(attr(a, "i64"), Some(&Value::IntValue(-1)));
        assert_eq!(attr(a, "d"), Some(&Value::DoubleValue(1.5)));
        assert_eq!(attr(a, "s"), Some(&Value::StringValue("text".into())));
        assert_eq!(attr(a, "short"), Some(&Value::StringValue("<not enough bytes representing the number>".into())));
        assert_eq!(attr(a, "odd"), Some(&Value::StringValue("<unknown zipkin v1 binary annotation type (9)>".into())));
        assert_eq!(attr(a, "component"), Some(&Value::StringValue("comp".into())));
    }

    #[test]
    fn thrift_without_timestamp_keeps_zero_and_groups_by_endpoint() {
        let plain = |id: i64, service: &str| TSpan {
            trace_id: 9,
            id,
            binary_annotations: vec![TBinaryAnnotation { key: "k".into(), value: b"v".to_vec(), annotation_type: 6, host: Some(TEndpoint { service_name: service.into(), ..Default::default() }) }],
            ..Default::default()
        };
        let rs = v1_thrift(&[plain(1, "a"), plain(2, "b"), plain(3, "a")]);
        assert_eq!(rs.len(), 2);
        assert_eq!(rs[0].scope_spans[0].spans.len(), 2);
        assert_eq!(resource_attr(&rs[1], "service.name").as_deref(), Some("b"));
        let s = &rs[0].scope_spans[0].spans[0];
        assert_eq!((s.start_time_unix_nano, s.end_time_unix_nano), (0, 0));
        assert_eq!(attr(&s.attributes, attrs::START_TIME_ABSENT), None);
    }

    #[test]
    fn bad_thrift_is_refused_without_big_allocations() {
        let good = thrift_spans(&[TSpan { trace_id: 1, id: 2, name: "n".into(), ..Default::default() }]);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (good[..good.len() - 4].to_vec(), "span 0: the body ends in the middle of a value"),
            (vec![], "the body ends in the middle"),
            // A list claiming 2^31-1 spans in a 5-byte body.
            (vec![12, 0x7f, 0xff, 0xff, 0xff], "exceeds maximum allowed size"),
            // A span whose name claims 1 GiB.
            ([&good[..5], &[11, 0, 3, 0x40, 0, 0, 0]].concat(), "exceeds maximum allowed size"),
            (vec![12, 0, 0, 0, 1, 0xee], "span 0:"),
            // Empty structs (a STOP byte each) are no spans.
            (vec![12, 0, 0, 0, 3, 0, 0, 0], "span 0: trace_id is zero"),
            (thrift_spans(&[TSpan { trace_id: 1, ..Default::default() }]), "span 0: id is zero"),
        ];
        for (body, want) in cases {
            let e = translate(Format::V1Thrift, &body, Options::default()).unwrap_err().to_string();
            assert!(e.starts_with("cannot decode the Zipkin v1 Thrift"), "{e}");
            assert!(e.contains(want), "{e} should contain {want}");
        }
    }
}
