//! Jaeger api_v2 PostSpansRequest (gRPC 14250), translated to OTLP and back without losing spans.
//! The checks are in the function called, so the tests replay the committed inputs through it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tracegate_translator_jaeger::fuzzing::post_spans(data));
