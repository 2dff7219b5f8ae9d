//! Codec tests: real-shaped datagrams survive encode -> decode, and no byte string panics.

use rand::{Rng, SeedableRng};

use super::*;
use crate::DecodeError;

/// A batch shaped like what jaeger-client-python sends: process tags, a child span with a
/// CHILD_OF reference, tags of every type, a log, and the optional batch fields.
pub(crate) fn sample_batch() -> Batch {
    let child = Span {
        trace_id_low: 0x1122_3344_5566_7788,
        trace_id_high: -0x1234_5678,
        span_id: 42,
        parent_span_id: 7,
        operation_name: "GET /users".into(),
        references: vec![SpanRef {
            ref_type: SpanRefType::ChildOf,
            trace_id_low: 0x1122_3344_5566_7788,
            trace_id_high: -0x1234_5678,
            span_id: 7,
        }],
        flags: 1,
        start_time: 1_700_000_000_123_456,
        duration: 2_500,
        tags: vec![
            Tag::string("span.kind", "server"),
            Tag::long("http.status_code", 200),
            Tag::double("ratio", 0.25),
            Tag::bool("cache.hit", true),
            Tag::binary("blob", vec![0, 1, 2, 255]),
        ],
        logs: vec![Log {
            timestamp: 1_700_000_000_124_000,
            fields: vec![Tag::string("event", "retry"), Tag::long("attempt", 2)],
        }],
    };
    let root = Span {
        span_id: 7,
        parent_span_id: 0,
        operation_name: "root".into(),
        references: vec![],
        tags: vec![],
        logs: vec![],
        ..child.clone()
    };
    Batch {
        process: Process {
            service_name: "frontend".into(),
            tags: vec![
                Tag::string("hostname", "web-1"),
                Tag::string("jaeger.version", "Python-4.8.0"),
                Tag::string("ip", "10.0.0.1"),
            ],
        },
        spans: vec![root, child],
        seq_no: Some(9),
        stats: Some(ClientStats {
            full_queue_dropped_spans: 1,
            too_large_dropped_spans: 2,
            failed_to_emit_spans: 3,
        }),
    }
}

type Decoder = fn(&[u8]) -> Result<Batch, DecodeError>;

fn codecs() -> [(&'static str, Vec<u8>, Decoder); 3] {
    let b = sample_batch();
    [
        (
            "emit compact",
            encode_emit_batch_compact(&b),
            decode_emit_batch_compact as Decoder,
        ),
        (
            "emit binary",
            encode_emit_batch_binary(&b),
            decode_emit_batch_binary as Decoder,
        ),
        (
            "batch binary",
            encode_batch_binary(&b),
            decode_batch_binary as Decoder,
        ),
    ]
}

#[test]
fn every_encoding_decodes_back_to_the_same_batch() {
    for (name, bytes, decode) in codecs() {
        assert_eq!(decode(&bytes).ok(), Some(sample_batch()), "{name}");
    }
}

#[test]
fn empty_optional_fields_stay_empty() {
    let b = Batch {
        process: Process {
            service_name: "svc".into(),
            tags: vec![],
        },
        spans: vec![Span {
            operation_name: "op".into(),
            ..Span::default()
        }],
        seq_no: None,
        stats: None,
    };
    let back = decode_emit_batch_compact(&encode_emit_batch_compact(&b));
    assert_eq!(back.ok(), Some(b));
}

#[test]
fn a_wrong_message_name_is_refused() {
    let bytes = encode_emit_batch_compact(&sample_batch());
    // The compact header is 0x82, type/version, varint seq id, then the name's length and bytes.
    let pos = bytes.windows(9).position(|w| w == b"emitBatch");
    let mut renamed = bytes.clone();
    if let Some(p) = pos {
        renamed[p..p + 9].copy_from_slice(b"emitBatcH");
    }
    let err = decode_emit_batch_compact(&renamed);
    assert!(matches!(err, Err(DecodeError::UnexpectedMessage { ref name }) if name == "emitBatcH"));
}

#[test]
fn a_missing_required_field_is_an_error() {
    use thrift::protocol::*;
    let mut out = Vec::new();
    let mut p = TBinaryOutputProtocol::new(&mut out, true);
    let _ = p.write_struct_begin(&TStructIdentifier::new("Batch"));
    let _ = p.write_field_stop();
    let _ = p.write_struct_end();
    let err = decode_batch_binary(&out);
    assert!(matches!(
        err,
        Err(DecodeError::MissingField {
            strukt: "Batch",
            field: "process"
        })
    ));
    assert_eq!(
        err.map_err(|e| e.to_string()).err().as_deref(),
        Some("missing required field process in Batch")
    );
}

#[test]
fn a_declared_length_beyond_the_input_is_refused_without_allocating_it() {
    // A binary Batch whose process.serviceName claims 2 GiB.
    let bytes = [12, 0, 1, 11, 0, 1, 0x7f, 0xff, 0xff, 0xff, b'a'];
    let err = decode_batch_binary(&bytes);
    assert!(matches!(err, Err(DecodeError::Thrift(_))), "{err:?}");
    // And a list claiming 2^31 - 1 spans.
    let bytes = [
        12, 0, 1, 11, 0, 1, 0, 0, 0, 1, b'a', 0, 15, 0, 2, 12, 0x7f, 0xff, 0xff, 0xff,
    ];
    assert!(decode_batch_binary(&bytes).is_err());
}

#[test]
fn unknown_fields_are_skipped() {
    use thrift::protocol::*;
    let mut out = Vec::new();
    let mut p = TCompactOutputProtocol::new(&mut out);
    let _ = p.write_message_begin(&TMessageIdentifier::new(
        "emitBatch",
        TMessageType::OneWay,
        1,
    ));
    let _ = p.write_struct_begin(&TStructIdentifier::new("args"));
    // Field 9: an unknown struct with a nested list, before the batch.
    let _ = p.write_field_begin(&TFieldIdentifier::new("x", TType::Struct, 9));
    let _ = p.write_struct_begin(&TStructIdentifier::new("X"));
    let _ = p.write_field_begin(&TFieldIdentifier::new("l", TType::List, 1));
    let _ = p.write_list_begin(&TListIdentifier::new(TType::I64, 2));
    let _ = p.write_i64(1);
    let _ = p.write_i64(2);
    let _ = p.write_list_end();
    let _ = p.write_field_end();
    let _ = p.write_field_stop();
    let _ = p.write_struct_end();
    let _ = p.write_field_end();
    let _ = p.write_field_begin(&TFieldIdentifier::new("batch", TType::Struct, 1));
    let _ = super::write::write_batch(&mut p, &sample_batch());
    let _ = p.write_field_end();
    let _ = p.write_field_stop();
    let _ = p.write_struct_end();
    let _ = p.write_message_end();
    drop(p);
    assert_eq!(decode_emit_batch_compact(&out).ok(), Some(sample_batch()));
}

#[test]
fn every_prefix_of_a_datagram_is_an_error_not_a_panic() {
    for (name, bytes, decode) in codecs() {
        for len in 0..bytes.len() {
            assert!(
                decode(&bytes[..len]).is_err(),
                "{name}: prefix of {len} bytes decoded"
            );
        }
    }
}

#[test]
fn random_byte_flips_never_panic() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    for (_, bytes, decode) in codecs() {
        for _ in 0..3000 {
            let mut b = bytes.clone();
            for _ in 0..rng.random_range(1..4) {
                let i = rng.random_range(0..b.len());
                b[i] = rng.random();
            }
            // Either outcome is fine; translating whatever decoded must not panic either.
            if let Ok(batch) = decode(&b) {
                let _ = crate::thrift_to_otlp(batch);
            }
        }
    }
}

#[test]
fn random_garbage_never_panics() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    for _ in 0..5000 {
        let len = rng.random_range(0..200);
        let b: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        for decode in [
            decode_emit_batch_compact,
            decode_emit_batch_binary,
            decode_batch_binary,
        ] {
            if let Ok(batch) = decode(&b) {
                let _ = crate::thrift_to_otlp(batch);
            }
        }
    }
}

#[test]
fn in_memory_sizes_behind_the_allocation_bound() {
    // read.rs promises decoded structs take at most ~25x the input; that rests on these sizes
    // against the minimal wire sizes (Tag 5 bytes, Span 17, SpanRef 9, Log 4).
    assert!(
        std::mem::size_of::<Tag>() <= 5 * 25,
        "{}",
        std::mem::size_of::<Tag>()
    );
    assert!(
        std::mem::size_of::<Span>() <= 17 * 25,
        "{}",
        std::mem::size_of::<Span>()
    );
    assert!(std::mem::size_of::<SpanRef>() <= 9 * 25);
    assert!(std::mem::size_of::<Log>() <= 4 * 25);
}
