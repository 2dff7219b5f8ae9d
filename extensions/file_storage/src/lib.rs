//! The `file_storage` extension: a directory that components keep state in, named by the
//! Collector's config so its `sending_queue: { storage: file_storage }` carries over.
//!
//! It offers [`QueueStorage`] (see `tracegate_core::capability`), which the engine's exporter
//! queue and tail_sampling's spill ask for by id; neither links this crate, they know the
//! capability, not the extension. Each exporter gets a subdirectory
//! `exporter_<type>_<name>_traces`, as the Collector names its queue's storage client, so two
//! exporters never share files. Core keeps only the type name
//! ([`tracegate_core::queue::STORAGE_EXTENSION_TYPE`]) so `validate` can tell a storage id from
//! another extension's before anything starts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tracegate_core::capability::Offers;
use tracegate_core::component::{ComponentError, Extension, Host, Lifecycle};
use tracegate_core::config::ConfigProblem;
use tracegate_core::factory::{ComponentConfig, CreateContext, ExtensionFactory, Stability};
use tracegate_core::id::ComponentId;
use tracegate_core::queue::{QueueStorage, STORAGE_EXTENSION_TYPE};

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
    type Validated = Self;

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

#[async_trait::async_trait]
impl Lifecycle for FileStorage {
    /// Makes the directory exist (or says why it cannot), so a queue opening its
    /// subdirectory after this start finds its parent.
    async fn start(&self, _host: Arc<dyn Host>) -> Result<(), ComponentError> {
        let dir = &self.config.directory;
        if self.config.create_directory {
            std::fs::create_dir_all(dir).map_err(|e| {
                ComponentError::other(format!("cannot create directory {}: {e}", dir.display()))
            })?;
        }
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(ComponentError::other(format!("{} is not a directory", dir.display()))),
            Err(e) => Err(ComponentError::other(format!(
                "directory {} is not usable: {e} (set create_directory: true to create it)",
                dir.display()
            ))),
        }
    }
}

impl QueueStorage for FileStorage {
    fn queue_directory(&self, owner: &ComponentId) -> PathBuf {
        let name = owner.name().unwrap_or("");
        self.config.directory.join(format!("exporter_{}_{}_traces", owner.type_name(), name))
    }

    fn fsync(&self) -> bool {
        self.config.fsync
    }

    fn directory(&self) -> &Path {
        &self.config.directory
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
    const TYPE: &'static str = STORAGE_EXTENSION_TYPE;
    const STABILITY: Stability = Stability::Beta;
    type Config = Config;

    fn create(&self, _ctx: CreateContext, config: Config) -> Result<Arc<dyn Extension>, ComponentError> {
        Ok(Arc::new(FileStorage { config }))
    }
}

tracegate_core::register_extension!(FileStorageFactory);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use tracegate_core::telemetry::Telemetry;
    use tracegate_core::testing::TestHost;

    fn storage(config: Config) -> Arc<FileStorage> {
        Arc::new(FileStorage { config })
    }

    #[tokio::test]
    async fn start_creates_the_directory_and_each_exporter_gets_its_own_subdirectory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        let fs = storage(Config { directory: dir.clone(), ..Default::default() });
        fs.start(TestHost::new()).await.unwrap();
        assert!(dir.is_dir());
        let one = fs.queue_directory(&ComponentId::parse("otlp/one").unwrap());
        let two = fs.queue_directory(&ComponentId::parse("otlp").unwrap());
        assert_eq!(one, dir.join("exporter_otlp_one_traces"));
        assert_eq!(two, dir.join("exporter_otlp__traces"));
    }

    #[tokio::test]
    async fn a_missing_directory_without_create_directory_fails_the_start_and_says_what_to_set() {
        let tmp = tempfile::tempdir().unwrap();
        let fs = storage(Config { directory: tmp.path().join("gone"), create_directory: false, fsync: false });
        let e = fs.start(TestHost::new()).await.unwrap_err().to_string();
        assert!(e.contains("create_directory: true"), "{e}");
    }

    #[test]
    fn the_extension_offers_queue_storage_under_its_id() {
        let ext = FileStorageFactory
            .create(CreateContext::new(ComponentId::parse("file_storage/q").unwrap(), Telemetry::new()), Config::default())
            .unwrap();
        assert!(ext.offers().own::<dyn QueueStorage>().is_some());
    }
}
