//! tracegate-core: the spine every component crate builds on.
//!
//! - [`data`]: the pipeline's currency, [`Traces`], a copy-on-write handle over OTLP.
//! - [`component`]: the traits a receiver, processor, exporter or extension implements.
//! - [`capability`]: how a component finds what another offers (a trace store, queue storage,
//!   sampling strategies) by name, with one typed call on the `Host`.
//! - [`sampling`]: Jaeger sampling strategies as a capability (`remote_sampling` offers, receivers serve).
//! - [`factory`]: typed factories, their erased form, and the `inventory` registry.
//! - [`config`]: the Collector-shaped YAML config: loading, env expansion, merging, validation.
//! - [`graph`]: turns a validated config into running pipelines (fan-out, start/stop order).
//! - [`queue`]: the engine-owned sending queue, retry and timeout around every exporter.
//! - [`server`]: [`server::ServerSet`], the bind / serve / drain life of every listener.
//! - [`auth`]: authenticator extensions' contract: the check on listeners, credentials for exporters.
//! - [`tenancy`]: Jaeger's tenancy: which tenant a request is, refused when none allowed.
//! - [`plugins`]: processors and exporters from other crates, linked in or loaded from `plugins:`.
//! - `fuzzing`: what the fuzz targets call, so tests replay their inputs through the same code.
//! - [`telemetry`]: self-metrics (Prometheus), logs, and the service status health checks read.

pub mod auth;
pub mod capability;
pub mod component;
pub mod config;
pub mod data;
pub mod factory;
pub mod fast_hash;
#[doc(hidden)]
pub mod fuzzing;
pub mod graph;
pub mod id;
pub mod plugins;
pub mod queue;
pub mod red;
pub mod sampling;
pub mod server;
pub mod storage;
pub mod telemetry;
pub mod tenancy;
pub mod testing;
pub mod timefmt;
pub mod tls_client;

pub use component::{
    Capabilities, ComponentError, ConsumeError, Consumer, ExportReport, Exporter, Extension, Host,
    Lifecycle, Processor, Receiver,
};
pub use data::Traces;
pub use factory::{
    CreateContext, ExporterFactory, ExtensionFactory, ProcessorFactory, ReceiverFactory, Stability,
};
pub use id::{ComponentId, Kind};

/// Re-exports used by the registration macros, so component crates need no direct
/// dependency on `inventory`.
#[doc(hidden)]
pub mod __private {
    pub use inventory;
}
