//! The engine-owned sending queue, retry and timeout wrapped around every exporter.
//!
//! An exporter only knows how to send one batch once. [`QueuedExporter`] gives every exporter
//! the Collector's exporterhelper behaviour: a bounded queue drained by `num_consumers`
//! workers, retries with exponential backoff and jitter (permanent errors never retried,
//! throttled ones waiting at least the server's retry-after), a per-call timeout, and a
//! drain on shutdown. The queue sits behind [`QueueBackend`]: in memory by default, on disk
//! ([`DiskQueue`]) when `sending_queue.storage` names an extension offering [`QueueStorage`]
//! (the `file_storage` extension, in its own crate). Its size is counted by a [`Sizer`]
//! (bytes by default), and a full queue refuses rather than drops (`when_full`), so what the
//! pipeline acknowledged is never discarded here.

mod backend;
mod budget;
pub mod disk;
mod exporter;
mod memory;
mod queue_storage;
mod retry;
mod settings;

pub use backend::{QueueBackend, QueueFull};
pub use disk::DiskQueue;
pub use exporter::{shutdown_deadline, QueuedExporter, Retired};
pub(crate) use queue_storage::check_storage_references;
pub use memory::MemoryQueue;
pub use queue_storage::{QueueStorage, STORAGE_EXTENSION_TYPE};
pub use retry::Backoff;
pub use settings::{ExporterSettings, QueueSettings, RetrySettings, Sizer, WhenFull, DEFAULT_QUEUE_BYTES};
