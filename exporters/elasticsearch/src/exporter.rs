//! The write side: each export becomes Jaeger span documents plus service documents, sent with
//! `_bulk` in requests bounded by `bulk.max_actions` / `bulk.max_bytes`.
//!
//! Failures are classified per item, as the `_bulk` answer reports them: items rejected with
//! 429 or 5xx are re-sent (only those, up to [`ITEM_ATTEMPTS`] times); items refused for good
//! (4xx: mapping errors, bad documents) are counted in [`ElasticsearchExporter::dropped`] and
//! logged once per batch with the first reason. A whole request answered 429 is
//! `Throttled`, an unreachable cluster or a 5xx `Retryable`; the engine then retries the whole
//! batch, which is harmless because every document has a deterministic `_id` (span documents:
//! trace id, span id and a hash of the whole document; service documents: Jaeger's hash), so a
//! re-sent span overwrites itself instead of duplicating. The hash covers the whole document,
//! not only service and start, because spans that share an id but differ in anything else
//! are different spans and must all be kept (Jaeger's `GetTraceWithDuplicateSpans`; Jaeger
//! itself lets Elasticsearch pick ids, so it keeps them but also duplicates retried batches).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Method;
use serde_json::{json, Value};
use tracegate_core::{ComponentError, ConsumeError, Exporter, Host, Lifecycle, Traces};
use tracegate_translator_jaeger::otlp_to_jaeger;

use crate::client::{ClientError, EsClient};
use crate::config::{Config, EsVersion};
use crate::doc::{day_of_micros, fnv64a, span_doc, span_id_hex, trace_id_hex};
use crate::reader::EsReader;
use crate::templates::templates;

/// Sends of one item (the first included) before the batch is handed back to the engine.
pub const ITEM_ATTEMPTS: u32 = 3;

/// Service documents remembered as written, so each is sent once per day, not once per span.
const SEEN_SERVICES_MAX: usize = 100_000;

/// Index naming shared by the writer and the reader.
#[derive(Clone, Debug)]
pub struct Indices {
    /// "" or "<index_prefix>-".
    pub prefix: String,
    pub use_aliases: bool,
}

impl Indices {
    pub fn new(config: &Config) -> Self {
        let p = config.prefix().trim_end_matches('-');
        Self { prefix: if p.is_empty() { String::new() } else { format!("{p}-") }, use_aliases: config.use_aliases }
    }

    /// The index a document of `kind` ("span" | "service") starting at `micros` is written to.
    pub fn write(&self, kind: &str, micros: i64) -> String {
        if self.use_aliases {
            format!("{}jaeger-{kind}-write", self.prefix)
        } else {
            format!("{}jaeger-{kind}-{}", self.prefix, day_of_micros(micros))
        }
    }
}

pub(crate) struct Item {
    action: String,
    source: String,
    /// For service documents: the key remembered once written.
    service_key: Option<String>,
}

impl Item {
    pub fn len(&self) -> usize {
        self.action.len() + self.source.len() + 2
    }
}

pub(crate) struct Shared {
    pub client: EsClient,
    pub config: Config,
    pub indices: Indices,
    major: AtomicU8,
    templates_done: AtomicBool,
    seen_services: Mutex<HashSet<String>>,
    dropped: AtomicU64,
    coalescer: crate::coalesce::Shared,
    /// `tracegate_exporter_elasticsearch_dropped_documents` when created by the factory.
    dropped_metric: Option<prometheus::IntCounter>,
}

/// The `elasticsearch` exporter; the `TraceStore` it offers (see [`Exporter::offers`]) reads
/// with its [`EsReader`].
#[derive(Clone)]
pub struct ElasticsearchExporter {
    shared: Arc<Shared>,
}

fn classify(e: ClientError) -> ConsumeError {
    match e {
        ClientError::Status { status: 429, reason, retry_after } => ConsumeError::Throttled { retry_after, message: format!("Elasticsearch throttled the bulk request: {reason}") },
        ClientError::Status { status, reason, .. } if status >= 500 => ConsumeError::Retryable(format!("Elasticsearch answered {status}: {reason}")),
        ClientError::Status { status, reason, .. } => ConsumeError::Permanent(format!("Elasticsearch refused the bulk request ({status}): {reason}")),
        other => ConsumeError::Retryable(other.to_string()),
    }
}

impl ElasticsearchExporter {
    pub fn new(config: Config) -> Result<Self, ComponentError> {
        Self::with_metric(config, None)
    }

    /// As [`new`](Self::new), counting permanently refused documents in `dropped_metric` too.
    pub fn with_metric(config: Config, dropped_metric: Option<prometheus::IntCounter>) -> Result<Self, ComponentError> {
        let client = EsClient::new(&config).map_err(ComponentError::Config)?;
        let major = match config.version {
            EsVersion::Auto => 0,
            EsVersion::V7 => 7,
            EsVersion::V8 => 8,
        };
        let shared = Shared {
            client,
            indices: Indices::new(&config),
            config,
            major: AtomicU8::new(major),
            templates_done: AtomicBool::new(false),
            seen_services: Mutex::default(),
            dropped: AtomicU64::new(0),
            coalescer: Default::default(),
            dropped_metric,
        };
        Ok(Self { shared: Arc::new(shared) })
    }

    pub fn reader(&self) -> EsReader {
        EsReader::new(self.shared.clone())
    }

    /// Documents refused for good (mapping errors and other 4xx item failures) so far.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// The cluster's major version: configured, or read from `GET /` once.
    async fn major(&self) -> Result<u8, ClientError> {
        let known = self.shared.major.load(Ordering::Relaxed);
        if known != 0 {
            return Ok(known);
        }
        let info = self.shared.client.request(Method::GET, "/", None).await?;
        let number = info.pointer("/version/number").and_then(Value::as_str).unwrap_or("");
        let major = number.split('.').next().and_then(|m| m.parse::<u8>().ok()).ok_or_else(|| ClientError::Decode(format!("GET / reported version {number:?}")))?;
        // OpenSearch (1.x, 2.x, 3.x) answers the Elasticsearch 7 API, which is what Jaeger's
        // `opensearch` storage speaks to it.
        let opensearch = info.pointer("/version/distribution").and_then(Value::as_str) == Some("opensearch");
        let major = if opensearch { 7 } else { major };
        self.shared.major.store(major, Ordering::Relaxed);
        Ok(major)
    }

    /// Installs the span and service templates once (before the first document is written,
    /// so new daily indices get Jaeger's mappings rather than dynamic ones).
    async fn ensure_templates(&self) -> Result<(), ClientError> {
        if !self.shared.config.create_index_templates || self.shared.templates_done.load(Ordering::Acquire) {
            return Ok(());
        }
        let major = self.major().await?;
        let c = &self.shared.config;
        for (path, body) in templates(major, &self.shared.indices.prefix, c.template_shards(), c.template_replicas(), c.use_aliases) {
            self.shared.client.json(Method::PUT, &path, &body).await?;
        }
        self.shared.templates_done.store(true, Ordering::Release);
        tracing::info!(version = major, "installed Jaeger's index templates");
        Ok(())
    }

    fn items(&self, traces: &Traces) -> Vec<Item> {
        let fields = &self.shared.config.tags_as_fields;
        let mut items = Vec::new();
        let mut services = HashSet::new();
        let seen = self.shared.seen_services.lock().unwrap_or_else(|p| p.into_inner());
        for batch in otlp_to_jaeger(traces.resource_spans()) {
            let process = batch.process.unwrap_or_default();
            for span in &batch.spans {
                let doc = span_doc(span, &process, fields);
                let start = doc["startTime"].as_i64().unwrap_or(0);
                let source = doc.to_string();
                let hash = fnv64a(&[&source]);
                let id = format!("{}-{}-{hash:x}", trace_id_hex(&span.trace_id), span_id_hex(&span.span_id));
                let index = self.shared.indices.write("span", start);
                items.push(Item { action: json!({"index": {"_index": index, "_id": id}}).to_string(), source, service_key: None });

                let kind = span.tags.iter().find(|t| t.key == "span.kind").map(|t| t.v_str.as_str()).unwrap_or("");
                let parts: Vec<&str> = if kind.is_empty() { vec![&process.service_name, &span.operation_name] } else { vec![&process.service_name, &span.operation_name, kind] };
                let service_id = format!("{:x}", fnv64a(&parts));
                let index = self.shared.indices.write("service", start);
                let key = format!("{index}/{service_id}");
                if seen.contains(&key) || !services.insert(key.clone()) {
                    continue;
                }
                let mut doc = json!({"serviceName": process.service_name, "operationName": span.operation_name});
                if !kind.is_empty() {
                    doc["spanKind"] = json!(kind);
                }
                items.push(Item { action: json!({"index": {"_index": index, "_id": service_id}}).to_string(), source: doc.to_string(), service_key: Some(key) });
            }
        }
        items
    }

    /// Sends `items`, re-sending only the items rejected as retryable, up to [`ITEM_ATTEMPTS`].
    async fn deliver(&self, mut pending: Vec<Item>) -> Result<(), ConsumeError> {
        let mut attempt = 0;
        while !pending.is_empty() {
            attempt += 1;
            let (retry, all_throttled, permanent, reason) = self.send(pending).await?;
            if permanent > 0 {
                self.shared.dropped.fetch_add(permanent, Ordering::Relaxed);
                if let Some(m) = &self.shared.dropped_metric {
                    m.inc_by(permanent);
                }
                tracing::warn!(dropped = permanent, first_reason = reason.as_deref().unwrap_or(""), "Elasticsearch refused documents for good");
            }
            if retry.is_empty() {
                break;
            }
            if attempt >= ITEM_ATTEMPTS {
                let message = format!("{} documents still rejected after {attempt} attempts", retry.len());
                return Err(if all_throttled { ConsumeError::Throttled { retry_after: None, message } } else { ConsumeError::Retryable(message) });
            }
            tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
            pending = retry;
        }
        Ok(())
    }

    fn remember(&self, key: String) {
        let mut seen = self.shared.seen_services.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= SEEN_SERVICES_MAX {
            seen.clear();
        }
        seen.insert(key);
    }

    /// Sends `items` in bounded `_bulk` requests; returns the items to retry and the
    /// permanent failures (count, first reason).
    async fn send(&self, items: Vec<Item>) -> Result<(Vec<Item>, bool, u64, Option<String>), ConsumeError> {
        let bulk = &self.shared.config.bulk;
        let (mut retry, mut all_throttled, mut permanent, mut first_reason) = (Vec::new(), true, 0u64, None);
        let mut rest = items.into_iter().peekable();
        while rest.peek().is_some() {
            let mut chunk = Vec::new();
            let mut body = Vec::new();
            while let Some(item) = rest.peek() {
                let size = item.len();
                if !chunk.is_empty() && (chunk.len() >= bulk.max_actions || body.len() + size > bulk.max_bytes) {
                    break;
                }
                let Some(item) = rest.next() else { break };
                body.extend_from_slice(item.action.as_bytes());
                body.push(b'\n');
                body.extend_from_slice(item.source.as_bytes());
                body.push(b'\n');
                chunk.push(item);
            }
            let answer = self.shared.client.ndjson("/_bulk", body).await.map_err(classify)?;
            let results = answer.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
            if results.len() != chunk.len() {
                return Err(ConsumeError::Retryable(format!("bulk answer has {} items for {} sent", results.len(), chunk.len())));
            }
            for (item, result) in chunk.into_iter().zip(results) {
                let r = result.as_object().and_then(|o| o.values().next()).cloned().unwrap_or_default();
                let status = r.get("status").and_then(Value::as_u64).unwrap_or(0);
                if (200..300).contains(&status) {
                    if let Some(key) = item.service_key {
                        self.remember(key);
                    }
                } else if status == 429 || status >= 500 {
                    all_throttled &= status == 429;
                    retry.push(item);
                } else {
                    permanent += 1;
                    if first_reason.is_none() {
                        let e = r.get("error").cloned().unwrap_or_default();
                        let kind = e.get("type").and_then(Value::as_str).unwrap_or("error");
                        first_reason = Some(format!("{status} {kind}: {}", e.get("reason").and_then(Value::as_str).unwrap_or("")));
                    }
                }
            }
        }
        Ok((retry, all_throttled, permanent, first_reason))
    }
}

#[async_trait]
impl Lifecycle for ElasticsearchExporter {
    async fn start(&self, host: Arc<dyn Host>) -> Result<(), ComponentError> {
        let auth = self.shared.config.auth.extension();
        if let Some(auth) = tracegate_core::auth::client_authenticator(&*host, auth.as_ref())? {
            self.shared.client.set_authenticator(auth);
        }
        // A cluster that is down at start must not stop the gateway: templates are installed
        // before the first write instead, and exports wait (retryable) until then.
        if let Err(e) = self.ensure_templates().await {
            tracing::warn!(error = %e, "cannot install index templates yet; will retry before the first write");
        }
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ComponentError> {
        Ok(())
    }
}

#[async_trait]
impl Exporter for ElasticsearchExporter {
    async fn export(&self, traces: Traces) -> Result<(), ConsumeError> {
        self.ensure_templates().await.map_err(classify)?;
        let items = self.items(&traces);
        if items.is_empty() {
            return Ok(());
        }
        let bulk = &self.shared.config.bulk;
        if bulk.flush_interval.is_zero() {
            return self.deliver(items).await;
        }
        let (lead, outcome) = self.shared.coalescer.join(items, bulk.max_actions, bulk.max_bytes);
        if lead {
            let this = self.clone();
            let interval = bulk.flush_interval.get();
            tokio::spawn(async move {
                let (items, waiters) = this.shared.coalescer.take_after(interval).await;
                let result = this.deliver(items).await;
                crate::coalesce::answer(waiters, result);
            });
        }
        outcome.await.unwrap_or_else(|_| Err(ConsumeError::Retryable("the bulk flush task ended without an answer".into())))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    /// The store, for `jaeger_query` and `jaeger_storage_exporter`.
    fn offers(self: Arc<Self>) -> tracegate_core::capability::Offers {
        let reader = Arc::new(self.reader());
        tracegate_core::capability::Offers::new()
            .with::<dyn tracegate_core::storage::TraceStore>(Arc::new(tracegate_core::storage::ExporterStore::new(self, reader)))
    }
}
