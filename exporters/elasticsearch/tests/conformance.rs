//! The shared storage conformance suite against the fake Elasticsearch.
//!
//! Jaeger's span document (and its OTLP translation) has no place for instrumentation-scope
//! attributes or link attributes (links become references), so this backend cannot search
//! them; Jaeger's own integration suite excuses its Elasticsearch store from the same two
//! fixtures (`Scope_Attributes`, `Link_Attributes`). Everything else is claimed.

use std::sync::Arc;

use tracegate_core::storage::TraceReader;
use tracegate_core::Exporter;
use tracegate_exporter_elasticsearch::{Config, ElasticsearchExporter};
use tracegate_fake_elasticsearch::{FakeElasticsearch, Options};
use tracegate_storage_conformance::{Capabilities, Store};

async fn fresh_store() -> Store {
    let fake = FakeElasticsearch::start(Options::default()).await.expect("start the fake Elasticsearch");
    let config = Config { endpoints: vec![fake.url()], ..Config::default() };
    let exporter = ElasticsearchExporter::new(config).expect("exporter");
    let reader: Arc<dyn TraceReader> = Arc::new(exporter.reader());
    let exporter: Arc<dyn Exporter> = Arc::new(exporter);
    Store { exporter, reader, keep: Some(Box::new(fake)) }
}

const CAPABILITIES: Capabilities = Capabilities { scope_attributes: false, link_attributes: false, ..Capabilities::ALL };

tracegate_storage_conformance::conformance_tests!(fresh_store, CAPABILITIES);
