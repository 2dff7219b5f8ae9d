//! OTLP/JSON request body: decodes to a request the in-place check accepts once encoded.
//! The checks are in the function called, so the tests replay the committed inputs through it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tracegate_receiver_otlp::fuzzing::otlp_json(data));
