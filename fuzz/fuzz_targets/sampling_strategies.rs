//! A remote sampling strategies file; every answer it gives is valid JSON.
//! The checks are in the function called, so the tests replay the committed inputs through it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tracegate_extension_remote_sampling::fuzzing::sampling_strategies(data));
