//! The exporter: appends each batch to the write-ahead log and the open block, seals the
//! block it fills, and waits for the log to be durable before answering (unless
//! `sync_on_write: false`); see [`crate::ingest`] and [`crate::wal`]. A background task seals
//! blocks that waited `max_block_age`, retries blocks whose write failed, deletes log
//! segments whose blocks sled has flushed, and runs the retention sweep. The disk guard
//! admits each batch first, and refuses it retryably while the disk is (nearly) full
//! ([`crate::disk_full`]).

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tracegate_core::capability::Offers;
use tracegate_core::storage::{ExporterStore, TraceReader, TraceStore};
use tracegate_core::{ComponentError, ConsumeError, ExportReport, Exporter, Host, Lifecycle, Traces};

use crate::config::Config;
use crate::db::{Shared, StoreError};
use crate::disk_full::{DiskGuard, DiskLimits};
use crate::read::SledReader;
use crate::tenants::{StoreReader, TenantStores};
use crate::write::{WriteOptions, WriteSettings};

pub struct SledExporter {
    shared: Arc<Shared>,
    config: Config,
    disk: Arc<DiskGuard>,
    background: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The stores of tenants (batches that carry one; see [`crate::tenants`]).
    tenants: Arc<TenantStores>,
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
    /// Opens (or joins this process's handle on) the database at `config.path`, replaying
    /// the write-ahead log if this process had not opened it.
    pub fn open(config: Config) -> Result<Self, StoreError> {
        let settings = WriteSettings {
            partition_secs: config.partition.get().as_secs().max(1),
            retention_secs: config.retention.get().as_secs(),
            compression_level: config.compression_level,
        };
        let shared = Shared::open(&config.path, config.cache_size_mib.saturating_mul(1 << 20), settings)?;
        let disk = Arc::new(DiskGuard::new(&shared.path, DiskLimits::from_mib(config.min_free_mib, config.max_disk_mib)));
        shared.red.configure(&config.span_metrics);
        let tenants = Arc::new(TenantStores::new(&config));
        Ok(Self { shared, config, disk, background: Mutex::new(None), tenants })
    }

    /// A tenant's store (under `<path>/tenants/`): opened as any, its own tenants never used.
    pub(crate) fn open_tenant(config: Config) -> Result<Self, StoreError> {
        Self::open(config)
    }

    /// Puts the disk-full metrics in `telemetry`'s registry, labelled `exporter`, and lets a
    /// store that cannot write again say so in the health check.
    pub fn report_to(&self, telemetry: &tracegate_core::telemetry::Telemetry, exporter: &str) {
        self.disk.report_to(telemetry, exporter);
        crate::red_metrics::report_to(&self.shared, telemetry);
    }

    /// The reader over this exporter's database.
    pub fn reader(&self) -> SledReader {
        SledReader { shared: self.shared.clone(), retention: self.config.retention.get() }
    }

    /// The reader the store offers as its `TraceStore`'s: this database, and each tenant's
    /// through `TraceReader::tenant`.
    pub fn store_reader(&self) -> Arc<dyn TraceReader> {
        Arc::new(StoreReader { base: self.reader(), tenants: self.tenants.clone() })
    }

    fn write_options(&self) -> WriteOptions {
        self.shared.settings.options()
    }

    /// Drops partitions that ended more than `retention` before `now`; returns how many.
    pub fn drop_expired(&self, now: SystemTime) -> Result<usize, StoreError> {
        let dropped = drop_expired(&self.shared, self.config.retention.get(), now)?;
        self.disk.forget_usage();
        Ok(dropped)
    }

    /// Writes the open block and waits until everything written so far is on disk (sled
    /// flushed, the log cut back to what is not in blocks).
    pub async fn flush(&self) -> Result<(), StoreError> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            let opts = shared.settings.options();
            shared.ingest.seal_for_read(&shared, &opts)?;
            crate::red_metrics::flush(&shared, &opts, true)?;
            shared.ingest.wal().rotate()?;
            shared.ingest.checkpoint(&shared).map(|_| ())
        })
        .await
        .map_err(|e| StoreError::Join(e.to_string()))?
    }
}

/// One round of the background task: empty the decoded-block cache if reads left it unused,
/// seal a block that waited long enough, retry failed blocks, cut the log back to what sled
/// has flushed. Only the first once sled failed for lack of space: it cannot write again in
/// this process, and its flush would never return.
fn maintain(shared: &Shared, disk: &DiskGuard, max_age: Duration) {
    shared.blocks_cache.release_if_idle(std::time::Instant::now(), crate::block_cache::IDLE_AFTER);
    shared.summary_cache.release_if_idle(std::time::Instant::now(), crate::block_cache::IDLE_AFTER);
    if disk.sled_failed() {
        return;
    }
    let opts = shared.settings.options();
    if let Err(e) = shared.ingest.retry_failed(shared, &opts) {
        if !disk.seal_failed(&e) {
            tracing::warn!(error = %e, "blocks of acknowledged spans still cannot be written; will retry");
        }
        return;
    }
    if let Some(cut) = shared.ingest.cut_due(max_age) {
        if let Err(e) = shared.ingest.seal(shared, cut, &opts) {
            if !disk.seal_failed(&e) {
                tracing::warn!(error = %e, "cannot write a block of acknowledged spans; it stays in the write-ahead log and is retried");
            }
        }
    }
    // An idle store's log: cut back once it holds a MiB (not for every trickle of spans,
    // each rotation costing a file and a filesystem sync).
    let rotated = shared.ingest.rotate_if_idle(shared, 1 << 20);
    if let Err(e) = rotated.and_then(|_| shared.ingest.checkpoint(shared).map(|_| ())) {
        tracing::warn!(error = %e, "cannot cut the write-ahead log back to what sled has flushed; will retry");
    }
    // Spare log segments speed up a store that is filling; an idle one gives the disk back.
    if let Err(e) = shared.ingest.wal().drop_spares_if_idle(SPARES_KEPT_WHILE_IDLE) {
        tracing::warn!(error = %e, "cannot delete the write-ahead log's spare segments; will retry");
    }
}

/// How long spare log segments outlive the last append (see `wal`'s "Recycled segments").
const SPARES_KEPT_WHILE_IDLE: Duration = Duration::from_secs(1);

fn drop_expired(shared: &Shared, retention: Duration, now: SystemTime) -> Result<usize, StoreError> {
    if retention.is_zero() {
        return Ok(0);
    }
    let now = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let dropped = shared.drop_before(now.saturating_sub(retention.as_secs()))?;
    if dropped > 0 {
        crate::reclaim::release_dropped(&shared.db, &shared.path)?;
    }
    Ok(dropped)
}

#[async_trait]
impl Lifecycle for SledExporter {
    async fn start(&self, _host: Arc<dyn Host>) -> Result<(), ComponentError> {
        self.start_background();
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ComponentError> {
        for tenant in self.tenants.opened() {
            tenant.stop().await?;
        }
        self.stop().await
    }
}

impl SledExporter {
    /// Starts the background task (sealing aged blocks, retention); once.
    pub(crate) fn start_background(&self) {
        let mut task = self.background.lock().unwrap_or_else(|p| p.into_inner());
        if task.is_some() {
            return;
        }
        let shared = self.shared.clone();
        let disk = self.disk.clone();
        let retention = self.config.retention.get();
        let max_age = self.config.max_block_age.get();
        // Partitions expire one partition length apart; sweeping more often than that (or
        // than once a minute) finds nothing new.
        let sweep_every = self.config.partition.get().clamp(Duration::from_secs(1), Duration::from_secs(60));
        let tick_every = (max_age / 2).clamp(Duration::from_millis(20), Duration::from_secs(1));
        *task = Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(tick_every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_sweep = std::time::Instant::now();
            loop {
                tick.tick().await;
                let (shared, disk) = (shared.clone(), disk.clone());
                let sweep = !retention.is_zero() && last_sweep.elapsed() >= sweep_every && !disk.sled_failed();
                if sweep {
                    last_sweep = std::time::Instant::now();
                }
                let done = tokio::task::spawn_blocking(move || {
                    maintain(&shared, &disk, max_age);
                    match sweep.then(|| drop_expired(&shared, retention, SystemTime::now())) {
                        Some(Ok(n)) if n > 0 => {
                            disk.forget_usage();
                            Some(Ok(n))
                        }
                        // Said once, at ERROR, by the guard; not again every sweep.
                        Some(Err(e)) if disk.seal_failed(&e) => None,
                        other => other,
                    }
                })
                .await;
                match done {
                    Ok(None | Some(Ok(0))) => {}
                    Ok(Some(Ok(n))) => tracing::info!(partitions = n, "retention dropped expired partitions"),
                    Ok(Some(Err(e))) => tracing::warn!(error = %e, "retention sweep failed; will retry"),
                    Err(e) => tracing::warn!(error = %e, "sled background task failed"),
                }
            }
        }));
    }

    /// Stops the background task and flushes.
    async fn stop(&self) -> Result<(), ComponentError> {
        let task = self.background.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            task.abort();
        }
        if self.disk.sled_failed() {
            // Its flush would wait forever (see `disk_full`); the write-ahead log holds what
            // was acknowledged since sled last flushed, and the next start replays it.
            tracing::warn!(path = %self.shared.path.display(), "not flushing: sled failed for lack of disk space earlier");
            return Ok(());
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
        if let Some(tenant) = traces.tenant() {
            // Opening a store reads the disk: off the async threads.
            let (stores, name) = (self.tenants.clone(), tenant.clone());
            let store = tokio::task::spawn_blocking(move || stores.get(&name))
                .await
                .map_err(|e| ConsumeError::retryable(format!("opening a tenant's store failed: {e}")))?
                .map_err(|e| ConsumeError::retryable(e.to_string()))?;
            return store.export_reporting(traces.with_tenant(None)).await;
        }
        let shared = self.shared.clone();
        let disk = self.disk.clone();
        let opts = self.write_options();
        let block_spans = self.config.max_block_spans;
        let spans = traces.span_count() as u64;
        let written = tokio::task::spawn_blocking(move || {
            disk.admit(&traces)?;
            // A disk or database fault may pass (space freed, I/O recovered): let the sender retry.
            let appended = shared.ingest.append(&traces, block_spans, &opts).map_err(|e| disk.write_failed(&e, spans))?;
            if let Some(cut) = appended.cut {
                // Sealed here, not in the background: a store that cannot keep up slows its
                // senders instead of piling blocks up in memory. A failure stays queued for
                // the background task; this batch is in the log, so its answer stands.
                if let Err(e) = shared.ingest.seal(&shared, cut, &opts) {
                    if !disk.seal_failed(&e) {
                        tracing::warn!(error = %e, "cannot write a block of acknowledged spans; it stays in the write-ahead log and is retried");
                    }
                }
            }
            Ok::<_, ConsumeError>((appended.end, appended.past_retention))
        })
        .await;
        let (end, past_retention) = match written {
            Ok(Ok(done)) => done,
            Ok(Err(refused)) => return Err(refused),
            Err(e) => return Err(ConsumeError::retryable(format!("write task failed: {e}"))),
        };
        if self.config.sync_on_write {
            self.shared.ingest.wal().sync_to(end).await.map_err(|e| match self.disk.write_failed(&StoreError::from(e), spans) {
                ConsumeError::Retryable(m) => ConsumeError::retryable(format!("cannot make the batch durable: {m}")),
                other => other,
            })?;
        }
        Ok(ExportReport::default().with_dropped(PAST_RETENTION, past_retention as u64))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    /// The store, for `jaeger_query` (and `jaeger_storage_exporter` when this store is a
    /// backend of the `jaeger_storage` extension): reads see every tenant's store.
    fn offers(self: Arc<Self>) -> Offers {
        let reader = self.store_reader();
        Offers::new().with::<dyn TraceStore>(Arc::new(ExporterStore::new(self, reader)))
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

    /// Spans older than the retention were skipped but counted as sent. Checked in both
    /// forms a batch comes in: structs, and request bytes whose check noted the oldest
    /// start (a request of only recent spans is not walked at all).
    #[tokio::test]
    async fn spans_past_retention_are_counted_as_dropped_not_sent() {
        for as_bytes in [false, true] {
            let form = |t: Traces| if as_bytes { Traces::from_protobuf(t.encode_request()).unwrap() } else { t };
            let dir = tempfile::tempdir().unwrap();
            let sled = Arc::new(SledExporter::open(short_retention(dir.path())).unwrap());
            let telemetry = Telemetry::new();
            let mut settings = ExporterSettings::default();
            settings.sending_queue.enabled = false; // export in the caller's task
            let queued = QueuedExporter::new(ComponentId::new("sled", None), sled.clone(), settings, &telemetry);
            let now = SystemTime::now();
            let old = nanos(now - Duration::from_secs(2 * 3600));
            let mixed = form(batch(&[old, nanos(now), old]));
            assert_eq!(mixed.is_encoded(), as_bytes);
            queued.consume(mixed).await.unwrap();
            assert_eq!(metric(&telemetry, "tracegate_exporter_sent_spans{exporter=\"sled\"} "), 1, "bytes: {as_bytes}");
            assert_eq!(metric(&telemetry, "tracegate_exporter_dropped_spans{exporter=\"sled\",reason=\"past_retention\"} "), 2);
            let reader = sled.reader();
            assert!(reader.get_trace([2; 16]).await.unwrap().is_some(), "the recent span is stored");
            assert!(reader.get_trace([1; 16]).await.unwrap().is_none(), "the old one is not");

            queued.consume(form(batch(&[nanos(now), nanos(now)]))).await.unwrap();
            assert_eq!(metric(&telemetry, "tracegate_exporter_sent_spans{exporter=\"sled\"} "), 3, "bytes: {as_bytes}");
            assert_eq!(metric(&telemetry, "tracegate_exporter_dropped_spans{exporter=\"sled\",reason=\"past_retention\"} "), 2);
        }
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
