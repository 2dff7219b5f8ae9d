//! Jaeger agent datagram, Thrift binary (UDP 6832), translated to OTLP and back.
//! The checks are in the function called, so the tests replay the committed inputs through it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tracegate_translator_jaeger::fuzzing::emit_batch_binary(data));
