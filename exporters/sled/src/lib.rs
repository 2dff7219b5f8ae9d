//! sled exporter: tracegate's embedded trace store, the storage half of the all-in-one
//! (receivers -> batch -> sled, read by `jaeger_query` through the `TraceStore` it offers,
//! see `tracegate_core::capability`; as the `sled` exporter or as a backend of the
//! `jaeger_storage` extension).
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
//! - **Write-ahead log, then blocks** ([`wal`], [`ingest`]). An export appends its batch to
//!   a log file and syncs it (concurrent exports share one `fdatasync`): that is the
//!   acknowledgment. Batches wait there until `max_block_spans` (8192) or `max_block_age`
//!   (1 s), or until a read, then become blocks; log segments are deleted once sled has
//!   flushed their blocks, and replayed at open otherwise.
//! - **Blocks.** Each cut becomes one zstd-compressed block per partition it touches,
//!   appended to the partition's block file ([`block_file`]; sled keeps where it is, keyed
//!   by a sequence number: sled kept blocks it held in memory for good), holding the spans
//!   grouped by trace in columns (a
//!   string table, one value column per attribute key, delta-coded times, parents as indexes,
//!   each resource once; see [`block_write`]). Columns halve what zstd has to store compared
//!   with OTLP protobuf per trace (format 1), and encoding them is cheaper than prost's.
//! - **Trace index** ([`trace_index`]). Per block, its sorted trace ids in one value (`i`+seq),
//!   kept in memory too; once a partition's lists hold 128k ids they are merged into a run of
//!   sorted (trace, block) entries in ~4.5 KB chunks. `get_trace` binary-searches the lists
//!   and seeks once per run, decodes the blocks found and rebuilds only that trace's spans
//!   ([`fetch`]). Format 2 wrote a `t`+trace+seq sled key per (trace, block) instead: ~17% of
//!   the fill's CPU in a profile, and ~10 B/span of disk. Byte-identical spans (a retried
//!   batch) are returned once; spans that share an id but differ are all returned, as Jaeger
//!   does.
//! - **Search summaries.** One `s`+seq value per block, in the blocks tree: per service its
//!   operations with kinds and the latest start of each, start and duration ranges, the
//!   latest start per duration class; and a binary fuse filter of `(service, key, value)`
//!   tag hashes ([`summary`], [`filter`]). A search ([`read`], rules in [`matching`]) reads
//!   summaries newest first, decodes only blocks that can still beat its `limit`-th newest
//!   trace, lets a block through a tag search only if that tag's value column holds the
//!   value, and walks the rest span by span in place ([`block_read`]), checking each span
//!   exactly (Jaeger v2: one span meets every condition; span, resource, scope, event and
//!   link attributes count). Older summary layouts are still read.
//! - **Key catalog** ([`catalog`]): the attribute keys each service has written, in `meta`,
//!   so a search for a key no span carries answers without reading a summary.
//! - **Decoded-block cache** ([`block_cache`], 64 MiB): a search's results are built from the
//!   blocks it walked, in one walk per block, and the trace a user opens next is usually in
//!   one of them.
//! - **Operations** live in a global `meta` tree; **dependencies** are counted as spans are
//!   written ([`deps`]) into `d`+parent+child counters per partition and summed on read.
//! - **Format version.** `meta` holds the storage format (4). Format 2 and 3 databases are
//!   opened and restamped 4: their blocks stay in sled and are read there, format 2's `t`
//!   keys are still read, new blocks are written the new way (an older build then refuses
//!   the database by name instead of misreading it). Any other format
//!   (format 1 had no version key) is refused at open with an error naming both versions; it
//!   is not converted. Block containers and summaries are unchanged since format 2. sled's own segment
//!   size is read back from its `conf`.
//!
//! # Measured
//!
//! What a user of the all-in-one sees: `../shared/tools/query-bench/query_bench.py --spans
//! 10000000 --runs 100 [-- --shape realistic --services 20 --seed 7]` fills the shipped
//! `config-examples/all-in-one.yaml` through OTLP/gRPC with `tracegate-loadgen` flat out and
//! times the UI's and Grafana's queries over HTTP (limit 20, last hour; p50 / p99 ms). The
//! realistic shape uses 20 services because query-bench draws operations and tags from the
//! first 20 services only. 2-core shared VM, 2026-12-07 03:30-04:27, under heavy load from other
//! work (load average 7-11, `limits` otlp_decode 70-174k spans/s against ~300k on a quiet
//! machine), so latencies are pessimistic; history in `docs/perf/sled-store-history.md`.
//!
//! | query | realistic 10M | default shape 10M | realistic 100M |
//! | --- | --- | --- | --- |
//! | trace by id | 2.50 / 14.2 | 2.30 / 22.5 | 3.88 / 13.7 |
//! | service | 15.0 / 55.5 | 22.6 / 57.3 | 27.0 / 69.0 |
//! | service + common operation | 11.6 / 38.8 | 8.5 / 50.8 | 22.6 / 60.8 |
//! | service + rare operation | 34.3 / 132 | 8.7 / 38.8 | 42.3 / 137 |
//! | service + common tag | 23.2 / 68.1 | 20.7 / 75.5 | 11.9 / 52.4 |
//! | service + rare tag | 29.7 / 201 | 111 / 234 | 180 / 1256 |
//! | service + minDuration 20ms | 30.3 / 115 | 8.6 / 36.8 | 23.6 / 138 |
//! | service + absent tag | 0.43 / 4.21 | 0.42 / 12.0 | 0.34 / 8.1 |
//! | fill: spans per gateway CPU s | 152k | 171k | 133k |
//! | disk | 53.2 B/span | 53.3 B/span | 47.8 B/span |
//!
//! Those are format 2. The writer since (format 3's trace index, the retention count read
//! from start times only, ints formatted by `itoa`), same tool at 3M spans, `--runs 50`,
//! before and after alternated in a quiet window (2026-12-07 07:22-07:31, `limits`
//! otlp_decode 444-475k spans/s; p50 / p99 ms):
//!
//! | 3M spans | default, before | default, now | realistic, before | realistic, now |
//! | --- | --- | --- | --- | --- |
//! | fill, spans per gateway CPU s | 226k, 205k | **340k, 315k** | 209k, 196k | **272k-306k** |
//! | disk | 52.9, 53.0 B/span | **42.8, 41.6** | 48.2-51.1 | **33.9-36.0** |
//! | trace by id | 1.88 / 6.22 | 1.66 / 2.49 | 1.28 / 2.10 | 1.42 / 1.96 |
//! | service | 8.45 / 11.8 | 5.38 / 9.53 | 9.14 / 20.6 | 8.39 / 25.5 |
//! | service + common operation | 11.2 / 15.2 | 5.16 / 5.53 | 9.40 / 20.1 | 9.37 / 31.7 |
//! | service + rare operation | 10.6 / 21.1 | 7.44 / 8.65 | 13.3 / 30.2 | 16.6 / 56.0 |
//! | service + common tag | 5.57 / 12.7 | 6.74 / 10.9 | 11.1 / 30.9 | 11.2 / 21.8 |
//! | service + rare tag | 83.9 / 115 | 59.6 / 101 | 8.31 / 65.9 | 7.59 / 80.4 |
//! | service + minDuration | 8.23 / 13.4 | 5.50 / 13.5 | 13.0 / 54.7 | 11.8 / 58.3 |
//!
//! Query latencies moved both ways between runs of the same binary by more than between the
//! binaries, with one pattern left unexplained: in the realistic shape, service + common tag
//! p50 was higher with the new writer in 4 of 5 pairs (0-100%; the table's is the fifth), and
//! service in 3 of 5. The same binary at zstd level 1 and 3 read alike. Suspect (not
//! confirmed): a search's 20 result traces were each binary-searched in every pending list
//! (366 at 3M realistic spans, none merged into a run yet), ~0.5-1 ms; the pending ids are now
//! sorted together (`trace_index`), a change not yet measured. The 10M
//! and 100M tables above were not
//! re-measured with the new writer. 400k spans per CPU second is not reached: the column
//! encoder (~30%, attributes ~20%), the writer's one view parse of each span (~8%) and the
//! receiver's check (~5%) lead the profile now.
//!
//! A profile of the realistic shape (perf, dwarf, 10 s of a 3M-span fill with `--shape
//! realistic --services 50`, 5cd79eb, 2026-12-07 09:33) put `write_requests` at 65% of the
//! gateway's CPU, the attribute columns at 32%, and their full path (`KeyValueView` parse,
//! UTF-8 checks, the string map, tag hashing) alone at 23%: the value cache was keyed by value
//! bytes with one service per entry, so with 50 services in a block `GET` or `200` of one
//! service evicted the previous one's, most repeats took the full path, and columns soon
//! stopped caching. The cache is now keyed by (service, value bytes), a column that stops
//! caching also stops deduplicating its strings, and a key field that misses its position's
//! hint is looked up among the block's key fields ([`block_write`]). Same format. Measured
//! (first two changes, release build, shipped all-in-one, 2M spans, 3 alternated pairs in a
//! loaded window, otlp_decode 130-195k): realistic 224-259k -> 229-264k spans per gateway CPU
//! s, default 249-296k -> 255-304k, disk 37-38 / 42-43 B/span either way: no gain beyond
//! noise, and 400k is not reached (`docs/perf/sled-store-history.md`, fourth session).
//!
//! Durable by default through the write-ahead log, with 8192-span blocks. The block size is the
//! trade: the earlier durable design (a block per synced batch, a few hundred spans) read
//! faster (10M realistic on a quiet machine: service p99 17 ms, rare tag 43 ms) but wrote 62-65
//! B/span at 137-142k spans per CPU second; full blocks pack and ingest better and make each
//! walked block dearer. `max_block_spans` lowers it for read-heavy stores. A rare tag at 100M
//! reads every summary of the window; a filter per group of blocks would let it skip groups.

mod block_cache;
mod block_file;
mod block_read;
mod block_write;
mod catalog;
mod codec;
mod config;
mod db;
mod deps;
mod disk_full;
mod disk_usage;
mod exporter;
mod fetch;
mod filter;
mod ingest;
#[doc(hidden)]
pub mod fuzzing;
mod matching;
mod past_retention;
mod read;
mod red_metrics;
mod reclaim;
mod run_filter;
mod summary;
mod tenants;
mod trace_index;
mod wal;
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

    fn create(&self, ctx: CreateContext, config: Config) -> Result<Arc<dyn Exporter>, ComponentError> {
        let exporter = SledExporter::open(config).map_err(ComponentError::other)?;
        exporter.report_to(&ctx.telemetry, &ctx.id.to_string());
        Ok(Arc::new(exporter))
    }
}

tracegate_core::register_exporter!(SledExporterFactory);

#[cfg(test)]
mod block_tests;
#[cfg(test)]
mod format_tests;
#[cfg(test)]
mod red_metrics_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tenants_tests;
