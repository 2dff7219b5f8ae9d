//! Which directory the spill uses: `spill.directory` as given, or, with `spill.storage`, a
//! subdirectory of that `file_storage` extension's directory named after the processor and its
//! pipeline (`processor_tail_sampling_<name>_<pipeline>`), as the persistent exporter queue
//! names its own (`exporter_<type>_<name>_traces`), so components sharing the extension never
//! share files. Processors are per pipeline, so the pipeline is part of the name.

use std::path::PathBuf;

use tracegate_core::capability::CapabilityError;
use tracegate_core::component::{ComponentError, Host};
use tracegate_core::id::ComponentId;
use tracegate_core::queue::QueueStorage;

use crate::config::SpillConfig;

/// The spill directory for processor `owner` in `pipeline`.
pub fn resolve(config: &SpillConfig, host: &dyn Host, owner: &ComponentId, pipeline: &str) -> Result<PathBuf, ComponentError> {
    if let Some(dir) = &config.directory {
        return Ok(dir.clone());
    }
    let Some(storage) = &config.storage else {
        return Err(ComponentError::Config("spill: set directory or storage".into()));
    };
    ComponentId::parse(storage).map_err(|e| ComponentError::Config(format!("spill.storage: {e}")))?;
    // The directory is the capability file_storage offers (see tracegate_core::capability).
    let files = host.capability::<dyn QueueStorage>(storage).map_err(|e| match e {
        CapabilityError::NotProvided { .. } => ComponentError::Config(format!("spill.storage: \"{storage}\" is not a file_storage extension")),
        _ => ComponentError::Config(format!("spill.storage: extension \"{storage}\" is not running (configure it and list it in service::extensions)")),
    })?;
    let safe = |s: &str| s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' }).collect::<String>();
    let name = format!("processor_{}_{}_{}", owner.type_name(), safe(owner.name().unwrap_or("")), safe(pipeline));
    Ok(files.directory().join(name))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use std::sync::Arc;
    use tracegate_core::factory::{CreateContext, ExtensionFactory};
    use tracegate_extension_file_storage as file_storage;
    use tracegate_core::telemetry::Telemetry;
    use tracegate_core::testing::{ExtensionsHost, TestHost};

    #[test]
    fn a_directory_is_used_as_given_and_a_file_storage_gets_a_subdirectory() {
        let owner = ComponentId::parse("tail_sampling/errors").unwrap();
        let direct = SpillConfig { directory: Some("/var/spill".into()), storage: None };
        assert_eq!(resolve(&direct, TestHost::new().as_ref(), &owner, "traces").unwrap(), PathBuf::from("/var/spill"));

        let cfg = file_storage::Config { directory: "/data/fs".into(), ..Default::default() };
        let ext = file_storage::FileStorageFactory.create(CreateContext::new(ComponentId::parse("file_storage").unwrap(), Telemetry::new()), cfg).unwrap();
        let host: Arc<dyn Host> = Arc::new(ExtensionsHost::default().with("file_storage", ext));
        let via = SpillConfig { directory: None, storage: Some("file_storage".into()) };
        assert_eq!(resolve(&via, host.as_ref(), &owner, "traces/archive").unwrap(), PathBuf::from("/data/fs/processor_tail_sampling_errors_traces_archive"));

        let missing = SpillConfig { directory: None, storage: Some("file_storage/other".into()) };
        let e = resolve(&missing, host.as_ref(), &owner, "traces").unwrap_err().to_string();
        assert!(e.contains("not running"), "{e}");
    }
}
