//! Turns the merged YAML tree into a [`ValidConfig`], collecting every problem at once, each
//! with its path, before anything is created or any port is bound.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_yaml_ng::{Mapping, Value};

use super::model::ServiceSection;
use super::ConfigProblem;
use crate::factory::{DynFactory, ParsedConfig, Registry};
use crate::id::{ComponentId, Kind};
use crate::queue::ExporterSettings;

const TOP_LEVEL_KEYS: [&str; 6] = [
    "receivers",
    "processors",
    "exporters",
    "extensions",
    "plugins",
    "service",
];

/// One configured component, parsed and validated by its factory.
#[derive(Clone)]
pub struct ComponentEntry {
    pub id: ComponentId,
    pub kind: Kind,
    pub factory: Arc<dyn DynFactory>,
    pub config: ParsedConfig,
    /// Queue, retry and timeout; exporters only.
    pub exporter_settings: Option<ExporterSettings>,
}

/// A pipeline with its component ids resolved.
#[derive(Clone, Debug)]
pub struct Pipeline {
    pub id: String,
    pub receivers: Vec<ComponentId>,
    pub processors: Vec<ComponentId>,
    pub exporters: Vec<ComponentId>,
}

/// A config that passed validation: everything the graph needs to build.
#[derive(Clone)]
pub struct ValidConfig {
    pub components: BTreeMap<(Kind, ComponentId), ComponentEntry>,
    pub pipelines: Vec<Pipeline>,
    pub service: ServiceSection,
    /// The `plugins:` list (already loaded by then); kept so `print-config` output still runs.
    pub plugins: Vec<crate::plugins::PluginEntry>,
    pub warnings: Vec<ConfigProblem>,
}

impl ValidConfig {
    pub fn component(&self, kind: Kind, id: &ComponentId) -> Option<&ComponentEntry> {
        self.components.get(&(kind, id.clone()))
    }

    /// The config as it will run: defaults filled in, env expanded, overrides applied.
    pub fn effective(&self) -> Value {
        let mut root = Mapping::new();
        if !self.plugins.is_empty() {
            if let Ok(plugins) = serde_yaml_ng::to_value(&self.plugins) {
                root.insert(Value::String("plugins".into()), plugins);
            }
        }
        for kind in Kind::ALL {
            let mut section = Mapping::new();
            for ((k, id), entry) in &self.components {
                if *k != kind {
                    continue;
                }
                let mut cfg = entry.config.effective.clone();
                if let (Some(settings), Value::Mapping(map)) = (&entry.exporter_settings, &mut cfg)
                {
                    if let Ok(Value::Mapping(extra)) = serde_yaml_ng::to_value(settings) {
                        map.extend(extra);
                    }
                }
                section.insert(Value::String(id.to_string()), cfg);
            }
            if !section.is_empty() {
                root.insert(
                    Value::String(kind.section().to_string()),
                    Value::Mapping(section),
                );
            }
        }
        let service = serde_yaml_ng::to_value(&self.service).unwrap_or(Value::Null);
        root.insert(Value::String("service".into()), service);
        Value::Mapping(root)
    }
}

/// Validates a merged config tree against the registered factories.
/// On failure returns every problem (errors and warnings).
pub fn validate(root: &Value, registry: &Registry) -> Result<ValidConfig, Vec<ConfigProblem>> {
    let mut problems = Vec::new();
    let empty = Mapping::new();
    let Value::Mapping(top) = root else {
        return Err(vec![ConfigProblem::new(
            "",
            "the top level of a config must be a mapping",
        )]);
    };
    for key in top.keys() {
        let name = key.as_str().unwrap_or("?");
        if !TOP_LEVEL_KEYS.contains(&name) {
            let message = match super::hints::unknown_top_level(name) {
                Some(hint) => hint.to_string(),
                None => format!("unknown top-level key; expected one of: {}", TOP_LEVEL_KEYS.join(", ")),
            };
            problems.push(ConfigProblem::new(name, message));
        }
    }
    // The libraries were loaded into `registry` before this (see `ConfigSources::load_valid`);
    // here the section only has to be well formed, and is kept for `print-config`.
    let plugins = crate::plugins::plugin_entries(root).unwrap_or_else(|mut errs| {
        problems.append(&mut errs);
        Vec::new()
    });

    let mut components = BTreeMap::new();
    for kind in Kind::ALL {
        let section = match top.get(kind.section()) {
            None | Some(Value::Null) => &empty,
            Some(Value::Mapping(m)) => m,
            Some(_) => {
                problems.push(ConfigProblem::new(
                    kind.section(),
                    "must be a mapping of component ids to configs",
                ));
                continue;
            }
        };
        for (key, raw) in section {
            let key_str = key.as_str().unwrap_or("?");
            let path = format!("{}::{key_str}", kind.section());
            match parse_component(kind, key_str, raw, registry) {
                Ok(entry) => {
                    problems.extend(entry.config.warnings.iter().map(|p| p.clone().under(&path)));
                    components.insert((kind, entry.id.clone()), entry);
                }
                Err(mut errs) => {
                    problems.extend(errs.drain(..).map(|p| p.under(&path)));
                }
            }
        }
    }

    let service = match top.get("service") {
        None | Some(Value::Null) => ServiceSection::default(),
        Some(raw) => match serde_path_to_error::deserialize::<_, ServiceSection>(raw.clone()) {
            Ok(s) => s,
            Err(e) => {
                let inner = e.path().to_string().replace('.', "::");
                let path = if inner == "::" || inner == "." {
                    "service".to_string()
                } else {
                    format!("service::{inner}")
                };
                problems.push(ConfigProblem::new(path, e.into_inner().to_string()));
                return Err(problems);
            }
        },
    };

    let mut service = service;
    problems.extend(super::telemetry_readers::apply(&mut service.telemetry));
    let pipelines = check_pipelines(&service, top, &mut problems);
    check_extensions(&service, top, &mut problems);
    problems.extend(super::validate_tls(
        service.telemetry.metrics.tls.as_ref(),
        "service::telemetry::metrics::tls",
    ));
    problems.extend(crate::queue::check_storage_references(
        components.values().map(|e| {
            (
                e.id.clone(),
                e.exporter_settings
                    .as_ref()
                    .and_then(|s| s.sending_queue.storage.clone()),
            )
        }),
        |id| configured(top, Kind::Extension, id),
        &service.extensions,
    ));
    problems.extend(crate::auth::check_references(top, &service.extensions));
    problems.extend(check_name_references(&components, &service));
    warn_unused(&components, &service, &mut problems);

    if problems.iter().any(ConfigProblem::is_error) {
        return Err(problems);
    }
    Ok(ValidConfig {
        components,
        pipelines,
        service,
        plugins,
        warnings: problems,
    })
}

fn parse_component(
    kind: Kind,
    key: &str,
    raw: &Value,
    registry: &Registry,
) -> Result<ComponentEntry, Vec<ConfigProblem>> {
    let id = ComponentId::parse(key).map_err(|e| vec![ConfigProblem::new("", e.to_string())])?;
    let factory = registry.get(kind, id.type_name()).ok_or_else(|| {
        let message = match super::hints::unknown_type(kind, id.type_name()) {
            Some(hint) => format!("unknown {kind} type \"{}\": {hint}", id.type_name()),
            None => format!("unknown {kind} type \"{}\"; valid types: {}", id.type_name(), registry.types(kind).join(", ")),
        };
        vec![ConfigProblem::new("", message)]
    })?;
    let mut raw = raw.clone();
    let exporter_settings = if kind == Kind::Exporter {
        Some(take_exporter_settings(&mut raw)?)
    } else {
        None
    };
    let config = factory.parse_config(Some(&raw))?;
    Ok(ComponentEntry {
        id,
        kind,
        factory: factory.clone(),
        config,
        exporter_settings,
    })
}

/// Splits the engine-owned keys out of an exporter's config.
fn take_exporter_settings(raw: &mut Value) -> Result<ExporterSettings, Vec<ConfigProblem>> {
    let mut engine = Mapping::new();
    if let Value::Mapping(map) = raw {
        for key in ExporterSettings::KEYS {
            if let Some(v) = map.remove(key) {
                engine.insert(Value::String(key.to_string()), v);
            }
        }
    }
    let settings: ExporterSettings = serde_path_to_error::deserialize(Value::Mapping(engine))
        .map_err(|e| {
            vec![ConfigProblem::new(
                e.path().to_string().replace('.', "::"),
                e.into_inner().to_string(),
            )]
        })?;
    let problems = settings.validate();
    if problems.is_empty() {
        Ok(settings)
    } else {
        Err(problems)
    }
}

fn configured(top: &Mapping, kind: Kind, id: &str) -> bool {
    top.get(kind.section())
        .and_then(Value::as_mapping)
        .is_some_and(|m| m.contains_key(id))
}

fn check_pipelines(
    service: &ServiceSection,
    top: &Mapping,
    problems: &mut Vec<ConfigProblem>,
) -> Vec<Pipeline> {
    if service.pipelines.is_empty() {
        problems.push(ConfigProblem::new("service::pipelines", "at least one pipeline is required, e.g. traces: { receivers: [otlp], exporters: [debug] }"));
    }
    let mut out = Vec::new();
    for (pid, p) in &service.pipelines {
        let path = format!("service::pipelines::{pid}");
        match ComponentId::parse(pid) {
            Ok(id) if id.type_name() == "traces" => {}
            Ok(id) => {
                problems.push(ConfigProblem::new(&path, format!("pipeline type \"{}\" is not supported; tracegate runs traces pipelines (\"traces\" or \"traces/<name>\")", id.type_name())));
                // Its members belong to that signal: one line for the pipeline says it all.
                continue;
            }
            Err(e) => problems.push(ConfigProblem::new(&path, e.to_string())),
        }
        if p.receivers.is_empty() {
            problems.push(ConfigProblem::new(&path, "must have at least one receiver"));
        }
        if p.exporters.is_empty() {
            problems.push(ConfigProblem::new(&path, "must have at least one exporter"));
        }
        let mut resolve = |kind: Kind, names: &[String]| {
            let mut seen = BTreeSet::new();
            let mut ids = Vec::new();
            for name in names {
                if !seen.insert(name) {
                    problems.push(ConfigProblem::new(
                        &path,
                        format!("{kind} \"{name}\" is listed twice"),
                    ));
                    continue;
                }
                // A connector used as a receiver or exporter is already refused, in one line
                // under `connectors`.
                let a_connector = top.get("connectors").and_then(Value::as_mapping).is_some_and(|m| m.contains_key(name.as_str()));
                if !configured(top, kind, name) {
                    if !a_connector {
                        problems.push(ConfigProblem::new(&path, format!("{kind} \"{name}\" is not configured")));
                    }
                    continue;
                }
                if let Ok(id) = ComponentId::parse(name) {
                    ids.push(id);
                }
            }
            ids
        };
        let receivers = resolve(Kind::Receiver, &p.receivers);
        let processors = resolve(Kind::Processor, &p.processors);
        let exporters = resolve(Kind::Exporter, &p.exporters);
        out.push(Pipeline {
            id: pid.clone(),
            receivers,
            processors,
            exporters,
        });
    }
    out
}

fn check_extensions(service: &ServiceSection, top: &Mapping, problems: &mut Vec<ConfigProblem>) {
    let mut seen = BTreeSet::new();
    for name in &service.extensions {
        if !seen.insert(name) {
            problems.push(ConfigProblem::new(
                "service::extensions",
                format!("extension \"{name}\" is listed twice"),
            ));
        } else if !configured(top, Kind::Extension, name) {
            problems.push(ConfigProblem::new(
                "service::extensions",
                format!("extension \"{name}\" is not configured"),
            ));
        }
    }
}

/// Warns about components that parsed but that nothing uses (broken ones already have errors).
fn warn_unused(
    components: &BTreeMap<(Kind, ComponentId), ComponentEntry>,
    service: &ServiceSection,
    problems: &mut Vec<ConfigProblem>,
) {
    for (kind, id) in components.keys() {
        {
            let kind = *kind;
            let name = id.to_string();
            let name = name.as_str();
            let used = match kind {
                Kind::Extension => service.extensions.iter().any(|e| e == name),
                Kind::Receiver => service
                    .pipelines
                    .values()
                    .any(|p| p.receivers.iter().any(|r| r == name)),
                Kind::Processor => service
                    .pipelines
                    .values()
                    .any(|p| p.processors.iter().any(|r| r == name)),
                Kind::Exporter => service
                    .pipelines
                    .values()
                    .any(|p| p.exporters.iter().any(|r| r == name)),
            };
            if !used {
                let where_ = if kind == Kind::Extension {
                    "service::extensions"
                } else {
                    "any pipeline"
                };
                problems.push(ConfigProblem::warning(
                    format!("{}::{name}", kind.section()),
                    format!("configured but not used by {where_}; it will not run"),
                ));
            }
        }
    }
}

/// The names running components look up, against what the config offers (see
/// `super::references`). Components that will not run are not checked.
fn check_name_references(components: &BTreeMap<(Kind, ComponentId), ComponentEntry>, service: &ServiceSection) -> Vec<ConfigProblem> {
    let runs = |kind: Kind, id: &ComponentId| {
        let name = id.to_string();
        match kind {
            Kind::Extension => service.extensions.contains(&name),
            Kind::Exporter => service.pipelines.values().any(|p| p.exporters.contains(&name)),
            Kind::Receiver => service.pipelines.values().any(|p| p.receivers.contains(&name)),
            Kind::Processor => service.pipelines.values().any(|p| p.processors.contains(&name)),
        }
    };
    // An enabled extension whose config did not parse offers names nobody can know: its own
    // problems are reported, and references are not checked against a partial list.
    let unknown = service.extensions.iter().any(|name| {
        ComponentId::parse(name).map_or(true, |id| !components.contains_key(&(Kind::Extension, id)))
    });
    if unknown {
        return Vec::new();
    }
    let mut offered = super::references::Offered::default();
    for ((kind, id), entry) in components.iter().filter(|((k, id), _)| runs(*k, id)) {
        if matches!(kind, Kind::Extension | Kind::Exporter) {
            offered.components.insert(id.to_string());
        }
        if *kind == Kind::Extension {
            offered.named.extend(entry.config.offered_names.iter().cloned());
        }
    }
    components
        .iter()
        .filter(|((k, id), _)| runs(*k, id))
        .flat_map(|((kind, id), entry)| super::references::check(&format!("{}::{id}", kind.section()), &entry.config.references, &offered))
        .collect()
}
