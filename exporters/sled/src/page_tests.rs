//! Pages: a walk that starts at a page's checkpoint reads exactly what a walk from the
//! block's start reads, so a search or a fetch that walks only some pages loses nothing.

use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use crate::block_read::Block;
use crate::block_write::{BlockWriter, PAGE_SPANS};
use crate::codec::{compress, value_text};
use crate::matching::Want;
use crate::batch_index::index;

fn kv(k: &str, v: Value) -> KeyValue {
    KeyValue { key: k.into(), value: Some(AnyValue { value: Some(v) }), key_strindex: 0 }
}

fn trace_id(t: usize) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&(t as u64 + 1).to_be_bytes());
    id
}

/// 700 traces of 1-9 spans under two services. Values of every kind of column: a few
/// strings repeated from the block's first spans on (`http.method`), strings first seen deep
/// into the block and repeated after (`user.id`), unique strings, ints, bools, event
/// attributes, links and parents.
fn spans() -> Vec<ResourceSpans> {
    let mut by_service = vec![Vec::new(), Vec::new()];
    let mut n = 0u64;
    for t in 0..700usize {
        for j in 0..(t * 7 % 9 + 1) {
            n += 1;
            let mut attributes = vec![
                kv("http.method", Value::StringValue(["GET", "POST", "PUT"][(t + j) % 3].into())),
                kv("user.id", Value::StringValue(format!("user-{}", (t / 40) * 3 + j % 3))),
                kv("order.id", Value::StringValue(format!("order-{t}-{j}"))),
                kv("http.status_code", Value::IntValue(if (t + j) % 50 == 0 { 503 } else { 200 })),
            ];
            if j % 2 == 0 {
                attributes.push(kv("cache.hit", Value::BoolValue(t % 3 == 0)));
            }
            by_service[t % 2].push(Span {
                trace_id: trace_id(t).to_vec(),
                span_id: n.to_be_bytes().to_vec(),
                parent_span_id: if j == 0 { Vec::new() } else { (n - 1).to_be_bytes().to_vec() },
                name: format!("op-{}", (t + j) % 5),
                kind: 2,
                start_time_unix_nano: 1_000_000 + t as u64 * 1000 + j as u64,
                end_time_unix_nano: 1_000_500 + t as u64 * 1000 + j as u64 * 7,
                attributes,
                events: (j == 1)
                    .then(|| Event { time_unix_nano: 1_000_100, name: "retry".into(), attributes: vec![kv("user.id", Value::StringValue(format!("user-{t}")))], dropped_attributes_count: 0 })
                    .into_iter()
                    .collect(),
                links: (t % 11 == 0).then(|| Link { trace_id: vec![9; 16], span_id: vec![9; 8], ..Default::default() }).into_iter().collect(),
                ..Default::default()
            });
        }
    }
    by_service
        .into_iter()
        .enumerate()
        .map(|(s, spans)| ResourceSpans {
            resource: Some(Resource { attributes: vec![kv("service.name", Value::StringValue(format!("svc-{s}")))], ..Default::default() }),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            schema_url: String::new(),
        })
        .collect()
}

/// The block's bytes before compression, every trace added in order.
fn raw_block(mut writer: BlockWriter<'static>, bytes: &'static [u8]) -> Vec<u8> {
    let index: &'static _ = Box::leak(Box::new(index([bytes]).expect("index")));
    for t in 0..700 {
        let id = trace_id(t);
        let refs: Vec<u32> = (0..index.spans.len() as u32).filter(|&i| index.spans[i as usize].span.trace_id == id).collect();
        writer.add_trace(id, index, &refs).expect("add");
    }
    writer.finish()
}

fn block_of(writer: BlockWriter<'static>, bytes: &'static [u8]) -> Block {
    Block::decode(&compress(&raw_block(writer, bytes), 1).expect("compress")).expect("decode")
}

fn request(batch: &[ResourceSpans]) -> &'static [u8] {
    tracegate_core::Traces::new(batch.to_vec()).encode_request().to_vec().leak()
}

fn spans_of(rs: Vec<ResourceSpans>) -> Vec<Span> {
    rs.into_iter().flat_map(|r| r.scope_spans).flat_map(|s| s.spans).collect()
}

#[test]
fn each_trace_read_from_its_page_is_the_trace_as_sent() {
    let batch = spans();
    let block = block_of(BlockWriter::new(), request(&batch));
    let total: usize = batch.iter().map(|rs| rs.scope_spans[0].spans.len()).sum();
    assert!(block.page_count() >= total / PAGE_SPANS, "{} pages for {total} spans", block.page_count());
    assert!(block.page_count() > 3);
    let sent = |t: usize| -> Vec<Span> {
        let mut s: Vec<Span> = batch.iter().flat_map(|rs| rs.scope_spans[0].spans.clone()).filter(|s| s.trace_id == trace_id(t)).collect();
        s.sort_by(|a, b| a.span_id.cmp(&b.span_id));
        s
    };
    for t in 0..700 {
        let mut got = spans_of(block.trace(&trace_id(t)).expect("trace"));
        got.sort_by(|a, b| a.span_id.cmp(&b.span_id));
        assert_eq!(got, sent(t), "trace {t}");
    }
    // Several at once, from several pages, in one call.
    let some: Vec<[u8; 16]> = [3, 250, 251, 499, 699].iter().map(|t| trace_id(*t)).collect();
    let got = block.traces(&some).expect("traces");
    assert_eq!(got.len(), 5);
    for (id, rs) in got {
        let t = u64::from_be_bytes(id[..8].try_into().expect("8 bytes")) as usize - 1;
        let mut spans = spans_of(rs);
        spans.sort_by(|a, b| a.span_id.cmp(&b.span_id));
        assert_eq!(spans, sent(t), "trace {t}");
    }
}

#[test]
fn a_block_written_before_pages_reads_the_same() {
    let batch = spans();
    let bytes = request(&batch);
    let paged = block_of(BlockWriter::new(), bytes);
    let unpaged = block_of(BlockWriter::unpaged(), bytes);
    assert_eq!(unpaged.page_count(), 1);
    let all: Vec<[u8; 16]> = (0..700).map(trace_id).collect();
    assert_eq!(paged.traces(&all).expect("paged"), unpaged.traces(&all).expect("unpaged"));
}

/// Counting a value page by page finds it where a walk of that page finds it.
#[test]
fn values_are_counted_in_the_page_that_holds_them() {
    let batch = spans();
    let block = block_of(BlockWriter::new(), request(&batch));
    for (key, text) in [("http.status_code", "503"), ("user.id", "user-30"), ("user.id", "user-600"), ("http.method", "PUT"), ("cache.hit", "true"), ("order.id", "order-650-0")] {
        let want = Want::new(text);
        let counts = block.count_values_by_page(key, &want).expect("count");
        assert_eq!(counts.len(), block.page_count());
        let mut walked = Vec::new();
        for p in 0..block.page_count() {
            let mut n = 0;
            block
                .walk_page(None, p, |row| {
                    n += row.attrs.iter().chain(&row.event_attrs).filter(|(k, v)| *k == key && want.maybe(*v)).count();
                    Ok(true)
                })
                .expect("walk");
            walked.push(n);
        }
        assert_eq!(counts, walked, "{key}={text}");
        let sent = batch
            .iter()
            .flat_map(|rs| &rs.scope_spans[0].spans)
            .flat_map(|s| s.attributes.iter().chain(s.events.iter().flat_map(|e| &e.attributes)))
            .filter(|a| a.key == key && a.value.as_ref().and_then(value_text).as_deref() == Some(text))
            .count();
        assert!(sent > 0, "{key}={text} is in the data");
        assert_eq!(counts.iter().sum::<usize>(), sent, "{key}={text}");
    }
}

/// A damaged block (page table included) is an error, never a panic (a sample of flipped
/// bytes; the `sled_block` fuzz target tries far more).
#[test]
fn a_damaged_page_table_is_an_error() {
    let raw = raw_block(BlockWriter::new(), request(&spans()));
    let mut errors = 0;
    for at in (0..raw.len()).step_by(101) {
        let mut bad = raw.clone();
        bad[at] ^= 0x5a;
        match Block::parse(bad) {
            Err(_) => errors += 1,
            Ok(block) => {
                for p in 0..block.page_count() {
                    let _ = block.walk_page(None, p, |_| Ok(true));
                }
            }
        }
    }
    assert!(errors > 0);
}
