//! Jaeger agent datagram, Thrift compact (UDP 6831), translated to OTLP and back.
//! The checks are in the function called, so the tests replay the committed inputs through it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tracegate_translator_jaeger::fuzzing::emit_batch_compact(data));
