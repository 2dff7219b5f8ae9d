//! Round trips through the real ABI inside one process: the glue `export_plugin!` generates,
//! called through the host's safe API, exactly as after `dlopen` (minus the loader itself,
//! which tests/load.rs exercises on real shared libraries).

use std::path::Path;

use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use serde::{Deserialize, Serialize};

use super::*;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct SuffixConfig {
    suffix: String,
    max_spans: u32,
}

/// Appends `suffix` to every span name; panics on a span named "boom"; drops spans over
/// `max_spans` when it is set.
struct Suffix(SuffixConfig);

impl PluginComponent for Suffix {
    const TYPE: &'static str = "suffix";
    type Config = SuffixConfig;

    fn validate(config: &SuffixConfig) -> Vec<ConfigIssue> {
        if config.suffix.is_empty() {
            return vec![ConfigIssue::new("suffix", "must not be empty")];
        }
        Vec::new()
    }

    fn new(config: SuffixConfig) -> Result<Self, PluginError> {
        if config.suffix == "refuse" {
            return Err(PluginError::permanent("suffix \"refuse\" is refused at create"));
        }
        Ok(Self(config))
    }
}

impl PluginProcessor for Suffix {
    fn process(&self, mut request: ExportTraceServiceRequest) -> Result<ExportTraceServiceRequest, PluginError> {
        for rs in &mut request.resource_spans {
            for ss in &mut rs.scope_spans {
                if self.0.max_spans > 0 {
                    ss.spans.truncate(self.0.max_spans as usize);
                }
                for span in &mut ss.spans {
                    if span.name == "boom" {
                        panic!("span named boom");
                    }
                    span.name.push_str(&self.0.suffix);
                }
            }
        }
        Ok(request)
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct FlakyConfig {
    fail: String,
}

/// Fails every export as configured ("retryable", "permanent") or succeeds.
struct Flaky(String);

impl PluginComponent for Flaky {
    const TYPE: &'static str = "flaky";
    type Config = FlakyConfig;

    fn new(config: FlakyConfig) -> Result<Self, PluginError> {
        Ok(Self(config.fail))
    }
}

impl PluginExporter for Flaky {
    fn export(&self, _request: ExportTraceServiceRequest) -> Result<(), PluginError> {
        match self.0.as_str() {
            "retryable" => Err(PluginError::retryable("backend down")),
            "permanent" => Err(PluginError::permanent("backend said no")),
            _ => Ok(()),
        }
    }
}

crate::export_plugin!(processor Suffix, exporter Flaky);

fn plugin() -> LoadedPlugin {
    // SAFETY: the descriptor is this test binary's own static data, made by export_plugin!.
    unsafe { LoadedPlugin::from_descriptor(Path::new("in-process"), tracegate_plugin_descriptor()) }
        .expect("own descriptor is valid")
}

fn component(type_name: &str) -> LoadedComponent {
    plugin().components().iter().find(|c| c.type_name() == type_name).cloned().expect("component listed")
}

fn request(names: &[&str]) -> Vec<u8> {
    let spans = names.iter().map(|n| Span { name: n.to_string(), ..Default::default() }).collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans { scope_spans: vec![ScopeSpans { spans, ..Default::default() }], ..Default::default() }],
    }
    .encode_to_vec()
}

fn names(bytes: &[u8]) -> Vec<String> {
    let req = ExportTraceServiceRequest::decode(bytes).expect("plugin output decodes");
    req.resource_spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans).map(|s| s.name.clone()).collect()
}

#[test]
fn descriptor_lists_both_components_with_name_and_version() {
    assert_eq!(tracegate_plugin_abi_version(), ABI_VERSION);
    let p = plugin();
    assert_eq!(p.name(), concat!("tracegate-plugin-abi ", env!("CARGO_PKG_VERSION")));
    let listed: Vec<_> = p.components().iter().map(|c| (c.kind(), c.type_name().to_string())).collect();
    assert_eq!(listed, vec![(ComponentKind::Processor, "suffix".into()), (ComponentKind::Exporter, "flaky".into())]);
}

#[test]
fn processor_round_trip_changes_and_drops_spans() {
    let p = component("suffix").create(br#"{"suffix": "-x", "max_spans": 2}"#).expect("created");
    let out = p.call(&request(&["a", "b", "c"])).expect("processed");
    assert_eq!(names(&out), vec!["a-x", "b-x"]);
}

#[test]
fn validate_reports_plugin_problems_serde_paths_and_defaults() {
    let c = component("suffix");
    let ok = c.validate(br#"{"suffix": "-x"}"#).expect("report");
    assert!(ok.problems.is_empty(), "{:?}", ok.problems);
    assert_eq!(ok.effective, serde_json::json!({"suffix": "-x", "max_spans": 0}));

    let empty = c.validate(b"null").expect("report");
    assert_eq!(empty.problems, vec![ConfigIssue::new("suffix", "must not be empty")]);

    let typo = c.validate(br#"{"suffix": "-x", "max_spanz": 1}"#).expect("report");
    assert_eq!(typo.problems.len(), 1);
    assert!(typo.problems[0].message.contains("unknown field `max_spanz`"), "{:?}", typo.problems);

    let wrong_type = c.validate(br#"{"max_spans": "many"}"#).expect("report");
    assert_eq!(wrong_type.problems[0].path, "max_spans");
}

#[test]
fn create_errors_carry_the_plugin_message() {
    let e = component("suffix").create(br#"{"suffix": "refuse"}"#).err().expect("refused");
    assert_eq!(e, CallError { status: CallStatus::Permanent, message: "suffix \"refuse\" is refused at create".into() });
}

#[test]
fn a_panic_is_an_error_for_that_batch_and_the_instance_keeps_working() {
    let p = component("suffix").create(br#"{"suffix": "!"}"#).expect("created");
    let e = p.call(&request(&["ok", "boom"])).err().expect("panic reported");
    assert_eq!(e.status, CallStatus::Panic);
    assert_eq!(e.message, "plugin panicked: span named boom");
    assert_eq!(names(&p.call(&request(&["fine"])).expect("still works")), vec!["fine!"]);
}

#[test]
fn exporter_statuses_map_to_retryable_and_permanent() {
    let c = component("flaky");
    let retry = c.create(br#"{"fail": "retryable"}"#).expect("created").call(&request(&["a"])).err().expect("fails");
    assert_eq!((retry.status, retry.message.as_str()), (CallStatus::Retryable, "backend down"));
    let perm = c.create(br#"{"fail": "permanent"}"#).expect("created").call(&request(&["a"])).err().expect("fails");
    assert_eq!(perm.status, CallStatus::Permanent);
    let ok = c.create(b"{}").expect("created").call(&request(&["a"])).expect("exported");
    assert!(ok.is_empty());
}

#[test]
fn garbage_bytes_are_a_permanent_error_not_a_crash() {
    let p = component("suffix").create(br#"{"suffix": "!"}"#).expect("created");
    let e = p.call(&[0xff, 0xff, 0xff]).err().expect("refused");
    assert_eq!(e.status, CallStatus::Permanent);
    assert!(e.message.contains("cannot decode"), "{e}");
}

#[test]
fn concurrent_calls_on_one_instance() {
    let p = std::sync::Arc::new(component("suffix").create(br#"{"suffix": "+"}"#).expect("created"));
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let p = p.clone();
            std::thread::spawn(move || names(&p.call(&request(&[&format!("t{i}")])).expect("processed")))
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        assert_eq!(t.join().expect("thread"), vec![format!("t{i}+")]);
    }
}

#[test]
fn missing_and_non_library_files_are_refused_by_name() {
    let dir = std::env::temp_dir().join(format!("tracegate-plugin-abi-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let missing = dir.join("nope.so");
    let e = LoadedPlugin::load(&missing).expect_err("missing");
    assert_eq!(e.to_string(), format!("plugin file {} does not exist", missing.display()));

    let text = dir.join("notes.so");
    std::fs::write(&text, "not a library").expect("write");
    let e = LoadedPlugin::load(&text).expect_err("not a library");
    assert!(matches!(e, LoadError::NotALibrary { .. }), "{e}");
    assert!(e.to_string().starts_with(&format!("{} is not a loadable shared library: ", text.display())), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A directory and a device were reported as "does not exist".
#[test]
fn a_directory_or_a_device_is_refused_for_what_it_is() {
    let dir = std::env::temp_dir().join(format!("tracegate-plugin-abi-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let e = LoadedPlugin::load(&dir).expect_err("a directory");
    assert!(matches!(e, LoadError::IsADirectory { .. }), "{e}");
    assert!(e.to_string().starts_with(&format!("plugin path {} is a directory, not a shared library", dir.display())), "{e}");
    let _ = std::fs::remove_dir_all(&dir);

    let zero = std::path::Path::new("/dev/zero");
    if zero.exists() {
        let e = LoadedPlugin::load(zero).expect_err("a device");
        assert_eq!(e.to_string(), "plugin path /dev/zero is not a shared library: it is a character device, not a regular file");
    }
}
