//! The `config` target: what `tracegate --config FILE --set ...` does with text it is given,
//! short of starting anything: YAML parsing (with its nesting guard), `${env:..}` expansion,
//! `--set` overrides, validation against every registered component's config (each one's
//! serde shape and `validate()`), the effective config `print-config` prints, and Go
//! durations (which must read back what they print).
//!
//! Input layout: the YAML text, then optionally a NUL byte and `--set` assignments, one per
//! line. Environment variables are answered from their names so the fuzzer controls both: a
//! name starting `UNSET` is undefined, any other expands to the name itself.

use crate::config::{apply_set, expand_env, format_go_duration, parse_go_duration, parse_yaml, validate};
use crate::factory::Registry;

/// The fuzz target `config`. `registry` is what validation checks component configs against
/// (the fuzz target links every built-in component; a test passes what it links).
pub fn config(data: &[u8], registry: &Registry) {
    let (yaml, sets) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let Ok(text) = std::str::from_utf8(yaml) else { return };
    duration_round_trip(text.trim());
    let Ok(mut root) = parse_yaml(text, "fuzz.yaml") else { return };
    let lookup = |name: &str| (!name.starts_with("UNSET")).then(|| name.to_string());
    let _warnings = expand_env(&mut root, &lookup);
    for set in String::from_utf8_lossy(sets).lines() {
        let _ = apply_set(&mut root, set);
    }
    if let Ok(valid) = validate(&root, registry) {
        let _ = valid.effective();
    }
}

/// A duration that parses prints as a string that parses back to the same duration.
fn duration_round_trip(text: &str) {
    if text.len() > 64 {
        return;
    }
    if let Ok(d) = parse_go_duration(text) {
        let printed = format_go_duration(d);
        assert_eq!(parse_go_duration(&printed).ok(), Some(d), "{text:?} printed as {printed:?}");
    }
}
