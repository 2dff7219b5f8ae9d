//! The exporter and reader against the fake Elasticsearch, in process: the documents Jaeger
//! would write, templates, bulk failure handling, auth, aliases, fail-over.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tracegate_core::storage::{TraceQuery, TraceReader};
use tracegate_core::testing::TestHost;
use tracegate_core::{ConsumeError, Exporter, Lifecycle, Traces};
use tracegate_fake_elasticsearch::{FakeElasticsearch, Faults, Options};
use tracegate_storage_conformance::{batch, Ids, TestSpan, Val};

use crate::config::{Auth, Bulk, Config, EsVersion, TagsAsFields};
use crate::doc::day_of_micros;
use crate::ElasticsearchExporter;

async fn fake(version: &str) -> FakeElasticsearch {
    FakeElasticsearch::start(Options { version: version.into(), ..Options::default() }).await.expect("start the fake")
}

fn config(fake: &FakeElasticsearch) -> Config {
    Config { endpoints: vec![fake.url()], ..Config::default() }
}

fn micros(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

/// Two spans of one trace: a server root with an event, a client child.
fn two_spans(start: SystemTime) -> (Vec<TestSpan>, Traces) {
    let mut ids = Ids::new(42);
    let t = ids.trace_id();
    let root = TestSpan::new(&mut ids, t, "frontend", "GET /", start)
        .attr("http.status_code", Val::Int(200))
        .event("retry", vec![("attempt", Val::Int(2))]);
    let child = TestSpan::new(&mut ids, t, "backend", "query", start)
        .child_of(&root)
        .kind(opentelemetry_proto::tonic::trace::v1::span::SpanKind::Client);
    let spans = vec![root, child];
    let traces = batch(&spans);
    (spans, traces)
}

fn host() -> Arc<dyn tracegate_core::Host> {
    TestHost::new()
}

#[tokio::test]
async fn span_documents_are_jaegers() {
    let fake = fake("8.11.1").await;
    let exporter = ElasticsearchExporter::new(config(&fake)).expect("exporter");
    let start = SystemTime::now() - Duration::from_secs(60);
    let (spans, traces) = two_spans(start);
    exporter.export(traces).await.expect("export");

    let day = day_of_micros(micros(start));
    let docs = fake.documents(&format!("jaeger-span-{day}"));
    assert_eq!(docs.len(), 2, "{docs:?}");
    let root = &docs.iter().find(|d| d.2["operationName"] == "GET /").expect("root doc").2;
    let trace_hex: String = spans[0].trace_id.iter().map(|b| format!("{b:02x}")).collect();
    let span_hex: String = spans[0].span_id.iter().map(|b| format!("{b:02x}")).collect();
    let us = micros(start);
    assert_eq!(root["traceID"], json!(trace_hex));
    assert_eq!(root["spanID"], json!(span_hex));
    assert_eq!(root["startTime"], json!(us));
    assert_eq!(root["startTimeMillis"], json!(us / 1000));
    assert_eq!(root["duration"], json!(10_000));
    assert_eq!(root["flags"], json!(0));
    assert_eq!(root["references"], json!([]));
    assert_eq!(root["process"]["serviceName"], "frontend");
    assert_eq!(root["process"]["tags"], json!([{"key": "host.name", "type": "string", "value": "host-1"}]));
    let tags = root["tags"].as_array().expect("tags");
    assert!(tags.contains(&json!({"key": "http.status_code", "type": "int64", "value": "200"})), "{tags:?}");
    assert!(tags.contains(&json!({"key": "span.kind", "type": "string", "value": "server"})), "{tags:?}");
    assert!(root.get("tag").is_none(), "no tag object unless tags_as_fields");
    assert_eq!(root["logs"][0]["timestamp"], json!(us + 1));
    assert!(root["logs"][0]["fields"].as_array().expect("fields").contains(&json!({"key": "event", "type": "string", "value": "retry"})));
    let child = &docs.iter().find(|d| d.2["operationName"] == "query").expect("child doc").2;
    assert_eq!(child["references"], json!([{"refType": "CHILD_OF", "traceID": trace_hex, "spanID": span_hex}]));

    let services = fake.documents(&format!("jaeger-service-{day}"));
    let mut pairs: Vec<(String, Value)> = services.iter().map(|(_, id, d)| (id.clone(), d.clone())).collect();
    pairs.sort_by(|a, b| a.1["serviceName"].as_str().cmp(&b.1["serviceName"].as_str()));
    assert_eq!(pairs[0].1, json!({"serviceName": "backend", "operationName": "query", "spanKind": "client"}));
    assert_eq!(pairs[1].1, json!({"serviceName": "frontend", "operationName": "GET /", "spanKind": "server"}));
    fake.stop().await;
}

#[tokio::test]
async fn opensearch_is_spoken_to_as_elasticsearch_7() {
    let options = Options { version: "2.11.0".into(), distribution: Some("opensearch".into()), ..Options::default() };
    let fake = FakeElasticsearch::start(options).await.expect("start the fake");
    let exporter = ElasticsearchExporter::new(config(&fake)).expect("exporter");
    exporter.start(host()).await.expect("start");
    let apis: Vec<String> = fake.templates().into_iter().map(|((api, _), _)| api).collect();
    assert_eq!(apis, ["_template", "_template"], "OpenSearch 2.x gets Elasticsearch 7's legacy templates");
    fake.stop().await;
}

#[tokio::test]
async fn templates_for_7_and_8_and_auto_detection() {
    for (version, setting, api) in [("7.17.9", EsVersion::Auto, "_template"), ("8.11.1", EsVersion::Auto, "_index_template"), ("8.11.1", EsVersion::V7, "_template")] {
        let fake = fake(version).await;
        let c = Config { version: setting, index_prefix: "prod".into(), ..config(&fake) };
        let exporter = ElasticsearchExporter::new(c).expect("exporter");
        exporter.start(host()).await.expect("start");
        let names: Vec<(String, String)> = fake.templates().into_iter().map(|(k, _)| k).collect();
        assert_eq!(names, [(api.to_string(), "prod-jaeger-service".to_string()), (api.to_string(), "prod-jaeger-span".to_string())], "{version}");
        let span = fake.templates().into_iter().find(|((_, n), _)| n == "prod-jaeger-span").expect("span template").1;
        let mappings = if api == "_template" { &span["mappings"] } else { &span["template"]["mappings"] };
        assert_eq!(span["index_patterns"], json!(["prod-jaeger-span-*"]));
        assert_eq!(mappings["properties"]["tags"]["type"], "nested");
        assert_eq!(mappings["properties"]["startTime"]["type"], "long");
        exporter.shutdown().await.expect("shutdown");
        fake.stop().await;
    }
}

#[tokio::test]
async fn retryable_items_are_resent_and_permanent_ones_counted() {
    let fake = fake("8.11.1").await;
    let exporter = ElasticsearchExporter::new(config(&fake)).expect("exporter");
    exporter.start(host()).await.expect("start");
    // 4 items (2 spans + 2 service docs): the first rejected with 429, the second refused.
    fake.set_faults(Faults { item_429: 1, item_mapping: 1, ..Faults::default() });
    let (_, traces) = two_spans(SystemTime::now() - Duration::from_secs(5));
    exporter.export(traces).await.expect("partial failures are handled inside the export");
    assert_eq!(exporter.dropped(), 1);
    assert_eq!(fake.faults(), Faults::default());
    let stored = fake.documents("jaeger-span-*").len() + fake.documents("jaeger-service-*").len();
    assert_eq!(stored, 3, "the 429 item was re-sent, the refused one was not");
    let bulks = fake.requests().iter().filter(|r| r.ends_with("/_bulk")).count();
    assert_eq!(bulks, 2, "one retry request carrying only the rejected item");
    fake.stop().await;
}

#[tokio::test]
async fn items_rejected_every_time_give_the_batch_back() {
    let fake = fake("8.11.1").await;
    let exporter = ElasticsearchExporter::new(config(&fake)).expect("exporter");
    exporter.start(host()).await.expect("start");
    fake.set_faults(Faults { item_429: 100, ..Faults::default() });
    let (_, traces) = two_spans(SystemTime::now());
    let err = exporter.export(traces).await.expect_err("still rejected");
    assert!(matches!(err, ConsumeError::Throttled { .. }), "{err:?}");
    fake.stop().await;
}

#[tokio::test]
async fn whole_request_429_is_throttled_and_5xx_retryable() {
    let fake = fake("8.11.1").await;
    let exporter = ElasticsearchExporter::new(config(&fake)).expect("exporter");
    exporter.start(host()).await.expect("start");
    let (_, traces) = two_spans(SystemTime::now());
    fake.set_faults(Faults { request_429: 1, ..Faults::default() });
    assert!(matches!(exporter.export(traces.clone()).await, Err(ConsumeError::Throttled { .. })));
    fake.set_faults(Faults { request_503: 1, ..Faults::default() });
    assert!(matches!(exporter.export(traces.clone()).await, Err(ConsumeError::Retryable(_))));
    exporter.export(traces.clone()).await.expect("recovered");
    exporter.export(traces).await.expect("again: idempotent");
    assert_eq!(fake.documents("jaeger-span-*").len(), 2, "a re-sent batch does not duplicate spans");
    fake.stop().await;
}

#[tokio::test]
async fn unreachable_endpoint_fails_over_and_none_reachable_is_retryable() {
    let fake = fake("8.11.1").await;
    // A port nobody listens on: bind then drop.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let dead_url = format!("http://{}", dead.local_addr().expect("addr"));
    drop(dead);
    let c = Config { endpoints: vec![dead_url.clone(), fake.url()], ..Config::default() };
    let exporter = ElasticsearchExporter::new(c).expect("exporter");
    for _ in 0..3 {
        let (_, traces) = two_spans(SystemTime::now());
        exporter.export(traces).await.expect("fails over to the live endpoint");
    }
    let only_dead = ElasticsearchExporter::new(Config { endpoints: vec![dead_url], ..Config::default() }).expect("exporter");
    let (_, traces) = two_spans(SystemTime::now());
    assert!(matches!(only_dead.export(traces).await, Err(ConsumeError::Retryable(_))));
    fake.stop().await;
}

#[tokio::test]
async fn bulk_requests_respect_max_actions() {
    let fake = fake("8.11.1").await;
    let c = Config { bulk: Bulk { max_actions: 3, ..Bulk::default() }, ..config(&fake) };
    let exporter = ElasticsearchExporter::new(c).expect("exporter");
    let (_, traces) = two_spans(SystemTime::now());
    exporter.export(traces).await.expect("export");
    let bulks = fake.requests().iter().filter(|r| r.ends_with("/_bulk")).count();
    assert_eq!(bulks, 2, "4 documents at most 3 per request");
    fake.stop().await;
}

#[tokio::test]
async fn basic_auth_and_api_key() {
    for (auth, header) in [
        (Auth { username: "elastic".into(), password: "changeme".into(), ..Auth::default() }, "Basic ZWxhc3RpYzpjaGFuZ2VtZQ=="),
        (Auth { api_key: "aWQ6a2V5".into(), ..Auth::default() }, "ApiKey aWQ6a2V5"),
    ] {
        let fake = FakeElasticsearch::start(Options { authorization: vec![header.into()], ..Options::default() }).await.expect("fake");
        let (_, traces) = two_spans(SystemTime::now());
        let anonymous = ElasticsearchExporter::new(config(&fake)).expect("exporter");
        assert!(matches!(anonymous.export(traces.clone()).await, Err(ConsumeError::Permanent(_))), "401 is not retried");
        let exporter = ElasticsearchExporter::new(Config { auth, ..config(&fake) }).expect("exporter");
        exporter.export(traces).await.expect("authenticated export");
        assert_eq!(exporter.reader().services().await.expect("services"), ["backend", "frontend"]);
        fake.stop().await;
    }
}

#[tokio::test]
async fn aliases_write_and_read_through_rollover_names() {
    let fake = fake("8.11.1").await;
    let exporter = ElasticsearchExporter::new(Config { use_aliases: true, ..config(&fake) }).expect("exporter");
    exporter.start(host()).await.expect("start");
    let (spans, traces) = two_spans(SystemTime::now() - Duration::from_secs(30));
    exporter.export(traces).await.expect("export");
    assert_eq!(fake.index_names(), ["jaeger-service-write", "jaeger-span-write"]);
    let got = exporter.reader().get_trace(spans[0].trace_id).await.expect("get").expect("found through jaeger-span-read");
    assert_eq!(got.span_count(), 2);
    // The reader names only `jaeger-span-read`, which the template's alias gave the new index.
    assert_eq!(exporter.reader().services().await.expect("services"), ["backend", "frontend"]);
    fake.stop().await;
}

#[tokio::test]
async fn tags_as_fields_are_written_as_objects_and_searchable() {
    let fake = fake("8.11.1").await;
    let c = Config { tags_as_fields: TagsAsFields { all: true, ..TagsAsFields::default() }, ..config(&fake) };
    let exporter = ElasticsearchExporter::new(c).expect("exporter");
    let (spans, traces) = two_spans(SystemTime::now() - Duration::from_secs(30));
    exporter.export(traces).await.expect("export");
    let docs = fake.documents("jaeger-span-*");
    let root = &docs.iter().find(|d| d.2["operationName"] == "GET /").expect("root").2;
    assert_eq!(root["tag"]["http@status_code"], json!(200));
    assert_eq!(root["process"]["tag"]["host@name"], json!("host-1"));
    assert_eq!(root["tags"], json!([]), "tags moved to the object are not repeated");
    let reader = exporter.reader();
    let q = |k: &str, v: &str| TraceQuery { service: "frontend".into(), tags: [(k.to_string(), v.to_string())].into(), ..TraceQuery::default() };
    assert_eq!(reader.find_trace_ids(&q("http.status_code", "200")).await.expect("find"), [spans[0].trace_id]);
    assert_eq!(reader.find_trace_ids(&q("host.name", "host-1")).await.expect("find"), [spans[0].trace_id]);
    let got = reader.get_trace(spans[0].trace_id).await.expect("get").expect("found");
    let keys: Vec<String> = got.resource_spans().iter().flat_map(|rs| rs.scope_spans.iter()).flat_map(|ss| ss.spans.iter())
        .filter(|s| s.name == "GET /").flat_map(|s| s.attributes.iter().map(|a| a.key.clone())).collect();
    assert!(keys.contains(&"http.status_code".to_string()), "dots restored: {keys:?}");
    fake.stop().await;
}

#[tokio::test]
async fn concurrent_exports_share_a_bulk_request_with_flush_interval() {
    let fake = fake("8.11.1").await;
    // The interval is far beyond the test: the request goes out because the batch is full.
    let bulk = Bulk { max_actions: 8, flush_interval: tracegate_core::config::GoDuration::from_secs(3600), ..Bulk::default() };
    let exporter = ElasticsearchExporter::new(Config { bulk, ..config(&fake) }).expect("exporter");
    exporter.start(host()).await.expect("start");
    let (_, a) = two_spans(SystemTime::now());
    let (_, b) = two_spans(SystemTime::now());
    let (ra, rb) = tokio::join!(exporter.export(a), exporter.export(b));
    ra.expect("first export");
    rb.expect("second export");
    let bulks = fake.requests().iter().filter(|r| r.ends_with("/_bulk")).count();
    assert_eq!(bulks, 1, "two exports of 4 documents, one request of 8");
    fake.stop().await;
}

#[test]
fn registered_and_bad_ca_file_is_a_config_error() {
    let registry = tracegate_core::factory::Registry::builtin();
    assert!(registry.get(tracegate_core::Kind::Exporter, "elasticsearch").is_some());
    let c = Config {
        endpoints: vec!["https://localhost:9200".into()],
        tls: crate::Tls { ca_file: "/nonexistent/ca.pem".into(), ..Default::default() },
        ..Config::default()
    };
    match ElasticsearchExporter::new(c) {
        Err(tracegate_core::ComponentError::Config(m)) => assert!(m.contains("tls: cannot read ca_file /nonexistent/ca.pem"), "{m}"),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("a missing CA file must fail"),
    }
}
