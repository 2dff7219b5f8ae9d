//! Example plugin: the `redact` processor masks attribute values that match regex patterns
//! (card numbers, e-mail addresses, tokens) before spans leave the gateway.
//!
//! It is written once against the safe traits of `tracegate-plugin-abi` and ships two ways:
//! - built as a `cdylib` (`cargo build -p tracegate-example-redact-processor`), it is a plugin
//!   tracegate loads from `plugins: [{ path: target/debug/libtracegate_example_redact_processor.so }]`
//!   (the `export_plugin!` line below);
//! - linked into a custom build as an ordinary crate, it registers itself like a built-in
//!   component (the `register_plugin_processor!` line).
//!
//! See docs/plugins.md for the walk-through this crate illustrates.

mod config;
mod redact;

pub use config::Config;
pub use redact::Redact;

tracegate_core::register_plugin_processor!(Redact);

#[cfg(feature = "dynamic")]
tracegate_plugin_abi::export_plugin!(processor Redact);

#[cfg(test)]
mod tests {
    use tracegate_core::factory::{Origin, Registry};
    use tracegate_core::Kind;

    #[test]
    fn linked_statically_it_is_a_registered_processor() {
        let registry = Registry::builtin();
        let factory = registry.get(Kind::Processor, "redact").expect("redact is registered");
        assert_eq!(factory.origin(), Origin::Builtin);
    }
}
