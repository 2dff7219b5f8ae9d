//! A store owned by the extension, written by `jaeger_storage_exporter` and read by
//! `jaeger_query` over its real HTTP port; a query-only service reading a sled store another
//! service wrote; start errors naming what is missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracegate_core::config::Endpoint;
use tracegate_core::storage::TraceStore;
use tracegate_core::telemetry::Telemetry;
use tracegate_core::testing::ExtensionsHost;
use tracegate_core::{ComponentId, CreateContext, Exporter, Extension, Host, Lifecycle, Traces};
use tracegate_extension_jaeger_query::{Config as QueryConfig, HttpConfig, JaegerQueryExtension};

use super::*;

fn storage(yaml: &str) -> Arc<JaegerStorageExtension> {
    let config = tracegate_core::testing::parse_config::<Config>(yaml).expect("valid config");
    let ctx = CreateContext::new(ComponentId::new("jaeger_storage", None), Telemetry::new());
    Arc::new(JaegerStorageExtension::open(&ctx, &config).expect("opens"))
}

fn host(ext: &Arc<JaegerStorageExtension>) -> Arc<dyn Host> {
    Arc::new(ExtensionsHost::default().with("jaeger_storage", ext.clone()))
}

fn query(store: &str) -> JaegerQueryExtension {
    let config = QueryConfig {
        storage: store.into(),
        http: HttpConfig { endpoint: Endpoint::new("127.0.0.1", 0), ..Default::default() },
        ..Default::default()
    };
    JaegerQueryExtension::new("jaeger_query".into(), config)
}

fn span_batch(service: &str, operation: &str, trace: u8) -> Traces {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    let attr = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.into())) }),
        ..Default::default()
    };
    Traces::new(vec![ResourceSpans {
        resource: Some(Resource { attributes: vec![attr("service.name", service)], ..Default::default() }),
        scope_spans: vec![ScopeSpans {
            spans: vec![Span {
                trace_id: vec![trace; 16],
                span_id: vec![trace; 8],
                name: operation.into(),
                start_time_unix_nano: now - 1_000_000,
                end_time_unix_nano: now,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }])
}

/// `GET path` on the query port; the body of a 200 answer.
async fn get(ext: &JaegerQueryExtension, path: &str) -> String {
    let addr = ext.local_addr().await.expect("serving");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    raw.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default()
}

#[tokio::test]
async fn the_exporter_writes_a_backend_the_query_service_reads_and_it_is_opened_once() {
    let ext = storage("backends: { some_store: { memory: { max_traces: 10 } }, other: { memory: } }");
    let host = host(&ext);
    ext.start(host.clone()).await.unwrap();
    let exporter = JaegerStorageExporter::new("jaeger_storage_exporter".into(), ExporterConfig { trace_storage: "some_store".into() });
    exporter.start(host.clone()).await.unwrap();
    let q = query("some_store");
    q.start(host.clone()).await.unwrap();

    exporter.export(span_batch("checkout", "pay", 1)).await.unwrap();
    let services = get(&q, "/api/services").await;
    assert!(services.contains("\"data\":[\"checkout\"]"), "{services}");
    let trace = get(&q, "/api/traces/01010101010101010101010101010101").await;
    assert!(trace.contains("\"operationName\":\"pay\""), "{trace}");

    // Every lookup gets the same store, not a copy opened again.
    let a = host.capability::<dyn TraceStore>("some_store").unwrap().reader();
    assert_eq!(a.services().await.unwrap(), ["checkout"]);
    let other = host.capability::<dyn TraceStore>("other").unwrap().reader();
    assert!(other.services().await.unwrap().is_empty(), "backends are separate stores");

    q.shutdown().await.unwrap();
    exporter.shutdown().await.unwrap();
    ext.shutdown().await.unwrap();
    ext.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_query_only_service_reads_the_sled_store_another_service_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!("backends: {{ main: {{ sled: {{ path: '{}', retention: 0s }} }} }}", dir.path().display());

    // The writer: jaeger_storage + jaeger_storage_exporter, no query service.
    let writer = storage(&yaml);
    let host_w = host(&writer);
    writer.start(host_w.clone()).await.unwrap();
    let exporter = JaegerStorageExporter::new("jaeger_storage_exporter".into(), ExporterConfig { trace_storage: "main".into() });
    exporter.start(host_w).await.unwrap();
    assert!(exporter.durable_on_success(), "sled syncs each export by default, and says so through the extension");
    exporter.export(span_batch("frontend", "GET /", 2)).await.unwrap();
    exporter.shutdown().await.unwrap();
    writer.shutdown().await.unwrap();
    drop(writer);

    // The reader: jaeger_storage + jaeger_query only, on the same directory.
    let reader = storage(&yaml);
    let host_r = host(&reader);
    reader.start(host_r.clone()).await.unwrap();
    let q = query("main");
    q.start(host_r).await.unwrap();
    let found = get(&q, "/api/traces?service=frontend&limit=5").await;
    assert!(found.contains("\"operationName\":\"GET /\""), "{found}");
    q.shutdown().await.unwrap();
    reader.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_name_no_backend_has_is_a_start_error_listing_the_backends() {
    let ext = storage("backends: { some_store: { memory: } }");
    let host = host(&ext);
    let exporter = JaegerStorageExporter::new("jaeger_storage_exporter".into(), ExporterConfig { trace_storage: "typo".into() });
    let err = exporter.start(host.clone()).await.unwrap_err().to_string();
    assert_eq!(
        err,
        "invalid configuration: trace_storage: nothing named \"typo\" provides a trace store (these do: some_store); name a backend of the jaeger_storage extension (listed in service::extensions)"
    );
    // Before its start the exporter refuses (retryably) rather than dropping.
    assert!(exporter.export(span_batch("s", "o", 3)).await.unwrap_err().to_string().contains("is not started"));
    let err = query("typo").start(host).await.unwrap_err().to_string();
    assert!(err.contains("storage: nothing named \"typo\" provides a trace store (these do: some_store)"), "{err}");
}

#[test]
fn registered_as_builtin_extension_and_exporter() {
    let registry = tracegate_core::factory::Registry::builtin();
    assert!(registry.get(tracegate_core::Kind::Extension, "jaeger_storage").is_some());
    assert!(registry.get(tracegate_core::Kind::Exporter, "jaeger_storage_exporter").is_some());
}

#[test]
fn the_exporter_requires_trace_storage() {
    let err = tracegate_core::testing::parse_config_messages::<ExporterConfig>("{}").unwrap_err();
    assert_eq!(err, ["trace_storage: required: the name of a jaeger_storage backend to write to, e.g. trace_storage: some_store"]);
}

#[tokio::test]
async fn an_elasticsearch_backend_is_a_store_like_the_exporter() {
    let es = tracegate_fake_elasticsearch::FakeElasticsearch::start(Default::default()).await.unwrap();
    let ext = storage(&format!("backends: {{ es: {{ opensearch: {{ server_urls: ['{}'] }} }} }}", es.url()));
    let host = host(&ext);
    ext.start(host.clone()).await.unwrap();
    let exporter = JaegerStorageExporter::new("jaeger_storage_exporter".into(), ExporterConfig { trace_storage: "es".into() });
    exporter.start(host.clone()).await.unwrap();
    exporter.export(span_batch("api", "list", 4)).await.unwrap();
    let reader = host.capability::<dyn TraceStore>("es").unwrap().reader();
    assert!(reader.get_trace([4; 16]).await.unwrap().is_some());
    exporter.shutdown().await.unwrap();
    ext.shutdown().await.unwrap();
    drop(Arc::clone(&ext) as Arc<dyn Extension>);
}
