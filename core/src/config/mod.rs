//! The Collector-shaped config: `receivers`, `processors`, `exporters`, `extensions`,
//! `service` (pipelines, extensions, telemetry), plus value types components share.
//!
//! Loading is split in two steps so each is testable alone: [`ConfigSources::load`] produces
//! one merged YAML tree (files, env, `--set`); [`validate`] checks it against the registry.

mod auth;
mod cors;
mod duration;
mod endpoint;
mod hints;
mod keepalive;
mod model;
mod nesting;
mod problem;
mod references;
mod source;
mod telemetry_readers;
mod tls;
mod tls_client;
mod validate;

use std::path::PathBuf;

pub use auth::{validate_auth, AuthConfig};
pub use cors::{validate_cors, CorsConfig};
pub use duration::{format_go_duration, parse_go_duration, DurationError, GoDuration};
pub use endpoint::Endpoint;
pub use keepalive::{validate_keepalive, DEFAULT_KEEPALIVE_TIMEOUT, GrpcKeepalive, KeepaliveEnforcementPolicy, KeepaliveServerParameters};
pub use model::{MetricsLevel, MetricsSection, PipelineSection, ServiceSection, TelemetrySection};
pub use problem::{ConfigProblem, Severity};
pub use references::NameReference;
pub use tls::{validate_tls, TlsServerConfig, TlsVersion, TLS12_CIPHER_SUITES};
pub use tls_client::TlsClientConfig;
pub use source::{apply_set, expand_env, merge, parse_yaml, read_yaml_file};
pub use validate::{validate, ComponentEntry, Pipeline, ValidConfig};

use crate::factory::Registry;
use serde_yaml_ng::Value;

/// Where a config comes from: files in order (later ones merge over earlier), then `--set`s.
#[derive(Clone, Debug, Default)]
pub struct ConfigSources {
    pub files: Vec<PathBuf>,
    pub sets: Vec<String>,
}

impl ConfigSources {
    /// Reads, merges, expands and overrides. Returns the tree and any warnings.
    pub fn load(&self) -> Result<(Value, Vec<ConfigProblem>), Vec<ConfigProblem>> {
        if self.files.is_empty() {
            return Err(vec![ConfigProblem::new(
                "--config",
                "no config file given; pass --config FILE",
            )]);
        }
        let mut errors = Vec::new();
        let mut root = Value::Mapping(Default::default());
        for file in &self.files {
            match read_yaml_file(file) {
                Ok(v) => merge(&mut root, v),
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut problems = expand_env(&mut root, &|name| std::env::var(name).ok());
        for set in &self.sets {
            if let Err(e) = apply_set(&mut root, set) {
                problems.push(e);
            }
        }
        if problems.iter().any(ConfigProblem::is_error) {
            return Err(problems);
        }
        Ok((root, problems))
    }

    /// Loads, loads the `plugins:` libraries into a copy of `registry`, and validates against
    /// it (so plugin components' configs are checked by their plugins). Warnings from loading
    /// are kept with the result.
    pub fn load_valid(&self, registry: &Registry) -> Result<ValidConfig, Vec<ConfigProblem>> {
        let (root, mut warnings) = self.load()?;
        let registry = with_plugins(&root, registry).map_err(|mut problems| {
            warnings.append(&mut problems);
            std::mem::take(&mut warnings)
        })?;
        match validate(&root, &registry) {
            Ok(mut valid) => {
                warnings.append(&mut valid.warnings);
                valid.warnings = warnings;
                Ok(valid)
            }
            Err(mut problems) => {
                warnings.append(&mut problems);
                Err(warnings)
            }
        }
    }

    /// `registry` plus the components of the plugins this config lists (for `tracegate
    /// components --config ...`).
    pub fn registry_with_plugins(
        &self,
        registry: &Registry,
    ) -> Result<Registry, Vec<ConfigProblem>> {
        let (root, _) = self.load()?;
        with_plugins(&root, registry)
    }
}

/// Plugins load before validation: a config naming a plugin's component type only makes sense
/// once the plugin is in the registry. A plugin that fails to load stops here, so its errors
/// are not buried under "unknown processor type" errors for every component it would provide.
fn with_plugins(root: &Value, registry: &Registry) -> Result<Registry, Vec<ConfigProblem>> {
    let mut registry = registry.clone();
    let problems = crate::plugins::load_plugins(root, &mut registry);
    if problems.iter().any(ConfigProblem::is_error) {
        return Err(problems);
    }
    Ok(registry)
}

/// Serde helpers shared by component configs.
pub mod de {
    use serde::{Deserialize, Deserializer};

    /// For `Option<T>` sections that the Collector reads as "enabled with defaults" when the
    /// key is present but empty (`grpc:`): serde turns a YAML null into `None`, so this makes a
    /// present key always `Some`. An absent key never reaches it (the struct's `default`
    /// leaves it `None`). Use with `#[serde(deserialize_with = "...")]`.
    pub fn null_as_default<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de> + Default,
    {
        Ok(Some(Option::<T>::deserialize(d)?.unwrap_or_default()))
    }
}
