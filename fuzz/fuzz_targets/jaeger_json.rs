//! One Jaeger JSON span (Kafka jaeger_json): what decodes is written back to the same span.
//! The checks are in the function called, so the tests replay the committed inputs through it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tracegate_kafka::fuzzing::jaeger_json(data));
