//! The exporter: writes each batch on a blocking thread, waits for it to be durable (unless
//! `sync_on_write: false`; concurrent exports share one sync, see [`crate::commit`]), and runs
//! the retention sweep in the background.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tracegate_core::storage::TraceReader;
use tracegate_core::{ComponentError, ConsumeError, ExportReport, Exporter, Host, Lifecycle, Traces};

use crate::commit::GroupCommit;
use crate::config::Config;
use crate::db::{Shared, StoreError};
use crate::read::SledReader;
use crate::write::{write_traces, WriteOptions};

pub struct SledExporter {
    shared: Arc<Shared>,
    config: Config,
    commit: GroupCommit,
    retention_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// How far past this gateway's clock a span may start and still be filed under its own start
/// time; a later one is filed under the time it arrived (see [`WriteOptions::future_limit_secs`]).
/// An hour covers any clock skew worth trusting, and bounds how long a future-dated partition
/// can outlive the retention.
pub const MAX_FUTURE_SKEW: Duration = Duration::from_secs(3600);

/// The reason spans older than the retention are reported as dropped (not sent): they are
/// skipped, never written, as the sweep would drop them at once.
pub const PAST_RETENTION: &str = "past_retention";

impl SledExporter {
    /// Opens (or joins this process's handle on) the database at `config.path`.
    pub fn open(config: Config) -> Result<Self, StoreError> {
        let shared = Shared::open(&config.path, config.cache_size_mib.saturating_mul(1 << 20))?;
        Ok(Self { shared, config, commit: GroupCommit::default(), retention_task: Mutex::new(None) })
    }

    /// The reader over this exporter's database.
    pub fn reader(&self) -> SledReader {
        SledReader { shared: self.shared.clone(), retention: self.config.retention.get() }
    }

    fn write_options(&self) -> WriteOptions {
        let retention = self.config.retention.get().as_secs();
        let now = now_secs();
        WriteOptions {
            partition_secs: self.config.partition.get().as_secs().max(1),
            cutoff_secs: if retention == 0 { 0 } else { now.saturating_sub(retention) },
            compression_level: self.config.compression_level,
            now_secs: now,
            future_limit_secs: now.saturating_add(MAX_FUTURE_SKEW.as_secs()),
        }
    }

    /// Drops partitions that ended more than `retention` before `now`; returns how many.
    pub fn drop_expired(&self, now: SystemTime) -> Result<usize, StoreError> {
        drop_expired(&self.shared, self.config.retention.get(), now)
    }

    /// Waits until everything written so far is on disk.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.shared.db.flush_async().await?;
        Ok(())
    }
}

fn drop_expired(shared: &Shared, retention: Duration, now: SystemTime) -> Result<usize, StoreError> {
    if retention.is_zero() {
        return Ok(0);
    }
    let now = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    shared.drop_before(now.saturating_sub(retention.as_secs()))
}

#[async_trait]
impl Lifecycle for SledExporter {
    async fn start(&self, _host: Arc<dyn Host>) -> Result<(), ComponentError> {
        let mut task = self.retention_task.lock().unwrap_or_else(|p| p.into_inner());
        if task.is_some() || self.config.retention.is_zero() {
            return Ok(());
        }
        let shared = self.shared.clone();
        let retention = self.config.retention.get();
        // Partitions expire one partition length apart; checking more often than that (or
        // than once a minute) finds nothing new.
        let every = self.config.partition.get().clamp(Duration::from_secs(1), Duration::from_secs(60));
        *task = Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let shared = shared.clone();
                let swept = tokio::task::spawn_blocking(move || drop_expired(&shared, retention, SystemTime::now())).await;
                match swept {
                    Ok(Ok(0)) => {}
                    Ok(Ok(n)) => tracing::info!(partitions = n, "retention dropped expired partitions"),
                    Ok(Err(e)) => tracing::warn!(error = %e, "retention sweep failed; will retry"),
                    Err(e) => tracing::warn!(error = %e, "retention sweep task failed"),
                }
            }
        }));
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ComponentError> {
        let task = self.retention_task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            task.abort();
        }
        self.flush()
            .await
            .map_err(|e| ComponentError::other(format!("cannot flush {}: {e}", self.shared.path.display())))
    }
}

#[async_trait]
impl Exporter for SledExporter {
    async fn export(&self, traces: Traces) -> Result<(), ConsumeError> {
        self.export_reporting(traces).await.map(|_| ())
    }

    /// Spans older than the retention are not written; they are reported as dropped
    /// (`past_retention`), so the engine does not count them as sent.
    async fn export_reporting(&self, traces: Traces) -> Result<ExportReport, ConsumeError> {
        let shared = self.shared.clone();
        let opts = self.write_options();
        let spans = traces.span_count() as u64;
        let written = tokio::task::spawn_blocking(move || write_traces(&shared, &traces, opts)).await;
        let stored = match written {
            Ok(Ok(stored)) => stored as u64,
            // A disk or database fault may pass (space freed, I/O recovered): let the queue retry.
            Ok(Err(e)) => return Err(ConsumeError::retryable(e.to_string())),
            Err(e) => return Err(ConsumeError::retryable(format!("write task failed: {e}"))),
        };
        if self.config.sync_on_write {
            self.commit.make_durable(&self.shared.db).await.map_err(|e| ConsumeError::retryable(format!("cannot make the batch durable: {e}")))?;
        }
        Ok(ExportReport::default().with_dropped(PAST_RETENTION, spans.saturating_sub(stored)))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn trace_reader(&self) -> Option<Arc<dyn TraceReader>> {
        Some(Arc::new(self.reader()))
    }

    /// With `sync_on_write` a successful export is on disk, so the engine answers the client
    /// only after it (acknowledged = stored).
    fn durable_on_success(&self) -> bool {
        self.config.sync_on_write
    }
}

#[cfg(test)]
impl SledExporter {
    pub(crate) fn shared_for_test(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub(crate) async fn shutdown_for_test(self) {
        let _ = self.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use tracegate_core::config::GoDuration;
    use tracegate_core::queue::{ExporterSettings, QueuedExporter};
    use tracegate_core::storage::TraceReader;
    use tracegate_core::telemetry::Telemetry;
    use tracegate_core::{ComponentId, Consumer};

    use super::*;

    fn nanos(t: SystemTime) -> u64 {
        t.duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
    }

    /// One span per start time, each its own trace (trace id = index + 1).
    fn batch(starts: &[u64]) -> Traces {
        let spans = starts
            .iter()
            .enumerate()
            .map(|(i, &start)| Span {
                trace_id: [i as u8 + 1; 16].to_vec(),
                span_id: [i as u8 + 1; 8].to_vec(),
                name: "op".into(),
                start_time_unix_nano: start,
                end_time_unix_nano: start.saturating_add(1_000),
                ..Default::default()
            })
            .collect();
        let service = KeyValue {
            key: "service.name".into(),
            value: Some(AnyValue { value: Some(any_value::Value::StringValue("svc".into())) }),
            ..Default::default()
        };
        Traces::new(vec![ResourceSpans {
            resource: Some(Resource { attributes: vec![service], ..Default::default() }),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }])
    }

    fn short_retention(dir: &std::path::Path) -> Config {
        Config {
            path: dir.join("db"),
            retention: GoDuration::from_secs(3600),
            partition: GoDuration::from_secs(60),
            ..Config::default()
        }
    }

    fn metric(telemetry: &Telemetry, series: &str) -> u64 {
        let text = telemetry.metrics.render();
        text.lines().find_map(|l| l.strip_prefix(series)).map_or(0, |v| v.trim().parse().unwrap())
    }

    /// Spans older than the retention were skipped but counted as sent.
    #[tokio::test]
    async fn spans_past_retention_are_counted_as_dropped_not_sent() {
        let dir = tempfile::tempdir().unwrap();
        let sled = Arc::new(SledExporter::open(short_retention(dir.path())).unwrap());
        let telemetry = Telemetry::new();
        let mut settings = ExporterSettings::default();
        settings.sending_queue.enabled = false; // export in the caller's task
        let queued = QueuedExporter::new(ComponentId::new("sled", None), sled.clone(), settings, &telemetry);
        let now = SystemTime::now();
        let old = nanos(now - Duration::from_secs(2 * 3600));
        queued.consume(batch(&[old, nanos(now), old])).await.unwrap();

        assert_eq!(metric(&telemetry, "tracegate_exporter_sent_spans{exporter=\"sled\"} "), 1);
        assert_eq!(metric(&telemetry, "tracegate_exporter_dropped_spans{exporter=\"sled\",reason=\"past_retention\"} "), 2);
        let reader = sled.reader();
        assert!(reader.get_trace([2; 16]).await.unwrap().is_some(), "the recent span is stored");
        assert!(reader.get_trace([1; 16]).await.unwrap().is_none(), "the old one is not");
    }

    /// A span dated far in the future made a partition the retention would not drop for
    /// centuries; now it is filed under the time it arrived, keeps its start time, and
    /// expires with the partition it was filed in.
    #[tokio::test]
    async fn far_future_spans_keep_their_time_and_expire_with_their_arrival() {
        let dir = tempfile::tempdir().unwrap();
        let sled = SledExporter::open(short_retention(dir.path())).unwrap();
        let now = SystemTime::now();
        let soon = nanos(now + Duration::from_secs(600)); // within the allowed skew
        let two_days = nanos(now + Duration::from_secs(2 * 86_400));
        sled.export(batch(&[u64::MAX, two_days, soon])).await.unwrap();

        let reader = sled.reader();
        let stored = reader.get_trace([1; 16]).await.unwrap().expect("found by its trace id");
        assert_eq!(stored.resource_spans()[0].scope_spans[0].spans[0].start_time_unix_nano, u64::MAX, "its time is kept");
        assert!(reader.get_trace([2; 16]).await.unwrap().is_some());
        assert!(
            sled.shared.partitions_between(0, u64::MAX).iter().all(|p| p.start <= nanos(now) / 1_000_000_000 + 3600),
            "no partition beyond the allowed skew"
        );

        // Once the retention has passed over the time they arrived, they are gone.
        let later = now + Duration::from_secs(3600 + 600 + 120);
        assert!(sled.drop_expired(later).unwrap() >= 1);
        for id in [[1; 16], [2; 16], [3; 16]] {
            assert!(reader.get_trace(id).await.unwrap().is_none(), "{id:?} outlived the retention");
        }
    }
}
