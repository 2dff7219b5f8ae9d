//! Config validation: every problem at once, each with its path and a message that says what to do.

mod support;

use support::World;

fn problems(yaml: &str) -> Vec<String> {
    match World::new().config(yaml) {
        Ok(v) => v.warnings.iter().map(|p| format!("warning {p}")).collect(),
        Err(ps) => ps
            .iter()
            .map(|p| format!("{} {p}", if p.is_error() { "error" } else { "warning" }))
            .collect(),
    }
}

const PIPE: &str = "service: { pipelines: { traces: { receivers: [test], exporters: [test] } } }\n";

#[test]
fn unknown_type_lists_the_valid_ones() {
    let p = problems(&format!(
        "receivers: {{ test: {{}}, kafkaa: {{}} }}\nexporters: {{ test: {{}} }}\n{PIPE}"
    ));
    assert_eq!(
        p,
        vec!["error receivers::kafkaa: unknown receiver type \"kafkaa\"; valid types: test"]
    );
}

#[test]
fn pipeline_naming_an_unconfigured_component() {
    let p = problems("receivers: { test: {} }\nexporters: { test: {} }\nservice: { pipelines: { traces: { receivers: [test], exporters: [test, kafka/x] } } }\n");
    assert_eq!(
        p,
        vec!["error service::pipelines::traces: exporter \"kafka/x\" is not configured"]
    );
}

#[test]
fn unknown_field_wrong_type_bad_duration_all_at_once() {
    let p = problems(&format!(
        "receivers: {{ test: {{ behavior: [x] }} }}\nprocessors: {{ test: {{ mutate: maybe }} }}\nexporters: {{ test: {{ timeout: 5x }} }}\n{PIPE}"
    ));
    assert_eq!(p.len(), 3, "{p:#?}");
    assert!(p[0].starts_with("error receivers::test::behavior: unknown field `behavior`, expected `behaviour` or `mutate`"), "{}", p[0]);
    assert!(
        p[1].starts_with(
            "error processors::test::mutate: invalid type: string \"maybe\", expected a boolean"
        ),
        "{}",
        p[1]
    );
    assert_eq!(p[2], "error exporters::test::timeout: invalid duration \"5x\": unknown unit \"x\" (use ns, us, ms, s, m or h)");
}

#[test]
fn bad_endpoint_in_service_telemetry() {
    let p = problems(&format!(
        "receivers: {{ test: {{}} }}\nexporters: {{ test: {{}} }}\nservice: {{ telemetry: {{ metrics: {{ address: 'localhost' }} }}, pipelines: {{ traces: {{ receivers: [test], exporters: [test] }} }} }}\n"
    ));
    assert_eq!(p, vec!["error service::telemetry::metrics::address: invalid endpoint \"localhost\": missing port (expected host:port, e.g. \"0.0.0.0:4317\")"]);
}

#[test]
fn empty_pipeline_and_no_pipelines() {
    let p = problems("receivers: { test: {} }\nservice: { pipelines: { traces: {} } }\n");
    assert_eq!(
        p,
        vec![
            "error service::pipelines::traces: must have at least one receiver",
            "error service::pipelines::traces: must have at least one exporter",
            "warning receivers::test: configured but not used by any pipeline; it will not run",
        ]
    );
    let p = problems("receivers: { test: {} }\n");
    assert!(
        p[0].starts_with("error service::pipelines: at least one pipeline is required"),
        "{p:?}"
    );
}

#[test]
fn unsupported_pipeline_type_and_unknown_top_level_key() {
    let p = problems("receivers: { test: {} }\nexporters: { test: {} }\nconnectors: {}\nservice: { pipelines: { metrics: { receivers: [test], exporters: [test] } } }\n");
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(
        p[0].starts_with("error connectors: connectors are not available: the spanmetrics connector's work is done by the sled and memory stores"),
        "{p:?}"
    );
    assert!(
        p[1].starts_with(
            "error service::pipelines::metrics: pipeline type \"metrics\" is not supported"
        ),
        "{p:?}"
    );
}

#[test]
fn an_unknown_type_from_a_jaeger_config_names_the_alternative() {
    let p = problems(&format!("receivers: {{ test: {{}} }}\nexporters: {{ test: {{}}, prometheus: {{ endpoint: 0.0.0.0:8889 }} }}\n{PIPE}"));
    assert!(p[0].starts_with("error exporters::prometheus: unknown exporter type \"prometheus\": span metrics need no exporter here"), "{p:?}");
}

#[test]
fn engine_owned_exporter_keys_are_validated_with_their_path() {
    let p = problems(&format!("receivers: {{ test: {{}} }}\nexporters: {{ test: {{ sending_queue: {{ queue_size: 0, when_full: wait }} }} }}\n{PIPE}"));
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].starts_with("error exporters::test::sending_queue::when_full: unknown variant `wait`, expected one of `refuse`, `block`, `drop_newest`"), "{p:?}");
    let p = problems(&format!("receivers: {{ test: {{}} }}\nexporters: {{ test: {{ sending_queue: {{ when_full: block, block_on_overflow: false }} }} }}\n{PIPE}"));
    assert_eq!(p, ["error exporters::test::sending_queue: when_full: block contradicts block_on_overflow: false; set one of them"]);
    let p = problems(&format!("receivers: {{ test: {{}} }}\nexporters: {{ test: {{ sending_queue: {{ storage: fs, sizer: items }} }} }}\n{PIPE}"));
    assert!(p.iter().any(|e| e.starts_with("error exporters::test::sending_queue::sizer: items is not supported with storage")), "{p:?}");
}

#[test]
fn unused_extension_is_a_warning_and_listed_unconfigured_one_an_error() {
    let p = problems(&format!("receivers: {{ test: {{}} }}\nexporters: {{ test: {{}} }}\nservice: {{ extensions: [health_check], pipelines: {{ traces: {{ receivers: [test], exporters: [test] }} }} }}\n"));
    assert_eq!(
        p,
        vec!["error service::extensions: extension \"health_check\" is not configured"]
    );
}

#[test]
fn a_queue_storage_must_name_an_enabled_file_storage_extension() {
    let with = |storage: &str, extensions: &str| {
        problems(&format!(
            "receivers: {{ test: {{}} }}\nextensions: {{ file_storage: {{}}, file_storage/off: {{}} }}\nexporters: {{ test: {{ sending_queue: {{ storage: {storage} }} }} }}\nservice: {{ extensions: {extensions}, pipelines: {{ traces: {{ receivers: [test], exporters: [test] }} }} }}\n"
        ))
    };
    assert_eq!(
        with("file_storage", "[file_storage, file_storage/off]"),
        Vec::<String>::new()
    );
    assert_eq!(with("file_storage/gone", "[file_storage, file_storage/off]"), vec!["error exporters::test::sending_queue::storage: extension \"file_storage/gone\" is not configured"]);
    assert_eq!(
        with("file_storage/off", "[file_storage]"),
        vec![
            "error exporters::test::sending_queue::storage: extension \"file_storage/off\" is not enabled in service::extensions",
            "warning extensions::file_storage/off: configured but not used by service::extensions; it will not run",
        ]
    );
    assert_eq!(with("health_check", "[file_storage, file_storage/off]"), vec!["error exporters::test::sending_queue::storage: \"health_check\" is not a storage extension; use a file_storage extension"]);
}
