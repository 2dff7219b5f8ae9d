//! A sled store block summary, read as a search reads it.
//! The checks are in the function called, so the tests replay the committed inputs through it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tracegate_exporter_sled::fuzzing::sled_summary(data));
