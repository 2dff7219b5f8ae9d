//! Disk full: the store refuses new spans, retryably, before its disk fills, and takes them
//! again by itself once there is room.
//!
//! # Why refuse early instead of handling the write error
//!
//! What sled 0.34.7 does when its filesystem fills up (measured on an 8 MiB tmpfs with a
//! scratch program, 2026-12-07):
//!
//! - A node written inline in sled's log: the background write that hits `ENOSPC` sets a
//!   sticky error. Every later insert and flush fails with it, also after space returns,
//!   until the database is reopened; reads keep working. Reopening fails while the disk is
//!   full and works once space is back, with everything flushed before intact.
//! - A node larger than a quarter of a segment, which sled writes as a blob file (a block of
//!   this store is one): the insert fails with `ENOSPC` and leaves sled's log buffer with a
//!   writer that never finishes. From then on every flush waits forever, also after space
//!   returns, and sled's threads keep its file lock, so the database cannot be reopened until
//!   the process exits.
//! - kill -9 in either state: the database opens afterwards, everything flushed before
//!   intact.
//!
//! So sled must never meet a full disk. [`DiskGuard::admit`] runs before each batch is
//! written and refuses it when the filesystem has less than `min_free_mib` available, or
//! sled's files (the store's directory but its write-ahead log) occupy more than
//! `max_disk_mib`: the client gets a retryable refusal
//! (gRPC UNAVAILABLE, HTTP 503 with `Retry-After`), nothing is written, and the next batch
//! after space returns (someone freed it, or retention dropped a partition) is stored. The
//! reserve covers what is already on its way to sled when the check passes (batches in
//! flight, the open block, sled's own segment rewrites).
//!
//! If sled fails for lack of space anyway (the reserve disabled, or another program filled the
//! disk between two checks), the store cannot write again in this process: the guard
//! refuses every later batch, says so once at ERROR, and reports the failure to the health
//! check so that a supervisor restarts the gateway. A failed append to the write-ahead log
//! is different: it is a plain file, cut back to its last whole record, so that episode ends
//! like the others once there is room.
//!
//! # One log line per episode
//!
//! An episode starts with the first refusal (one ERROR line saying why and what to do) and
//! ends with the first batch admitted again (one INFO line with how long it lasted and what
//! was refused). Between the two, refusals are only counted: in
//! `tracegate_exporter_sled_disk_full` (1 during an episode) and
//! `tracegate_exporter_sled_disk_full_refused_spans`; `tracegate_exporter_sled_disk_available_bytes`
//! shows the room left, for alerts before it runs out. An episode ends only once the room is
//! a margin above the threshold (an eighth of it, at least 1 MiB), so a store writing at the
//! boundary does not start a new episode with every batch.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use prometheus::{IntCounter, IntGauge, Opts};
use tracegate_core::telemetry::{ServiceStatus, Telemetry};
use tracegate_core::{ConsumeError, Traces};

use crate::db::StoreError;
use crate::disk_usage::{available_bytes, directory_bytes};

const MIB: u64 = 1 << 20;

/// How long a measured directory size is trusted. Walking sled's blobs costs a few ms per
/// ten thousand files, so it is not done per batch: in between, the request bytes of the
/// batches admitted since are added to it (more than their compressed blocks take, less
/// than a block and its log record together), and a walk is due early when that sum reaches
/// the cap.
const USAGE_TTL: Duration = Duration::from_secs(1);

/// Near the cap, walks at most this often; the estimate decides in between.
const USAGE_MIN_INTERVAL: Duration = Duration::from_millis(100);

/// Whether `e` says the disk (or the user's quota) is full. Matches the kind and the raw
/// error number both, because sled hands on a copy of the error that keeps only its kind.
pub fn is_no_space(e: &io::Error) -> bool {
    let no_space = [rustix::io::Errno::NOSPC.raw_os_error(), rustix::io::Errno::DQUOT.raw_os_error()];
    matches!(e.kind(), io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded)
        || e.raw_os_error().is_some_and(|raw| no_space.contains(&raw))
        || e.get_ref().and_then(|inner| inner.downcast_ref::<io::Error>()).is_some_and(is_no_space)
}

impl StoreError {
    /// Whether sled itself failed for lack of space (see the module docs: it cannot write
    /// again in this process).
    pub fn is_sled_out_of_space(&self) -> bool {
        matches!(self, StoreError::Sled(sled::Error::Io(e)) if is_no_space(e))
    }

    /// Whether the write-ahead log failed for lack of space (an append is cut back to its
    /// last whole record, so this passes once there is room).
    pub fn is_log_out_of_space(&self) -> bool {
        matches!(self, StoreError::Wal(e) if is_no_space(e.io_error()))
    }
}

/// When the store refuses for lack of room (bytes; 0 turns a check off).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskLimits {
    /// Refuse while the filesystem has less than this available.
    pub min_free: u64,
    /// Refuse while sled's files (the store's directory but the write-ahead log) occupy
    /// more than this.
    pub max_disk: u64,
}

impl DiskLimits {
    pub fn from_mib(min_free_mib: u64, max_disk_mib: u64) -> Self {
        Self { min_free: min_free_mib.saturating_mul(MIB), max_disk: max_disk_mib.saturating_mul(MIB) }
    }
}

/// Why batches are refused.
#[derive(Clone, Debug, PartialEq)]
enum Shortage {
    Free { available: u64, min_free: u64 },
    Cap { used: u64, max_disk: u64 },
    /// A write (the write-ahead log's) failed for lack of space.
    WriteFailed(String),
}

impl Shortage {
    /// For the log: what happened and what the operator can do.
    fn explain(&self, path: &Path) -> String {
        match self {
            Shortage::Free { available, min_free } => format!(
                "the filesystem holding {} has {} MiB available, less than min_free_mib ({} MiB) that the store keeps free; \
                 free space on that disk (retention also frees expired partitions) or lower min_free_mib",
                path.display(),
                available / MIB,
                min_free / MIB
            ),
            Shortage::Cap { used, max_disk } => format!(
                "sled's files at {} occupy {} MiB, more than max_disk_mib ({} MiB); \
                 retention frees expired partitions, or raise max_disk_mib",
                path.display(),
                used / MIB,
                max_disk / MIB
            ),
            Shortage::WriteFailed(e) => format!("a write to {} failed for lack of space ({e}); free space on that disk", path.display()),
        }
    }
}

struct Episode {
    since: Instant,
    refused_batches: u64,
    refused_spans: u64,
}

#[derive(Default)]
struct State {
    episode: Option<Episode>,
    /// Set once sled failed for lack of space: nothing is written until a restart.
    sled_failed: Option<String>,
    /// The directory's size (with a cap only).
    usage: Option<Usage>,
}

struct Usage {
    measured_at: Instant,
    bytes: u64,
    /// Request bytes admitted since it was measured.
    admitted: u64,
}

struct Reporting {
    exporter: String,
    full: IntGauge,
    refused_spans: IntCounter,
    available: IntGauge,
    status: Arc<ServiceStatus>,
}

/// Decides before each write whether the store has room for it; see the module docs.
pub struct DiskGuard {
    path: PathBuf,
    limits: DiskLimits,
    state: Mutex<State>,
    reporting: OnceLock<Reporting>,
}

/// The size of the batch as OTLP request bytes: what the write-ahead log takes for it, and
/// more than its compressed block.
fn request_bytes(traces: &Traces) -> u64 {
    let bytes: usize = match traces.encoded_parts() {
        Some(parts) => parts.iter().map(|p| p.bytes.len()).sum(),
        None => traces.resource_spans().iter().map(|r| prost::encoding::message::encoded_len(1, r)).sum(),
    };
    bytes as u64
}

fn refusal() -> ConsumeError {
    ConsumeError::retryable("the trace store is out of disk space; try again later")
}

fn margin(threshold: u64) -> u64 {
    (threshold / 8).max(MIB)
}

impl DiskGuard {
    pub fn new(path: &Path, limits: DiskLimits) -> Self {
        Self { path: path.to_path_buf(), limits, state: Mutex::default(), reporting: OnceLock::new() }
    }

    /// Registers this guard's metrics (labelled with the exporter's id) and the status the
    /// health check reads. Only the first call counts.
    pub fn report_to(&self, telemetry: &Telemetry, exporter: &str) {
        let metric = |name: &str, help: &str| Opts::new(name, help).const_label("exporter", exporter);
        let (Ok(full), Ok(refused_spans), Ok(available)) = (
            IntGauge::with_opts(metric("tracegate_exporter_sled_disk_full", "1 while the store refuses spans for lack of disk space")),
            IntCounter::with_opts(metric(
                "tracegate_exporter_sled_disk_full_refused_spans",
                "Spans refused (retryably) because the store was out of disk space",
            )),
            IntGauge::with_opts(metric(
                "tracegate_exporter_sled_disk_available_bytes",
                "Bytes available on the filesystem holding the store, at the last write",
            )),
        ) else {
            return;
        };
        let registry = telemetry.metrics.registry();
        for collector in [Box::new(full.clone()) as Box<dyn prometheus::core::Collector>, Box::new(refused_spans.clone()), Box::new(available.clone())] {
            // Registered already (the same exporter id created twice in one process, as tests
            // do): the first set stays in the output, this one still counts for the log.
            if let Err(e) = registry.register(collector) {
                tracing::debug!(exporter, error = %e, "sled disk metrics not registered");
            }
        }
        let _ = self.reporting.set(Reporting { exporter: exporter.to_string(), full, refused_spans, available, status: telemetry.status.clone() });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Call before writing `traces` (blocking: it reads the filesystem's counters, and with
    /// a cap may walk the store's directory). `Err` is the answer to give; nothing may be
    /// written then.
    pub fn admit(&self, traces: &Traces) -> Result<(), ConsumeError> {
        let spans = traces.span_count() as u64;
        let bytes = if self.limits.max_disk > 0 { request_bytes(traces) } else { 0 };
        self.admit_sized(spans, bytes)
    }

    fn admit_sized(&self, spans: u64, bytes: u64) -> Result<(), ConsumeError> {
        let mut state = self.lock();
        if state.sled_failed.is_some() {
            self.count_refused(&mut state, spans);
            return Err(refusal());
        }
        let in_episode = state.episode.is_some();
        match self.shortage(&mut state, in_episode) {
            Some(shortage) => {
                self.refuse(&mut state, shortage, spans);
                Err(refusal())
            }
            None => {
                if let Some(usage) = state.usage.as_mut() {
                    usage.admitted = usage.admitted.saturating_add(bytes);
                }
                if let Some(episode) = state.episode.take() {
                    self.set_full(false);
                    tracing::info!(
                        exporter = self.exporter(),
                        path = %self.path.display(),
                        refused_batches = episode.refused_batches,
                        refused_spans = episode.refused_spans,
                        lasted = ?episode.since.elapsed(),
                        "disk space is back: the store accepts spans again"
                    );
                }
                Ok(())
            }
        }
    }

    /// The answer for a batch whose write failed with `e`. A lack of space in the
    /// write-ahead log starts an episode like [`DiskGuard::admit`]'s; in sled it also refuses
    /// every later batch ([`DiskGuard::seal_failed`]).
    pub fn write_failed(&self, e: &StoreError, spans: u64) -> ConsumeError {
        if e.is_log_out_of_space() {
            let mut state = self.lock();
            self.refuse(&mut state, Shortage::WriteFailed(e.to_string()), spans);
            return refusal();
        }
        if !self.seal_failed(e) {
            return ConsumeError::retryable(e.to_string());
        }
        let mut state = self.lock();
        self.count_refused(&mut state, spans);
        refusal()
    }

    /// Call when writing to sled failed with `e`; true when that was for lack of space, which
    /// sled cannot recover from in this process: the store then says so once, at ERROR,
    /// reports it to the health check, and refuses every later batch. The caller need not
    /// log `e` again then.
    pub fn seal_failed(&self, e: &StoreError) -> bool {
        if !e.is_sled_out_of_space() {
            return false;
        }
        let mut state = self.lock();
        if state.sled_failed.is_none() {
            let message = format!(
                "sled failed to write to {} for lack of disk space ({e}); sled 0.34 cannot write again in this process: \
                 free space on that disk, then restart tracegate. Acknowledged spans are safe: what sled had not \
                 flushed is in the write-ahead log, replayed at start",
                self.path.display()
            );
            tracing::error!(exporter = self.exporter(), path = %self.path.display(), "{message}");
            if let Some(r) = self.reporting.get() {
                r.status.report_failure(&r.exporter, &message);
            }
            state.sled_failed = Some(message);
        }
        if state.episode.is_none() {
            state.episode = Some(Episode { since: Instant::now(), refused_batches: 0, refused_spans: 0 });
            self.set_full(true);
        }
        true
    }

    /// Space was freed (retention dropped partitions): the next check measures the
    /// directory again instead of trusting the last size.
    pub fn forget_usage(&self) {
        self.lock().usage = None;
    }

    /// Whether sled failed for lack of space in this process (its flushes may never return).
    pub fn sled_failed(&self) -> bool {
        self.lock().sled_failed.is_some()
    }

    fn refuse(&self, state: &mut State, shortage: Shortage, spans: u64) {
        if state.episode.is_none() {
            tracing::error!(
                exporter = self.exporter(),
                path = %self.path.display(),
                "disk full: the store refuses new spans (clients are told to retry) until there is room again: {}",
                shortage.explain(&self.path)
            );
            state.episode = Some(Episode { since: Instant::now(), refused_batches: 0, refused_spans: 0 });
            self.set_full(true);
        }
        self.count_refused(state, spans);
    }

    fn count_refused(&self, state: &mut State, spans: u64) {
        if let Some(episode) = state.episode.as_mut() {
            episode.refused_batches += 1;
            episode.refused_spans += spans;
        }
        if let Some(r) = self.reporting.get() {
            r.refused_spans.inc_by(spans);
        }
    }

    /// What keeps a batch out, if anything. In an episode the room must be a margin above the
    /// threshold before writes resume. A measurement that fails admits the batch: the write
    /// itself then tells what is wrong with the disk.
    fn shortage(&self, state: &mut State, in_episode: bool) -> Option<Shortage> {
        if self.limits.min_free > 0 || self.reporting.get().is_some() {
            match available_bytes(&self.path) {
                Ok(available) => {
                    if let Some(r) = self.reporting.get() {
                        r.available.set(i64::try_from(available).unwrap_or(i64::MAX));
                    }
                    let min_free = self.limits.min_free;
                    let needed = if in_episode { min_free.saturating_add(margin(min_free)) } else { min_free };
                    if min_free > 0 && available < needed {
                        return Some(Shortage::Free { available, min_free });
                    }
                }
                Err(e) => tracing::debug!(path = %self.path.display(), error = %e, "cannot read the filesystem's free space"),
            }
        }
        let max_disk = self.limits.max_disk;
        if max_disk > 0 {
            let allowed = if in_episode { max_disk.saturating_sub(margin(max_disk)) } else { max_disk };
            if let Some(used) = self.used_bytes(state, allowed).filter(|u| *u > allowed) {
                return Some(Shortage::Cap { used, max_disk });
            }
        }
        if in_episode && self.limits.min_free == 0 {
            // An episode a failed write started, with no reserve: resume once a margin is free.
            if let Ok(available) = available_bytes(&self.path) {
                if available < MIB {
                    return Some(Shortage::Free { available, min_free: 0 });
                }
            }
        }
        None
    }

    /// The directory's size: measured, or estimated from the last measure while that is
    /// recent and the estimate within `allowed`.
    fn used_bytes(&self, state: &mut State, allowed: u64) -> Option<u64> {
        if let Some(u) = &state.usage {
            let age = u.measured_at.elapsed();
            let estimate = u.bytes.saturating_add(u.admitted);
            if age < USAGE_MIN_INTERVAL || (age < USAGE_TTL && estimate <= allowed) {
                return Some(estimate);
            }
        }
        // The write-ahead log is left out: retention cannot free it, and it stays within its
        // segment size by itself (cut back once its blocks are in sled).
        match directory_bytes(&self.path, Some(&self.path.join("wal"))) {
            Ok(bytes) => {
                state.usage = Some(Usage { measured_at: Instant::now(), bytes, admitted: 0 });
                Some(bytes)
            }
            Err(e) => {
                tracing::debug!(path = %self.path.display(), error = %e, "cannot measure the store's directory");
                None
            }
        }
    }

    fn set_full(&self, full: bool) {
        if let Some(r) = self.reporting.get() {
            r.full.set(i64::from(full));
        }
    }

    fn exporter(&self) -> &str {
        self.reporting.get().map_or("sled", |r| r.exporter.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::WalError;

    #[test]
    fn errors_that_mean_no_space() {
        assert!(is_no_space(&io::Error::from_raw_os_error(28)), "ENOSPC");
        assert!(is_no_space(&io::Error::from_raw_os_error(122)), "EDQUOT");
        // sled's copy: the kind survives, the number does not.
        assert!(is_no_space(&io::Error::new(io::ErrorKind::StorageFull, "No space left on device")));
        assert!(is_no_space(&io::Error::other(io::Error::from_raw_os_error(28))), "wrapped");
        assert!(!is_no_space(&io::Error::from_raw_os_error(5)), "EIO is another fault");
        assert!(!is_no_space(&io::Error::new(io::ErrorKind::PermissionDenied, "no")));
        let sled_full = StoreError::Sled(sled::Error::Io(io::Error::new(io::ErrorKind::StorageFull, "full")));
        assert!(sled_full.is_sled_out_of_space() && !sled_full.is_log_out_of_space());
        assert!(!StoreError::Join("x".into()).is_sled_out_of_space());
        let log_full = StoreError::from(WalError::Io { path: "wal".into(), source: io::Error::from_raw_os_error(28) });
        assert!(log_full.is_log_out_of_space() && !log_full.is_sled_out_of_space());
    }

    #[test]
    fn a_cap_refuses_once_the_directory_is_over_it_and_resumes_below_the_margin() {
        let dir = tempfile::tempdir().expect("temp dir");
        let guard = DiskGuard::new(dir.path(), DiskLimits { min_free: 0, max_disk: 4 * MIB });
        let telemetry = Telemetry::new();
        guard.report_to(&telemetry, "sled/test");
        assert_eq!(guard.admit_sized(10, 100), Ok(()));
        let filler = dir.path().join("filler");
        std::fs::write(&filler, vec![1u8; 5 << 20]).expect("filler");
        guard.lock().usage = None; // measured again now, not after the TTL
        let refused = guard.admit_sized(10, 100).expect_err("over the cap");
        assert!(!refused.is_permanent(), "retryable: {refused:?}");
        assert!(guard.admit_sized(5, 100).is_err());
        let metrics = telemetry.metrics.render();
        assert!(metrics.contains("tracegate_exporter_sled_disk_full{exporter=\"sled/test\"} 1"), "{metrics}");
        assert!(metrics.contains("tracegate_exporter_sled_disk_full_refused_spans{exporter=\"sled/test\"} 15"), "{metrics}");
        std::fs::remove_file(&filler).expect("rm");
        guard.lock().usage = None;
        assert_eq!(guard.admit_sized(10, 100), Ok(()), "room again");
        assert!(telemetry.metrics.render().contains("tracegate_exporter_sled_disk_full{exporter=\"sled/test\"} 0"));
    }
}
