//! Any byte string through the v1_thrift decoder and the translation to OTLP: an error is fine,
//! a panic, a hang or an allocation out of proportion to the input is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracegate_receiver_zipkin::{translate, Format, Options};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the options, so both tag-typing paths are exercised.
    let (flags, body) = data.split_first().map_or((0, data), |(f, rest)| (*f, rest));
    let options = Options { parse_string_tags: flags & 1 == 1, debug: flags & 2 == 2 };
    let _ = translate(Format::V1Thrift, body, options);
});
