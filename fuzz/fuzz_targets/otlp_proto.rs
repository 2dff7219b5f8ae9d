//! OTLP protobuf export request: the in-place check, the views and prost's decode agree.
//! The checks are in the function called, so the tests replay the committed inputs through it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tracegate_pdata::fuzzing::otlp_request(data));
