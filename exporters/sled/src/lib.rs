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
//!   (1 s), or until a read, then become blocks; log segments are deleted (full ones kept
//!   as spares that later segments reuse, while spans arrive) once sled has flushed their
//!   blocks, and replayed at open otherwise.
//! - **Blocks.** Each cut becomes one zstd-compressed block per partition it touches,
//!   appended to the partition's block file ([`block_file`]; sled keeps where it is, keyed
//!   by a sequence number: sled kept blocks it held in memory for good), holding the spans
//!   grouped by trace in columns (a
//!   string table, one value column per attribute key, delta-coded times, parents as indexes,
//!   each resource once; see [`block_write`]). Columns halve what zstd has to store compared
//!   with OTLP protobuf per trace (format 1), and encoding them is cheaper than prost's.
//!   Since format 5 a block of more than ~512 spans has a page table: where every column
//!   stands every ~512 spans, at a trace boundary (`block_write::PAGE_SPANS`), so a reader
//!   walks one page to reach a trace, not every span before it.
//! - **Trace index** ([`trace_index`]). Per block, its sorted trace ids in one value (`i`+seq),
//!   kept in memory too; once a partition's lists hold 128k ids they are merged into a run of
//!   sorted (trace, block) entries in ~4.5 KB chunks. `get_trace` binary-searches the lists
//!   and seeks once per run, decodes the blocks found and rebuilds only that trace's spans
//!   ([`fetch`]). Format 2 wrote a `t`+trace+seq sled key per (trace, block) instead: ~17% of
//!   the fill's CPU in a profile, and ~10 B/span of disk. Byte-identical spans (a retried
//!   batch) are returned once; spans that share an id but differ are all returned, as Jaeger
//!   does.
//! - **Search summaries.** One per block, `s`+seq in the blocks tree (since format 7 a
//!   pointer into the partition's summary file, which a search reads in batches,
//!   [`summary_scan`]: sled kept every leaf of summaries in memory, see [`block_file`]; the
//!   trace index's values moved to the block file for the same reason): per service its
//!   operations with kinds and the latest start of each, start and duration ranges, the
//!   latest start per duration class; and a binary fuse filter of `(service, key, value)`
//!   tag hashes ([`summary`], [`filter`]). A search ([`read`], rules in [`matching`]) reads
//!   summaries newest first, decodes only blocks that can still beat its `limit`-th newest
//!   trace, lets a block through a tag search only if that tag's value column holds the
//!   value (strings, ints and bools compared as stored), walks only the pages whose part of
//!   the column does, span by span in place ([`block_read`]), and checks each span
//!   exactly (Jaeger v2: one span meets every condition; span, resource, scope, event and
//!   link attributes count). Older summary layouts are still read. Doubles are filed in the
//!   filter under one marker per key, not by value (see `codec::DOUBLE_VALUES`).
//! - **Key catalog** ([`catalog`]): the attribute keys each service has written, in `meta`,
//!   so a search for a key no span carries answers without reading a summary.
//! - **Decoded-block cache** ([`block_cache`], 64 MiB, emptied after a minute unused): a
//!   search's results are built from the blocks it walked, in one walk per block, and the
//!   trace a user opens next is usually in one of them.
//! - **Operations** live in a global `meta` tree; **dependencies** are counted as spans are
//!   written ([`deps`]) into `d`+parent+child counters per partition and summed on read.
//! - **Format version.** `meta` holds the storage format (7). Format 2 to 6 databases are
//!   opened and restamped 7: format 2 and 3 blocks stay in sled and are read there, format
//!   2's `t` keys are still read, format 4 blocks (no page table) are read as one page,
//!   format 5 summaries (doubles filed by their text, not under `codec::DOUBLE_VALUES`) are
//!   still searched, summaries and trace-index values of formats 2 to 6 are read from sled,
//!   and new blocks are written the new way (an older build then refuses the
//!   database by name instead of misreading it). Any other format (format 1 had no version
//!   key) is refused at open with an error naming both versions; it is not converted.
//!   sled's own segment size is read back from its `conf`.
//!
//! # Measured
//!
//! What a user of the all-in-one sees: `../shared/tools/query-bench/query_bench.py --spans
//! 10000000 --runs 100 [-- --shape realistic --services 20 --seed 7]` fills the shipped
//! `config-examples/all-in-one.yaml` through OTLP/gRPC with `tracegate-loadgen` flat out and
//! times the UI's and Grafana's queries over HTTP (limit 20, last hour; p50 / p99 ms). The
//! realistic shape uses 20 services because query-bench draws operations and tags from the
//! first 20 services only. Format 7 (summaries and the trace index's values out of sled, in
//! files; summaries read in chunks through the summary cache; jemalloc's `tcache_max:4096`):
//! release build of d501bf6, 2026-12-08 02:56-03:03 on the 2-core VM, nothing else running
//! (`limits` otlp_decode 585-622k spans/s). History, each step's own figures, and other
//! windows: `docs/perf/sled-store-history.md`.
//!
//! | query | default 10M | realistic 10M | realistic 100M |
//! | --- | --- | --- | --- |
//! | trace by id | 0.54 / 0.79 | 0.55 / 1.12 | 0.63 / 1.15 |
//! | service | 4.41 / 6.20 | 5.41 / 10.3 | 6.32 / 11.4 |
//! | service + common operation | 3.19 / 4.76 | 4.07 / 7.68 | 4.94 / 8.77 |
//! | service + rare operation | 3.68 / 5.66 | 5.55 / 11.1 | 6.86 / 16.2 |
//! | service + common tag | 5.24 / 7.33 | 4.81 / 8.51 | 7.70 / 13.6 |
//! | service + rare tag | 8.68 / 12.0 | 4.25 / 24.6 | 45.8 / 61.8 |
//! | service + minDuration | 4.16 / 6.78 | 6.01 / 16.3 | 7.58 / 21.7 |
//! | service + absent tag | 0.24 / 0.43 | 0.26 / 0.46 | 0.28 / 0.53 |
//! | fill: spans per gateway CPU s | 475k | 482k | 431k |
//! | fill: acknowledged spans/s | 595k | 598k | 549k |
//! | disk | 39.4 B/span | 33.6 B/span | 33.5 B/span |
//! | RSS peak / settled | 115 / 72 MiB | 114 / 73 MiB | 133 / 95 MiB |
//!
//! The rare tag at 100M reads every summary of the hour (~300 MB: ~24 KB per block of this
//! shape); it was 26 / 45 ms with summaries in sled (format 6), whose pages also made an idle
//! gateway hold ~60 MB more after a long fill (docs/memory.md). Read from the files one
//! by one it was 79 / 118 ms, in 1 MiB chunks 54 / 93 ms, and with the newest 128 MiB of
//! chunks cached while searches run 44-46 / 62-68 ms ([`summary_scan`], [`summary_cache`]).
//!
//! What made the rare tag fast (each step measured with query-bench, see the history): a
//! search for a value counts it in the tag's value column first, ints and bools compared as
//! such, so a block that lacks it is skipped unwalked; the page table lets it walk only the
//! ~512-span pages that hold a candidate, and lets a result trace be fetched by walking its
//! page, not the block up to it (default 10M rare tag 40 -> 10 ms p50, ~200k -> ~20k spans
//! walked per search; trace by id 1.26 -> 0.45 ms p50); at 100M a search reads ~11k
//! summaries, and 16-bit filters stopped ~45 false positives per search from costing a block
//! decompression each, and a summary's other services are skipped unparsed (100M rare tag
//! 45 -> 21 ms p50, 164 -> 81 ms p99, same load).
//!
//! Ingest against issue 14's 400k spans per gateway CPU second: alternated 6M default-shape
//! fills went from 302-346k (1be432b) to 376-436k (b55f79d); format 7 added a few percent
//! (format 6 against d501bf6, three pairs at 02:55, `limits` 560-585k: 440/440/417k ->
//! 484/457/427k; presumably sled's log no longer carrying summaries and lists). Single long
//! fills on this VM still vary by a quarter between windows (d005d0b gave 460k and 365k at
//! default 10M, the faster acknowledgment rate with the lower figure). What is left in the
//! profile is the attribute columns (~12%), the receiver's check and the views (~14%), copies
//! (~7%) and the kernel (~22%: socket reads, `fdatasync`, thread hand-offs).

//! Durable by default through the write-ahead log, with 8192-span blocks. The block size is the
//! trade: the earlier durable design (a block per synced batch, a few hundred spans) read
//! faster (10M realistic on a quiet machine: service p99 17 ms, rare tag 43 ms) but wrote 62-65
//! B/span at 137-142k spans per CPU second; full blocks pack and ingest better, and since
//! pages a search or fetch walks only the part of a block it needs. `max_block_spans` lowers
//! it for read-heavy stores.

mod batch_index;
mod block_cache;
mod block_file;
mod block_page;
mod block_read;
mod block_rebuild;
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
mod summary_cache;
mod summary_scan;
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
mod page_tests;
#[cfg(test)]
mod form_tests;
#[cfg(test)]
mod format_tests;
#[cfg(test)]
mod red_metrics_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tenants_tests;
