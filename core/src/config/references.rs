//! Names one component looks up at start (`host.capability`, see `crate::capability`),
//! checked against what the config offers, so a typo is a `validate` error with its path
//! rather than a failed start: `jaeger_query`'s `storage: { traces: x }` and
//! `jaeger_storage_exporter`'s `trace_storage: x` must name a backend of an enabled
//! extension, or an exporter in a pipeline, or an enabled extension.

use std::collections::BTreeSet;

use super::ConfigProblem;

/// One name a component will look up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameReference {
    /// The key that names it, relative to the component (`storage::traces`).
    pub path: String,
    pub name: String,
    /// What is looked up, for the message ("a trace store").
    pub what: &'static str,
}

impl NameReference {
    pub fn new(path: impl Into<String>, name: impl Into<String>, what: &'static str) -> Self {
        Self { path: path.into(), name: name.into(), what }
    }
}

/// What the running service will be able to find by name.
#[derive(Default)]
pub(crate) struct Offered {
    /// Names enabled extensions offer (storage backends).
    pub named: BTreeSet<String>,
    /// Ids of enabled extensions and of exporters in a pipeline.
    pub components: BTreeSet<String>,
}

/// A problem per reference (of a running component, at `component_path`) nothing offers.
pub(crate) fn check(component_path: &str, references: &[NameReference], offered: &Offered) -> Vec<ConfigProblem> {
    references
        .iter()
        .filter(|r| !offered.named.contains(&r.name) && !offered.components.contains(&r.name))
        .map(|r| {
            let there: Vec<&str> = offered.named.iter().map(String::as_str).collect();
            let hint = if there.is_empty() {
                "add a jaeger_storage extension with this backend (listed in service::extensions), or a storage exporter with this id to a pipeline".to_string()
            } else {
                format!("backends there are: {}", there.join(", "))
            };
            ConfigProblem::new(
                format!("{component_path}::{}", r.path),
                format!("nothing named \"{}\" provides {}; {hint}", r.name, r.what),
            )
        })
        .collect()
}
