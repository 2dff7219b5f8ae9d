//! sled exporter: tracegate's embedded trace store, the storage half of the all-in-one
//! (receivers -> batch -> sled, read by `jaeger_query` through [`SledExporter::reader`] /
//! `Exporter::trace_reader`).
//!
//! # Why blocks, not a key per span
//!
//! Jaeger's Badger layout writes a key per span plus an index key per span per indexed
//! attribute. `../shared/tools/limits` measured sled 0.34 on this machine at ~90k keys/s with
//! one 470 B key per span (~1 KB/span on disk) and 16-26k spans/s with 4 index keys per span
//! (~2.8 KB/span): an order of magnitude short of the targets (>= 200k spans/s per core,
//! <= 60 B/span). So this store writes few, large values:
//!
//! - **Partitions.** Time is cut into `partition`-long slices by span start; each slice has a
//!   `b/<start>-<end>` tree of blocks and an `x/<start>-<end>` index tree. Retention drops
//!   whole trees (`drop_tree`), never scanning keys; start-up opens the database and the
//!   partition trees by name, so it does not grow with the data stored.
//! - **Blocks.** Each exported batch becomes one zstd-compressed value per partition it
//!   touches, keyed by a sequence number, holding the spans grouped by trace (see [`codec`]).
//! - **Trace index.** One `t`+trace+seq key per (trace, block): `get_trace` scans that prefix
//!   in each live partition, decompresses those blocks, and decodes only the trace's segment;
//!   spans are deduplicated by id, so a retried batch is harmless.
//! - **Search summaries.** One `s`+seq value per block, in the blocks tree (services,
//!   operations with kinds, start/duration ranges per service, a Bloom filter of tag hashes):
//!   see [`summary`]. A search reads summaries newest first and decompresses only candidate
//!   blocks; in those it walks each trace's span heads without decoding ([`scan`]), skips a
//!   trace whose bytes lack a string tag value, decodes only traces that can still match, and
//!   checks their spans exactly (Jaeger: one span meets every condition).
//! - **Operations** live in a global `meta` tree; **dependencies** are counted as spans are
//!   written ([`deps`]) into `d`+parent+child counters per partition and summed on read.
//!
//! # Measured (`cargo bench -p tracegate-exporter-sled --bench store`, 2-core shared VM)
//!
//! 10-attribute spans, 1000-span batches, one export at a time on one tokio worker. Second
//! run, with `limits --only otlp,sled` running at the same time on the loaded machine (its
//! `otlp_decode` was 177k spans/s against ~500k quiet, `sled_write` 33k, `sled_write_indexed`
//! 8.5k): ingest 108k spans/s (fresh db), fill to 1M spans 89k spans/s, i.e. ~2.7x sled with a
//! key per span and ~10x with 4 index keys per span in the same window. Disk after flush:
//! 176 B/span at 1M spans (476 B/span on the small ingest db, where sled's fixed segment
//! overhead dominates) against ~1100 B for a key per span. Queries on the 1M store, limit 20,
//! p50/p99: get_trace 0.51/1.1 ms; service 10/19 ms; service+operation 42/128 ms;
//! service+tag (user.id, 10k values, so few matches and a scan of every summary) 338/601 ms;
//! service+duration 24/60 ms. Reading summaries in place (no allocation per operation name)
//! took service search from 64/124 ms to 10/19 ms. Not yet at the targets (200k spans/s,
//! 60 B/span, search p99 50 ms): rare tags cost a decompress + decode of every candidate
//! block (Bloom false positives plus true hits), and sled's space amplification is most of
//! the disk figure (the zstd blocks alone are far smaller).
//!
//! Third run, an hour later, same machine still loaded (fuzzers on both cores), before/after
//! pairs taken in the same window on a 200k-span store, then one 1M run. Query CPU time is
//! the process's user+system time per query (the bench prints both).
//!
//! - **Searches.** Full prost decoding of every span of every candidate block was the cost:
//!   a rare tag matches ~20 blocks (Bloom false positives plus true hits) x 1000 spans. Now a
//!   trace segment is first checked for the tag value's bytes (only when the value cannot be
//!   the text of an int/bool/double/bytes attribute or a derived tag), then its span heads
//!   (service, name, start, end) are walked in place; only survivors are decoded. 200k store,
//!   p99 before -> after: service 29 -> 5.5 ms, service+operation 104 -> 10 ms, service+tag
//!   145 -> 16 ms, service+duration 30 -> 11 ms. Per-(service, operation) ranges in the
//!   summary would not have helped this data: every block holds every route of every service.
//! - **Disk.** Measured by reopening the store and summing keys+values: zstd blocks 58.7
//!   B/span, summaries 12.7 (the Bloom filter, ~12 KB per 1000-span block), trace keys 2.5;
//!   74 B/span logical against 165 on disk. The rest was sled: summaries sat in the index tree
//!   whose leaves (with random trace keys) are rewritten on consolidation, and sled writes a
//!   log entry above a quarter segment as a blob file but smaller ones inline in its log, so
//!   each ~60 KB block went into the 512 KiB-segment log first and into a blob later.
//!   Summaries moved to the blocks tree (165 -> 144 B/span) and new databases use 128 KiB
//!   segments, so blocks go straight to blobs (144 -> 101 B/span, and fill got faster).
//!   `Mode::LowSpace` changed nothing.
//! - **1M-span store after both changes** (p50/p99, limit 20): get_trace 0.52/0.79 ms;
//!   service 1.4/2.6 ms; service+operation 3.5/8.4 ms; service+tag (rare user.id)
//!   21/35 ms (22 ms CPU per query); service+duration 2.0/2.9 ms. Disk 100 B/span (blobs 73,
//!   log 26). Fill to 1M 85k spans/s wall, 87k spans per CPU second including the bench's own
//!   span generation; criterion ingest 105k spans/s (unchanged: not worked on).
//! - **Still short:** ingest (200k spans/s per core) and disk (60 B/span). Next steps: zstd
//!   blocks are already ~59 B/span at level 3, so the disk target needs a trained dictionary
//!   or columnar span encoding, plus a smaller Bloom filter (or one per trace in the block).
//!   A higher `compression_level` does not pay (200k store, `SLED_BENCH_LEVEL`): level 7
//!   saves 7 B/span of blocks at 35% less fill rate, level 12 saves 10 B/span at half.
//!   A sparser filter (6 bits per item) would save ~3 B/span but triple false positives,
//!   each a block decompression for a rare-tag search;
//!   ingest time is mostly encoding, hashing every tag for the filter, and zstd.

mod block_read;
mod block_write;
mod codec;
mod config;
mod db;
mod deps;
mod exporter;
mod read;
mod summary;
mod write;

use std::sync::Arc;

use tracegate_core::{ComponentError, CreateContext, Exporter, ExporterFactory, Stability};

pub use config::Config;
pub use db::StoreError;
pub use exporter::SledExporter;
pub use read::SledReader;

/// Builds [`SledExporter`]s for the `sled` type.
pub struct SledExporterFactory;

impl ExporterFactory for SledExporterFactory {
    const TYPE: &'static str = "sled";
    const STABILITY: Stability = Stability::Alpha;
    type Config = Config;

    fn create(&self, _ctx: CreateContext, config: Config) -> Result<Arc<dyn Exporter>, ComponentError> {
        let exporter = SledExporter::open(config).map_err(ComponentError::other)?;
        Ok(Arc::new(exporter))
    }
}

tracegate_core::register_exporter!(SledExporterFactory);

#[cfg(test)]
mod block_tests;
#[cfg(test)]
mod tests;
