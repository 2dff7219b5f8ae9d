//! The read side of a trace store, shared by every storage exporter (sled, Elasticsearch) and
//! read by the `jaeger_query` extension.
//!
//! Split as in Jaeger v2: a storage backend is an exporter (the write side, behind the
//! engine's queue like any exporter) that also hands out a [`TraceReader`]. The query
//! extension names the exporter in its config and asks it for the reader through the `Host`,
//! so one process opens a database once and the engine knows nothing about storage.
//!
//! Traces come back as OTLP; the query API translates to Jaeger's model at its edge.
//! Semantics follow Jaeger v2's storage (its memory store and storage integration tests),
//! checked for every backend by `tracegate-storage-conformance`:
//!
//! - A trace matches a query when a single span meets every condition (service, operation,
//!   every tag, start bounds, duration bounds).
//! - A tag condition matches an attribute of that span, of its resource (process), of its
//!   instrumentation scope, of one of its events (logs) or of one of its links; the scope's
//!   name and version match as the tags `otel.scope.name` / `otel.scope.version` (the names
//!   Jaeger's model gives them when translating OTLP; `scope.name` / `scope.version`, as Jaeger
//!   v2's memory store spells them, are the same conditions).
//! - Typed values compare as Jaeger compares them: the query's text against the value's text,
//!   so `"123"` finds the integer 123, `"true"` the boolean true and `"1.5"` the double 1.5.
//! - An empty service means any service (Jaeger 2.x): a search by operation, tag or duration
//!   alone looks at every service. Jaeger v1's `/api/traces` still requires one; that rule
//!   lives in the API, not here.
//! - Results are the newest traces first (by their newest matching span), at most `limit`.
//! - No span is dropped: spans of one trace that share a span id but differ in any way are all
//!   kept and returned (Jaeger's `GetTraceWithDuplicateSpans`); only a byte-identical copy of a
//!   span already stored (a retried batch) is stored once.
//!
//! What a reader can expect of its caller (the `jaeger_query` extension bounds its answers;
//! see its `bounds` module): `limit` is at most the extension's `max_limit` (1500 by default),
//! since a reader returns whole traces and the caller holds all of them while it writes its
//! answer; at most `max_concurrent_queries` calls of the expensive methods (`get_trace`,
//! `find_traces`, `find_trace_ids`, `dependencies`) are in flight per extension, counting
//! calls whose caller has given up (the live tail's once-a-second polls, at most 64, aside);
//! and a caller past its `query_timeout` drops the call's future. Work a store runs on a
//! blocking thread then goes on to its end with its result dropped, so a store should bound a
//! single call's work itself where it can (stop a walk once `limit` traces are certain, as
//! sled does).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::component::{ConsumeError, ExportReport, Exporter};
use crate::data::Traces;

/// A 128-bit trace id as OTLP carries it.
pub type TraceId = [u8; 16];

/// A search, as Jaeger's `FindTraces` takes it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TraceQuery {
    /// The service of the matching span; empty means any service.
    pub service: String,
    pub operation: Option<String>,
    /// Every pair must match one span (with the other conditions).
    pub tags: BTreeMap<String, String>,
    /// Bounds on the matching span's start time.
    pub start_min: Option<SystemTime>,
    pub start_max: Option<SystemTime>,
    pub duration_min: Option<Duration>,
    pub duration_max: Option<Duration>,
    /// Most traces to return; 0 means the backend's default (Jaeger's is 100 at the API).
    pub limit: usize,
}

/// An operation of a service, with the span kind it was seen with
/// (`server`, `client`, `producer`, `consumer`, `internal`, or empty when unspecified).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Operation {
    pub name: String,
    pub span_kind: String,
}

/// Calls from one service to another, as Jaeger's dependencies API reports them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DependencyLink {
    pub parent: String,
    pub child: String,
    pub call_count: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The query cannot be answered as asked (the API answers 400).
    #[error("{0}")]
    BadQuery(String),
    /// The store failed (the API answers 500).
    #[error("storage error: {0}")]
    Backend(String),
}

#[async_trait]
pub trait TraceReader: Send + Sync {
    /// Every span of a trace, or `None` if no span of it is stored.
    async fn get_trace(&self, id: TraceId) -> Result<Option<Traces>, StorageError>;

    /// Service names, sorted.
    async fn services(&self) -> Result<Vec<String>, StorageError>;

    /// Operations of a service, optionally only those seen with `span_kind`; sorted.
    async fn operations(
        &self,
        service: &str,
        span_kind: Option<&str>,
    ) -> Result<Vec<Operation>, StorageError>;

    /// Ids of matching traces, newest first. An empty `query.service` matches every service;
    /// a backend that cannot search without one (its indexes are keyed by service) answers
    /// [`StorageError::BadQuery`] saying so, and its conformance test declares that.
    async fn find_trace_ids(&self, query: &TraceQuery) -> Result<Vec<TraceId>, StorageError>;

    /// Matching traces, newest first.
    async fn find_traces(&self, query: &TraceQuery) -> Result<Vec<Traces>, StorageError> {
        let mut out = Vec::new();
        for id in self.find_trace_ids(query).await? {
            if let Some(t) = self.get_trace(id).await? {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// Parent service -> child service call counts for spans that started in
    /// `[end - lookback, end]`.
    async fn dependencies(
        &self,
        end: SystemTime,
        lookback: Duration,
    ) -> Result<Vec<DependencyLink>, StorageError>;

    /// The store's RED metrics (Jaeger's Monitor tab), or `None` when it keeps none: the
    /// query API then answers as Jaeger does without a metrics store (501).
    fn metrics(&self) -> Option<std::sync::Arc<dyn crate::red::MetricsReader>> {
        None
    }

    /// The reader of `tenant`'s traces only (see [`crate::tenancy`]), for a query service with
    /// tenancy on; opening it may touch the disk. A store that does not keep tenants apart
    /// answers [`StorageError::BadQuery`] saying so, and the query service refuses to start.
    fn tenant(&self, tenant: &str) -> Result<std::sync::Arc<dyn TraceReader>, StorageError> {
        Err(StorageError::BadQuery(format!(
            "this store does not keep tenants apart, so it cannot serve tenant \"{tenant}\"; use the sled or memory store"
        )))
    }
}

/// A trace store's two halves, the capability (see [`crate::capability`]) a storage exporter
/// (`sled`, `memory`, `elasticsearch`) or a backend of the `jaeger_storage` extension offers.
/// `jaeger_query` reads it, `jaeger_storage_exporter` writes to it, both by name:
///
/// ```ignore
/// let store = host.capability::<dyn TraceStore>("some_store")?;
/// ```
///
/// Both halves work from the store's creation (a store opens its database when it is
/// created), so a user may ask for them before the provider has started; the provider's
/// start only starts its background work (sealing blocks, retention).
pub trait TraceStore: Send + Sync {
    /// Where spans are written.
    fn writer(&self) -> Arc<dyn TraceWriter>;
    /// Where they are read back.
    fn reader(&self) -> Arc<dyn TraceReader>;
}

impl crate::capability::Capability for dyn TraceStore {
    const WHAT: &'static str = "a trace store";
}

/// The write half of a [`TraceStore`].
///
/// Not a [`crate::Consumer`]: a store says which spans it dropped on purpose (past its
/// retention, ...) and whether its success is durable, which the engine's queue in front of
/// the exporter writing to it needs to count and to answer senders (see
/// [`Exporter::export_reporting`] and [`Exporter::durable_on_success`]).
#[async_trait]
pub trait TraceWriter: Send + Sync {
    /// Stores a batch; the report names what was dropped on purpose rather than stored.
    async fn write(&self, traces: Traces) -> Result<ExportReport, ConsumeError>;

    /// True when a successful `write` survives a crash of this process.
    fn durable_on_success(&self) -> bool {
        false
    }
}

/// A storage exporter as a [`TraceStore`]: its `export_reporting` is the writer. What the
/// `sled`, `memory` and `elasticsearch` exporters offer, whether they run as pipeline
/// exporters (the shorthand) or as backends of the `jaeger_storage` extension.
pub struct ExporterStore {
    writer: Arc<dyn TraceWriter>,
    reader: Arc<dyn TraceReader>,
}

impl ExporterStore {
    pub fn new(exporter: Arc<dyn Exporter>, reader: Arc<dyn TraceReader>) -> Self {
        Self { writer: Arc::new(ExporterWriter(exporter)), reader }
    }
}

impl TraceStore for ExporterStore {
    fn writer(&self) -> Arc<dyn TraceWriter> {
        self.writer.clone()
    }

    fn reader(&self) -> Arc<dyn TraceReader> {
        self.reader.clone()
    }
}

struct ExporterWriter(Arc<dyn Exporter>);

#[async_trait]
impl TraceWriter for ExporterWriter {
    async fn write(&self, traces: Traces) -> Result<ExportReport, ConsumeError> {
        self.0.export_reporting(traces).await
    }

    fn durable_on_success(&self) -> bool {
        self.0.durable_on_success()
    }
}
