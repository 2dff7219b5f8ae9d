//! The column layout loses nothing a user could see, and corrupt bytes are errors, never panics.

use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

use crate::block_read::Block;
use crate::block_write::BlockWriter;
use crate::codec::compress;
use crate::batch_index::index;
use crate::matching::Want;

fn request_bytes(batch: &[ResourceSpans]) -> Vec<u8> {
    tracegate_core::Traces::new(batch.to_vec()).encode_request().to_vec()
}

fn kv(k: &str, v: Option<Value>) -> KeyValue {
    KeyValue { key: k.into(), value: v.map(|v| AnyValue { value: Some(v) }), key_strindex: 0 }
}

fn every_value_shape() -> Vec<KeyValue> {
    vec![
        kv("s", Some(Value::StringValue("text".into()))),
        kv("i", Some(Value::IntValue(-42))),
        kv("b", Some(Value::BoolValue(true))),
        kv("f", Some(Value::BoolValue(false))),
        kv("d", Some(Value::DoubleValue(0.25))),
        kv("x", Some(Value::BytesValue(vec![0xbe, 0xef]))),
        kv("a", Some(Value::ArrayValue(ArrayValue { values: vec![AnyValue { value: Some(Value::IntValue(1)) }] }))),
        kv("m", Some(Value::KvlistValue(KeyValueList { values: vec![kv("inner", Some(Value::StringValue("v".into())))] }))),
        kv("absent", None),
        KeyValue { key: "empty".into(), value: Some(AnyValue { value: None }), key_strindex: 0 },
        kv("s", Some(Value::StringValue("duplicate key, second value".into()))),
    ]
}

fn batch() -> Vec<ResourceSpans> {
    let t: [u8; 16] = [7; 16];
    let plain = |id: u8, parent: Vec<u8>, start: u64| Span {
        trace_id: t.to_vec(),
        span_id: vec![id; 8],
        parent_span_id: parent,
        name: format!("op{id}"),
        kind: 2,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 1000,
        attributes: vec![kv("http.route", Some(Value::StringValue("/a".into())))],
        ..Default::default()
    };
    let odd = Span {
        trace_id: t.to_vec(),
        span_id: vec![3; 8],
        trace_state: "vendor=x".into(),
        parent_span_id: vec![9; 8], // not in this trace
        flags: 0x301,
        name: String::new(),
        kind: -5,
        start_time_unix_nano: 50, // before its neighbours: negative delta
        end_time_unix_nano: 10,   // ends before it starts
        attributes: every_value_shape(),
        dropped_attributes_count: 2,
        events: vec![
            Event { time_unix_nano: 60, name: "exception".into(), attributes: every_value_shape(), dropped_attributes_count: 1 },
            Event { time_unix_nano: 0, name: String::new(), attributes: Vec::new(), dropped_attributes_count: 0 },
        ],
        dropped_events_count: 3,
        links: vec![Link { trace_id: vec![1; 16], span_id: vec![2; 8], trace_state: "k=v".into(), attributes: every_value_shape(), dropped_attributes_count: 4, flags: 1 }],
        dropped_links_count: 5,
        status: Some(Status { message: "boom".into(), code: 2 }),
    };
    // A child before its parent, as exporters usually send them.
    let child = plain(1, vec![2; 8], 1_700_000_000_000_000_000);
    let parent = plain(2, Vec::new(), 1_700_000_000_000_000_000 - 5);
    let mut other_trace = plain(4, Vec::new(), 7);
    other_trace.trace_id = vec![8; 16];
    other_trace.status = Some(Status::default());
    let mut short_id = plain(5, Vec::new(), 9);
    short_id.trace_id = vec![1, 2, 3];
    vec![
        ResourceSpans {
            resource: Some(Resource { attributes: vec![kv("service.name", Some(Value::StringValue("api".into())))], dropped_attributes_count: 1, ..Default::default() }),
            scope_spans: vec![
                ScopeSpans { scope: Some(InstrumentationScope { name: "lib".into(), version: "1".into(), ..Default::default() }), spans: vec![child, odd], schema_url: "s1".into() },
                ScopeSpans { scope: None, spans: vec![other_trace, parent], schema_url: String::new() },
            ],
            schema_url: "r1".into(),
        },
        ResourceSpans { resource: None, scope_spans: vec![ScopeSpans { scope: None, spans: vec![short_id], schema_url: String::new() }], schema_url: String::new() },
    ]
}

#[test]
fn every_field_survives_a_round_trip() {
    let b = batch();
    let bytes = request_bytes(&b);
    let index = index([bytes.as_slice()]).expect("index");
    let mut w = BlockWriter::new();
    // Spans in batch order: child, odd (scope 0), other trace, parent (scope 1), short id.
    // Trace 7: child, odd, parent; trace 8; the short id under zeros.
    w.add_trace([7; 16], &index, &[0, 1, 3]).expect("add");
    w.add_trace([8; 16], &index, &[2]).expect("add");
    w.add_trace([0; 16], &index, &[4]).expect("add");
    let stored = compress(&w.finish(), 3).expect("compress");
    let block = Block::decode(&stored).expect("decode");

    let got = block.trace(&[7; 16]).expect("trace");
    let rs = &b[0];
    let want = vec![ResourceSpans {
        resource: rs.resource.clone(),
        scope_spans: vec![
            ScopeSpans { spans: rs.scope_spans[0].spans.clone(), ..rs.scope_spans[0].clone() },
            ScopeSpans { spans: vec![rs.scope_spans[1].spans[1].clone()], ..rs.scope_spans[1].clone() },
        ],
        schema_url: rs.schema_url.clone(),
    }];
    assert_eq!(got, want);
    let got = block.trace(&[8; 16]).expect("trace");
    assert_eq!(got[0].scope_spans[0].spans, vec![rs.scope_spans[1].spans[0].clone()]);
    assert_eq!(block.trace(&[0; 16]).expect("trace"), vec![b[1].clone()]);
    assert!(block.trace(&[9; 16]).expect("trace").is_empty());
    assert_eq!(block.resources[0].service, "api");

    // The light walk (a search without tags) sees what the full walk sees of every span.
    let mut full = Vec::new();
    block
        .walk(None, |row| {
            full.push((row.trace, row.resource, row.start, row.end, row.name.to_string()));
            Ok(())
        })
        .expect("walk");
    let mut light = Vec::new();
    block
        .walk_light(|t, r, start, end, name| {
            light.push((t, r, start, end, name.to_string()));
            Ok(true)
        })
        .expect("light walk");
    assert_eq!(light, full);
    assert_eq!(full.len(), 5);

    // A walk that reads one key sees that key's values, in order, and no other key.
    let mut seen = Vec::new();
    block
        .walk(Some(&block.key_mask(["s"])), |row| {
            for (k, v) in row.attrs.iter().chain(&row.event_attrs) {
                seen.push(format!("{k}={v:?}"));
            }
            Ok(())
        })
        .expect("walk");
    let text = |v: &str| format!("s=Str({v:?})");
    let want = [text("text"), text("duplicate key, second value"), text("text"), text("duplicate key, second value")];
    assert_eq!(seen, want);
}

#[test]
fn corrupt_blocks_are_errors_not_panics() {
    let bytes = request_bytes(&batch());
    let index = index([bytes.as_slice()]).expect("index");
    let mut w = BlockWriter::new();
    w.add_trace([7; 16], &index, &[0, 1, 3]).expect("add");
    let raw = w.finish();
    let walk = |raw: &[u8]| {
        let stored = compress(raw, 1).expect("compress");
        if let Ok(block) = Block::decode(&stored) {
            let _ = block.walk(None, |_| Ok(()));
            let _ = block.walk(Some(&block.key_mask(["s"])), |_| Ok(()));
            let _ = block.walk_light(|_, _, _, _, _| Ok(true));
            let _ = block.trace(&[7; 16]);
        }
    };
    for len in 0..raw.len() {
        walk(&raw[..len]);
    }
    for i in 0..raw.len() {
        for flip in [0x01, 0x80, 0xff] {
            let mut bad = raw.clone();
            bad[i] ^= flip;
            walk(&bad);
        }
    }
    assert!(Block::decode(&[1, 0, 0, 0, 0]).is_err(), "another format version is refused");
}

/// Attributes that repeat at their position, change key at a position, repeat under another
/// service, or have no text: the block reads back exactly, and the writer's tag set is the
/// tags of every span and event attribute, no more and no fewer.
#[test]
fn repeated_attributes_are_written_and_hashed_like_new_ones() {
    use crate::codec::{value_text, write_filter_text};
    use crate::summary::tag_hash;

    let services = ["api", "db", "web"];
    let mut resources = Vec::new();
    for (r, service) in services.iter().enumerate() {
        let mut spans = Vec::new();
        for i in 0..40u8 {
            let mut attributes = vec![
                kv("http.method", Some(Value::StringValue("GET".into()))),
                kv("route", Some(Value::StringValue(format!("/r{}", i % 3)))),
                kv("code", Some(Value::IntValue(200 + i64::from(i % 2) * 300))),
                kv(if i % 4 == 0 { "x" } else { "y" }, Some(Value::BoolValue(i % 3 == 0))),
                kv("ratio", Some(Value::DoubleValue(0.5))),
                kv("list", Some(Value::ArrayValue(ArrayValue { values: vec![AnyValue { value: Some(Value::IntValue(1)) }] }))),
                kv("absent", None),
                kv("raw", Some(Value::BytesValue(vec![i % 2, 0xff]))),
                // Mostly distinct (the column stops deduplicating), with one value repeated.
                kv("order.id", Some(Value::StringValue(if i % 10 == 9 { "order-shared".into() } else { format!("order-{r}-{i}") }))),
            ];
            if i % 5 == 0 {
                attributes.truncate(3);
            }
            spans.push(Span {
                trace_id: vec![i % 4 + 1; 16],
                span_id: vec![r as u8 * 64 + i + 1; 8],
                name: format!("op{}", i % 2),
                start_time_unix_nano: 1_000 + u64::from(i),
                end_time_unix_nano: 2_000,
                attributes,
                events: (i % 7 == 0)
                    .then(|| Event { time_unix_nano: 1, name: "e".into(), attributes: vec![kv("route", Some(Value::StringValue("/r1".into())))], dropped_attributes_count: 0 })
                    .into_iter()
                    .collect(),
                ..Default::default()
            });
        }
        resources.push(ResourceSpans {
            resource: Some(Resource { attributes: vec![kv("service.name", Some(Value::StringValue((*service).into())))], ..Default::default() }),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            schema_url: String::new(),
        });
    }
    let bytes = request_bytes(&resources);
    let index = index([bytes.as_slice()]).expect("index");
    let mut w = BlockWriter::new();
    let mut want_tags = std::collections::HashSet::new();
    for t in 1..=4u8 {
        let refs: Vec<u32> = (0..index.spans.len() as u32).filter(|&i| index.spans[i as usize].span.trace_id[0] == t).collect();
        w.add_trace([t; 16], &index, &refs).expect("add");
    }
    for (rs, service) in resources.iter().zip(services) {
        for span in &rs.scope_spans[0].spans {
            for a in span.attributes.iter().chain(span.events.iter().flat_map(|e| &e.attributes)) {
                let mut text = String::new();
                if a.value.as_ref().and_then(|v| v.value.as_ref()).is_some_and(|v| write_filter_text(v, &mut text)) {
                    want_tags.insert(tag_hash(service, &a.key, &text));
                }
            }
        }
    }
    let got_tags: std::collections::HashSet<u64> = w.tags.iter().copied().collect();
    assert_eq!(got_tags, want_tags);

    let block = Block::decode(&compress(&w.finish(), 1).expect("compress")).expect("decode");
    for t in 1..=4u8 {
        let got: Vec<Span> = block.trace(&[t; 16]).expect("trace").into_iter().flat_map(|rs| rs.scope_spans).flat_map(|ss| ss.spans).collect();
        let want: Vec<Span> = resources.iter().flat_map(|rs| &rs.scope_spans[0].spans).filter(|s| s.trace_id[0] == t).cloned().collect();
        assert_eq!(got, want, "trace {t}");
    }
    // A tag search counts every span holding the value, however it was stored.
    assert_eq!(block.count_values("order.id", &Want::new("order-shared")).expect("count"), 12);
    assert_eq!(block.count_values("http.method", &Want::new("GET")).expect("count"), 120);
    // Ints and bools are counted by value, exactly as their text would compare.
    let exactly = |key: &str, text: &str| {
        let spans = resources.iter().flat_map(|rs| &rs.scope_spans[0].spans);
        spans.flat_map(|s| s.attributes.iter().chain(s.events.iter().flat_map(|e| &e.attributes))).filter(|a| a.key == key && a.value.as_ref().and_then(value_text).as_deref() == Some(text)).count()
    };
    for (key, text) in [("code", "500"), ("code", "200"), ("x", "true"), ("y", "false")] {
        let n = exactly(key, text);
        assert!(n > 0, "{key}={text} is in the data");
        assert_eq!(block.count_values(key, &Want::new(text)).expect("count"), n, "{key}={text}");
    }
    for (key, text) in [("code", "0500"), ("code", "500.0"), ("code", "+500"), ("x", "True"), ("code", "true")] {
        assert_eq!(block.count_values(key, &Want::new(text)).expect("count"), 0, "{key}={text} is no value's text");
    }
    // A double or another shape may print as the text: counted, for the walk to decide.
    assert_eq!(block.count_values("ratio", &Want::new("0.5")).expect("count"), exactly("ratio", "0.5"));
    assert_eq!(block.count_values("list", &Want::new("[1]")).expect("count"), resources.len() * 32);
}

/// A `KeyValue` whose key field occurs twice means its last key (prost's reading); writing
/// it between ordinary attributes with the same first key and value bytes must not mix the
/// two up.
#[test]
fn an_attribute_with_a_second_key_field_keeps_its_last_key() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;

    let plain = kv("a", Some(Value::StringValue("x".into()))).encode_to_vec();
    let plain_b = kv("b", Some(Value::StringValue("x".into()))).encode_to_vec();
    let mut twice = plain.clone();
    prost::encoding::string::encode(1, &"b".to_string(), &mut twice);
    let mut scope = Vec::new();
    for (i, attr) in [&plain_b, &twice, &plain, &twice, &twice, &plain, &plain_b].into_iter().enumerate() {
        let mut span = Span { trace_id: vec![7; 16], span_id: vec![i as u8 + 1; 8], ..Default::default() }.encode_to_vec();
        prost::encoding::bytes::encode(9, attr, &mut span);
        prost::encoding::bytes::encode(2, &span, &mut scope);
    }
    let mut rs = Vec::new();
    prost::encoding::bytes::encode(2, &scope, &mut rs);
    let mut request = Vec::new();
    prost::encoding::bytes::encode(1, &rs, &mut request);

    let want = ExportTraceServiceRequest::decode(request.as_slice()).expect("prost decodes");
    let keys: Vec<&str> = want.resource_spans[0].scope_spans[0].spans.iter().map(|s| s.attributes[0].key.as_str()).collect();
    assert_eq!(keys, ["b", "b", "a", "b", "b", "a", "b"]);
    let index = index([request.as_slice()]).expect("index");
    let mut w = BlockWriter::new();
    w.add_trace([7; 16], &index, &[0, 1, 2, 3, 4, 5, 6]).expect("add");
    let block = Block::decode(&compress(&w.finish(), 1).expect("compress")).expect("decode");
    assert_eq!(block.trace(&[7; 16]).expect("trace"), want.resource_spans);
}
