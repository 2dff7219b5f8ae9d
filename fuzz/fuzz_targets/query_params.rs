//! Query strings of the Jaeger query API (v1 and api_v3 searches, trace ids, times).
//! The checks are in the function called, so the tests replay the committed inputs through it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tracegate_extension_jaeger_query::fuzzing::query_params(data));
