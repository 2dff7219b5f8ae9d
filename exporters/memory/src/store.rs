//! The store: traces by id in a map, a FIFO of ids for eviction, and the service and
//! operation names kept aside so the UI's drop-downs do not scan every span.
//!
//! A batch is split by trace as it is written: each trace keeps its spans as OTLP
//! `ResourceSpans` chunks (resource and scope kept), so `get_trace` is a clone of that list.
//! Searches scan every trace, which is fine for a bounded in-memory store; an empty service in
//! a query means any service (Jaeger 2.x).
//!
//! Writing the same span twice stores it once, so a retried batch does not duplicate spans,
//! but only an exact copy counts as the same span: a span is known by its id, its start time
//! and a 64-bit hash of its encoding together with its resource and scope. Jaeger's Badger
//! keyed spans by (trace, start, span id) and so lost spans of clients that repeat span ids
//! with the same start; Jaeger's `GetTraceWithDuplicateSpans` expects them all back.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use tracegate_core::storage::{DependencyLink, Operation, StorageError, TraceId, TraceQuery, TraceReader};
use tracegate_core::{ConsumeError, Exporter, Lifecycle, Traces};

use crate::matching::{kind_name, span_matches, Origin};

/// Traces a search returns when the query sets no limit (Jaeger's API default).
const DEFAULT_LIMIT: usize = 100;

/// Jaeger's service name for a resource without attributes (see the Jaeger translator).
const NO_SERVICE_NAME: &str = "OTLPResourceNoServiceName";

/// What makes a stored span the same span: (span id, start, hash of its content).
type SpanIdentity = ([u8; 8], u64, u64);

#[derive(Default)]
struct StoredTrace {
    chunks: Vec<ResourceSpans>,
    seen: HashSet<SpanIdentity>,
}

#[derive(Default)]
struct Inner {
    traces: HashMap<TraceId, StoredTrace>,
    /// Ids in the order they were first stored; the front is evicted first.
    order: VecDeque<TraceId>,
    operations: BTreeMap<String, BTreeSet<Operation>>,
}

/// An in-memory trace store: the `memory` exporter and its own [`TraceReader`].
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<RwLock<Inner>>,
    max_traces: usize,
    /// RED metrics of the spans written ([`crate::red_metrics`]).
    red: Arc<tracegate_core::red::Recorder>,
    /// One store per tenant (batches that carry one; `tracegate_core::tenancy`), as Jaeger's
    /// memory store keeps them: created on first use, at most [`MAX_TENANTS`].
    tenants: Arc<Mutex<HashMap<Arc<str>, MemoryStore>>>,
}

/// Most tenant stores one exporter keeps (the receivers admit only listed tenants).
pub const MAX_TENANTS: usize = 256;

/// The service a resource reports, as Jaeger's translator names it.
pub fn service_name(resource: &[KeyValue]) -> String {
    if resource.is_empty() {
        return NO_SERVICE_NAME.to_string();
    }
    resource
        .iter()
        .find(|a| a.key == "service.name")
        .and_then(|a| a.value.as_ref().and_then(|v| v.value.as_ref()))
        .map(|v| match v {
            Value::StringValue(s) => s.clone(),
            _ => String::new(),
        })
        .unwrap_or_default()
}

fn resource_attrs(rs: &ResourceSpans) -> &[KeyValue] {
    rs.resource.as_ref().map_or(&[][..], |r| &r.attributes[..])
}

fn trace_id(bytes: &[u8]) -> Option<TraceId> {
    bytes.try_into().ok()
}

/// The hasher after a group's resource and scope: each span's identity hash continues from it,
/// so the same span under another resource or scope is another span.
fn origin_hasher(rs: &ResourceSpans, ss: &ScopeSpans) -> DefaultHasher {
    let mut h = DefaultHasher::new();
    rs.resource.as_ref().map(Message::encode_to_vec).hash(&mut h);
    rs.schema_url.hash(&mut h);
    ss.scope.as_ref().map(Message::encode_to_vec).hash(&mut h);
    ss.schema_url.hash(&mut h);
    h
}

fn identity(origin: &DefaultHasher, span: &Span) -> SpanIdentity {
    let mut h = origin.clone();
    span.encode_to_vec().hash(&mut h);
    let span_id: [u8; 8] = span.span_id.as_slice().try_into().unwrap_or_default();
    (span_id, span.start_time_unix_nano, h.finish())
}

impl MemoryStore {
    pub fn new(max_traces: usize) -> Self {
        let red = Arc::new(tracegate_core::red::Recorder::new(crate::red_metrics::CARDINALITY_LIMIT));
        Self { inner: Arc::default(), max_traces: max_traces.max(1), red, tenants: Arc::default() }
    }

    /// `tenant`'s store, created now if this is its first use.
    pub fn tenant_store(&self, tenant: &str) -> Result<MemoryStore, StorageError> {
        let mut tenants = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(store) = tenants.get(tenant) {
            return Ok(store.clone());
        }
        if !tracegate_core::tenancy::is_valid_tenant_name(tenant) || tenants.len() >= MAX_TENANTS {
            return Err(StorageError::BadQuery(format!(
                "tenant \"{tenant}\" cannot have a store here (a valid name, at most {MAX_TENANTS} tenants)"
            )));
        }
        let store = MemoryStore::new(self.max_traces);
        tenants.insert(Arc::from(tenant), store.clone());
        Ok(store)
    }

    // A panic while holding the lock cannot leave the maps half-updated in a way that
    // matters to readers, so a poisoned lock is used as is.
    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores a batch (synchronously; `export` is this).
    pub fn write_traces(&self, traces: &Traces) {
        if let Some(tenant) = traces.tenant() {
            match self.tenant_store(tenant) {
                Ok(store) => store.write_traces(&traces.clone().with_tenant(None)),
                Err(e) => tracing::warn!(tenant = %tenant, "spans of a tenant dropped: {e}"),
            }
            return;
        }
        crate::red_metrics::record(&self.red, traces.resource_spans());
        let mut inner = self.write();
        for rs in traces.resource_spans() {
            let service = service_name(resource_attrs(rs));
            for ss in &rs.scope_spans {
                // Group this scope's spans by trace so each trace gets one chunk.
                let mut by_trace: BTreeMap<TraceId, Vec<_>> = BTreeMap::new();
                for span in &ss.spans {
                    // A span without a valid trace id cannot be found again; skip it.
                    let Some(id) = trace_id(&span.trace_id) else { continue };
                    by_trace.entry(id).or_default().push(span);
                }
                for (id, spans) in by_trace {
                    self.add_chunk(&mut inner, id, rs, ss, spans, &service);
                }
            }
        }
    }

    fn add_chunk(
        &self,
        inner: &mut Inner,
        id: TraceId,
        rs: &ResourceSpans,
        ss: &ScopeSpans,
        spans: Vec<&Span>,
        service: &str,
    ) {
        if !inner.traces.contains_key(&id) {
            while inner.order.len() >= self.max_traces {
                if let Some(old) = inner.order.pop_front() {
                    inner.traces.remove(&old);
                }
            }
            inner.order.push_back(id);
        }
        let stored = inner.traces.entry(id).or_default();
        let origin = origin_hasher(rs, ss);
        let mut kept = Vec::with_capacity(spans.len());
        for span in spans {
            if stored.seen.insert(identity(&origin, span)) {
                kept.push(span.clone());
            }
        }
        if kept.is_empty() {
            return;
        }
        let ops: Vec<Operation> =
            kept.iter().map(|s| Operation { name: s.name.clone(), span_kind: kind_name(s.kind).to_string() }).collect();
        stored.chunks.push(ResourceSpans {
            resource: rs.resource.clone(),
            scope_spans: vec![ScopeSpans { scope: ss.scope.clone(), spans: kept, schema_url: ss.schema_url.clone() }],
            schema_url: rs.schema_url.clone(),
        });
        inner.operations.entry(service.to_string()).or_default().extend(ops);
    }

    /// Number of traces held (for tests and metrics).
    pub fn trace_count(&self) -> usize {
        self.read().traces.len()
    }
}

impl Lifecycle for MemoryStore {}

#[async_trait]
impl Exporter for MemoryStore {
    async fn export(&self, traces: Traces) -> Result<(), ConsumeError> {
        if let Some(tenant) = traces.tenant() {
            let store = self.tenant_store(tenant).map_err(|e| ConsumeError::permanent(e.to_string()))?;
            store.write_traces(&traces.with_tenant(None));
            return Ok(());
        }
        self.write_traces(&traces);
        Ok(())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    /// The store, for `jaeger_query` and `jaeger_storage_exporter`.
    fn offers(self: Arc<Self>) -> tracegate_core::capability::Offers {
        let reader = Arc::new(MemoryStore::clone(&self));
        tracegate_core::capability::Offers::new()
            .with::<dyn tracegate_core::storage::TraceStore>(Arc::new(tracegate_core::storage::ExporterStore::new(self, reader)))
    }
}

fn nanos_to_time(nanos: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(nanos)
}

#[async_trait]
impl TraceReader for MemoryStore {
    async fn get_trace(&self, id: TraceId) -> Result<Option<Traces>, StorageError> {
        Ok(self.read().traces.get(&id).map(|t| Traces::new(t.chunks.clone())))
    }

    fn tenant(&self, tenant: &str) -> Result<Arc<dyn TraceReader>, StorageError> {
        Ok(Arc::new(self.tenant_store(tenant)?))
    }

    async fn services(&self) -> Result<Vec<String>, StorageError> {
        Ok(self.read().operations.keys().filter(|s| !s.is_empty()).cloned().collect())
    }

    async fn operations(&self, service: &str, span_kind: Option<&str>) -> Result<Vec<Operation>, StorageError> {
        let inner = self.read();
        let Some(ops) = inner.operations.get(service) else { return Ok(Vec::new()) };
        Ok(ops.iter().filter(|o| span_kind.is_none_or(|k| o.span_kind == k)).cloned().collect())
    }

    async fn find_trace_ids(&self, query: &TraceQuery) -> Result<Vec<TraceId>, StorageError> {
        let inner = self.read();
        // (newest matching span start, insertion position, id): sorts newest first, and the
        // later-stored trace first on ties.
        let mut found: Vec<(u64, usize, TraceId)> = Vec::new();
        for (pos, id) in inner.order.iter().enumerate() {
            let Some(trace) = inner.traces.get(id) else { continue };
            let newest = trace
                .chunks
                .iter()
                .filter(|rs| query.service.is_empty() || service_name(resource_attrs(rs)) == query.service)
                .flat_map(|rs| {
                    rs.scope_spans.iter().flat_map(move |ss| {
                        let origin = Origin { resource: rs.resource.as_ref(), scope: ss.scope.as_ref() };
                        // Stored spans are structs, whose reads never fail.
                        ss.spans.iter().filter(move |s| span_matches(query, s, &origin).unwrap_or(false))
                    })
                })
                .map(|s| s.start_time_unix_nano)
                .max();
            if let Some(start) = newest {
                found.push((start, pos, *id));
            }
        }
        found.sort_unstable_by(|a, b| b.cmp(a));
        let limit = if query.limit == 0 { DEFAULT_LIMIT } else { query.limit };
        Ok(found.into_iter().take(limit).map(|(_, _, id)| id).collect())
    }

    fn metrics(&self) -> Option<Arc<dyn tracegate_core::red::MetricsReader>> {
        Some(Arc::new(crate::red_metrics::MemoryMetrics { recorder: self.red.clone() }))
    }

    async fn dependencies(&self, end: SystemTime, lookback: Duration) -> Result<Vec<DependencyLink>, StorageError> {
        let start = end.checked_sub(lookback).unwrap_or(UNIX_EPOCH);
        let inner = self.read();
        let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
        for trace in inner.traces.values() {
            let mut service_of: HashMap<&[u8], String> = HashMap::new();
            for rs in &trace.chunks {
                let service = service_name(resource_attrs(rs));
                for span in rs.scope_spans.iter().flat_map(|ss| ss.spans.iter()) {
                    service_of.insert(&span.span_id, service.clone());
                }
            }
            for rs in &trace.chunks {
                let child = service_name(resource_attrs(rs));
                for span in rs.scope_spans.iter().flat_map(|ss| ss.spans.iter()) {
                    let at = nanos_to_time(span.start_time_unix_nano);
                    if at < start || at > end || span.parent_span_id.is_empty() {
                        continue;
                    }
                    // As Jaeger's memory store: a call between two spans of one service is no dependency.
                    match service_of.get(span.parent_span_id.as_slice()) {
                        Some(parent) if *parent != child => {
                            *counts.entry((parent.clone(), child.clone())).or_default() += 1;
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok(counts.into_iter().map(|((parent, child), call_count)| DependencyLink { parent, child, call_count }).collect())
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::AnyValue;
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::Span;

    use super::*;

    fn span(trace: u8, id: u8, parent: u8, name: &str, start_s: u64) -> Span {
        Span {
            trace_id: vec![trace; 16],
            span_id: vec![id; 8],
            parent_span_id: if parent == 0 { Vec::new() } else { vec![parent; 8] },
            name: name.into(),
            kind: 2,
            start_time_unix_nano: start_s * 1_000_000_000,
            end_time_unix_nano: start_s * 1_000_000_000 + 1000,
            ..Default::default()
        }
    }

    fn batch(service: &str, spans: Vec<Span>) -> Traces {
        let attr = KeyValue {
            key: "service.name".into(),
            value: Some(AnyValue { value: Some(Value::StringValue(service.into())) }),
            ..Default::default()
        };
        Traces::new(vec![ResourceSpans {
            resource: Some(Resource { attributes: vec![attr], ..Default::default() }),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }])
    }

    fn query(service: &str) -> TraceQuery {
        TraceQuery { service: service.into(), ..Default::default() }
    }

    #[tokio::test]
    async fn stores_splits_by_trace_dedups_and_evicts_the_oldest() {
        let store = MemoryStore::new(2);
        let first = batch("a", vec![span(1, 1, 0, "op1", 10), span(2, 2, 0, "op2", 20)]);
        store.export(first.clone()).await.expect("export");
        store.export(first).await.expect("same batch again");
        let t1 = store.get_trace([1; 16]).await.expect("read").expect("stored");
        assert_eq!(t1.span_count(), 1, "a span written twice is stored once");
        store.export(batch("b", vec![span(3, 3, 0, "op3", 30)])).await.expect("export");
        assert_eq!(store.trace_count(), 2);
        assert!(store.get_trace([1; 16]).await.expect("read").is_none(), "oldest evicted");
        assert!(store.get_trace([2; 16]).await.expect("read").is_some());
        assert_eq!(store.services().await.expect("services"), ["a", "b"]);
        let ops = store.operations("a", Some("server")).await.expect("ops");
        assert_eq!(ops.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(), ["op1", "op2"]);
        assert!(store.operations("a", Some("client")).await.expect("ops").is_empty());
    }

    #[tokio::test]
    async fn finds_newest_first_within_the_limit_and_counts_dependencies() {
        let store = MemoryStore::new(10);
        store.export(batch("front", vec![span(1, 1, 0, "get", 100), span(2, 2, 0, "get", 300)])).await.expect("export");
        store.export(batch("back", vec![span(1, 3, 1, "db", 101), span(3, 4, 0, "get", 200)])).await.expect("export");
        let ids = store.find_trace_ids(&query("front")).await.expect("find");
        assert_eq!(ids, [[2; 16], [1; 16]]);
        let ids = store.find_trace_ids(&TraceQuery { limit: 1, ..query("front") }).await.expect("find");
        assert_eq!(ids, [[2; 16]]);
        let traces = store.find_traces(&TraceQuery { operation: Some("db".into()), ..query("back") }).await.expect("find");
        assert_eq!(traces.len(), 1);
        assert_eq!(traces[0].span_count(), 2, "the whole trace comes back");
        let any = store.find_trace_ids(&TraceQuery { operation: Some("get".into()), ..query("") }).await.expect("find");
        assert_eq!(any, [[2; 16], [3; 16], [1; 16]], "an empty service is any service");

        let end = UNIX_EPOCH + Duration::from_secs(1000);
        let deps = store.dependencies(end, Duration::from_secs(1000)).await.expect("deps");
        assert_eq!(deps, [DependencyLink { parent: "front".into(), child: "back".into(), call_count: 1 }]);
        assert!(store.dependencies(end, Duration::from_secs(800)).await.expect("deps").is_empty());
    }
}
