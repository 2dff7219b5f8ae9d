//! What the fuzz targets `kafka_message` (the kafka receiver's four encodings) and
//! `jaeger_json` (a Jaeger JSON span, as Jaeger's collector writes it to Kafka) call (see
//! `tracegate_core::fuzzing` and docs/fuzzing.md), public so the tests replay the committed
//! inputs through it. The decoders live here, shared by the kafka exporter and receiver.

use crate::encoding::{decode, encode, Decoded, Encoding};
use crate::jaeger_json::{decode_span, encode_span};

/// The fuzz target `kafka_message`: the first byte picks the encoding (bits 0-1) and whether
/// the exporter partitions by trace id (bit 2), the rest is one Kafka message. What the
/// receiver decodes counts its spans once, and written again by the exporter in the same
/// encoding it reads back with as many spans.
pub fn kafka_message(data: &[u8]) {
    let Some((&flags, payload)) = data.split_first() else { return };
    let encoding = [Encoding::OtlpProto, Encoding::OtlpJson, Encoding::JaegerProto, Encoding::JaegerJson]
        [usize::from(flags & 3)];
    let mut decoded = Decoded::default();
    let Ok(n) = decoded.push(encoding, payload) else { return };
    assert_eq!(decoded.spans(), n, "spans counted");
    let traces = decoded.finish();
    assert_eq!(traces.span_count(), n, "spans in the batch the receiver hands on");
    let Ok(records) = encode(encoding, &traces, flags & 4 != 0, 1 << 20) else { return };
    let mut again = 0;
    for record in &records {
        match decode(encoding, &record.payload) {
            Ok(t) => again += t.span_count(),
            Err(e) => panic!("the exporter wrote a {} message the receiver cannot read: {e}", encoding.as_str()),
        }
    }
    assert_eq!(again, n, "spans after writing the batch again as {}", encoding.as_str());
}

/// The fuzz target `jaeger_json`: one span in Jaeger's JSON. What decodes is written back to
/// the same span. Spans are compared as protobuf bytes, so that a `NaN` float tag (jsonpb's
/// `"NaN"`) equals itself, as it does on the wire; `==` on the structs never holds for it
/// (the fuzzer found that: a false alarm of the check, not a decoder fault).
pub fn jaeger_json(data: &[u8]) {
    use prost::Message;
    let Ok(span) = decode_span(data) else { return };
    let Ok(json) = encode_span(&span) else { return };
    match decode_span(&json) {
        Ok(again) => assert!(
            again.encode_to_vec() == span.encode_to_vec(),
            "a span changed through JSON and back:\n{span:?}\n{again:?}"
        ),
        Err(e) => panic!("encode_span wrote JSON that decode_span refuses: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use tracegate_core::fuzzing::{replay, sample_request, write_seed};
    use tracegate_core::Traces;

    use super::*;

    #[test]
    fn committed_inputs_replay() {
        replay("kafka_message", kafka_message);
        replay("jaeger_json", jaeger_json);
    }

    #[test]
    #[ignore = "writes fuzz/seeds; run by hand when a format changes"]
    fn write_fuzz_seeds() {
        let traces = Traces::from(sample_request());
        for (flags, encoding) in
            [(0u8, Encoding::OtlpProto), (1, Encoding::OtlpJson), (2, Encoding::JaegerProto), (3, Encoding::JaegerJson)]
        {
            let records = encode(encoding, &traces, false, 1 << 20).expect("encode");
            let record = records.first().expect("a message");
            let mut seed = vec![flags];
            seed.extend_from_slice(&record.payload);
            write_seed("kafka_message", encoding.as_str(), &seed);
            if encoding == Encoding::JaegerJson {
                write_seed("jaeger_json", "sample", &record.payload);
            }
        }
    }
}
