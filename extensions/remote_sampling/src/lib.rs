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
//! - [`grpc`]: `jaeger.api_v2.SamplingManager/GetSamplingStrategy`, also served by the `jaeger`
//!   receiver on its gRPC port through [`RemoteSamplingExtension::grpc_service`].
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

/// Generated from `proto/sampling.proto` (package `jaeger.api_v2`).
pub mod proto {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("jaeger.api_v2");
}

use std::sync::Arc;

use tracegate_core::{ComponentError, CreateContext, Extension, ExtensionFactory, Stability};

pub use config::Config;
pub use extension::RemoteSamplingExtension;
pub use grpc::SamplingService;
pub use proto::sampling_manager_client;
pub use proto::sampling_manager_server;
pub use proto::SamplingStrategyResponse;

/// Builds [`RemoteSamplingExtension`]s for the `remote_sampling` type.
pub struct RemoteSamplingFactory;

impl ExtensionFactory for RemoteSamplingFactory {
    const TYPE: &'static str = "remote_sampling";
    const STABILITY: Stability = Stability::Beta;
    type Config = Config;

    fn create(&self, ctx: CreateContext, config: Config) -> Result<Arc<dyn Extension>, ComponentError> {
        Ok(Arc::new(RemoteSamplingExtension::new(ctx, &config)?))
    }
}

tracegate_core::register_extension!(RemoteSamplingFactory);
tracegate_core::register_processor!(processor::AdaptiveSamplingFactory);
