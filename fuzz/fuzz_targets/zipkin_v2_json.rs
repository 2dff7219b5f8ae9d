//! Zipkin v2 JSON body, decoded and translated to OTLP.
//! The checks are in the function called, so the tests replay the committed inputs through it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tracegate_receiver_zipkin::fuzzing::v2_json(data));
