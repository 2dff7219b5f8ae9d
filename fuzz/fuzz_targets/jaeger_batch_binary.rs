//! Jaeger Thrift over HTTP body (POST /api/traces on 14268), translated to OTLP and back.
//! The checks are in the function called, so the tests replay the committed inputs through it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tracegate_translator_jaeger::fuzzing::batch_binary(data));
