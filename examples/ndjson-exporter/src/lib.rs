//! Example plugin: the `ndjson` exporter writes every span as one JSON object per line to
//! files in a directory, for `jq`, log shippers, or a quick look at what the gateway sees.
//!
//! Like the `redact` example it is written once against `tracegate-plugin-abi`'s safe traits
//! and ships two ways: as a `cdylib` listed under `plugins:` (the `export_plugin!` line), or
//! linked into a custom build (the `register_plugin_exporter!` line). See docs/plugins.md.

mod config;
mod exporter;
mod line;

pub use config::Config;
pub use exporter::Ndjson;
pub use line::span_lines;

tracegate_core::register_plugin_exporter!(Ndjson);

#[cfg(feature = "dynamic")]
tracegate_plugin_abi::export_plugin!(exporter Ndjson);

#[cfg(test)]
mod tests {
    use tracegate_core::factory::Registry;
    use tracegate_core::Kind;

    #[test]
    fn linked_statically_it_is_a_registered_exporter() {
        assert!(Registry::builtin().get(Kind::Exporter, "ndjson").is_some());
    }
}
