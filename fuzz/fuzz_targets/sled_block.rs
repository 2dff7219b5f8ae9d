//! A sled store block (decompressed), read as searches and trace fetches read it.
//! The checks are in the function called, so the tests replay the committed inputs through it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tracegate_exporter_sled::fuzzing::sled_block(data));
