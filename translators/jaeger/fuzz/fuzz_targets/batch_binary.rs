//! Any byte string: decode_batch_binary returns an error or a batch, and translating the batch
//! (both ways) never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracegate_translator_jaeger::{decode_batch_binary, otlp_to_jaeger, thrift_to_otlp};

fuzz_target!(|data: &[u8]| {
    if let Ok(batch) = decode_batch_binary(data) {
        let otlp = thrift_to_otlp(batch);
        let _ = otlp_to_jaeger(&otlp);
    }
});
