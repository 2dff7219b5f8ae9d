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
//!   in each live partition, decompresses those blocks and rebuilds only that trace's spans;
//!   spans are deduplicated by id, so a retried batch is harmless.
//! - **Search summaries.** One `s`+seq value per block, in the blocks tree (services,
//!   operations with kinds, start/duration ranges per service, a Bloom filter of tag hashes):
//!   see [`summary`]. A search reads summaries newest first, decompresses only candidate
//!   blocks, skips a block whose bytes lack a string tag value, and walks the rest span by
//!   span in place ([`block_read`]), checking each span exactly (Jaeger: one span meets every
//!   condition).
//! - **Operations** live in a global `meta` tree; **dependencies** are counted as spans are
//!   written ([`deps`]) into `d`+parent+child counters per partition and summed on read.
//! - **Format version.** `meta` holds the storage format (2). A database of another format
//!   (format 1 had no version key) is refused at open with an error naming both versions; it
//!   is not converted. sled's own segment size is read back from its `conf`.
//!
//! # Measured
//!
//! MEASURED_PLACEHOLDER

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
