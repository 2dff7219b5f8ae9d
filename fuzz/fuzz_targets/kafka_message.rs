//! One Kafka message in any of the receiver's encodings; written again, it reads back with as many spans.
//! The checks are in the function called, so the tests replay the committed inputs through it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tracegate_kafka::fuzzing::kafka_message(data));
