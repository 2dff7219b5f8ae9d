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
//! - **Search summaries.** One `s`+seq value per block (services, operations with kinds,
//!   start/duration ranges per service, a Bloom filter of tag hashes): see [`summary`]. A
//!   search reads summaries newest first and decodes only candidate blocks, then checks spans
//!   exactly (Jaeger: one span meets every condition).
//! - **Operations** live in a global `meta` tree; **dependencies** are counted as spans are
//!   written ([`deps`]) into `d`+parent+child counters per partition and summed on read.
//!
//! # Measured (`cargo bench -p tracegate-exporter-sled --bench store`, 2-core shared VM)
//!
//! 10-attribute spans, 1000-span batches, one export at a time on one tokio worker:
//! ingest ~95k spans/s (criterion, fresh db; sled alone managed ~90k spans/s with one key per
//! span in `limits`), fill to 1M spans ~66k spans/s; disk 162 B/span at 1M spans after flush
//! (486 B/span on the small ingest db, where sled's fixed segment overhead dominates), against
//! ~1000 B/span for a key per span. Queries on the 1M store (limit 20): get_trace p50 0.54 ms /
//! p99 1.2 ms; service 64/124 ms; service+operation 114/228 ms; service+tag 450/820 ms;
//! service+duration 57/159 ms. Not yet at the targets (200k spans/s, 60 B/span, searches p99
//! 50 ms): the search cost is dominated by decoding every summary of the partition
//! (allocations per operation name) and by decompressing whole blocks for candidates.

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
mod tests;
