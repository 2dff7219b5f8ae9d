//! The C ABI between tracegate and dynamically loaded plugins, and the safe APIs on both
//! sides of it. This is the one crate in the workspace allowed `unsafe`: everything that
//! crosses the FFI boundary is here, behind small blocks with `// SAFETY:` comments, so a
//! plugin author and tracegate's core both write safe Rust.
//!
//! - [`abi`]: the `#[repr(C)]` types, symbol names, status codes and [`ABI_VERSION`].
//! - Plugin authors implement [`PluginProcessor`] or [`PluginExporter`] and call
//!   [`export_plugin!`] once; the crate built as a `cdylib` is then a plugin.
//! - The host uses [`LoadedPlugin::load`] and gets [`LoadedComponent`]s whose
//!   `validate`/`create`/`call` are safe functions.
//!
//! Why C and not Rust trait objects: Rust has no stable ABI, so a plugin built with another
//! compiler version (or other `std` features) would have different `Vec`/`String`/vtable
//! layouts and corrupt memory silently. With a C ABI of fixed-width integers and raw pointers,
//! config as JSON and data as OTLP protobuf, a plugin only has to agree on [`ABI_VERSION`].
//! See docs/plugins.md for the author's guide and the versioning policy.

pub mod abi;
pub mod guest;
mod host;

pub use abi::ABI_VERSION;
pub use guest::{PluginComponent, PluginExporter, PluginProcessor};
pub use host::{CallError, CallStatus, ComponentKind, LoadError, LoadedPlugin, LoadedComponent, PluginBuffer, PluginInstance};
/// The OTLP types a plugin receives and returns.
pub use opentelemetry_proto as proto;
pub use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use serde::{Deserialize, Serialize};

/// Why a plugin's `new`, `process` or `export` failed; decides whether tracegate retries.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PluginError {
    /// The same call may succeed later (a backend is down): the exporter queue retries it.
    #[error("{0}")]
    Retryable(String),
    /// It never will (bad data, bad config): not retried.
    #[error("{0}")]
    Permanent(String),
}

impl PluginError {
    pub fn retryable(msg: impl Into<String>) -> Self {
        Self::Retryable(msg.into())
    }

    pub fn permanent(msg: impl Into<String>) -> Self {
        Self::Permanent(msg.into())
    }
}

/// One problem in a component's config. `path` is relative to the component, with `::`
/// between keys as in tracegate's own messages (`patterns[1]`, `output::directory`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigIssue {
    pub path: String,
    pub message: String,
}

impl ConfigIssue {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }
}

impl std::fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// What `validate` answers (as JSON, so it can gain fields without an ABI change): the
/// problems, and the config with defaults filled in (for `tracegate print-config`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ValidateReport {
    #[serde(default)]
    pub effective: serde_json::Value,
    #[serde(default)]
    pub problems: Vec<ConfigIssue>,
}

#[cfg(test)]
mod tests;
