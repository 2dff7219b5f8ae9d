//! [`QueueStorage`]: the capability a persistent sending queue needs, a place on disk.
//!
//! `sending_queue: { storage: <id> }` names an extension that offers it (the `file_storage`
//! extension, as in the Collector); the queue finds it at start with
//! `host.capability::<dyn QueueStorage>(id)` (see [`crate::capability`]), so the queue knows
//! the contract, not the extension's type.

use std::path::PathBuf;

use crate::capability::Capability;
use crate::id::ComponentId;

pub trait QueueStorage: Send + Sync {
    /// Where the queue of exporter `owner` keeps its files; two exporters never share one.
    /// The provider has made its parent directory exist by the end of its start.
    fn queue_directory(&self, owner: &ComponentId) -> PathBuf;

    /// Sync each queued batch and each acknowledgement to disk (survives a power cut, not
    /// only a killed process).
    fn fsync(&self) -> bool;

    /// The whole directory, for components other than exporter queues (tail_sampling's
    /// spill) to keep their files under, each in a subdirectory named after itself.
    fn directory(&self) -> &std::path::Path;
}

impl Capability for dyn QueueStorage {
    const WHAT: &'static str = "queue storage";
}
