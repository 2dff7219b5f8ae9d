//! Zipkin v2 spans -> OTLP, following the Collector's `zipkinv2.ToTranslator`:
//!
//! - spans are grouped by local service name (resource) and instrumentation scope; the first
//!   span of a group supplies the resource's `service.name` (or the key named by the
//!   `otlp.service.name.source` tag) and its resource-convention tags (`host.name`, ...);
//!   a span without a local service name gets a resource without attributes;
//! - kind CLIENT/SERVER/PRODUCER/CONSUMER maps to the OTLP kind; otherwise a `span.kind`
//!   tag of `internal` gives INTERNAL, anything else UNSPECIFIED; `shared` and `debug` map to
//!   nothing, as in the Collector;
//! - `otel.status_code` (`STATUS_CODE_*` or `Unset`/`Ok`/`Error`) and
//!   `otel.status_description` set the status; an `error` tag sets ERROR (and is dropped
//!   only when it is `"true"`, so an error message stays visible as an attribute);
//! - `w3c.tracestate` becomes the trace state, `otlp.link.N` tags become links;
//! - remaining tags become attributes (typed when `parse_string_tags` is on), then the
//!   endpoints: `net.host.ip`/`net.host.port` (local) and `peer.service`,
//!   `net.peer.ip`/`net.peer.port` (remote);
//! - annotations become events (`name|{json attributes}|dropped count` is unpacked);
//! - a span without a timestamp starts at 0 and gets `otel.zipkin.absentField.startTime`.
//!
//! The scope comes from `otel.scope.name`/`otel.scope.version` and, for older exporters,
//! `otel.library.name`/`otel.library.version`.

use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};

use crate::attrs::{self, put, START_TIME_ABSENT};
use crate::model::{self, Kind};
use crate::packed::{unpack_event, unpack_link};

/// The sort and grouping key of spans without a local service name, as in the Collector.
const NO_SERVICE_NAME: &str = "OtlpResourceNoServiceName";

/// Translates decoded v2 spans into OTLP resource spans.
pub fn spans_to_otlp(spans: Vec<model::Span>, parse_string_tags: bool) -> Vec<ResourceSpans> {
    let mut order: Vec<usize> = (0..spans.len()).collect();
    {
        // Keys are computed once (each is a tag lookup), and the sort is stable, so spans
        // keep their arrival order within a group.
        let keys: Vec<(&str, &str)> = spans.iter().map(group_key).collect();
        order.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
    }
    let mut slots: Vec<Option<model::Span>> = spans.into_iter().map(Some).collect();

    let mut out: Vec<ResourceSpans> = Vec::new();
    let mut prev_service: Option<String> = None;
    let mut prev_scope = String::new();
    for index in order {
        let Some(mut zspan) = slots.get_mut(index).and_then(Option::take) else { continue };
        let (service, scope) = group_key(&zspan);
        let (service, scope) = (service.to_string(), scope.to_string());
        let new_resource = prev_service.as_deref() != Some(service.as_str());
        if new_resource {
            out.push(ResourceSpans {
                resource: Some(resource_from(&mut zspan.tags, &service)),
                ..Default::default()
            });
            prev_service = Some(service);
        }
        let Some(rs) = out.last_mut() else { continue };
        if new_resource || scope != prev_scope {
            rs.scope_spans.push(ScopeSpans {
                scope: scope_from(&mut zspan.tags, &scope),
                ..Default::default()
            });
            prev_scope = scope;
        }
        if let Some(ss) = rs.scope_spans.last_mut() {
            ss.spans.push(span_to_otlp(zspan, parse_string_tags));
        }
    }
    out
}

fn group_key(span: &model::Span) -> (&str, &str) {
    let service = match &span.local_endpoint {
        Some(e) if !e.service_name.is_empty() => e.service_name.as_str(),
        _ => NO_SERVICE_NAME,
    };
    let scope = tag(&span.tags, "otel.scope.name")
        .or_else(|| tag(&span.tags, "otel.library.name"))
        .unwrap_or("");
    (service, scope)
}

fn tag<'a>(tags: &'a [(String, String)], key: &str) -> Option<&'a str> {
    tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn take_tag(tags: &mut Vec<(String, String)>, key: &str) -> Option<String> {
    let i = tags.iter().position(|(k, _)| k == key)?;
    Some(tags.remove(i).1)
}

fn resource_from(tags: &mut Vec<(String, String)>, service: &str) -> Resource {
    let mut resource = Resource::default();
    if service == NO_SERVICE_NAME {
        return resource;
    }
    let key = match take_tag(tags, attrs::SERVICE_NAME_SOURCE) {
        Some(source) if !source.is_empty() => source,
        _ => "service.name".to_string(),
    };
    put(&mut resource.attributes, &key, attrs::string_value(service.to_string()));
    let mut i = 0;
    while i < tags.len() {
        if attrs::is_resource_tag(&tags[i].0) {
            let (k, v) = tags.remove(i);
            put(&mut resource.attributes, &k, attrs::string_value(v));
        } else {
            i += 1;
        }
    }
    resource
}

fn scope_from(tags: &mut Vec<(String, String)>, scope: &str) -> Option<InstrumentationScope> {
    if scope.is_empty() {
        return None;
    }
    let name = take_tag(tags, "otel.scope.name").or_else(|| take_tag(tags, "otel.library.name"));
    let version =
        take_tag(tags, "otel.scope.version").or_else(|| take_tag(tags, "otel.library.version"));
    Some(InstrumentationScope {
        name: name.unwrap_or_default(),
        version: version.unwrap_or_default(),
        ..Default::default()
    })
}

fn span_to_otlp(mut z: model::Span, parse_string_tags: bool) -> Span {
    let extra = extra_attributes(&z);
    let tags = &mut z.tags;
    let mut out = Span {
        trace_id: attrs::trace_id_bytes(z.trace_id_high, z.trace_id_low),
        span_id: attrs::span_id_bytes(z.id),
        trace_state: take_tag(tags, "w3c.tracestate").unwrap_or_default(),
        name: std::mem::take(&mut z.name),
        ..Default::default()
    };
    if let Some(parent) = z.parent_id.filter(|p| *p != z.id) {
        out.parent_span_id = attrs::span_id_bytes(parent);
    }
    out.kind = kind(z.kind, tags) as i32;
    out.status = status(tags);
    out.links = links(tags);

    out.attributes.reserve_exact(tags.len() + extra);
    for (k, v) in std::mem::take(tags) {
        if !attrs::is_non_span_attribute(&k) {
            // Keys are unique (decoders dedupe), so no upsert scan is needed.
            out.attributes.push(attrs::kv(k, attrs::tag_value(v, parse_string_tags)));
        }
    }
    endpoint_attributes(&mut out.attributes, &z);

    match z.timestamp_us {
        Some(ts) => {
            out.start_time_unix_nano = ts.wrapping_mul(1000);
            out.end_time_unix_nano =
                out.start_time_unix_nano.wrapping_add(z.duration_us.wrapping_mul(1000));
        }
        None => {
            out.end_time_unix_nano = z.duration_us.wrapping_mul(1000);
            put(&mut out.attributes, START_TIME_ABSENT, attrs::bool_value(true));
        }
    }
    out.events = z.annotations.into_iter().map(unpack_event).collect();
    out
}

fn kind(kind: Kind, tags: &mut Vec<(String, String)>) -> span::SpanKind {
    match kind {
        Kind::Client => span::SpanKind::Client,
        Kind::Server => span::SpanKind::Server,
        Kind::Producer => span::SpanKind::Producer,
        Kind::Consumer => span::SpanKind::Consumer,
        Kind::Unspecified => match take_tag(tags, "span.kind").as_deref() {
            Some("internal") => span::SpanKind::Internal,
            _ => span::SpanKind::Unspecified,
        },
    }
}

fn status(tags: &mut Vec<(String, String)>) -> Option<Status> {
    let mut status = Status::default();
    if let Some(code) = take_tag(tags, "otel.status_code") {
        status.code = match code.as_str() {
            "STATUS_CODE_OK" | "Ok" => 1,
            "STATUS_CODE_ERROR" | "Error" => 2,
            // Unknown names read as 0 (unset) from the Collector's lookup map.
            _ => 0,
        };
        if let Some(message) = take_tag(tags, "otel.status_description") {
            status.message = message;
        }
    }
    if let Some(i) = tags.iter().position(|(k, _)| k == "error") {
        status.code = 2;
        if tags[i].1 == "true" {
            tags.remove(i);
        }
    }
    (status != Status::default()).then_some(status)
}

/// `otlp.link.0`, `otlp.link.1`, ... up to the first missing index (at most 128).
fn links(tags: &mut Vec<(String, String)>) -> Vec<span::Link> {
    let mut links = Vec::new();
    if !tags.iter().any(|(k, _)| k.starts_with("otlp.link.")) {
        return links;
    }
    for i in 0..128 {
        let key = format!("otlp.link.{i}");
        let Some(pos) = tags.iter().position(|(k, _)| *k == key) else { break };
        match unpack_link(&tags[pos].1) {
            Ok(Some(link)) => {
                tags.remove(pos);
                links.push(link);
            }
            // Too few parts: the Collector drops the tag without a link.
            Ok(None) => {
                tags.remove(pos);
            }
            // The Collector fails the whole batch here; keeping the text as an attribute
            // loses nothing and refuses nobody.
            Err(()) => {}
        }
    }
    links
}

/// How many attributes the endpoints and a missing timestamp add, so the attribute list is
/// allocated once and no larger than needed (spare capacity is memory held per span).
fn extra_attributes(z: &model::Span) -> usize {
    let local = z.local_endpoint.as_ref().map_or(0, |e| {
        usize::from(e.ipv4.is_some() || e.ipv6.is_some()) + usize::from(e.port > 0)
    });
    let remote = z.remote_endpoint.as_ref().map_or(0, |e| {
        usize::from(!e.service_name.is_empty())
            + usize::from(e.ipv4.is_some() || e.ipv6.is_some())
            + usize::from(e.port > 0)
    });
    local + remote + usize::from(z.timestamp_us.is_none())
}

fn endpoint_attributes(attributes: &mut Vec<KeyValue>, z: &model::Span) {
    if let Some(local) = &z.local_endpoint {
        for ip in [&local.ipv4, &local.ipv6].into_iter().flatten() {
            put(attributes, "net.host.ip", attrs::string_value(ip.clone()));
        }
        if local.port > 0 {
            put(attributes, "net.host.port", attrs::int_value(i64::from(local.port)));
        }
    }
    if let Some(remote) = &z.remote_endpoint {
        if !remote.service_name.is_empty() {
            put(attributes, "peer.service", attrs::string_value(remote.service_name.clone()));
        }
        for ip in [&remote.ipv4, &remote.ipv6].into_iter().flatten() {
            put(attributes, "net.peer.ip", attrs::string_value(ip.clone()));
        }
        if remote.port > 0 {
            put(attributes, "net.peer.port", attrs::int_value(i64::from(remote.port)));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use opentelemetry_proto::tonic::common::v1::any_value::Value;

    use super::*;
    use crate::decode::{translate, Options};
    use crate::error::Format;
    use crate::testutil::{attr, str_attr};

    fn v2(body: &str, parse_string_tags: bool) -> Vec<ResourceSpans> {
        translate(Format::V2Json, body.as_bytes(), Options { parse_string_tags, debug: false }).unwrap()
    }

    fn only_span(rs: &[ResourceSpans]) -> &Span {
        assert_eq!(rs.len(), 1);
        &rs[0].scope_spans[0].spans[0]
    }

    /// A span as py_zipkin's V2_JSON encoder writes it.
    const PY_ZIPKIN: &str = r#"[{"traceId": "17133d482ba4f605", "id": "27133d482ba4f605", "name": "index",
        "parentId": "37133d482ba4f605", "timestamp": 1600000000123456, "duration": 2500, "kind": "SERVER",
        "localEndpoint": {"serviceName": "webapp", "ipv4": "127.0.0.1", "port": 8080},
        "remoteEndpoint": {"serviceName": "client", "ipv6": "2001:db8::1", "port": 51000},
        "tags": {"http.method": "GET", "count": "42"},
        "annotations": [{"timestamp": 1600000000124000, "value": "cache miss"}]}]"#;

    #[test]
    fn py_zipkin_span_maps_ids_times_kind_endpoints_and_events() {
        let rs = v2(PY_ZIPKIN, false);
        let resource = rs[0].resource.as_ref().unwrap();
        assert_eq!(str_attr(&resource.attributes, "service.name").as_deref(), Some("webapp"));
        assert_eq!(rs[0].scope_spans[0].scope, None);
        let s = only_span(&rs);
        assert_eq!(s.trace_id, [[0u8; 8], 0x17133d482ba4f605u64.to_be_bytes()].concat());
        assert_eq!(s.span_id, 0x27133d482ba4f605u64.to_be_bytes());
        assert_eq!(s.parent_span_id, 0x37133d482ba4f605u64.to_be_bytes());
        assert_eq!(s.name, "index");
        assert_eq!(s.kind, span::SpanKind::Server as i32);
        assert_eq!((s.start_time_unix_nano, s.end_time_unix_nano), (1600000000123456000, 1600000000125956000));
        assert_eq!(str_attr(&s.attributes, "net.host.ip").as_deref(), Some("127.0.0.1"));
        assert_eq!(attr(&s.attributes, "net.host.port"), Some(&Value::IntValue(8080)));
        assert_eq!(str_attr(&s.attributes, "peer.service").as_deref(), Some("client"));
        assert_eq!(str_attr(&s.attributes, "net.peer.ip").as_deref(), Some("2001:db8::1"));
        assert_eq!(attr(&s.attributes, "net.peer.port"), Some(&Value::IntValue(51000)));
        assert_eq!(str_attr(&s.attributes, "count").as_deref(), Some("42"));
        assert_eq!(s.events.len(), 1);
        assert_eq!((s.events[0].name.as_str(), s.events[0].time_unix_nano), ("cache miss", 1600000000124000000));
        assert_eq!(s.status, None);
        assert_eq!(attr(&s.attributes, attrs::START_TIME_ABSENT), None);
    }

    #[test]
    fn parse_string_tags_types_values() {
        let s = v2(PY_ZIPKIN, true);
        let s = only_span(&s);
        assert_eq!(attr(&s.attributes, "count"), Some(&Value::IntValue(42)));
        assert_eq!(str_attr(&s.attributes, "http.method").as_deref(), Some("GET"));
    }

    #[test]
    fn kinds_map_and_span_kind_tag_is_the_fallback() {
        let body = |kind: &str, tag: &str| {
            format!(r#"[{{"timestamp":1,"traceId":"1","id":"2",{kind}"tags":{{{tag}}}}}]"#)
        };
        for (kind, want) in [("CLIENT", 3), ("SERVER", 2), ("PRODUCER", 4), ("CONSUMER", 5), ("OTHER", 0)] {
            let rs = v2(&body(&format!(r#""kind":"{kind}","#), ""), false);
            assert_eq!(only_span(&rs).kind, want, "{kind}");
        }
        let rs = v2(&body("", r#""span.kind":"internal""#), false);
        assert_eq!(only_span(&rs).kind, span::SpanKind::Internal as i32);
        assert!(only_span(&rs).attributes.is_empty());
        let rs = v2(&body("", r#""span.kind":"client""#), false);
        assert_eq!(only_span(&rs).kind, 0);
        assert!(only_span(&rs).attributes.is_empty(), "the tag is consumed either way");
        let rs = v2(&body(r#""kind":"CLIENT","#, r#""span.kind":"internal""#), false);
        assert_eq!(str_attr(&only_span(&rs).attributes, "span.kind").as_deref(), Some("internal"));
    }

    #[test]
    fn status_from_otel_tags_and_error() {
        let status = |tags: &str| {
            let rs = v2(&format!(r#"[{{"timestamp":1,"traceId":"1","id":"2","tags":{{{tags}}}}}]"#), false);
            let s = only_span(&rs);
            (s.status.clone().unwrap_or_default(), s.attributes.iter().map(|a| a.key.clone()).collect::<Vec<_>>())
        };
        let (st, keys) = status(r#""otel.status_code":"STATUS_CODE_ERROR","otel.status_description":"boom""#);
        assert_eq!((st.code, st.message.as_str(), keys.len()), (2, "boom", 0));
        assert_eq!(status(r#""otel.status_code":"Ok""#).0.code, 1);
        assert_eq!(status(r#""otel.status_code":"ERROR""#).0.code, 0, "unknown names are unset, as in the Collector");
        let (st, keys) = status(r#""otel.status_description":"alone""#);
        assert_eq!((st.message.as_str(), keys), ("", vec!["otel.status_description".to_string()]));
        let (st, keys) = status(r#""error":"true""#);
        assert_eq!((st.code, keys.len()), (2, 0));
        let (st, keys) = status(r#""error":"connection refused""#);
        assert_eq!((st.code, keys), (2, vec!["error".to_string()]));
        let (st, _) = status(r#""otel.status_code":"STATUS_CODE_OK","error":"true""#);
        assert_eq!(st.code, 2);
    }

    #[test]
    fn ids_are_left_padded_and_a_self_parent_is_dropped() {
        let rs = v2(r#"[{"timestamp":1,"traceId":"463ac35c9f6413ad48485a3953bb6124","id":"a","parentId":"000000000000000a"}]"#, false);
        let s = only_span(&rs);
        assert_eq!(s.trace_id, 0x463ac35c9f6413ad48485a3953bb6124u128.to_be_bytes());
        assert_eq!(s.span_id, 10u64.to_be_bytes());
        assert!(s.parent_span_id.is_empty());
        let rs = v2(r#"[{"timestamp":1,"traceId":"abc","id":"1","parentId":""}]"#, false);
        assert_eq!(only_span(&rs).trace_id, 0xabcu128.to_be_bytes());
        assert!(only_span(&rs).parent_span_id.is_empty());
    }

    #[test]
    fn a_span_without_timestamp_starts_at_zero_and_says_so() {
        let rs = v2(r#"[{"traceId":"1","id":"2","duration":7}]"#, false);
        let s = only_span(&rs);
        assert_eq!((s.start_time_unix_nano, s.end_time_unix_nano), (0, 7000));
        assert_eq!(attr(&s.attributes, attrs::START_TIME_ABSENT), Some(&Value::BoolValue(true)));
    }

    #[test]
    fn resources_and_scopes_group_spans() {
        let body = r#"[
            {"timestamp":1,"traceId":"1","id":"1","localEndpoint":{"serviceName":"b"},"tags":{"otel.library.name":"lib","otel.library.version":"1.0"}},
            {"timestamp":1,"traceId":"1","id":"2","localEndpoint":{"serviceName":"a"},"tags":{"host.name":"h1","k":"v","otel.scope.name":"s","otel.scope.version":"2"}},
            {"timestamp":1,"traceId":"1","id":"3","localEndpoint":{"serviceName":"a"},"tags":{"host.name":"h2","otel.scope.name":"s"}},
            {"timestamp":1,"traceId":"1","id":"4","tags":{"telemetry.sdk.name":"x"}},
            {"timestamp":1,"traceId":"1","id":"5","localEndpoint":{"serviceName":"c"},"tags":{"otlp.service.name.source":"peer.service"}}
        ]"#;
        let rs = v2(body, false);
        let services: Vec<_> = rs
            .iter()
            .map(|r| r.resource.as_ref().unwrap().attributes.iter().map(|a| a.key.clone()).collect::<Vec<_>>())
            .collect();
        // Sorted by service name; a span without one sorts as "OtlpResourceNoServiceName",
        // so (upper case first) before the others.
        assert_eq!(services, vec![vec![], vec!["service.name".to_string(), "host.name".into()], vec!["service.name".into()], vec!["peer.service".into()]]);
        // The span without a service: resource without attributes, resource tags dropped.
        assert!(rs[0].scope_spans[0].spans[0].attributes.is_empty());
        let a = &rs[1];
        assert_eq!(str_attr(&a.resource.as_ref().unwrap().attributes, "host.name").as_deref(), Some("h1"));
        let scope = a.scope_spans[0].scope.as_ref().unwrap();
        assert_eq!((scope.name.as_str(), scope.version.as_str()), ("s", "2"));
        assert_eq!(a.scope_spans[0].spans.len(), 2);
        // Resource tags of later spans in a group are dropped, not made span attributes.
        let second = &a.scope_spans[0].spans[1];
        assert!(second.attributes.is_empty(), "{:?}", second.attributes);
        assert_eq!(str_attr(&a.scope_spans[0].spans[0].attributes, "k").as_deref(), Some("v"));
        let lib = rs[2].scope_spans[0].scope.as_ref().unwrap();
        assert_eq!((lib.name.as_str(), lib.version.as_str()), ("lib", "1.0"));
        assert_eq!(str_attr(&rs[3].resource.as_ref().unwrap().attributes, "peer.service").as_deref(), Some("c"));
    }

    #[test]
    fn trace_state_and_links_come_from_tags() {
        let body = r#"[{"timestamp":1,"traceId":"1","id":"2","tags":{"w3c.tracestate":"k=v",
            "otlp.link.0":"0102030405060708090a0b0c0d0e0f10|0102030405060708|x=y|{\"n\":1}|0",
            "otlp.link.1":"too|few"}}]"#;
        let rs = v2(body, false);
        let s = only_span(&rs);
        assert_eq!(s.trace_state, "k=v");
        assert_eq!(s.links.len(), 1);
        assert_eq!(s.links[0].trace_state, "x=y");
        assert!(s.attributes.is_empty(), "{:?}", s.attributes);
    }

    #[test]
    fn endpoint_attributes_override_tags_of_the_same_name() {
        let rs = v2(r#"[{"timestamp":1,"traceId":"1","id":"2","localEndpoint":{"ipv4":"10.0.0.1","ipv6":"::1","port":1},"tags":{"net.host.ip":"x"}}]"#, false);
        let s = only_span(&rs);
        // ipv6 is written after ipv4, so it wins, as in the Collector.
        assert_eq!(str_attr(&s.attributes, "net.host.ip").as_deref(), Some("::1"));
        assert_eq!(s.attributes.len(), 2);
        // An endpoint with only an address is no service: no resource attributes.
        assert!(rs[0].resource.as_ref().unwrap().attributes.is_empty());
    }
}
