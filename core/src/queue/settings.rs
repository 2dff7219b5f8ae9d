//! The engine-owned exporter settings, written inside each exporter's config as in the
//! Collector's exporterhelper: `sending_queue`, `retry_on_failure`, `timeout`.

use serde::{Deserialize, Serialize};

use crate::config::{ConfigProblem, GoDuration};
use crate::data::Traces;

/// What a full queue does with a batch that does not fit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Refuse the batch at once with a retryable error, which the receiver turns into gRPC
    /// UNAVAILABLE (with `RetryInfo`) / HTTP 503 with `Retry-After`: the client backs off and
    /// sends it again, so nothing is accepted that is then dropped. The Collector's default
    /// (`block_on_overflow: false`).
    #[default]
    Refuse,
    /// Wait up to `block_timeout` for room, then refuse as `refuse` does. Smooths short bursts
    /// at the price of holding the waiting requests (`block_on_overflow: true`).
    Block,
    /// Drop the batch, count it in `tracegate_exporter_enqueue_failed_spans`, and tell the
    /// sender it was accepted. Never stalls the pipeline (one dead exporter cannot hold up the
    /// others in a fan-out), but loses acknowledged data: an explicit opt-in only.
    DropNewest,
}

impl WhenFull {
    pub fn name(self) -> &'static str {
        match self {
            WhenFull::Refuse => "refuse",
            WhenFull::Block => "block",
            WhenFull::DropNewest => "drop_newest",
        }
    }
}

/// What `queue_size` counts, as the Collector's `sending_queue.sizer`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sizer {
    /// Batches, whatever their size (the Collector's default unit).
    Requests,
    /// Spans.
    Items,
    /// The batches' size as OTLP protobuf (`ExportTraceServiceRequest`), as the Collector's
    /// `bytes` sizer measures it. tracegate's default: it is the unit that bounds memory.
    #[default]
    Bytes,
}

impl Sizer {
    /// The default `queue_size` in this unit: 64 MiB in memory and 1 GiB on disk, about as
    /// many spans (~250 B each), or the Collector's 1000 batches for `requests`.
    pub fn default_queue_size(self, on_disk: bool) -> u64 {
        let scale = if on_disk { 16 } else { 1 };
        match self {
            Sizer::Bytes => scale * DEFAULT_QUEUE_BYTES,
            Sizer::Items => scale * 256 * 1024,
            Sizer::Requests => 1000,
        }
    }

    /// The unit's name in messages.
    pub fn unit(self) -> &'static str {
        match self {
            Sizer::Requests => "batches",
            Sizer::Items => "spans",
            Sizer::Bytes => "bytes",
        }
    }

    /// The size of `batch` in this unit.
    pub fn size_of(self, batch: &Traces) -> u64 {
        match self {
            Sizer::Requests => 1,
            Sizer::Items => batch.span_count() as u64,
            Sizer::Bytes => batch.encoded_len() as u64,
        }
    }
}

/// 64 MiB: the in-memory queue's default bound. Decoded spans take 2-4 times their protobuf
/// size, so this keeps one exporter's queue near a quarter of the all-in-one's 512 MiB budget
/// (docs/memory.md), while holding ~250k spans: seconds of a store's pace, enough to ride
/// out a burst. A longer outage is what the persistent queue is for.
pub const DEFAULT_QUEUE_BYTES: u64 = 64 << 20;

/// The sending queue, with the Collector's `sizer` / `queue_size` / `block_on_overflow`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawQueueSettings")]
pub struct QueueSettings {
    pub enabled: bool,
    pub num_consumers: usize,
    /// What `queue_size` counts.
    pub sizer: Sizer,
    /// The most the queue holds, waiting and being exported, in `sizer` units. A batch larger
    /// than the whole queue is still taken when the queue is empty, so it is never refused
    /// for good.
    pub queue_size: u64,
    pub when_full: WhenFull,
    /// How long `block` waits for room before refusing.
    pub block_timeout: GoDuration,
    /// The id of a `file_storage` extension: keeps the queue on disk (see `queue::disk`), as
    /// the Collector's `sending_queue.storage`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
}

/// `sending_queue` as written. Defaults depend on what else was written, so they are resolved
/// in `TryFrom`: a Collector config's bare `queue_size: 5000` means 5000 batches (the
/// Collector's default sizer is `requests`), so it keeps that meaning; with neither key,
/// the queue is sized in bytes.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawQueueSettings {
    enabled: bool,
    num_consumers: usize,
    sizer: Option<Sizer>,
    queue_size: Option<u64>,
    when_full: Option<WhenFull>,
    /// The Collector's name for `when_full: block` (true) / `refuse` (false).
    block_on_overflow: Option<bool>,
    block_timeout: GoDuration,
    storage: Option<String>,
}

impl Default for RawQueueSettings {
    fn default() -> Self {
        let d = QueueSettings::default();
        Self {
            enabled: d.enabled,
            num_consumers: d.num_consumers,
            sizer: None,
            queue_size: None,
            when_full: None,
            block_on_overflow: None,
            block_timeout: d.block_timeout,
            storage: None,
        }
    }
}

impl TryFrom<RawQueueSettings> for QueueSettings {
    type Error = String;

    fn try_from(raw: RawQueueSettings) -> Result<Self, String> {
        let sizer = match (raw.sizer, raw.queue_size) {
            (Some(sizer), _) => sizer,
            (None, Some(_)) => Sizer::Requests,
            (None, None) => Sizer::Bytes,
        };
        let on_disk = raw.storage.is_some();
        let when_full = match (raw.when_full, raw.block_on_overflow) {
            (Some(w), None) => w,
            (None, Some(true)) => WhenFull::Block,
            (None, Some(false)) | (None, None) => WhenFull::Refuse,
            (Some(w), Some(b)) if (w == WhenFull::Block) == b => w,
            (Some(w), Some(b)) => {
                return Err(format!(
                    "when_full: {} contradicts block_on_overflow: {b}; set one of them",
                    w.name()
                ))
            }
        };
        Ok(Self {
            enabled: raw.enabled,
            num_consumers: raw.num_consumers,
            sizer,
            queue_size: raw
                .queue_size
                .unwrap_or_else(|| sizer.default_queue_size(on_disk)),
            when_full,
            block_timeout: raw.block_timeout,
            storage: raw.storage,
        })
    }
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            num_consumers: 10,
            sizer: Sizer::Bytes,
            queue_size: DEFAULT_QUEUE_BYTES,
            when_full: WhenFull::Refuse,
            block_timeout: GoDuration::from_secs(5),
            storage: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrySettings {
    pub enabled: bool,
    pub initial_interval: GoDuration,
    pub randomization_factor: f64,
    pub multiplier: f64,
    pub max_interval: GoDuration,
    /// Give up after this long; 0 retries forever.
    pub max_elapsed_time: GoDuration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            enabled: true,
            initial_interval: GoDuration::from_secs(5),
            randomization_factor: 0.5,
            multiplier: 1.5,
            max_interval: GoDuration::from_secs(30),
            max_elapsed_time: GoDuration::from_secs(300),
        }
    }
}

/// All engine-owned settings of one exporter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExporterSettings {
    /// Newer Collector exporters, and Jaeger v2's `jaeger_storage_exporter`, spell it `queue`.
    #[serde(alias = "queue")]
    pub sending_queue: QueueSettings,
    pub retry_on_failure: RetrySettings,
    /// Limit on one export call.
    pub timeout: GoDuration,
}

impl Default for ExporterSettings {
    fn default() -> Self {
        Self {
            sending_queue: QueueSettings::default(),
            retry_on_failure: RetrySettings::default(),
            timeout: GoDuration::from_secs(5),
        }
    }
}

impl ExporterSettings {
    /// The keys the engine takes out of an exporter's config before the exporter sees it.
    pub const KEYS: [&'static str; 4] = ["sending_queue", "queue", "retry_on_failure", "timeout"];

    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        let q = &self.sending_queue;
        if q.enabled && q.queue_size == 0 {
            p.push(ConfigProblem::new(
                "sending_queue::queue_size",
                "must be at least 1",
            ));
        }
        if !q.enabled && q.storage.is_some() {
            p.push(ConfigProblem::new(
                "sending_queue::storage",
                "needs the sending queue enabled",
            ));
        }
        if q.storage.is_some() && q.sizer == Sizer::Items {
            p.push(ConfigProblem::new(
                "sending_queue::sizer",
                "items is not supported with storage (counting the spans on disk would mean reading every batch at start-up); use bytes or requests",
            ));
        }
        if q.enabled && q.num_consumers == 0 {
            p.push(ConfigProblem::new(
                "sending_queue::num_consumers",
                "must be at least 1",
            ));
        }
        let r = &self.retry_on_failure;
        if r.enabled {
            if r.initial_interval.is_zero() {
                p.push(ConfigProblem::new(
                    "retry_on_failure::initial_interval",
                    "must be greater than 0",
                ));
            }
            if !(0.0..=1.0).contains(&r.randomization_factor) {
                p.push(ConfigProblem::new(
                    "retry_on_failure::randomization_factor",
                    "must be between 0 and 1",
                ));
            }
            if r.multiplier < 1.0 || !r.multiplier.is_finite() {
                p.push(ConfigProblem::new(
                    "retry_on_failure::multiplier",
                    "must be at least 1",
                ));
            }
            if r.max_interval < r.initial_interval {
                p.push(ConfigProblem::new(
                    "retry_on_failure::max_interval",
                    "must not be less than initial_interval",
                ));
            }
        }
        if self.timeout.is_zero() {
            p.push(ConfigProblem::new("timeout", "must be greater than 0"));
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<QueueSettings, String> {
        serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn queue_is_the_newer_spelling_of_sending_queue() {
        let s: ExporterSettings = serde_yaml_ng::from_str("{queue: {sizer: items, queue_size: 5}}").expect("valid");
        assert_eq!((s.sending_queue.sizer, s.sending_queue.queue_size), (Sizer::Items, 5));
    }

    #[test]
    fn by_default_the_queue_is_sized_in_bytes_and_refuses_when_full() {
        let q = parse("{}").expect("valid");
        assert_eq!(q, QueueSettings::default());
        assert_eq!((q.sizer, q.queue_size, q.when_full), (Sizer::Bytes, 64 << 20, WhenFull::Refuse));
        let q = parse("{storage: file_storage}").expect("valid");
        assert_eq!((q.sizer, q.queue_size), (Sizer::Bytes, 1 << 30), "on disk");
    }

    #[test]
    fn a_collector_queue_size_without_sizer_keeps_counting_batches() {
        let q = parse("{queue_size: 5000}").expect("valid");
        assert_eq!((q.sizer, q.queue_size), (Sizer::Requests, 5000));
        let q = parse("{sizer: bytes, queue_size: 1000000}").expect("valid");
        assert_eq!((q.sizer, q.queue_size), (Sizer::Bytes, 1_000_000));
        let q = parse("{sizer: items}").expect("valid");
        assert_eq!((q.sizer, q.queue_size), (Sizer::Items, 256 * 1024));
        let q = parse("{sizer: requests}").expect("valid");
        assert_eq!(q.queue_size, 1000, "the Collector's default");
    }

    #[test]
    fn block_on_overflow_is_the_collectors_name_for_block() {
        assert_eq!(parse("{block_on_overflow: true}").expect("valid").when_full, WhenFull::Block);
        assert_eq!(parse("{block_on_overflow: false}").expect("valid").when_full, WhenFull::Refuse);
        assert_eq!(parse("{when_full: drop_newest}").expect("valid").when_full, WhenFull::DropNewest);
        let err = parse("{when_full: drop_newest, block_on_overflow: true}").expect_err("contradiction");
        assert!(err.contains("when_full: drop_newest contradicts block_on_overflow: true"), "{err}");
        let err = parse("{sizer: pages}").expect_err("unknown sizer");
        assert!(err.contains("unknown variant `pages`"), "{err}");
    }

    #[test]
    fn the_resolved_settings_read_back_the_same() {
        for yaml in ["{}", "{queue_size: 7}", "{sizer: items, block_on_overflow: true, storage: fs}"] {
            let q = parse(yaml).expect("valid");
            let printed = serde_yaml_ng::to_string(&q).expect("serializes");
            assert_eq!(parse(&printed).expect("reads back"), q, "{printed}");
        }
    }
}
