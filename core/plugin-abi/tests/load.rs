//! Loads the fixture shared libraries `cargo test` builds from examples/ with `dlopen`, the
//! way tracegate does at start.

use std::path::PathBuf;

use tracegate_plugin_abi::{CallStatus, LoadError, LoadedPlugin, ABI_VERSION};

/// target/<profile>/examples/lib<name>.so, next to this test binary's target/<profile>/deps.
fn fixture(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>/deps");
    let path = profile.join("examples").join(format!("{}{name}{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX));
    assert!(path.is_file(), "fixture {} is missing: run `cargo test -p tracegate-plugin-abi` (it builds the examples) or `cargo build -p tracegate-plugin-abi --examples`", path.display());
    path
}

#[test]
fn another_abi_version_is_refused_naming_both() {
    let path = fixture("wrong_abi_version");
    let e = LoadedPlugin::load(&path).expect_err("refused");
    assert!(matches!(e, LoadError::VersionMismatch { plugin, host, .. } if plugin == ABI_VERSION + 1 && host == ABI_VERSION), "{e}");
    let text = e.to_string();
    assert!(text.contains(&format!("ABI version {}", ABI_VERSION + 1)) && text.contains(&format!("ABI version {ABI_VERSION}")), "{text}");
}

#[test]
fn a_real_plugin_loads_and_its_panics_are_contained() {
    let plugin = LoadedPlugin::load(&fixture("panicking_plugin")).expect("loads");
    assert!(plugin.name().starts_with("tracegate-plugin-abi "), "{}", plugin.name());
    let component = &plugin.components()[0];
    assert_eq!(component.type_name(), "panicky");
    let instance = component.create(b"{}").expect("created");
    use prost::Message;
    use tracegate_plugin_abi::proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    let batch = |name: &str| {
        tracegate_plugin_abi::ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans { spans: vec![Span { name: name.into(), ..Default::default() }], ..Default::default() }],
                ..Default::default()
            }],
        }
        .encode_to_vec()
    };
    let e = instance.call(&batch("please panic")).err().expect("panic reported");
    assert_eq!(e.status, CallStatus::Panic);
    assert!(e.message.contains("asked to panic"), "{e}");
    assert_eq!(&*instance.call(&batch("calm")).expect("next batch passes"), &batch("calm")[..]);
}

#[test]
fn a_library_without_the_symbol_is_not_a_plugin() {
    // The C library this test binary is linked against: a real shared library, not a plugin.
    let maps = std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
    let libc = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.contains("/libc.so") || p.contains("/libc-"))
        .expect("libc is mapped");
    let e = LoadedPlugin::load(std::path::Path::new(libc)).expect_err("refused");
    assert!(matches!(e, LoadError::MissingSymbol { symbol: "tracegate_plugin_abi_version", .. }), "{e}");
}
