#![allow(clippy::unwrap_used)]
//! The struct views and the wire views answer the same for the same batch: generated batches
//! are read through the traits in both forms (the structs, and their prost encoding after the
//! receivers' check) by one generic reader, and what each says is compared field by field.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::read::*;

/// Everything a reader can see in a batch, one line per item, read through the traits only.
fn render<'a, T: TracesRead<'a>>(batch: T) -> Read<Vec<String>> {
    let mut out = Vec::new();
    for rs in batch.resource_spans() {
        let rs = rs?;
        out.push(format!("resource_spans schema={:?}", rs.schema_url()));
        if let Some(r) = rs.resource() {
            out.push(format!("resource dropped={}", r.dropped_attributes_count()));
            attributes(r.attributes(), &mut out, 1)?;
        }
        for ss in rs.scope_spans() {
            let ss = ss?;
            out.push(format!("scope_spans schema={:?}", ss.schema_url()));
            if let Some(scope) = ss.scope()? {
                out.push(format!("scope {:?} {:?} dropped={}", scope.name(), scope.version(), scope.dropped_attributes_count()));
                attributes(scope.attributes(), &mut out, 2)?;
            }
            for span in ss.spans() {
                let s = span?;
                out.push(format!(
                    "span {:?} {:?} {:?} {:?} flags={} {:?} kind={} {}..{} dropped={}/{}/{} status={:?}",
                    s.trace_id(),
                    s.span_id(),
                    s.trace_state(),
                    s.parent_span_id(),
                    s.flags(),
                    s.name(),
                    s.kind(),
                    s.start_time_unix_nano(),
                    s.end_time_unix_nano(),
                    s.dropped_attributes_count(),
                    s.dropped_events_count(),
                    s.dropped_links_count(),
                    s.status(),
                ));
                attributes(s.attributes(), &mut out, 3)?;
                for e in s.events() {
                    let e = e?;
                    out.push(format!("event {} {:?} dropped={}", e.time_unix_nano(), e.name(), e.dropped_attributes_count()));
                    attributes(e.attributes(), &mut out, 4)?;
                }
                for l in s.links() {
                    let l = l?;
                    out.push(format!(
                        "link {:?} {:?} {:?} dropped={} flags={}",
                        l.trace_id(),
                        l.span_id(),
                        l.trace_state(),
                        l.dropped_attributes_count(),
                        l.flags()
                    ));
                    attributes(l.attributes(), &mut out, 4)?;
                }
            }
        }
    }
    Ok(out)
}

fn attributes<'a, A: AttributeRead<'a>>(attrs: impl Iterator<Item = Read<A>>, out: &mut Vec<String>, depth: usize) -> Read<()> {
    for attr in attrs {
        let attr = attr?;
        out.push(format!("{:depth$}attr {:?}", "", attr.key()));
        match attr.value() {
            None => out.push(format!("{:depth$} no value", "")),
            Some(v) => value(&v, out, depth + 1)?,
        }
    }
    Ok(())
}

fn value<'a, V: AnyValueRead<'a>>(v: &V, out: &mut Vec<String>, depth: usize) -> Read<()> {
    let line = match v.value() {
        Value::Empty => "empty".to_string(),
        Value::Str(s) => format!("str {s:?}"),
        Value::Bool(b) => format!("bool {b}"),
        Value::Int(i) => format!("int {i}"),
        // Bits, so a NaN equals itself.
        Value::Double(d) => format!("double {:x}", d.to_bits()),
        Value::Bytes(b) => format!("bytes {b:?}"),
        Value::StrIndex(i) => format!("strindex {i}"),
        Value::Array(items) => {
            out.push(format!("{:depth$}array", ""));
            for item in items {
                value(&item?, out, depth + 1)?;
            }
            return Ok(());
        }
        Value::KvList(attrs) => {
            out.push(format!("{:depth$}kvlist", ""));
            return attributes(attrs, out, depth + 1);
        }
    };
    out.push(format!("{:depth$}{line}", ""));
    Ok(())
}

fn text(rng: &mut StdRng) -> String {
    const WORDS: [&str; 8] = ["", "a", "GET /api", "service.name", "ünï", "http.status_code", "db.system", "日本"];
    let mut s = WORDS[rng.random_range(0..WORDS.len())].to_string();
    if rng.random_bool(0.2) {
        s.push_str(&"y".repeat(rng.random_range(100..300)));
    }
    s
}

fn bytes(rng: &mut StdRng) -> Vec<u8> {
    let len = [0, 8, 16, 3][rng.random_range(0..4)];
    (0..len).map(|_| rng.random()).collect()
}

fn any(rng: &mut StdRng, depth: u32) -> AnyValue {
    use any_value::Value as V;
    let value = match rng.random_range(0..if depth < 3 { 10 } else { 8 }) {
        0 => None,
        1 => Some(V::StringValue(text(rng))),
        2 => Some(V::BoolValue(rng.random())),
        3 => Some(V::IntValue(rng.random::<i64>() >> rng.random_range(0..64))),
        4 => Some(V::DoubleValue(f64::from_bits(rng.random()))),
        5 => Some(V::BytesValue(bytes(rng))),
        6 => Some(V::StringValueStrindex(rng.random_range(-2..100))),
        7 => Some(V::StringValue(String::new())),
        8 => Some(V::ArrayValue(ArrayValue { values: (0..rng.random_range(0..4)).map(|_| any(rng, depth + 1)).collect() })),
        _ => Some(V::KvlistValue(KeyValueList { values: attrs(rng, depth + 1) })),
    };
    AnyValue { value }
}

fn attrs(rng: &mut StdRng, depth: u32) -> Vec<KeyValue> {
    (0..rng.random_range(0..5))
        .map(|_| KeyValue { key: text(rng), value: rng.random_bool(0.9).then(|| any(rng, depth)), key_strindex: 0 })
        .collect()
}

fn small(rng: &mut StdRng) -> u32 {
    if rng.random_bool(0.5) { 0 } else { rng.random() }
}

fn span(rng: &mut StdRng) -> Span {
    Span {
        trace_id: bytes(rng),
        span_id: bytes(rng),
        trace_state: text(rng),
        parent_span_id: bytes(rng),
        flags: small(rng),
        name: text(rng),
        kind: rng.random_range(-1..7),
        start_time_unix_nano: rng.random(),
        end_time_unix_nano: rng.random(),
        attributes: attrs(rng, 0),
        dropped_attributes_count: small(rng),
        events: (0..rng.random_range(0..3))
            .map(|_| Event { time_unix_nano: rng.random(), name: text(rng), attributes: attrs(rng, 0), dropped_attributes_count: small(rng) })
            .collect(),
        dropped_events_count: small(rng),
        links: (0..rng.random_range(0..3))
            .map(|_| Link {
                trace_id: bytes(rng),
                span_id: bytes(rng),
                trace_state: text(rng),
                attributes: attrs(rng, 0),
                dropped_attributes_count: small(rng),
                flags: small(rng),
            })
            .collect(),
        dropped_links_count: small(rng),
        status: rng.random_bool(0.5).then(|| Status { message: text(rng), code: rng.random_range(0..3) }),
    }
}

fn batch(rng: &mut StdRng) -> Vec<ResourceSpans> {
    (0..rng.random_range(0..4))
        .map(|_| ResourceSpans {
            resource: rng.random_bool(0.8).then(|| Resource {
                attributes: attrs(rng, 0),
                dropped_attributes_count: small(rng),
                entity_refs: Vec::new(),
            }),
            scope_spans: (0..rng.random_range(0..3))
                .map(|_| ScopeSpans {
                    scope: rng.random_bool(0.7).then(|| InstrumentationScope {
                        name: text(rng),
                        version: text(rng),
                        attributes: attrs(rng, 0),
                        dropped_attributes_count: small(rng),
                    }),
                    spans: (0..rng.random_range(0..4)).map(|_| span(rng)).collect(),
                    schema_url: text(rng),
                })
                .collect(),
            schema_url: text(rng),
        })
        .collect()
}

#[test]
fn struct_views_and_wire_views_answer_the_same_for_generated_batches() {
    let mut rng = StdRng::seed_from_u64(16);
    let mut lines = 0;
    for _ in 0..2000 {
        let structs = batch(&mut rng);
        let bytes = ExportTraceServiceRequest { resource_spans: structs.clone() }.encode_to_vec();
        crate::validate::validate_request(&bytes).expect("the receivers' check accepts what prost encodes");
        let from_structs = render(structs.as_slice()).unwrap();
        let from_wire = render(crate::view::resource_spans(&bytes).unwrap()).unwrap();
        assert_eq!(from_wire, from_structs);
        lines += from_structs.len();
    }
    // The generator must reach deep enough for the comparison to mean something.
    assert!(lines > 50_000, "{lines} lines read");
}

#[test]
fn a_wire_view_that_cannot_read_says_so_through_the_traits() {
    // A span whose status occurs twice: prost merges the two, a borrowed view cannot.
    let span = Span { status: Some(Status { message: "a".into(), code: 1 }), ..Default::default() };
    let second = Status { message: "b".into(), code: 2 }.encode_to_vec();
    let span_bytes = [span.encode_to_vec(), vec![0x7a, second.len() as u8], second].concat();
    let scope = [&[0x12, span_bytes.len() as u8][..], &span_bytes].concat();
    let rs = [&[0x12, scope.len() as u8][..], &scope].concat();
    let request = [&[0x0a, rs.len() as u8][..], &rs].concat();
    assert!(ExportTraceServiceRequest::decode(request.as_slice()).is_ok(), "prost reads it");
    let read = render(crate::view::resource_spans(&request).unwrap());
    assert!(matches!(read, Err(ViewError::Merged("status"))), "{read:?}");
}
