//! RED metrics of the memory store (Jaeger's Monitor tab), so a test or a demo without a disk
//! shows the same Monitor page as the sled store. Spans are counted as they are written into
//! a [`Recorder`] (core's aggregation), and minutes older than [`KEEP_SECS`] are forgotten:
//! the store keeps its spans in memory under `max_traces`, so its metrics are bounded too, by
//! the recorder's cardinality limit times the minutes kept.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use tracegate_core::red::{MetricsReader, Recorder, Row, RowRequest, SpanSample};
use tracegate_core::storage::StorageError;

/// How long the memory store keeps its minutes (a day's Monitor view needs 24 h; a memory store
/// is for tests and demos, so three hours bound its memory).
pub const KEEP_SECS: u64 = 3 * 3600;

/// Distinct (service, operation, kind) keys before spans go to the overflow key.
pub const CARDINALITY_LIMIT: usize = 1000;

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Counts a batch's spans and forgets minutes past [`KEEP_SECS`].
pub fn record(recorder: &Recorder, batch: &[ResourceSpans]) {
    for rs in batch {
        let service = crate::store::service_name(rs.resource.as_ref().map_or(&[][..], |r| &r.attributes));
        let samples = rs.scope_spans.iter().flat_map(|ss| &ss.spans).map(|span| SpanSample {
            service: &service,
            operation: &span.name,
            kind: span.kind,
            status_code: span.status.as_ref().map_or(0, |s| s.code),
            start_unix_nano: span.start_time_unix_nano,
            end_unix_nano: span.end_time_unix_nano,
        });
        recorder.record(samples);
    }
    drop(recorder.take_due(now_secs().saturating_sub(KEEP_SECS), false));
}

/// The memory store's metrics for the query API: every minute is still "pending".
pub struct MemoryMetrics {
    pub recorder: Arc<Recorder>,
}

#[async_trait]
impl MetricsReader for MemoryMetrics {
    async fn rows(&self, request: &RowRequest) -> Result<Vec<Row>, StorageError> {
        Ok(self.recorder.pending_rows(request))
    }
}
