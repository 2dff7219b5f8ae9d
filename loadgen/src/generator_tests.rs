use std::collections::{HashMap, HashSet};

use rand::rngs::StdRng;
use rand::SeedableRng;

use bytes::Bytes;

use super::*;
use crate::otlp::encode_otlp;

const NOW: u64 = 1_760_000_000_000_000_000;

fn shape(spans_per_trace: usize, attributes: usize, span_size: Option<usize>) -> SpanShape {
    SpanShape {
        spans_per_trace,
        attributes,
        span_size,
    }
}

fn spans(req: &ExportTraceServiceRequest) -> Vec<&Span> {
    req.resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .collect()
}

#[test]
fn batch_has_the_requested_span_and_attribute_counts() {
    let mut rng = StdRng::seed_from_u64(1);
    for attributes in [0, 3, 10, 25] {
        let req = generate_request(&shape(10, attributes, None), 1000, NOW, &mut rng);
        let all = spans(&req);
        assert_eq!(all.len(), 1000);
        assert!(
            all.iter().all(|s| s.attributes.len() == attributes),
            "attributes={attributes}"
        );
        let keys: HashSet<&str> = all[0].attributes.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys.len(), attributes, "attribute keys are distinct");
    }
}

#[test]
fn attributes_mix_types_and_use_semconv_keys() {
    let mut rng = StdRng::seed_from_u64(2);
    let req = generate_request(&shape(10, 10, None), 50, NOW, &mut rng);
    let span = spans(&req)[0];
    let keys: Vec<&str> = span.attributes.iter().map(|a| a.key.as_str()).collect();
    assert!(keys.contains(&"http.method") && keys.contains(&"db.system"));
    let status = span.attributes.iter().find(|a| a.key == "http.status_code");
    let value = status
        .and_then(|a| a.value.as_ref())
        .and_then(|v| v.value.as_ref());
    assert!(matches!(value, Some(any_value::Value::IntValue(_))));
    let kinds: HashSet<std::mem::Discriminant<any_value::Value>> = span
        .attributes
        .iter()
        .filter_map(|a| a.value.as_ref()?.value.as_ref().map(std::mem::discriminant))
        .collect();
    assert_eq!(kinds.len(), 4, "string, int, bool and double values");
    let resource = req.resource_spans[0]
        .resource
        .as_ref()
        .map(|r| r.attributes.clone())
        .unwrap_or_default();
    assert!(resource.iter().any(|a| a.key == "service.name"));
}

#[test]
fn spans_are_grouped_into_traces_with_parents_inside_the_trace() {
    let mut rng = StdRng::seed_from_u64(3);
    let req = generate_request(&shape(7, 2, None), 100, NOW, &mut rng);
    let all = spans(&req);
    let mut by_trace: HashMap<&[u8], Vec<&Span>> = HashMap::new();
    for s in &all {
        by_trace.entry(s.trace_id.as_slice()).or_default().push(s);
    }
    // 100 spans in traces of 7: fourteen full traces and one of 2.
    assert_eq!(by_trace.len(), 15);
    let mut sizes: Vec<usize> = by_trace.values().map(Vec::len).collect();
    sizes.sort_unstable();
    assert_eq!(sizes[0], 2);
    assert!(sizes[1..].iter().all(|&n| n == 7));
    for members in by_trace.values() {
        let ids: HashSet<&[u8]> = members.iter().map(|s| s.span_id.as_slice()).collect();
        let roots = members
            .iter()
            .filter(|s| s.parent_span_id.is_empty())
            .count();
        assert_eq!(roots, 1, "one root per trace");
        assert!(members
            .iter()
            .all(|s| s.parent_span_id.is_empty() || ids.contains(s.parent_span_id.as_slice())));
        assert!(members
            .iter()
            .all(|s| s.trace_id.len() == 16 && s.span_id.len() == 8));
    }
}

#[test]
fn span_size_pads_each_span_to_within_ten_percent() {
    let mut rng = StdRng::seed_from_u64(4);
    for target in [500, 1000, 4096, 20_000] {
        let req = generate_request(&shape(10, 10, Some(target)), 200, NOW, &mut rng);
        let all = spans(&req);
        assert_eq!(
            all[0].attributes.len(),
            10,
            "padding replaces an attribute, not adds one"
        );
        assert!(all[0].attributes.iter().any(|a| a.key == PADDING_KEY));
        for s in all {
            let len = s.encoded_len() as f64;
            let t = target as f64;
            assert!((len - t).abs() <= t * 0.1, "target {target}, span {len}");
        }
        // The whole request is about spans × size, so --span-size also predicts bandwidth.
        let total = req.encoded_len() as f64;
        assert!((total - 200.0 * target as f64).abs() <= 200.0 * target as f64 * 0.1);
    }
}

#[test]
fn patched_batches_carry_fresh_trace_ids_and_keep_links() {
    let mut rng = StdRng::seed_from_u64(5);
    let batch =
        encode_otlp(&generate_request(&shape(10, 5, None), 500, NOW, &mut rng)).expect("encodes");
    assert_eq!(batch.spans, 500);
    let ids = batch.slots_of(|p| matches!(p, crate::encoded::Patch::Id(_)));
    assert_eq!(ids, 500, "every span's trace id was located");
    let decode = |b: &Bytes| ExportTraceServiceRequest::decode(b.clone()).ok();
    let original = decode(&batch.bytes);
    let patched = decode(&batch.patched(1, 0));
    let (Some(original), Some(patched)) = (original, patched) else {
        panic!("batches decode")
    };
    let (a, b) = (spans(&original), spans(&patched));
    let ids_a: HashSet<&[u8]> = a.iter().map(|s| s.trace_id.as_slice()).collect();
    let ids_b: HashSet<&[u8]> = b.iter().map(|s| s.trace_id.as_slice()).collect();
    assert_eq!(ids_b.len(), 50);
    assert!(ids_a.is_disjoint(&ids_b));
    for (x, y) in a.iter().zip(&b) {
        // Only trace ids change: same spans, same parents, same grouping.
        assert_eq!(
            (&x.span_id, &x.parent_span_id, &x.attributes),
            (&y.span_id, &y.parent_span_id, &y.attributes)
        );
    }
    assert_ne!(batch.patched(2, 0), batch.patched(1, 0));
}

#[test]
fn gzipped_body_decompresses_to_the_original() {
    use std::io::Read;
    let mut rng = StdRng::seed_from_u64(6);
    let batch =
        encode_otlp(&generate_request(&shape(10, 10, None), 100, NOW, &mut rng)).expect("encodes");
    let gz = crate::encoded::gzip(&batch.bytes).ok();
    let mut out = Vec::new();
    let read = gz
        .as_ref()
        .map(|g| flate2::read::GzDecoder::new(&g[..]).read_to_end(&mut out));
    assert!(matches!(read, Some(Ok(_))));
    assert_eq!(out, batch.bytes);
}
