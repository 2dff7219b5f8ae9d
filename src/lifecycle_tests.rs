//! Every built-in factory, through the engine's erased interface: created from its default
//! config, started, shut down, and shut down again, as the Collector's generated lifecycle
//! tests do for each of its components. A component that needs a setting to exist at all (a
//! path, a password file, a protocol, a storage name) gets the smallest one in [`required`];
//! every `host:port` endpoint moves to `127.0.0.1:0` so the test binds nothing beyond loopback
//! and never clashes with another test. Components that find others at start (`jaeger_query`
//! its storage exporter, `adaptive_sampling` the `remote_sampling` extension) find them in a
//! host (`core::testing::ExtensionsHost`) holding both, built from the same registry. A new
//! component is covered the day it registers: the test walks the registry, and a component it
//! cannot build fails it, naming the component and the step.

use std::sync::Arc;

use async_trait::async_trait;
use serde_yaml_ng::Value;
use tracegate_core::component::{ConsumeError, Consumer, Lifecycle};
use tracegate_core::factory::{Built, DynFactory, ParsedConfig, Registry};
use tracegate_core::telemetry::Telemetry;
use tracegate_core::testing::ExtensionsHost;
use tracegate_core::{ComponentId, CreateContext, Kind, Traces};

/// Takes every batch: what a receiver or processor feeds in this test.
struct Discard;

#[async_trait]
impl Consumer for Discard {
    async fn consume(&self, _traces: Traces) -> Result<(), ConsumeError> {
        Ok(())
    }
}

/// The settings without which a component has no valid config (YAML, merged over the
/// defaults). `dir` is a fresh directory for the component's files.
fn required(kind: Kind, type_name: &str, dir: &std::path::Path) -> String {
    let dir = dir.display();
    let one_action = "actions: [{ key: a, action: delete }]";
    match (kind, type_name) {
        (Kind::Receiver, "otlp") => "protocols: { grpc: {}, http: {} }".into(),
        (Kind::Receiver, "jaeger") => {
            "protocols: { thrift_compact: {}, thrift_binary: {}, thrift_http: {}, grpc: {} }".into()
        }
        (Kind::Processor, "attributes") => one_action.into(),
        (Kind::Processor, "resource") => "attributes: [{ key: a, action: delete }]".into(),
        (Kind::Processor, "span") => "name: { from_attributes: [a] }".into(),
        (Kind::Processor, "memory_limiter") => "check_interval: 1s\nlimit_mib: 256".into(),
        (Kind::Processor, "tail_sampling") => "policies: [{ name: all, type: always_sample }]".into(),
        (Kind::Exporter, "sled") => format!("path: {dir}/sled"),
        (Kind::Exporter, "file") => format!("path: {dir}/spans.json"),
        // Port 9 (discard) on loopback: nothing listens, and a lifecycle never dials anyway.
        (Kind::Exporter, "otlp") => "endpoint: 127.0.0.1:9\ntls: { insecure: true }".into(),
        (Kind::Exporter, "otlphttp") => "endpoint: http://127.0.0.1:9".into(),
        (Kind::Exporter, "loadbalancing") => {
            "protocol: { otlp: { tls: { insecure: true } } }\nresolver: { static: { hostnames: [127.0.0.1:9] } }".into()
        }
        (Kind::Extension, "file_storage") => format!("directory: {dir}"),
        (Kind::Extension, "basicauth") => "htpasswd: { inline: \"user:{PLAIN}secret\" }".into(),
        (Kind::Extension, "bearertokenauth") => "token: a-test-token".into(),
        (Kind::Extension, "oidc") => format!("jwks_file: {dir}/jwks.json\naudience: tracegate"),
        (Kind::Extension, "jaeger_query") => "storage: memory".into(),
        (Kind::Extension, "jaeger_storage") => "backends: { some_store: { memory: {} } }".into(),
        (Kind::Exporter, "jaeger_storage_exporter") => "trace_storage: memory".into(),
        (Kind::Extension, "remote_sampling") => format!("file: {{ path: {dir}/strategies.json }}"),
        _ => String::new(),
    }
}

/// Moves every `host:port` endpoint a component listens on to an ephemeral loopback port.
fn loopback_endpoints(value: &mut Value) {
    match value {
        Value::Mapping(map) => {
            for (key, child) in map.iter_mut() {
                let host_port = child.as_str().is_some_and(|e| !e.contains("://"));
                if key.as_str() == Some("endpoint") && host_port {
                    *child = Value::String("127.0.0.1:0".into());
                } else {
                    loopback_endpoints(child);
                }
            }
        }
        Value::Sequence(items) => items.iter_mut().for_each(loopback_endpoints),
        _ => {}
    }
}

/// The component's effective default config with [`required`] merged in and its endpoints
/// on loopback, parsed by the factory.
fn config_for(factory: &Arc<dyn DynFactory>, dir: &std::path::Path) -> Result<ParsedConfig, String> {
    config_from(factory, &required(factory.kind(), factory.type_name(), dir))
}

fn config_from(factory: &Arc<dyn DynFactory>, yaml: &str) -> Result<ParsedConfig, String> {
    let mut raw: Value = serde_yaml_ng::from_str(yaml)
        .map_err(|e| format!("the test's required settings do not parse: {e}"))?;
    if raw.is_null() {
        raw = Value::Mapping(Default::default());
    }
    let problems = |p: Vec<tracegate_core::config::ConfigProblem>| {
        p.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    };
    let first = factory.parse_config(Some(&raw)).map_err(problems)?;
    let mut effective = first.effective;
    // An exporter's endpoint is where it dials, left as the defaults or [`required`] set it.
    if factory.kind() != Kind::Exporter {
        loopback_endpoints(&mut effective);
    }
    factory.parse_config(Some(&effective)).map_err(problems)
}

/// Writes the files [`required`] names (an OIDC key set with no keys is a valid set).
fn write_required_files(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::write(dir.join("jwks.json"), r#"{"keys":[]}"#)?;
    std::fs::write(dir.join("strategies.json"), r#"{"default_strategy":{"type":"probabilistic","param":1}}"#)
}

fn create(factory: &Arc<dyn DynFactory>, id: &str, config: &ParsedConfig) -> Result<Built, String> {
    let id = ComponentId::parse(id).map_err(|e| format!("id: {e}"))?;
    let ctx = CreateContext::new(id, Telemetry::new());
    let next: Option<Arc<dyn Consumer>> = match factory.kind() {
        Kind::Receiver | Kind::Processor => Some(Arc::new(Discard)),
        _ => None,
    };
    factory.create(ctx, config, next).map_err(|e| format!("create: {e}"))
}

fn lifecycle_of(built: Built) -> Arc<dyn Lifecycle> {
    match built {
        Built::Receiver(r) => r,
        Built::Processor(p) => p,
        Built::Exporter(e) => e,
        Built::Extension(x) => x,
    }
}

async fn lifecycle(factory: &Arc<dyn DynFactory>, host: Arc<ExtensionsHost>) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    write_required_files(dir.path()).map_err(|e| format!("test files: {e}"))?;
    let config = config_for(factory, dir.path()).map_err(|e| format!("default config refused: {e}"))?;
    let component = lifecycle_of(create(factory, factory.type_name(), &config)?);
    component.start(host).await.map_err(|e| format!("start: {e}"))?;
    component.shutdown().await.map_err(|e| format!("shutdown: {e}"))?;
    component.shutdown().await.map_err(|e| format!("second shutdown: {e}"))?;
    Ok(())
}

/// Starts the memory exporter and an adaptive `remote_sampling` for the components that
/// look them up.
async fn support(registry: &Registry) -> Result<Arc<ExtensionsHost>, String> {
    let find = |kind, name| registry.get(kind, name).ok_or_else(|| format!("{name} is not registered"));
    let memory = find(Kind::Exporter, "memory")?;
    let Built::Exporter(memory) = create(memory, "memory", &config_from(memory, "")?)? else {
        return Err("the memory factory built no exporter".into());
    };
    let sampling = find(Kind::Extension, "remote_sampling")?;
    let yaml = "adaptive: {}\nhttp: { endpoint: 127.0.0.1:0 }\ngrpc: { endpoint: 127.0.0.1:0 }";
    let Built::Extension(sampling) = create(sampling, "remote_sampling", &config_from(sampling, yaml)?)? else {
        return Err("the remote_sampling factory built no extension".into());
    };
    let host = Arc::new(
        ExtensionsHost::default().with("remote_sampling", sampling.clone()).with_exporter("memory", memory.clone()),
    );
    memory.start(host.clone()).await.map_err(|e| format!("memory start: {e}"))?;
    sampling.start(host.clone()).await.map_err(|e| format!("remote_sampling start: {e}"))?;
    Ok(host)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_builtin_component_creates_starts_and_shuts_down_twice() {
    crate::components::link();
    let registry = Registry::builtin();
    let host = match support(&registry).await {
        Ok(host) => host,
        Err(e) => panic!("the components others look up could not start: {e}"),
    };
    let mut failed = Vec::new();
    let mut covered = 0;
    for factory in registry.iter() {
        let name = format!("{} {}", factory.kind().as_str(), factory.type_name());
        match tokio::time::timeout(std::time::Duration::from_secs(30), lifecycle(factory, host.clone())).await {
            Ok(Ok(())) => covered += 1,
            Ok(Err(e)) => failed.push(format!("{name}: {e}")),
            Err(_) => failed.push(format!("{name}: did not finish its lifecycle in 30 s")),
        }
    }
    for (id, extension) in &host.extensions {
        if let Err(e) = extension.shutdown().await {
            failed.push(format!("support {id}: shutdown: {e}"));
        }
    }
    for (id, exporter) in &host.exporters {
        if let Err(e) = exporter.shutdown().await {
            failed.push(format!("support {id}: shutdown: {e}"));
        }
    }
    assert!(failed.is_empty(), "components whose lifecycle failed:\n{}", failed.join("\n"));
    // Every kind is linked: a registry that lost a crate would pass with nothing to check.
    for kind in Kind::ALL {
        assert!(!registry.types(kind).is_empty(), "no {} registered", kind.as_str());
    }
    assert_eq!(covered, registry.iter().count());
}
