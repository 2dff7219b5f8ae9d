//! The sled store's trace index: a pending id list and a run chunk, read as a trace lookup
//! reads them. The checks are in the function called, so the tests replay the committed
//! inputs through it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tracegate_exporter_sled::fuzzing::sled_trace_index(data));
