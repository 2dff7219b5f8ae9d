//! The read side of a trace store, shared by every storage exporter (sled, Elasticsearch) and
//! read by the `jaeger_query` extension.
//!
//! Split as in Jaeger v2: a storage backend is an exporter (the write side, behind the
//! engine's queue like any exporter) that also hands out a [`TraceReader`]. The query
//! extension names the exporter in its config and asks it for the reader through the `Host`,
//! so one process opens a database once and the engine knows nothing about storage.
//!
//! Traces come back as OTLP; the query API translates to Jaeger's model at its edge.
//! Semantics follow Jaeger's storage integration tests: a trace matches a query when a single
//! span meets every condition; tag conditions match span attributes, resource (process)
//! attributes and event (log) attributes; duration bounds apply to that span; results are the
//! newest traces first, at most `limit` of them.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::data::Traces;

/// A 128-bit trace id as OTLP carries it.
pub type TraceId = [u8; 16];

/// A search, as Jaeger's `FindTraces` takes it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TraceQuery {
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

    /// Ids of matching traces, newest first.
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
}
