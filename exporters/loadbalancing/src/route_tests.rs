#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use tracegate_core::data::Span;

use super::*;

fn ring(n: usize) -> Ring {
    Ring::new((1..=n).map(|i| Arc::from(format!("sampler-{i}:4317"))))
}

fn attr(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }),
        ..Default::default()
    }
}

fn span(trace: u8, n: u8) -> Span {
    Span {
        trace_id: vec![trace; 16],
        span_id: vec![n + 1; 8],
        name: format!("op-{trace}-{n}"),
        attributes: vec![attr("http.route", "/checkout")],
        ..Default::default()
    }
}

/// Two services, two scopes each, spans of 20 traces interleaved.
fn mixed_batch() -> Vec<ResourceSpans> {
    ["cart", "shop"]
        .iter()
        .map(|service| ResourceSpans {
            resource: Some(Resource { attributes: vec![attr("service.name", service)], ..Default::default() }),
            scope_spans: ["http", "db"]
                .iter()
                .map(|scope| ScopeSpans {
                    scope: Some(InstrumentationScope { name: (*scope).into(), ..Default::default() }),
                    spans: (0..20).map(|t| span(t, 0)).collect(),
                    schema_url: format!("https://schema/{scope}"),
                })
                .collect(),
            schema_url: "https://schema/resource".into(),
        })
        .collect()
}

fn as_bytes(rs: &[ResourceSpans]) -> Traces {
    Traces::from_protobuf(Traces::new(rs.to_vec()).encode_request()).unwrap()
}

/// Every span with the service and scope it came under: what must survive the cut.
fn flatten(t: &Traces) -> Vec<(String, String, String, Span)> {
    let mut out = Vec::new();
    for rs in t.resource_spans() {
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                let scope = ss.scope.as_ref().map(|s| s.name.clone()).unwrap_or_default();
                out.push((service_of(rs).to_string(), scope, ss.schema_url.clone(), s.clone()));
            }
        }
    }
    out.sort_by(|a, b| (&a.0, &a.1, &a.3.name).cmp(&(&b.0, &b.1, &b.3.name)));
    out
}

fn check_cut(batch: Traces, ring: &Ring, key: RoutingKey) -> Vec<(usize, Traces)> {
    let original = flatten(&batch);
    let pieces = split(batch, ring, key);
    let mut rejoined = Vec::new();
    for (backend, piece) in &pieces {
        for (service, _, _, span) in flatten(piece) {
            let routed_by: &[u8] = match key {
                RoutingKey::TraceId => &span.trace_id,
                RoutingKey::Service => service.as_bytes(),
            };
            assert_eq!(ring.owner(routed_by), Some(*backend), "a span reached a backend that does not own it");
        }
        rejoined.extend(flatten(piece));
    }
    rejoined.sort_by(|a, b| (&a.0, &a.1, &a.3.name).cmp(&(&b.0, &b.1, &b.3.name)));
    assert_eq!(rejoined, original, "every span once, under its own resource and scope");
    pieces
}

#[test]
fn a_batch_of_bytes_is_cut_by_trace_id_keeping_resources_and_scopes() {
    let ring = ring(3);
    let pieces = check_cut(as_bytes(&mixed_batch()), &ring, RoutingKey::TraceId);
    assert!(pieces.len() > 1, "20 traces over 3 backends");
    assert!(pieces.iter().all(|(_, p)| p.is_encoded()), "bytes stay bytes");
    for (_, piece) in &pieces {
        let bytes = piece.encode_request();
        let decoded = opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(bytes).unwrap();
        assert_eq!(decoded.resource_spans.as_slice(), piece.resource_spans(), "what is sent decodes to what was counted");
        let spans: usize = decoded.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum();
        assert_eq!(spans, piece.span_count());
        for rs in &decoded.resource_spans {
            assert_eq!(rs.schema_url, "https://schema/resource");
            assert!(rs.scope_spans.iter().all(|s| !s.spans.is_empty()), "no empty scopes are sent");
        }
    }
}

#[test]
fn decoded_batches_are_cut_as_structs_the_same_way() {
    let ring = ring(3);
    let from_bytes = check_cut(as_bytes(&mixed_batch()), &ring, RoutingKey::TraceId);
    let from_structs = check_cut(Traces::new(mixed_batch()), &ring, RoutingKey::TraceId);
    let shape = |p: &[(usize, Traces)]| p.iter().map(|(b, t)| (*b, flatten(t))).collect::<Vec<_>>();
    assert_eq!(shape(&from_bytes), shape(&from_structs));
}

#[test]
fn a_request_of_one_backend_is_passed_on_without_a_copy() {
    let ring = ring(3);
    let one_trace: Vec<ResourceSpans> = vec![ResourceSpans {
        scope_spans: vec![ScopeSpans { spans: (0..5).map(|n| span(7, n)).collect(), ..Default::default() }],
        ..Default::default()
    }];
    let batch = as_bytes(&one_trace);
    let received = batch.encode_request();
    let pieces = check_cut(batch, &ring, RoutingKey::TraceId);
    assert_eq!(pieces.len(), 1);
    assert_eq!(pieces[0].1.encode_request().as_ptr(), received.as_ptr(), "the received buffer itself");
}

#[test]
fn routing_by_service_sends_each_resource_whole_and_a_nameless_one_as_the_empty_name() {
    let ring = ring(4);
    let mut batch = mixed_batch();
    batch.push(ResourceSpans {
        scope_spans: vec![ScopeSpans { spans: vec![span(1, 1)], ..Default::default() }],
        ..Default::default()
    });
    for form in [as_bytes(&batch), Traces::new(batch.clone())] {
        let pieces = check_cut(form, &ring, RoutingKey::Service);
        let nameless = pieces.iter().find(|(_, p)| flatten(p).iter().any(|(s, ..)| s.is_empty())).unwrap();
        assert_eq!(Some(nameless.0), ring.owner(b""));
    }
}

#[test]
fn the_tenant_rides_on_every_piece() {
    let ring = ring(3);
    let acme: Option<Arc<str>> = Some(Arc::from("acme"));
    for form in [as_bytes(&mixed_batch()), Traces::new(mixed_batch())] {
        for (_, piece) in split(form.with_tenant(acme.clone()), &ring, RoutingKey::TraceId) {
            assert_eq!(piece.tenant(), acme.as_ref());
        }
    }
}

#[test]
fn joined_requests_are_cut_one_by_one() {
    let ring = ring(2);
    let batch = Traces::concat(vec![as_bytes(&mixed_batch()), as_bytes(&mixed_batch()[..1])]);
    check_cut(batch, &ring, RoutingKey::TraceId);
}

#[test]
fn nothing_is_routed_on_an_empty_ring_or_from_bytes_that_do_not_parse() {
    assert!(split(as_bytes(&mixed_batch()), &Ring::default(), RoutingKey::TraceId).is_empty());
    // Bytes that never passed the check (a contract breach upstream): no panic, nothing sent.
    let garbage = Traces::from_checked(Bytes::from_static(&[0x0a, 0xff, 0x01]), RequestSummary { spans: 3, ..Default::default() });
    assert!(split(garbage, &ring(2), RoutingKey::TraceId).is_empty());
}
