//! RED metrics (Jaeger's Monitor tab) kept by the store, from the spans it writes, with the
//! spans' retention ([`tracegate_core::red`] has the aggregation and the query side).
//!
//! The writer resolves each span's (service, operation, span kind) key with the [`Recorder`]
//! while it reads the span's ids in its first pass over a batch (`write::write_batch`, the
//! same index the block writer reads: no decode), and counts the batch once its blocks are
//! stored; the recorder aggregates per minute and key in memory. Minutes the clock has
//! left behind (older than the previous minute) are merged into the partition of their start
//! in its index tree (`m` + service + 0 + minute -> record, see
//! [`tracegate_core::red::codec`]), so retention drops them with the spans of that time. A
//! span for a minute already stored merges into it. A query reads the service's keys of the
//! window in each partition (one range scan per partition) plus what is still in memory,
//! after the read path's usual seal, so every acknowledged span is counted.
//!
//! Each flushed minute is also merged into two roll-ups of its ten-minute block: per
//! (operation, kind) (`M` keys) and summed over operations per kind (`N` keys). A query whose
//! points and windows fall on ten-minute boundaries ([`tracegate_core::red::query`]; the
//! built-in Monitor page asks that way for 6 h and 24 h) reads blocks: a tenth of the records,
//! and without `groupByOperation` one entry per kind instead of one per operation. Three small
//! merges per service and minute instead of one: still a few hundred sled writes a minute.
//! Minutes stored by builds before the roll-ups existed are in minute-resolution answers
//! only.
//!
//! What is lost: minutes still in memory when the process is killed (at most the last two);
//! a clean shutdown (`flush`) writes them. A minute that cannot be written stays in memory and
//! is tried again at the next write.
//!
//! Cost: a hash lookup of (service, operation, kind) per span (none when a span has the
//! previous one's key), two locks per written block, and a few dozen small sled writes per
//! minute. Resolving in the writer's first pass, while the span's bytes are in cache, saved
//! the cache miss per span a pass of its own paid.
//!
//! # Measured
//!
//! `loadgen/bench_spm.py --pairs 2 --spans 2000000 --query --query-spans 10000000 --runs 100`,
//! then `--pairs 4 --spans 2000000`: the shipped all-in-one, OTLP/gRPC flat out, `--shape
//! realistic --services 50`; release build of 95f41d7, 2026-12-07 16:19-16:25, other work
//! running at `nice 19` (`limits` otlp_decode 593-626k spans/s in the same window).
//!
//! - **Cost**: six alternated pairs of 2M spans, spans per gateway CPU second with metrics on /
//!   off: 320k/352k, 345k/365k, 334k/388k, 360k/358k, 368k/378k, 341k/366k. Summed over the
//!   runs the metrics take 6.9% more CPU per span (pairs from -0.5% to +16%; bound 10%).
//! - **24 h queries at 10M spans** (spread over the last 24 h by `loadgen --backdate 24h`, 47
//!   services; p50 / p99 ms over 100 runs):
//!
//! | query | p50 | p99 |
//! | --- | --- | --- |
//! | calls, one service, one-minute step (Jaeger UI's Monitor tab) | 5.56 | 17.4 |
//! | errors, one service (Jaeger UI) | 5.70 | 20.2 |
//! | p95, one service (Jaeger UI) | 7.42 | 19.1 |
//! | p95 by operation, one service (Jaeger UI) | 7.40 | 30.1 |
//! | built-in page overview: calls / errors / p95 of every service, 30 min points | 12.5 / 12.6 / 14.6 | 23.3 / 23.4 / 28.9 |
//! | built-in page, one service by operation, p95 | 1.10 | 16.5 |
//! | calls of every service at a one-minute step (no UI asks this) | 158 | 198 |
//!
//! The last row reads every service-minute (~700k rows); the pages ask for ten-minute
//! multiples at 6 h and 24 h and read the roll-ups. Before them the overview took 348 / 727 ms.
//! History: `docs/perf/red-metrics-history.md`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tracegate_core::red::aggregate::{Entry, Resolved};
use tracegate_core::red::codec::Rows;
use tracegate_core::red::{codec, MetricsReader, Recorder, Row, RowRequest, DEFAULT_CARDINALITY_LIMIT, ROLLUP_MINUTES};
use tracegate_core::storage::StorageError;

use crate::db::{Shared, StoreError};
use crate::write::WriteOptions;

/// `span_metrics:` of the sled exporter's config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpanMetricsConfig {
    /// Compute and keep RED metrics (the Monitor tab and the spanmetrics Prometheus series).
    pub enabled: bool,
    /// Distinct (service, operation, span kind) keys counted on their own; spans of further
    /// keys are counted under one overflow key.
    pub cardinality_limit: usize,
}

impl Default for SpanMetricsConfig {
    fn default() -> Self {
        Self { enabled: true, cardinality_limit: DEFAULT_CARDINALITY_LIMIT }
    }
}

/// The store's recorder and whether it is on.
pub struct RedMetrics {
    pub recorder: Arc<Recorder>,
    enabled: AtomicBool,
}

impl Default for RedMetrics {
    fn default() -> Self {
        let d = SpanMetricsConfig::default();
        Self { recorder: Arc::new(Recorder::new(d.cardinality_limit)), enabled: AtomicBool::new(d.enabled) }
    }
}

impl RedMetrics {
    pub fn configure(&self, config: &SpanMetricsConfig) {
        self.enabled.store(config.enabled, Ordering::Relaxed);
        self.recorder.set_cardinality_limit(config.cardinality_limit);
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }
}

/// Counts a written batch's spans, resolved by the writer as it read them (those it stored:
/// past-retention spans are skipped, far-future ones count at the time they arrived, as the
/// writer files them; see `write::write_batch`), and writes the minutes that are due. Never
/// fails the write: a minute that cannot be stored is kept.
pub fn count(shared: &Shared, resolved: &[Resolved], opts: &WriteOptions) {
    if resolved.is_empty() {
        return;
    }
    shared.red.recorder.count(resolved);
    if let Err(e) = flush(shared, opts, false) {
        tracing::warn!(error = %e, "cannot store RED metrics; they stay in memory and are tried again at the next write");
    }
}

/// Merges the due minutes (every pending minute with `all`) into their partitions.
pub fn flush(shared: &Shared, opts: &WriteOptions, all: bool) -> Result<(), StoreError> {
    let mut due = shared.red.recorder.take_due(opts.now_secs, all);
    while let Some(minute) = due.pop() {
        let start_secs = minute.minute * 60;
        if start_secs.saturating_add(opts.partition_secs) <= opts.cutoff_secs {
            continue;
        }
        // The minute, then its two roll-ups. A failure part-way puts the minute back whole, so
        // a retry merges it a second time into the records already written: rare enough (the
        // store could not write) to prefer over a transaction on every flush.
        let block = minute.minute - minute.minute % ROLLUP_MINUTES;
        // All three go to the minute's partition, so they expire with its spans; with
        // partitions shorter than a block, one block's records are spread over several
        // partitions and a query sums them.
        let p = shared.partition_for(start_secs, opts.partition_secs);
        let written = p.and_then(|p| {
            merge_row(&p.index, &minute.service, &minute.entries, Rows::Minutes, minute.minute)?;
            merge_row(&p.index, &minute.service, &minute.entries, Rows::Blocks, block)?;
            merge_row(&p.index, &minute.service, &codec::per_kind(&minute.entries), Rows::ServiceBlocks, block)
        });
        if let Err(e) = written {
            due.push(minute);
            shared.red.recorder.put_back(due);
            return Err(e);
        }
    }
    Ok(())
}

/// Merges `entries` into `service`'s row of `rows` starting at `start_minute`.
fn merge_row(index: &sled::Tree, service: &str, entries: &[Entry], rows: Rows, start_minute: u64) -> Result<(), StoreError> {
    let key = codec::key_of(rows, service, start_minute);
    index
        .update_and_fetch(key, |old| {
            let (merged, damaged) = codec::merge(old, entries);
            if let Some(e) = damaged {
                tracing::warn!(error = %e, "a stored record of RED metrics was replaced");
            }
            Some(merged)
        })
        .map(|_| ())
        .map_err(StoreError::from)
}

/// Puts the spanmetrics-named series ([`tracegate_core::red::prometheus`]) in `telemetry`'s
/// registry. A second store in one process (an archive) finds the names taken: its spans are
/// in the Monitor tab's API, not in these series.
pub fn report_to(shared: &Shared, telemetry: &tracegate_core::telemetry::Telemetry) {
    if !shared.red.enabled() {
        return;
    }
    match tracegate_core::red::prometheus::SpanMetricsCollector::new(shared.red.recorder.clone()) {
        Ok(collector) => {
            if let Err(e) = telemetry.metrics.registry().register(Box::new(collector)) {
                tracing::debug!(error = %e, "span metrics not registered (another store registered them)");
            }
        }
        Err(e) => tracing::warn!(error = %e, "span metrics cannot be described"),
    }
}

/// Reads the store's RED metrics for the query API.
pub struct SledMetrics {
    pub shared: Arc<Shared>,
}

fn rows_blocking(shared: &Shared, request: &RowRequest) -> Result<Vec<Row>, StoreError> {
    if let Err(e) = shared.ingest.seal_for_read(shared, &shared.settings.options()) {
        tracing::warn!(error = %e, "cannot write the open block before a read; the read may miss its spans");
    }
    let (services, from_minute, to_minute) = (&request.services, request.from_minute, request.to_minute);
    let rows_of = Rows::for_request(request);
    let wanted_kind = |kind: u8| request.span_kinds.is_empty() || request.span_kinds.contains(&kind);
    let mut rows = Vec::new();
    let from_secs = from_minute.saturating_mul(60);
    // A block's records sit in the partitions of its minutes: up to a block past its start.
    let block_tail = if rows_of == Rows::Minutes { 0 } else { ROLLUP_MINUTES - 1 };
    let to_secs = to_minute.saturating_add(1 + block_tail).saturating_mul(60);
    let prefixes: Vec<Vec<u8>> =
        if services.is_empty() { vec![vec![rows_of.prefix()]] } else { services.iter().map(|s| codec::service_prefix(rows_of, s)).collect() };
    for p in shared.partitions_between(from_secs, to_secs) {
        for prefix in &prefixes {
            let mut lo = prefix.clone();
            let mut hi = prefix.clone();
            if !services.is_empty() {
                lo.extend_from_slice(&from_minute.to_be_bytes());
                hi.extend_from_slice(&to_minute.to_be_bytes());
            } else {
                hi.push(0xff);
            }
            for entry in p.index.range(lo..=hi) {
                let (key, value) = entry?;
                let Some(minute) = codec::minute_of(&key) else { continue };
                if minute < from_minute || minute > to_minute {
                    continue;
                }
                let Some(service) = key.get(1..key.len().saturating_sub(9)).and_then(|s| std::str::from_utf8(s).ok()) else { continue };
                let service: Arc<str> = Arc::from(service);
                match codec::decode(&value) {
                    Ok(entries) => rows.extend(entries.into_iter().filter(|e| wanted_kind(e.1)).map(|(operation, kind, agg)| Row {
                        minute,
                        service: service.clone(),
                        operation,
                        kind,
                        agg,
                    })),
                    Err(e) => tracing::warn!(error = %e, %service, minute, "a stored minute of RED metrics is skipped"),
                }
            }
        }
    }
    rows.extend(shared.red.recorder.pending_rows(request));
    Ok(rows)
}

#[async_trait]
impl MetricsReader for SledMetrics {
    async fn rows(&self, request: &RowRequest) -> Result<Vec<Row>, StorageError> {
        let shared = self.shared.clone();
        let request = request.clone();
        match tokio::task::spawn_blocking(move || rows_blocking(&shared, &request)).await {
            Ok(r) => r.map_err(|e| StorageError::Backend(e.to_string())),
            Err(e) => Err(StorageError::Backend(format!("read task failed: {e}"))),
        }
    }
}
