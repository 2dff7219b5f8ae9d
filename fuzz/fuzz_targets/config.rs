//! A config file and `--set` overrides as the config loader reads them: YAML (with its nesting
//! guard), `${env:..}` expansion, `--set`, validation of the service section, the effective
//! config, Go durations. No component is linked, so every component type is unknown to
//! validation here; `config_components` links them all.
//! The checks are in the function called, so the tests replay the committed inputs through it.
#![no_main]

use std::sync::OnceLock;

use tracegate_core::factory::Registry;

static REGISTRY: OnceLock<Registry> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tracegate_core::fuzzing::config(data, REGISTRY.get_or_init(Registry::builtin));
});
