//! Component factories: a typed trait per kind for component authors, one erased trait for
//! the engine, and the `inventory` registry that collects built-in factories at link time.
//!
//! A component author writes a `Config` (serde, `Default`, `deny_unknown_fields`, a pure
//! `validate`) and a `create`; the adapters here do parsing, path-annotated errors and
//! downcasting, so every component reports config errors the same way. Dynamically loaded
//! plugins implement [`DynFactory`] directly and look the same to the graph.
//!
//! # Validated configs
//!
//! `create` is not given the config as written but its validated form,
//! [`ComponentConfig::Validated`] (Vector's validated-config idea). For most components that
//! is the config itself, one line: `type Validated = Self;`. A component with rules to
//! compile (regexes, attribute actions, filter conditions, sampling policies) names the
//! compiled form instead and builds it with [`FromConfig`], which [`parse_typed`] runs once,
//! right after `validate` passed, and keeps in [`ParsedConfig`]. So:
//!
//! - a rule is compiled once per config load, not once by `validate` to check it and again
//!   by `create` (for every pipeline, for processors) to use it;
//! - what only compiling can find (a bad regex) is a config problem with its path, found by
//!   `tracegate validate` and by a reload before anything is stopped;
//! - `create` cannot fail on a rule that validated: it has no "engine bug" branch for a
//!   second compile that disagrees with the first.
//!
//! `create` still may fail for what needs the running machine (opening a store, binding,
//! reading a file named by the config): `validate` stays pure. The validated form is cloned
//! for each `create` (a processor is built once per pipeline, each with its own state), so
//! it must be `Clone`, and cheap to clone for the components that share one (a `Regex` is).
//! Why an associated type rather than a second trait object: the adapters below erase it
//! once (`ParsedConfig::typed` holds it), so the engine, plugins and reload see no change.

use std::any::Any;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{de::DeserializeOwned, Serialize};
use serde_yaml_ng::Value;

use crate::component::{ComponentError, Consumer, Exporter, Extension, Processor, Receiver};
use crate::config::ConfigProblem;
use crate::id::{ComponentId, Kind};
use crate::telemetry::Telemetry;

/// How far a component is along, as the Collector labels them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stability {
    Development,
    Alpha,
    Beta,
    Stable,
    Deprecated,
}

impl Stability {
    pub fn as_str(self) -> &'static str {
        match self {
            Stability::Development => "development",
            Stability::Alpha => "alpha",
            Stability::Beta => "beta",
            Stability::Stable => "stable",
            Stability::Deprecated => "deprecated",
        }
    }
}

/// Where a factory came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Linked into the binary.
    Builtin,
    /// Loaded at start-up from a shared library.
    Loaded(PathBuf),
}

/// A component's configuration type.
pub trait ComponentConfig:
    Serialize + DeserializeOwned + Default + Clone + Send + Sync + 'static
{
    /// What `create` is given: `Self` when there is nothing to compile, else the compiled
    /// form, built once from a config `validate` accepted (see the module docs).
    type Validated: FromConfig<Self> + Clone + Send + Sync + 'static;

    /// Checks values that serde cannot (ranges, combinations). Pure: no I/O, no ports bound.
    /// Each problem names the field it is about, relative to the component (`protocols::grpc`).
    fn validate(&self) -> Vec<ConfigProblem> {
        Vec::new()
    }

    /// Names this component will offer others under (see [`crate::capability`]) that its
    /// config alone tells, e.g. a storage extension's backends; `validate` checks the
    /// [`references`](Self::references) of other components against them.
    fn offered_names(&self) -> Vec<String> {
        Vec::new()
    }

    /// Names this component will look up at start (`host.capability`), each with the key
    /// that names it, so `validate` can refuse a name nothing in the config offers instead of
    /// the start failing.
    fn references(&self) -> Vec<crate::config::NameReference> {
        Vec::new()
    }
}

/// How a component's validated form is built from its config: once, when the config is
/// parsed, and only after [`ComponentConfig::validate`] found no error. Pure, like `validate`;
/// each problem's path is relative to the component (`actions::2::pattern`).
pub trait FromConfig<C>: Sized {
    /// Problems found on the way (errors and warnings) go to `problems`; `None` only when
    /// one of them is an error.
    fn from_config(config: &C, problems: &mut Vec<ConfigProblem>) -> Option<Self>;
}

/// A config with nothing to compile is its own validated form.
impl<C: Clone> FromConfig<C> for C {
    fn from_config(config: &C, _problems: &mut Vec<ConfigProblem>) -> Option<Self> {
        Some(config.clone())
    }
}

/// What `create` of a factory with config `C` is given.
pub type Validated<C> = <C as ComponentConfig>::Validated;

/// What a factory gets besides its config.
#[derive(Clone)]
pub struct CreateContext {
    pub id: ComponentId,
    pub telemetry: Arc<Telemetry>,
    /// The pipeline a processor is built for (processors are per pipeline); `None` for the
    /// shared receivers, exporters and extensions.
    pub pipeline: Option<String>,
}

impl CreateContext {
    pub fn new(id: ComponentId, telemetry: Arc<Telemetry>) -> Self {
        Self {
            id,
            telemetry,
            pipeline: None,
        }
    }

    /// This processor's counters. The engine already counts `incoming` and `outgoing` around
    /// every processor; a processor adds to `dropped` what it drops on purpose (sampling,
    /// filtering), so the three always reconcile.
    pub fn processor_metrics(&self) -> crate::telemetry::ProcessorMetrics {
        self.telemetry
            .metrics
            .processor(&self.id.to_string(), self.pipeline.as_deref().unwrap_or(""))
    }
}

pub trait ReceiverFactory: Send + Sync + 'static {
    const TYPE: &'static str;
    const STABILITY: Stability;
    type Config: ComponentConfig;
    fn create(
        &self,
        ctx: CreateContext,
        config: Validated<Self::Config>,
        next: Arc<dyn Consumer>,
    ) -> Result<Arc<dyn Receiver>, ComponentError>;
}

pub trait ProcessorFactory: Send + Sync + 'static {
    const TYPE: &'static str;
    const STABILITY: Stability;
    type Config: ComponentConfig;
    fn create(
        &self,
        ctx: CreateContext,
        config: Validated<Self::Config>,
        next: Arc<dyn Consumer>,
    ) -> Result<Arc<dyn Processor>, ComponentError>;
}

pub trait ExporterFactory: Send + Sync + 'static {
    const TYPE: &'static str;
    const STABILITY: Stability;
    type Config: ComponentConfig;
    fn create(
        &self,
        ctx: CreateContext,
        config: Validated<Self::Config>,
    ) -> Result<Arc<dyn Exporter>, ComponentError>;
}

pub trait ExtensionFactory: Send + Sync + 'static {
    const TYPE: &'static str;
    const STABILITY: Stability;
    type Config: ComponentConfig;
    fn create(
        &self,
        ctx: CreateContext,
        config: Validated<Self::Config>,
    ) -> Result<Arc<dyn Extension>, ComponentError>;
}

/// A parsed, validated config: the validated form for `create` and its effective YAML form
/// (defaults filled in) for `print-config`.
#[derive(Clone)]
pub struct ParsedConfig {
    /// The [`ComponentConfig::Validated`] form (the typed config itself for most components).
    pub typed: Arc<dyn Any + Send + Sync>,
    pub effective: Value,
    /// What `validate` warned about (a key accepted but without effect, ...); the config is
    /// valid, and `tracegate validate` and the start-up log show these.
    pub warnings: Vec<ConfigProblem>,
    /// [`ComponentConfig::offered_names`] of the typed config.
    pub offered_names: Vec<String>,
    /// [`ComponentConfig::references`] of the typed config.
    pub references: Vec<crate::config::NameReference>,
}

/// What an erased factory builds.
#[derive(Clone)]
pub enum Built {
    Receiver(Arc<dyn Receiver>),
    Processor(Arc<dyn Processor>),
    Exporter(Arc<dyn Exporter>),
    Extension(Arc<dyn Extension>),
}

/// The engine's view of any factory, static or dynamic.
pub trait DynFactory: Send + Sync {
    fn kind(&self) -> Kind;
    fn type_name(&self) -> &str;
    fn stability(&self) -> Stability;
    fn origin(&self) -> Origin {
        Origin::Builtin
    }
    /// Parses `raw` (None or null: all defaults) and validates it. Problem paths are relative
    /// to the component.
    fn parse_config(&self, raw: Option<&Value>) -> Result<ParsedConfig, Vec<ConfigProblem>>;
    /// `next` is Some for receivers and processors, None for exporters and extensions.
    fn create(
        &self,
        ctx: CreateContext,
        config: &ParsedConfig,
        next: Option<Arc<dyn Consumer>>,
    ) -> Result<Built, ComponentError>;
}

/// Deserializes a component config with the field path in errors, validates it and builds
/// its validated form.
pub fn parse_typed<C: ComponentConfig>(
    raw: Option<&Value>,
) -> Result<ParsedConfig, Vec<ConfigProblem>> {
    check_typed::<C>(raw).map(|(_, parsed)| parsed)
}

/// [`parse_typed`], also handing back the typed config as written (with defaults), for tests
/// of components whose validated form is not the config.
pub fn check_typed<C: ComponentConfig>(
    raw: Option<&Value>,
) -> Result<(C, ParsedConfig), Vec<ConfigProblem>> {
    let raw = match raw {
        None | Some(Value::Null) => Value::Mapping(Default::default()),
        Some(v) => v.clone(),
    };
    let typed: C = serde_path_to_error::deserialize(raw).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." {
            String::new()
        } else {
            path.replace('.', "::")
        };
        vec![ConfigProblem::new(path, e.into_inner().to_string())]
    })?;
    let mut problems = typed.validate();
    if problems.iter().any(ConfigProblem::is_error) {
        return Err(problems);
    }
    let validated = C::Validated::from_config(&typed, &mut problems);
    let validated = match validated {
        Some(v) if !problems.iter().any(ConfigProblem::is_error) => v,
        _ => {
            if !problems.iter().any(ConfigProblem::is_error) {
                problems.push(ConfigProblem::new("", "the config could not be compiled"));
            }
            return Err(problems);
        }
    };
    let effective = serde_yaml_ng::to_value(&typed)
        .map_err(|e| vec![ConfigProblem::new("", format!("cannot render config: {e}"))])?;
    let parsed = ParsedConfig {
        offered_names: typed.offered_names(),
        references: typed.references(),
        typed: Arc::new(validated),
        effective,
        warnings: problems,
    };
    Ok((typed, parsed))
}

/// The validated form `create` gets; a miss means the engine handed one factory's config
/// to another, which the graph never does.
fn validated_config<C: ComponentConfig>(
    config: &ParsedConfig,
) -> Result<Validated<C>, ComponentError> {
    config
        .typed
        .downcast_ref::<Validated<C>>()
        .cloned()
        .ok_or_else(|| ComponentError::other("config was parsed by another factory"))
}

fn need_next(next: Option<Arc<dyn Consumer>>) -> Result<Arc<dyn Consumer>, ComponentError> {
    next.ok_or_else(|| ComponentError::other("engine bug: no next consumer given"))
}

macro_rules! adapter {
    ($adapter:ident, $factory:ident, $kind:expr, |$f:ident, $ctx:ident, $cfg:ident, $next:ident| $build:expr) => {
        /// Erases a typed factory for the engine.
        pub struct $adapter<F>(pub F);

        impl<F: $factory> DynFactory for $adapter<F> {
            fn kind(&self) -> Kind {
                $kind
            }
            fn type_name(&self) -> &str {
                F::TYPE
            }
            fn stability(&self) -> Stability {
                F::STABILITY
            }
            fn parse_config(
                &self,
                raw: Option<&Value>,
            ) -> Result<ParsedConfig, Vec<ConfigProblem>> {
                parse_typed::<F::Config>(raw)
            }
            fn create(
                &self,
                $ctx: CreateContext,
                config: &ParsedConfig,
                $next: Option<Arc<dyn Consumer>>,
            ) -> Result<Built, ComponentError> {
                let $f = &self.0;
                let $cfg = validated_config::<F::Config>(config)?;
                $build
            }
        }
    };
}

adapter!(
    ReceiverAdapter,
    ReceiverFactory,
    Kind::Receiver,
    |f, ctx, cfg, next| Ok(Built::Receiver(f.create(ctx, cfg, need_next(next)?)?))
);
adapter!(
    ProcessorAdapter,
    ProcessorFactory,
    Kind::Processor,
    |f, ctx, cfg, next| Ok(Built::Processor(f.create(ctx, cfg, need_next(next)?)?))
);
adapter!(
    ExporterAdapter,
    ExporterFactory,
    Kind::Exporter,
    |f, ctx, cfg, _next| Ok(Built::Exporter(f.create(ctx, cfg)?))
);
adapter!(
    ExtensionAdapter,
    ExtensionFactory,
    Kind::Extension,
    |f, ctx, cfg, _next| Ok(Built::Extension(f.create(ctx, cfg)?))
);

/// A built-in factory, submitted with one of the `register_*!` macros.
pub struct Registration(pub fn() -> Arc<dyn DynFactory>);

inventory::collect!(Registration);

/// Registers a [`ReceiverFactory`] value as a built-in component.
#[macro_export]
macro_rules! register_receiver {
    ($factory:expr) => {
        $crate::__private::inventory::submit! {
            $crate::factory::Registration(|| ::std::sync::Arc::new($crate::factory::ReceiverAdapter($factory)))
        }
    };
}

/// Registers a [`ProcessorFactory`] value as a built-in component.
#[macro_export]
macro_rules! register_processor {
    ($factory:expr) => {
        $crate::__private::inventory::submit! {
            $crate::factory::Registration(|| ::std::sync::Arc::new($crate::factory::ProcessorAdapter($factory)))
        }
    };
}

/// Registers an [`ExporterFactory`] value as a built-in component.
#[macro_export]
macro_rules! register_exporter {
    ($factory:expr) => {
        $crate::__private::inventory::submit! {
            $crate::factory::Registration(|| ::std::sync::Arc::new($crate::factory::ExporterAdapter($factory)))
        }
    };
}

/// Registers an [`ExtensionFactory`] value as a built-in component.
#[macro_export]
macro_rules! register_extension {
    ($factory:expr) => {
        $crate::__private::inventory::submit! {
            $crate::factory::Registration(|| ::std::sync::Arc::new($crate::factory::ExtensionAdapter($factory)))
        }
    };
}

#[derive(Debug, thiserror::Error)]
#[error("{kind} type \"{type_name}\" is registered twice (second from {origin})")]
pub struct DuplicateFactory {
    pub kind: Kind,
    pub type_name: String,
    pub origin: String,
}

/// Every factory the running binary knows, by kind and type.
#[derive(Clone, Default)]
pub struct Registry {
    factories: BTreeMap<(Kind, String), Arc<dyn DynFactory>>,
}

impl Registry {
    /// The factories linked into this binary.
    pub fn builtin() -> Self {
        let mut reg = Self::default();
        for r in inventory::iter::<Registration> {
            // Two crates registering one type is a build mistake; keep the first and say so.
            if let Err(e) = reg.add((r.0)()) {
                tracing::error!("{e}");
            }
        }
        reg
    }

    pub fn add(&mut self, factory: Arc<dyn DynFactory>) -> Result<(), DuplicateFactory> {
        let key = (factory.kind(), factory.type_name().to_string());
        if self.factories.contains_key(&key) {
            return Err(DuplicateFactory {
                kind: key.0,
                type_name: key.1,
                origin: match factory.origin() {
                    Origin::Builtin => "the binary".to_string(),
                    Origin::Loaded(p) => p.display().to_string(),
                },
            });
        }
        self.factories.insert(key, factory);
        Ok(())
    }

    pub fn get(&self, kind: Kind, type_name: &str) -> Option<&Arc<dyn DynFactory>> {
        self.factories.get(&(kind, type_name.to_string()))
    }

    /// Sorted type names of one kind.
    pub fn types(&self, kind: Kind) -> Vec<&str> {
        self.factories
            .keys()
            .filter(|(k, _)| *k == kind)
            .map(|(_, t)| t.as_str())
            .collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn DynFactory>> {
        self.factories.values()
    }
}

#[cfg(test)]
#[path = "factory_tests.rs"]
mod tests;
