//! Settings of the sled store. `path` is the database directory (one database per path per
//! process); `retention` is how long spans are kept (0 keeps them forever), in whole
//! `partition`s; `sync_on_write` (default true) makes `export` return only once the batch is
//! on disk (in the write-ahead log, see `wal`), and then the engine answers the client only after that export, so an acknowledged
//! span survives kill -9 and a power cut (batches written concurrently share one sync).
//! `sync_on_write: false` is the opt-out for speed: the client is answered when the sending
//! queue holds the batch; a kill loses what was queued (the log is still written, so what
//! reached it survives a killed process, though not a power cut). See docs/durability.md. `cache_size_mib` is sled's
//! page cache; `compression_level` is zstd's level for span blocks. `max_block_spans` and
//! `max_block_age` say when batches waiting in the write-ahead log become a block (see
//! `ingest`). `min_free_mib` and `max_disk_mib` say when the store refuses spans (retryably)
//! for lack of disk space; see `disk_full`.
//!
//! Why the page cache defaults to 4 MiB: sled counts `cache_capacity` in on-disk bytes, and
//! the pages it keeps take many times that in memory, so its 1 GiB default (and the 256 MiB
//! this store had) made the all-in-one's resident memory grow to several hundred MiB while
//! writing, and stay there. Writes cost no more CPU with 4 and query-bench's queries answered
//! as fast (docs/memory.md has the figures); 4 keeps the all-in-one in its memory budget.
//!
//! Why zstd level 3 (and not 1): level 3 was ~5% of the all-in-one's CPU in a profile of the
//! fill once the trace index stopped costing sled inserts, so level 1 was tried (query-bench,
//! 3M spans, same binary, alternated, 2026-12-07). A first pair on the old writer said 200k
//! and 207k spans per gateway CPU second against 177k and 184k; a second pair said 183k and
//! 166k against 162k and 186k; on the new writer (realistic shape) 297k and 295k against
//! 272k and 306k, with ~1.5 B/span more disk at level 1 (35.4-37.2 against 33.9-35.4). No
//! gain beyond the machine's noise, a little more disk: level 3 stays.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tracegate_core::config::{ConfigProblem, GoDuration};
use tracegate_core::factory::ComponentConfig;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub path: PathBuf,
    pub retention: GoDuration,
    pub partition: GoDuration,
    pub sync_on_write: bool,
    pub cache_size_mib: u64,
    pub compression_level: i32,
    /// A block is written once it holds this many spans (or has waited `max_block_age`).
    pub max_block_spans: usize,
    /// How long acknowledged spans wait in the write-ahead log for their block to fill. Reads
    /// write the open block first, so this is not how long spans take to show up.
    pub max_block_age: GoDuration,
    /// Spans are refused (retryably) while the filesystem has less than this available, so
    /// that sled never meets a full disk (it cannot recover from one without a restart). 0
    /// turns the check off.
    pub min_free_mib: u64,
    /// Spans are refused (retryably) while the store's directory occupies more than this;
    /// retention frees room. 0: no cap.
    pub max_disk_mib: u64,
    /// RED metrics for Jaeger's Monitor tab and Prometheus (see `red_metrics`).
    pub span_metrics: crate::red_metrics::SpanMetricsConfig,
}

/// The reserve covers what is on its way to sled when the last check passed (the open block,
/// blocks being sealed, sled's segment rewrites and snapshots), with room to spare for
/// whatever else writes to the same disk meanwhile.
pub const DEFAULT_MIN_FREE_MIB: u64 = 256;

/// A smaller cap would be spent on sled's own files before any span.
pub const MIN_MAX_DISK_MIB: u64 = 16;

impl Default for Config {
    fn default() -> Self {
        Self {
            path: PathBuf::from("./tracegate-data"),
            retention: GoDuration::from_secs(72 * 3600),
            partition: GoDuration::from_secs(3600),
            sync_on_write: true,
            cache_size_mib: 4,
            compression_level: 3,
            max_block_spans: 8192,
            max_block_age: GoDuration::from_secs(1),
            min_free_mib: DEFAULT_MIN_FREE_MIB,
            max_disk_mib: 0,
            span_metrics: Default::default(),
        }
    }
}

impl ComponentConfig for Config {
    type Validated = Self;

    fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if self.path.as_os_str().is_empty() {
            problems.push(ConfigProblem::new("path", "is required: the database directory, e.g. ./tracegate-data"));
        }
        if self.partition.get().as_secs() < 1 {
            problems.push(ConfigProblem::new("partition", "must be at least 1s (the unit retention drops)"));
        }
        if !self.retention.is_zero() && self.retention < self.partition {
            problems.push(ConfigProblem::new(
                "retention",
                "must be 0 (keep forever) or at least one partition; lower `partition` for short retention",
            ));
        }
        if self.cache_size_mib == 0 {
            problems.push(ConfigProblem::new("cache_size_mib", "must be at least 1"));
        }
        if !(1..=1_000_000).contains(&self.max_block_spans) {
            problems.push(ConfigProblem::new("max_block_spans", "must be from 1 to 1000000 (8192 packs well and reads fast)"));
        }
        if self.max_block_age.get().is_zero() {
            problems.push(ConfigProblem::new("max_block_age", "must be more than 0 (e.g. 1s)"));
        }
        if !(1..=22).contains(&self.compression_level) {
            problems.push(ConfigProblem::new("compression_level", "must be a zstd level from 1 to 22"));
        }
        if self.max_disk_mib != 0 && self.max_disk_mib < MIN_MAX_DISK_MIB {
            problems.push(ConfigProblem::new(
                "max_disk_mib",
                format!("must be 0 (no cap) or at least {MIN_MAX_DISK_MIB} (MiB, sled's own files included)"),
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    fn parse(yaml: &str) -> Result<Config, Vec<String>> {
        tracegate_core::testing::parse_config_messages::<Config>(yaml)
    }

    #[test]
    fn defaults_and_user_values() {
        assert_eq!(parse("{}"), Ok(Config::default()));
        let c = parse("{path: /data, retention: 24h, partition: 30m, sync_on_write: false}").expect("valid");
        assert_eq!(c.retention, GoDuration::from_secs(86400));
        assert_eq!(c.partition, GoDuration::from_secs(1800));
        assert!(!c.sync_on_write, "the opt-out");
        assert!(Config::default().sync_on_write, "durable by default");
    }

    #[test]
    fn bad_values_name_their_key() {
        let err = parse("{retention: 10m, partition: 1h, compression_level: 0}").expect_err("invalid");
        assert!(err.iter().any(|e| e.starts_with("retention: must be 0")), "{err:?}");
        assert!(err.iter().any(|e| e.starts_with("compression_level:")), "{err:?}");
        let err = parse("{ttl: 1h}").expect_err("unknown key");
        assert!(err[0].contains("unknown field `ttl`"), "{err:?}");
        let err = parse("{max_disk_mib: 8}").expect_err("a cap too small");
        assert!(err.iter().any(|e| e.starts_with("max_disk_mib: must be 0 (no cap) or at least 16")), "{err:?}");
    }

    #[test]
    fn disk_space_settings() {
        let c = Config::default();
        assert_eq!((c.min_free_mib, c.max_disk_mib), (256, 0), "a reserve by default, no cap");
        let c = parse("{min_free_mib: 0, max_disk_mib: 1024}").expect("valid");
        assert_eq!((c.min_free_mib, c.max_disk_mib), (0, 1024));
    }
}
