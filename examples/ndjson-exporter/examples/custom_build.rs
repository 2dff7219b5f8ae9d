//! A custom build of tracegate: the stock command line with every built-in component, plus
//! this crate linked statically (its `register_plugin_exporter!` makes `ndjson` a component
//! like the built-in ones, no `plugins:` entry needed). This whole file is what
//! docs/plugins.md calls "a custom build in a few lines"; tests/e2e/test_plugins.py builds
//! and runs it.
//!
//! `cargo build -p tracegate-example-ndjson-exporter --example custom_build`

use std::process::ExitCode;

// Linking the crate is what registers its components.
use tracegate_example_ndjson_exporter as _;

fn main() -> ExitCode {
    tracegate::main()
}
