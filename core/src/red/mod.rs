//! RED metrics (rate, errors, duration) computed from tracegate's own spans as a store writes
//! them: what Jaeger's Monitor tab (service performance monitoring) shows, without running the
//! spanmetrics connector and Prometheus beside the store.
//!
//! Why here, in core: every store that can keep the metrics (sled, memory) feeds the same
//! [`Recorder`] from what it already reads of a span (no decode), keeps the per-minute
//! aggregates its own way with the spans' retention, and hands them back as [`Row`]s; the
//! series Jaeger's API answers are computed once, in [`query`], for every store; and the
//! Prometheus exposure with the spanmetrics connector's names ([`prometheus`]) reads the same
//! recorder. The query extension reaches a store's metrics through
//! [`TraceReader::metrics`](crate::storage::TraceReader::metrics); a store without them
//! (Elasticsearch) answers `None`, and the API answers as Jaeger does with no metrics store.

pub mod aggregate;
pub mod codec;
pub mod histogram;
pub mod prometheus;
pub mod query;

use async_trait::async_trait;

pub use aggregate::{Agg, Recorder, Row, SpanSample, DEFAULT_CARDINALITY_LIMIT, OVERFLOW};
pub use query::{evaluate, Family, Measure, MetricsQuery, QueryError, RowRequest, Series, ROLLUP_MINUTES};

use crate::storage::StorageError;

/// A store's RED metrics, per minute.
#[async_trait]
pub trait MetricsReader: Send + Sync {
    /// Every row of the request's services (all services when empty) whose minute (since the
    /// Unix epoch) is in `[from_minute, to_minute]`, including minutes not yet written to disk:
    /// one row per roll-up block where the store keeps them and the request asks for blocks,
    /// else per minute ([`evaluate`] files minute rows under their block).
    async fn rows(&self, request: &RowRequest) -> Result<Vec<Row>, StorageError>;

    /// The finest step the store answers at, in milliseconds (Jaeger's `minstep`).
    fn min_step_ms(&self) -> i64 {
        60_000
    }
}
