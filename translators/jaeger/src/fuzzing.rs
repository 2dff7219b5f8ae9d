//! What the fuzz targets `jaeger_emit_batch_compact`, `jaeger_emit_batch_binary`,
//! `jaeger_batch_binary` (the Thrift agent and HTTP bodies) and `jaeger_grpc` (api_v2
//! `PostSpansRequest`) call (see `tracegate_core::fuzzing` and docs/fuzzing.md), public so
//! the tests replay the committed inputs through it.
//!
//! Each decodes, translates to OTLP as the receivers do, and translates back as the query
//! API and the Kafka exporter do: errors are fine; a panic, and a span lost on the way back
//! to Jaeger, are not.

use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use prost::Message;

use crate::{decode_batch_binary, decode_emit_batch_binary, decode_emit_batch_compact};
use crate::{otlp_to_jaeger, proto, proto_to_otlp, thrift_to_otlp};

/// The fuzz target `jaeger_emit_batch_compact`: a UDP datagram on 6831.
pub fn emit_batch_compact(data: &[u8]) {
    if let Ok(batch) = decode_emit_batch_compact(data) {
        back_to_jaeger(&thrift_to_otlp(batch));
    }
}

/// The fuzz target `jaeger_emit_batch_binary`: a UDP datagram on 6832.
pub fn emit_batch_binary(data: &[u8]) {
    if let Ok(batch) = decode_emit_batch_binary(data) {
        back_to_jaeger(&thrift_to_otlp(batch));
    }
}

/// The fuzz target `jaeger_batch_binary`: a `POST /api/traces` body on 14268.
pub fn batch_binary(data: &[u8]) {
    if let Ok(batch) = decode_batch_binary(data) {
        back_to_jaeger(&thrift_to_otlp(batch));
    }
}

/// The fuzz target `jaeger_grpc`: a `PostSpansRequest` message on 14250, as tonic hands it
/// to the receiver (prost's decode of the generated type), then the receiver's translation.
pub fn post_spans(data: &[u8]) {
    let Ok(request) = proto::PostSpansRequest::decode(data) else { return };
    let Some(batch) = request.batch else { return };
    // Spans with every field but the process at its zero value are skipped, as the
    // Collector skips them; every other span must arrive.
    let spans = batch.spans.iter().filter(|s| **s != proto::Span { process: s.process.clone(), ..Default::default() }).count();
    let otlp = proto_to_otlp(batch);
    assert_eq!(count(&otlp), spans, "spans lost translating api_v2 to OTLP");
    back_to_jaeger(&otlp);
}

fn back_to_jaeger(otlp: &[ResourceSpans]) {
    let jaeger: usize = otlp_to_jaeger(otlp).iter().map(|b| b.spans.len()).sum();
    assert_eq!(jaeger, count(otlp), "spans lost translating OTLP to Jaeger");
}

fn count(otlp: &[ResourceSpans]) -> usize {
    otlp.iter().flat_map(|rs| &rs.scope_spans).map(|ss| ss.spans.len()).sum()
}

#[cfg(test)]
mod tests {
    use tracegate_core::fuzzing::{replay, sample_request, write_seed};

    use super::*;
    use crate::thrift::tests::sample_batch;
    use crate::{encode_batch_binary, encode_emit_batch_binary, encode_emit_batch_compact};

    #[test]
    fn thrift_inputs_replay() {
        replay("jaeger_emit_batch_compact", emit_batch_compact);
        replay("jaeger_emit_batch_binary", emit_batch_binary);
        replay("jaeger_batch_binary", batch_binary);
    }

    #[test]
    fn grpc_inputs_replay() {
        replay("jaeger_grpc", post_spans);
    }

    #[test]
    #[ignore = "writes fuzz/seeds; run by hand when a format changes"]
    fn write_fuzz_seeds() {
        let batch = sample_batch();
        write_seed("jaeger_emit_batch_compact", "sample", &encode_emit_batch_compact(&batch));
        write_seed("jaeger_emit_batch_binary", "sample", &encode_emit_batch_binary(&batch));
        write_seed("jaeger_batch_binary", "sample", &encode_batch_binary(&batch));
        for (i, batch) in otlp_to_jaeger(&sample_request().resource_spans).into_iter().enumerate() {
            let request = proto::PostSpansRequest { batch: Some(batch) };
            write_seed("jaeger_grpc", &format!("sample-{i}"), &request.encode_to_vec());
        }
    }
}
