//! Any byte string: decode_emit_batch_compact returns an error or a batch, and translating the batch
//! (both ways) never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracegate_translator_jaeger::{decode_emit_batch_compact, otlp_to_jaeger, thrift_to_otlp};

fuzz_target!(|data: &[u8]| {
    if let Ok(batch) = decode_emit_batch_compact(data) {
        let otlp = thrift_to_otlp(batch);
        let _ = otlp_to_jaeger(&otlp);
    }
});
