//! The `file_storage` extension: a directory that components keep state in, named by the
//! Collector's config so its `sending_queue: { storage: file_storage }` carries over.
//!
//! It offers [`QueueStorage`] (see [`crate::capability`]), which the engine's exporter queue
//! asks for by id. It lives in core because the queue is its main user and it is small.
//! Each exporter gets a subdirectory `exporter_<type>_<name>_traces`, as the Collector names
//! its queue's storage client, so two exporters never share files.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::QueueStorage;
use crate::capability::Offers;
use crate::component::{ComponentError, Extension, Host, Lifecycle};
use crate::config::ConfigProblem;
use crate::factory::{ComponentConfig, CreateContext, ExtensionFactory, Stability};
use crate::id::ComponentId;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub directory: PathBuf,
    /// Create `directory` when missing. The Collector defaults to false; true here, since the
    /// default directory is relative and a first run should just work.
    pub create_directory: bool,
    /// Sync each queued batch and each acknowledgement to disk. Off, a batch survives a killed
    /// process (the OS has it) but not a power cut.
    pub fsync: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            directory: PathBuf::from("./tracegate-data/file_storage"),
            create_directory: true,
            fsync: false,
        }
    }
}

impl ComponentConfig for Config {
    fn validate(&self) -> Vec<ConfigProblem> {
        if self.directory.as_os_str().is_empty() {
            return vec![ConfigProblem::new("directory", "must not be empty")];
        }
        Vec::new()
    }
}

pub struct FileStorage {
    config: Config,
}

impl FileStorage {
    /// Where the queue of exporter `owner` keeps its files.
    pub fn queue_directory(&self, owner: &ComponentId) -> PathBuf {
        let name = owner.name().unwrap_or("");
        self.config
            .directory
            .join(format!("exporter_{}_{}_traces", owner.type_name(), name))
    }

    pub fn fsync(&self) -> bool {
        self.config.fsync
    }

    /// The extension's directory, for components other than exporter queues to keep their
    /// files under (each in a subdirectory named after itself, as `queue_directory` does).
    pub fn directory(&self) -> &std::path::Path {
        &self.config.directory
    }
}

#[async_trait::async_trait]
impl Lifecycle for FileStorage {
    async fn start(&self, _host: Arc<dyn Host>) -> Result<(), ComponentError> {
        let dir = &self.config.directory;
        if self.config.create_directory {
            std::fs::create_dir_all(dir).map_err(|e| {
                ComponentError::other(format!("cannot create directory {}: {e}", dir.display()))
            })?;
        }
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(ComponentError::other(format!(
                "{} is not a directory",
                dir.display()
            ))),
            Err(e) => Err(ComponentError::other(format!(
                "directory {} is not usable: {e} (set create_directory: true to create it)",
                dir.display()
            ))),
        }
    }
}

impl QueueStorage for FileStorage {
    fn queue_directory(&self, owner: &ComponentId) -> PathBuf {
        FileStorage::queue_directory(self, owner)
    }

    fn fsync(&self) -> bool {
        FileStorage::fsync(self)
    }

    fn directory(&self) -> &std::path::Path {
        FileStorage::directory(self)
    }
}

impl Extension for FileStorage {
    /// Its directory, to the sending queues (and spills) that name this extension.
    fn offers(self: Arc<Self>) -> Offers {
        Offers::new().with::<dyn QueueStorage>(self)
    }
}

pub struct FileStorageFactory;

impl ExtensionFactory for FileStorageFactory {
    const TYPE: &'static str = "file_storage";
    const STABILITY: Stability = Stability::Beta;
    type Config = Config;

    fn create(
        &self,
        _ctx: CreateContext,
        config: Config,
    ) -> Result<Arc<dyn Extension>, ComponentError> {
        Ok(Arc::new(FileStorage { config }))
    }
}

crate::register_extension!(FileStorageFactory);

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
            Ok(id) if id.type_name() != FileStorageFactory::TYPE => Some(format!(
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
