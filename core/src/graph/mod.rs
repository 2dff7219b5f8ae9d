//! Builds running pipelines from a validated config, with the Collector's graph rules:
//! a receiver named by several pipelines is one instance feeding all of them; processors are
//! per pipeline; an exporter is one instance shared by the pipelines that name it, behind the
//! engine's queue; a fan-out node offers each batch to a pipeline's exporters concurrently.
//! Start is downstream-first (extensions, exporters, processors, receivers); stop is
//! upstream-first (receivers, processors in pipeline order, exporters draining, extensions),
//! so nothing is pushed into a component that has already stopped. Each receiver feeds its
//! pipelines through a [`PipelineEntry`], which counts what the pipelines hold, and a
//! [`Switch`], which a reload points at new pipelines ([`reload`] says what a reload keeps).

mod build;
mod entry;
mod fanout;
mod host;
mod lookups;
pub mod reload;
mod service;
mod switch;

pub use build::BuildError;
pub use entry::PipelineEntry;
pub use fanout::Fanout;
pub use host::ServiceHost;
pub use reload::ReloadOutcome;
pub use service::Service;
pub use switch::{Gate, Switch, Unavailable};
