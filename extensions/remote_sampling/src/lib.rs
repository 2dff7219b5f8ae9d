//! remote_sampling extension: serves Jaeger sampling strategies to SDKs and agents, the way
//! Jaeger v2's `remote_sampling` extension does, so apps configured with a `remote` sampler keep
//! working unchanged when they point at tracegate.
//!
//! - [`config`]: the Jaeger v2 config shape (`file` or `adaptive`, `http`, `grpc`).
//! - [`strategies`]: Jaeger's strategies file format and its resolution rules.
//! - [`provider`]: holds the current strategies and reloads the file when it changes.
//! - [`adaptive`]: Jaeger's adaptive sampling (per-operation probabilities computed from the
//!   observed rate of sampled traces), fed by the [`processor`] `adaptive_sampling`.
//! - [`http`]: `GET /sampling?service=X` (proto-JSON) and the legacy `GET /?service=X`.
//! - [`grpc`]: `jaeger.api_v2.SamplingManager/GetSamplingStrategy` on the extension's port. The
//!   extension offers its strategies as the `dyn SamplingStrategies` capability (see
//!   `tracegate_core::capability`), which the `jaeger` receiver finds and serves on its gRPC port
//!   without depending on this crate; the adaptive state is offered as [`AdaptiveSampling`]
//!   to the `adaptive_sampling` processor the same way.
//!
//! The strategies file is read when the extension is created, so a missing or malformed file
//! fails start-up with the path and the JSON problem, not the first request.

pub mod adaptive;
pub mod config;
mod extension;
#[doc(hidden)]
pub mod fuzzing;
pub mod grpc;
pub mod http;
mod json;
pub mod processor;
pub mod provider;
pub mod strategies;

/// Jaeger's sampling messages and the `SamplingManager` service (package `jaeger.api_v2`),
/// compiled once in the Jaeger translator crate, which the `jaeger` receiver serves too.
pub mod proto {
    pub use tracegate_translator_jaeger::proto::{
        sampling_manager_client, sampling_manager_server, OperationSamplingStrategy, PerOperationSamplingStrategies,
        ProbabilisticSamplingStrategy, RateLimitingSamplingStrategy, SamplingStrategyParameters, SamplingStrategyResponse,
        SamplingStrategyType,
    };
}

use std::sync::Arc;

use tracegate_core::{ComponentError, CreateContext, Extension, ExtensionFactory, Stability};

pub use config::{Config, ValidatedConfig};
pub use adaptive::AdaptiveSampling;
pub use extension::RemoteSamplingExtension;
pub use proto::sampling_manager_client;
pub use proto::sampling_manager_server;
pub use proto::SamplingStrategyResponse;

/// Builds [`RemoteSamplingExtension`]s for the `remote_sampling` type.
pub struct RemoteSamplingFactory;

impl ExtensionFactory for RemoteSamplingFactory {
    const TYPE: &'static str = "remote_sampling";
    const STABILITY: Stability = Stability::Beta;
    type Config = Config;

    fn create(&self, ctx: CreateContext, config: ValidatedConfig) -> Result<Arc<dyn Extension>, ComponentError> {
        Ok(Arc::new(RemoteSamplingExtension::new(ctx, &config)?))
    }
}

tracegate_core::register_extension!(RemoteSamplingFactory);
tracegate_core::register_processor!(processor::AdaptiveSamplingFactory);
