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

mod codec;
mod config;
mod db;
mod deps;
mod exporter;
mod read;
mod scan;
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
