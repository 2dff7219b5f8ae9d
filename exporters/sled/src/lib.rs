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
//!   touches, keyed by a sequence number, holding the spans grouped by trace in columns (a
//!   string table, one value column per attribute key, delta-coded times, parents as indexes,
//!   each resource once; see [`block_write`]). Columns halve what zstd has to store compared
//!   with OTLP protobuf per trace (format 1), and encoding them is cheaper than prost's.
//! - **Trace index.** One `t`+trace+seq key per (trace, block): `get_trace` scans that prefix
//!   in each live partition, decodes those blocks and rebuilds only that trace's spans
//!   ([`fetch`]). Byte-identical spans (a retried batch) are returned once; spans that share
//!   an id but differ are all returned, as Jaeger does.
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
//! - **Format version.** `meta` holds the storage format (2). A database of another format
//!   (format 1 had no version key) is refused at open with an error naming both versions; it
//!   is not converted. sled's own segment size is read back from its `conf`.
//!
//! # Measured
//!
//! 2-core shared VM, heavily loaded by other builds during every run, so each figure sits next
//! to `../shared/tools/limits` lines taken just before/after it (quiet machine: `otlp_decode`
//! ~500k spans/s, `sled_write` ~90k). Bench spans: 10 attributes, 10 spans per trace, an event
//! on every 10th span, 1000-span batches (`cargo bench -p tracegate-exporter-sled --bench
//! store`; `SLED_BENCH_SPANS` sets the query store's size; "per CPU s" counts the bench's own
//! span generation too).
//!
//! - **Format 1 -> 2, 200k-span store.** Format 1 (02:00 window, `otlp_decode` 183k,
//!   `sled_write` 34k): criterion ingest 76k spans/s, fill 88k spans per CPU s, disk 98 B/span
//!   (blocks + summaries 71 B logical). Format 2 (03:15 window, `otlp_decode` 98k/84k,
//!   `sled_write` 34k/37k): ingest 93k spans/s, fill 121k spans per CPU s (+38%), disk
//!   74-79 B/span: blocks ~39 + summaries ~13 (the Bloom filter) = 52 B logical, trace keys
//!   2.5; files: blobs 57, sled log 22. Storing a repeated string as an index into its
//!   column saved ~1.6 B/span over columns alone; zstd level 1 instead of 3 changed neither
//!   CPU nor disk measurably end to end (zstd is now <1% of gateway CPU).
//! - **Gateway** (`loadgen/bench-sled.sh 10`, otlp -> batch -> sled, loadgen flat out, 4
//!   connections, 10-attribute spans). Batches now reach the store as the OTLP request bytes
//!   the receiver checked, and [`write`] reads them in place (`otlp_wire::view`), never
//!   building prost structs. 06:47 window (`otlp_decode` 260k/268k, `otlp_encode` 600k):
//!   **184k and 198k spans/s per core** of gateway CPU (5.45 / 5.05 CPU s per million spans;
//!   378k / 418k spans/s wall) against 800k per core for otlp -> batch -> nop. Before (05:00,
//!   prost decode in the receiver): 117k per core, nop 242k. RSS 870 MB (peak 1 GB, the
//!   exporter queue at 400k spans/s). Disk after shutdown then varied with the write rate:
//!   58.8 B/span at 150k spans/s wall, 74-77 at 400k. The cause was concurrent inserts of
//!   blocks by the queue's consumers (one consumer: 55 B/span flat out; ten: ~95, with sled
//!   blob files of ~2 MB instead of ~240 KB, i.e. whole nodes rewritten); blocks are now
//!   inserted one at a time (`Shared::block_insert`). Final, 07:05 window on a quiet machine
//!   (`otlp_decode` 286k): **199k and 193k spans/s per core** (420k / 411k spans/s wall),
//!   **55.0 / 55.3 B/span**, nop 825k per core (1.1M spans/s wall). Profile (dwarf, 141k/core
//!   build): the writer 65% of gateway CPU, of which sled's insert of one trace-index key per
//!   (trace, block) ~14% (10 spans per trace), attribute encoding ~26%, span views ~8%, zstd
//!   4%, dependencies 2%; the receiver's check 15%. Then the check got ~2.9x faster and the
//!   batch processor stopped copying requests into one joined buffer (the writer indexes the
//!   requests of a batch in one pass, [`write::write_requests`]); 09:34 window, 2026-11-24
//!   (`otlp_decode` 281k, `thrift_compact_decode` 253k, udp 1400 B 204k packets/s,
//!   `sled_write` 54k): **268k and 275k spans/s per core** (3.73 / 3.64 CPU s per million
//!   spans; 517k / 564k spans/s acknowledged wall), **53.4 / 52.3 B/span**, nop 1.81M per
//!   core. RSS 1.4 GB (peak 1.67 GB): the exporter queue (1000 batches by default, as in the
//!   Collector) holding what ingest ran ahead of the store; `memory_limiter` or `queue_size`
//!   bound it. A faster window at 10:25 (`otlp_decode` 320k): 303k per core, 607k spans/s
//!   wall, 54.2 B/span, RSS 1.67 GB.
//! - **Ingest bench** (`cargo bench --bench ingest`, prints CPU per span; same window, old and
//!   new binaries alternated): byte batches 12.3 -> **7.9-8.5 us/span** (prost decode gone);
//!   decoded batches (Jaeger, Zipkin, processed) 6.9-7.4 -> 10.0-10.7 us/span: they are
//!   prost-encoded (~2 us/span) and take the byte path, one writer instead of two to keep
//!   identical. Bench store 81-83 -> 65-66 B/span (with the compact summaries).
//! - **Queries** (p50/p99 ms, limit 20, 100 queries each unless said; `SLED_BENCH_RUNS` and
//!   `SLED_BENCH_ONLY` repeat or pick queries). Before this round, 05:08 window (`otlp_decode`
//!   279k, `sled_write` 68k/48k):
//!   - 1M (79.7 B/span): get_trace 0.97/1.2; service 0.45/0.60; service+operation 1.7/2.9;
//!     service+tag (rare `user.id`) 15/28 (15.7 ms CPU); service+duration 0.85/3.7.
//!   - 10M (82.1 B/span): get_trace 0.96/3.4; service 0.46/0.70; service+operation 2.6/5.2;
//!     service+tag 16/43 (16.9 ms CPU); service+duration 1.7/2.4.
//!
//!   Now, 06:38 window (`otlp_decode` 251k/273k, `sled_write` 41k/42k before/after):
//!   - 1M (66.5 B/span): get_trace 0.83/1.2; service 0.43/0.65; service+operation 1.7/3.1;
//!     service+tag 11/23 (11.7 ms CPU); service+duration 0.88/1.5.
//!   - 10M (68.4 B/span; 300 queries each): get_trace 0.87/1.3; service 0.43/0.57;
//!     service+operation 2.6/3.7; service+tag 12.5/25 (12.9 ms CPU); service+duration
//!     1.9/4.0.
//!
//!   A rare-tag search reads ~1000 summaries (each of the bench's users is in ~2% of one
//!   service's blocks) and decompresses the blocks whose filter says "maybe". What cut it:
//!   compact summaries ([`summary`]: front-coded operations, O(1) parse; 12.7 -> 4.7 B/span
//!   logical), a tag's value column deciding whether a decompressed block can match (exact,
//!   where the byte scan let `user-42` through inside `user-4213`, and no walk for a filter
//!   false positive), and a walk that stops after the last attribute that can carry the
//!   value (half a block on average). Left: ~20 true-hit decompressions (zstd is ~35% of the
//!   CPU), ~20 false-positive ones (~3 ms at 1M), the walks (~30%), summaries (~15%). A
//!   12-bit, 8-probe filter made it 8.6 ms CPU at 1M and 10 ms at 10M (06:07 window) but grew
//!   gateway disk 64 -> 83 B/span, so it is not used. Earlier: a summary records the latest
//!   start of all blocks up to it, so the newest-first scan stops once nothing older can
//!   enter the top `limit`, and a search parses only the value columns of the keys it asks
//!   about. Tried and dropped: a helper thread decompressing candidate blocks; on this shared
//!   2-core machine its scheduling waits cost more than it saved (1M service+operation p50
//!   1.6 -> 4.0 ms).
//! - **Still short:** 200k spans/s per core end to end (193-199k at a quiet moment). Next: the trace index (one sled key per trace and block,
//!   ~1 us/span) wants a per-block sorted id list the reader can search (a read-side format
//!   change); the column encoder still parses, UTF-8-checks and hashes every attribute value
//!   its column has not seen (unique sizes, ids, durations) and grows its maps and columns
//!   from empty per block (pre-size from the last block); decoded batches would regain ~3
//!   us/span with a `SpanSource` trait over prost structs and views feeding one encoder.

mod block_cache;
mod block_read;
mod block_write;
mod catalog;
mod codec;
mod commit;
mod config;
mod db;
mod deps;
mod exporter;
mod fetch;
mod filter;
mod matching;
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
