//! Plugins: processors and exporters from crates outside tracegate, in two forms.
//!
//! - Linked (static): a crate implements [`PluginProcessor`](tracegate_plugin_abi::PluginProcessor)
//!   or [`PluginExporter`](tracegate_plugin_abi::PluginExporter) and registers it with
//!   [`register_plugin_processor!`](crate::register_plugin_processor) /
//!   [`register_plugin_exporter!`](crate::register_plugin_exporter); a custom build that links
//!   the crate has it as if it were built in ([`linked`]).
//! - Loaded (dynamic): the same crate built as a `cdylib` and listed under `plugins:`; it is
//!   loaded at start, before the config is validated, and each of its components becomes a
//!   [`DynFactory`](crate::factory::DynFactory) in the registry ([`dynamic`]).
//!
//! Both forms share the author's traits, so one crate can be shipped either way, and both
//! run the plugin's code on tokio's blocking threads: plugin code is synchronous and may
//! block (files, locks), and must not stall the runtime that serves every receiver.

pub mod dynamic;
pub mod linked;

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_yaml_ng::Value;
pub use tracegate_plugin_abi as abi;
use tracegate_plugin_abi::{ComponentKind, LoadedPlugin};

use crate::config::ConfigProblem;
use crate::factory::{Origin, Registry};
use crate::id::{ComponentId, Kind};

/// One entry of the `plugins:` list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginEntry {
    /// The shared library. A relative path is relative to the working directory (several
    /// `--config` files may merge, so "the config file's directory" would be ambiguous); the
    /// dynamic loader never searches its library path for it.
    pub path: PathBuf,
}

/// Reads the `plugins:` section: a list of `{ path: ... }` (absent or null: none).
pub fn plugin_entries(root: &Value) -> Result<Vec<PluginEntry>, Vec<ConfigProblem>> {
    let items = match root.get("plugins") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Sequence(items)) => items,
        Some(_) => {
            return Err(vec![ConfigProblem::new(
                "plugins",
                "must be a list of { path: ./libmy_plugin.so } entries",
            )]);
        }
    };
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match serde_path_to_error::deserialize::<_, PluginEntry>(item.clone()) {
            Ok(entry) => entries.push(entry),
            Err(e) => {
                let inner = e.path().to_string();
                let path = if inner == "." {
                    format!("plugins[{i}]")
                } else {
                    format!("plugins[{i}]::{}", inner.replace('.', "::"))
                };
                problems.push(ConfigProblem::new(path, e.into_inner().to_string()));
            }
        }
    }
    if problems.is_empty() {
        Ok(entries)
    } else {
        Err(problems)
    }
}

/// Loads every library under `plugins:` and adds its components to `registry`. Returns every
/// problem: a missing file, a library that is not a plugin or speaks another ABI version, a
/// component type that is already registered (built in or by another plugin).
pub fn load_plugins(root: &Value, registry: &mut Registry) -> Vec<ConfigProblem> {
    let entries = match plugin_entries(root) {
        Ok(entries) => entries,
        Err(problems) => return problems,
    };
    let mut problems = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let at = format!("plugins[{i}]::path");
        match LoadedPlugin::load(&entry.path) {
            Ok(plugin) => add_components(&plugin, registry, &at, &mut problems),
            Err(e) => problems.push(ConfigProblem::new(at, e.to_string())),
        }
    }
    problems
}

fn add_components(
    plugin: &LoadedPlugin,
    registry: &mut Registry,
    at: &str,
    problems: &mut Vec<ConfigProblem>,
) {
    let path = plugin.path();
    for component in plugin.components() {
        let kind = match component.kind() {
            ComponentKind::Processor => Kind::Processor,
            ComponentKind::Exporter => Kind::Exporter,
        };
        let name = component.type_name();
        if let Err(reason) = check_type_name(name) {
            problems.push(ConfigProblem::new(
                at,
                format!(
                    "{} provides {kind} type \"{name}\", which {reason}",
                    path.display()
                ),
            ));
            continue;
        }
        if let Some(existing) = registry.get(kind, name) {
            let first = match existing.origin() {
                Origin::Builtin => "this tracegate build".to_string(),
                Origin::Loaded(p) => p.display().to_string(),
            };
            problems.push(ConfigProblem::new(
                at,
                format!("{kind} type \"{name}\" from {} is already provided by {first}; list only one of them", path.display()),
            ));
            continue;
        }
        let factory = dynamic::DynamicFactory::new(
            kind,
            component.clone(),
            path.to_path_buf(),
            plugin.name(),
        );
        if let Err(e) = registry.add(Arc::new(factory)) {
            problems.push(ConfigProblem::new(at, e.to_string()));
        }
    }
}

/// A type name must be usable as the type part of a component id.
fn check_type_name(name: &str) -> Result<(), String> {
    match ComponentId::parse(name) {
        Ok(id) if id.type_name() == name && id.to_string() == name => Ok(()),
        Ok(_) => Err("is not a valid component type (no '/' allowed)".into()),
        Err(e) => Err(format!("is not a valid component type: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        serde_yaml_ng::from_str(s).expect("test yaml")
    }

    fn messages(problems: &[ConfigProblem]) -> Vec<String> {
        problems.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_section_is_a_list_of_paths() {
        assert_eq!(
            plugin_entries(&yaml("receivers: {}")).expect("none"),
            vec![]
        );
        assert_eq!(plugin_entries(&yaml("plugins:")).expect("null"), vec![]);
        assert_eq!(
            plugin_entries(&yaml("plugins: [{path: ./a.so}]")).expect("one"),
            vec![PluginEntry {
                path: "./a.so".into()
            }]
        );
        let e = plugin_entries(&yaml("plugins: {path: ./a.so}")).expect_err("not a list");
        assert_eq!(
            messages(&e),
            vec!["plugins: must be a list of { path: ./libmy_plugin.so } entries"]
        );
        let e = plugin_entries(&yaml("plugins: [{path: ./a.so}, {}]")).expect_err("no path");
        assert_eq!(messages(&e), vec!["plugins[1]: missing field `path`"]);
    }

    #[test]
    fn a_missing_library_is_an_error_at_its_entry_and_adds_nothing() {
        let mut registry = Registry::default();
        let problems = load_plugins(
            &yaml("plugins: [{path: /nonexistent/libx.so}]"),
            &mut registry,
        );
        assert_eq!(
            messages(&problems),
            vec!["plugins[0]::path: plugin file /nonexistent/libx.so does not exist"]
        );
        assert_eq!(registry.iter().count(), 0);
    }

    #[test]
    fn type_names_must_be_component_types() {
        assert!(check_type_name("redact").is_ok());
        assert!(check_type_name("a/b").is_err());
        assert!(check_type_name("").is_err());
        assert!(check_type_name("no spaces").is_err());
    }
}
