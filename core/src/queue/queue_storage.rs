//! [`QueueStorage`]: the capability a persistent sending queue needs, a place on disk.
//!
//! `sending_queue: { storage: <id> }` names an extension that offers it (the `file_storage`
//! extension, as in the Collector); the queue finds it at start with
//! `host.capability::<dyn QueueStorage>(id)` (see [`crate::capability`]), so the queue knows
//! the contract, not the extension's type. The extension itself lives in its own crate
//! (`extensions/file_storage`); core keeps its type name, [`STORAGE_EXTENSION_TYPE`], so
//! `validate` can refuse an id that names some other extension before anything starts.

use std::path::PathBuf;

use crate::capability::Capability;
use crate::config::ConfigProblem;
use crate::id::ComponentId;

/// The type of the extension that offers [`QueueStorage`], as the Collector names it.
pub const STORAGE_EXTENSION_TYPE: &str = "file_storage";

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

/// Config problems of `sending_queue.storage` references, which only the whole config can see:
/// the id must name a configured `file_storage` extension that `service.extensions` enables.
pub(crate) fn check_storage_references(
    exporters: impl Iterator<Item = (ComponentId, Option<String>)>,
    is_configured: impl Fn(&str) -> bool,
    enabled_extensions: &[String],
) -> Vec<ConfigProblem> {
    let mut problems = Vec::new();
    for (exporter, storage) in exporters {
        let Some(storage) = storage else { continue };
        let path = format!("exporters::{exporter}::sending_queue::storage");
        let problem = match ComponentId::parse(&storage) {
            Err(e) => Some(e.to_string()),
            Ok(id) if id.type_name() != STORAGE_EXTENSION_TYPE => Some(format!(
                "\"{storage}\" is not a storage extension; use a file_storage extension"
            )),
            Ok(_) if !is_configured(&storage) => {
                Some(format!("extension \"{storage}\" is not configured"))
            }
            Ok(_) if !enabled_extensions.iter().any(|e| e == &storage) => Some(format!(
                "extension \"{storage}\" is not enabled in service::extensions"
            )),
            Ok(_) => None,
        };
        problems.extend(problem.map(|m| ConfigProblem::new(path, m)));
    }
    problems
}
