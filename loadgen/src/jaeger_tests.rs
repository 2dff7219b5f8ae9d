use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::SeedableRng;
use tracegate_translator_jaeger::thrift::TagType;
use tracegate_translator_jaeger::{decode_batch_binary, decode_emit_batch_compact};

use super::*;
use crate::encoded::Patch;
use crate::generator::{generate_request, SpanShape};
use crate::packer::Packer;

const NOW: u64 = 1_760_000_000_000_000_000;

fn request(spans: usize, span_size: Option<usize>, seed: u64) -> ExportTraceServiceRequest {
    let shape = SpanShape {
        spans_per_trace: 10,
        attributes: 10,
        span_size,
    };
    generate_request(&shape, spans, NOW, &mut StdRng::seed_from_u64(seed))
}

/// The one batch of a default-shape request.
fn batch(req: &ExportTraceServiceRequest) -> Batch {
    batches(req).pop().unwrap_or_default()
}

fn pack(req: &ExportTraceServiceRequest, max_packet: usize, max_spans: usize) -> Vec<Batch> {
    let Batch { process, spans, .. } = batch(req);
    let mut packer = Packer::new(process, max_packet, max_spans);
    spans
        .into_iter()
        .try_for_each(|s| packer.push(s))
        .expect("spans fit");
    packer.finish()
}

#[test]
fn spans_look_like_a_jaeger_clients() {
    let req = request(20, None, 1);
    assert_eq!(batches(&req).len(), 1, "one resource, one batch");
    let Batch {
        process: p,
        spans: all,
        ..
    } = batch(&req);
    assert_eq!(p.service_name, "loadgen-checkout");
    assert!(
        p.tags.iter().any(|t| t.key == "host.name")
            && !p.tags.iter().any(|t| t.key == "service.name")
    );
    let root = &all[0];
    assert_eq!(root.parent_span_id, 0);
    assert!(root
        .tags
        .iter()
        .any(|t| t.key == "span.kind" && t.v_str.as_deref() == Some("server")));
    assert!(all[1]
        .tags
        .iter()
        .any(|t| t.key == "span.kind" && t.v_str.as_deref() == Some("client")));
    let status = root
        .tags
        .iter()
        .find(|t| t.key == "http.status_code")
        .map(|t| t.v_type);
    assert_eq!(status, Some(TagType::Long));
    assert!(all[1..10]
        .iter()
        .all(|s| (s.trace_id_high, s.trace_id_low) == (root.trace_id_high, root.trace_id_low)));
    assert!(all[1..10]
        .iter()
        .all(|s| all[..10].iter().any(|p| p.span_id == s.parent_span_id)));
    assert!(
        all.iter()
            .all(|s| s.start_time > 1_600_000_000_000_000 && s.duration > 0),
        "microseconds"
    );
}

#[test]
fn datagrams_are_packed_tight_and_never_exceed_the_limit() {
    let req = request(3000, None, 2);
    for max in [65_000, 8_000, 1_500] {
        let datagrams = pack(&req, max, 1000);
        assert_eq!(datagrams.iter().map(|d| d.spans.len()).sum::<usize>(), 3000);
        for pair in datagrams.windows(2) {
            let len = encode_emit_batch_compact(&pair[0]).len();
            assert!(len <= max, "{len} > {max}");
            // The next datagram's first span would not have fitted.
            let mut bigger = pair[0].clone();
            bigger.spans.push(pair[1].spans[0].clone());
            assert!(encode_emit_batch_compact(&bigger).len() > max);
        }
    }
    let capped = pack(&req, 65_000, 40);
    assert!(capped.iter().all(|d| d.spans.len() <= 40));
}

#[test]
fn a_span_too_big_for_any_datagram_is_an_error_not_a_datagram() {
    let req = request(1, Some(5_000), 3);
    let Batch { process, spans, .. } = batch(&req);
    let mut packer = Packer::new(process, 2_000, 10);
    let err = spans.into_iter().try_for_each(|s| packer.push(s));
    assert!(err.is_err_and(|e| e.contains("--max-packet-size 2000")));
}

#[test]
fn spans_are_padded_for_their_own_encoding() {
    let mut rng = StdRng::seed_from_u64(4);
    let req = request(50, Some(1500), 4);
    for encode in [encode_emit_batch_compact as Encoder, encode_batch_binary] {
        for span in batch(&req).spans {
            let (_, len) = span_len(pad(span, 1500, encode, &mut rng), encode);
            assert!(len.abs_diff(1500) <= 2, "span of {len} bytes");
        }
    }
}

#[test]
fn patched_datagrams_decode_with_fresh_consistent_trace_ids() {
    let req = request(500, None, 5);
    for datagram in pack(&req, 65_000, 1000) {
        let encoded = encode_datagram(&datagram, 65_000).expect("encodes");
        let ids = encoded.slots_of(|p| matches!(p, Patch::Id(_)));
        assert_eq!(ids, datagram.spans.len());
        let original = decode_emit_batch_compact(&encoded.patched(0, 0)).expect("decodes");
        assert_eq!(original, datagram);
        let patched = decode_emit_batch_compact(&encoded.patched(1, 0)).expect("patched decodes");
        let mut mapping: HashMap<i64, i64> = HashMap::new();
        for (a, b) in original.spans.iter().zip(&patched.spans) {
            assert_ne!(a.trace_id_low, b.trace_id_low);
            // One trace, one new id: links between spans of a trace survive.
            assert_eq!(
                *mapping.entry(a.trace_id_low).or_insert(b.trace_id_low),
                b.trace_id_low
            );
            assert_eq!(
                (a.span_id, a.parent_span_id, &a.tags),
                (b.span_id, b.parent_span_id, &b.tags)
            );
        }
    }
}

#[test]
fn http_bodies_decode_and_patch() {
    let req = request(300, None, 6);
    let batch = batch(&req);
    let encoded = encode_body(&batch).expect("encodes");
    assert_eq!(
        decode_batch_binary(&encoded.patched(0, 0)).ok().as_ref(),
        Some(&batch)
    );
    let patched = decode_batch_binary(&encoded.patched(9, 0)).expect("patched decodes");
    assert!(batch
        .spans
        .iter()
        .zip(&patched.spans)
        .all(|(a, b)| a.trace_id_low != b.trace_id_low && a.span_id == b.span_id));
}
