//! Where the running config comes from, read again on every reload: the `--config` files
//! (merged, env expanded, `--set` applied), or, with no `--config`, the environment as a
//! Jaeger all-in-one reads it (see [`crate::env_config`]). Both end in the same validation.

use std::path::PathBuf;

use tracegate_core::config::{apply_set, validate, ConfigProblem, ConfigSources, ValidConfig};
use tracegate_core::factory::Registry;

use crate::env_config;

pub struct Loader {
    sources: ConfigSources,
    registry: Registry,
}

/// A validated config and what its source asks the process to clean up.
pub struct Loaded {
    pub config: ValidConfig,
    /// A directory made for Badger-style ephemeral storage, removed when the process stops.
    pub ephemeral_dir: Option<PathBuf>,
}

impl Loader {
    pub fn new(sources: ConfigSources, registry: Registry) -> Self {
        Self { sources, registry }
    }

    /// True when there is no `--config` and the environment is the config.
    pub fn from_environment(&self) -> bool {
        self.sources.files.is_empty()
    }

    /// The `--config` files (none in environment mode).
    pub fn files(&self) -> &[PathBuf] {
        &self.sources.files
    }

    /// Reads and validates the config: every problem, or the config with its warnings.
    pub fn load(&self) -> Result<Loaded, Vec<ConfigProblem>> {
        if !self.from_environment() {
            let config = self.sources.load_valid(&self.registry)?;
            return Ok(Loaded { config, ephemeral_dir: None });
        }
        let env = env_config::from_process_env()?;
        let mut root = env.root;
        let mut warnings = env.warnings;
        for set in &self.sources.sets {
            if let Err(e) = apply_set(&mut root, set) {
                warnings.push(e);
            }
        }
        if warnings.iter().any(ConfigProblem::is_error) {
            return Err(warnings);
        }
        match validate(&root, &self.registry) {
            Ok(mut config) => {
                warnings.append(&mut config.warnings);
                config.warnings = warnings;
                Ok(Loaded { config, ephemeral_dir: env.ephemeral_dir })
            }
            Err(mut problems) => {
                warnings.append(&mut problems);
                Err(warnings)
            }
        }
    }
}
