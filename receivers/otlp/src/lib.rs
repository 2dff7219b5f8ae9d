//! The `otlp` receiver: OTLP traces over gRPC (4317) and HTTP (4318), configured as in the
//! OpenTelemetry Collector.
//!
//! OTLP is the pipeline's own currency, so this is the cheapest way in: a protobuf request is
//! checked in place (`tracegate_pdata::validate`) and its bytes become the
//! [`Traces`](tracegate_core::Traces) batch, never decoded here; only a request with spans to
//! cut out (or a shape the check leaves to prost) is decoded. OTLP/JSON is decoded and passed
//! on as structs. Both transports share one path ([`ingest`]): spans with unusable ids are cut
//! out and reported as OTLP partial success, the rest goes to the pipeline, and pipeline refusals
//! become the backpressure answers OTLP clients understand (UNAVAILABLE / 503, RESOURCE_EXHAUSTED
//! / 429 with `RetryInfo` and `Retry-After`, INVALID_ARGUMENT / 400).
//!
//! - [`config`]: the Collector-shaped config and its validation.
//! - [`receiver`]: binding, serving and graceful shutdown.
//! - [`grpc`], [`http`]: the two transports; [`decode`] and [`json`]: OTLP/HTTP bodies.
//! - [`status`]: `google.rpc.Status` and the error mapping both transports use.

use std::sync::Arc;

use tracegate_core::{
    ComponentError, Consumer, CreateContext, Receiver, ReceiverFactory, Stability,
};

pub mod config;
pub mod decode;
#[doc(hidden)]
pub mod fuzzing;
pub mod grpc;
pub mod grpc_service;
pub mod http;
pub mod ingest;
pub mod json;
pub mod receiver;
pub mod status;
#[cfg(test)]
mod testutil;
#[cfg(test)]
mod tenancy_tests;

pub use config::Config;
pub use receiver::OtlpReceiver;

/// Creates `otlp` receivers.
pub struct OtlpReceiverFactory;

impl ReceiverFactory for OtlpReceiverFactory {
    const TYPE: &'static str = "otlp";
    const STABILITY: Stability = Stability::Stable;
    type Config = Config;

    fn create(
        &self,
        ctx: CreateContext,
        config: Config,
        next: Arc<dyn Consumer>,
    ) -> Result<Arc<dyn Receiver>, ComponentError> {
        Ok(Arc::new(OtlpReceiver::new(
            ctx.id,
            config,
            next,
            &ctx.telemetry,
        )))
    }
}

tracegate_core::register_receiver!(OtlpReceiverFactory);

#[cfg(test)]
mod tests {
    use tracegate_core::factory::Registry;
    use tracegate_core::{Kind, Stability};

    #[test]
    fn registered_as_a_stable_builtin_receiver() {
        let registry = Registry::builtin();
        let stability = registry.get(Kind::Receiver, "otlp").map(|f| f.stability());
        assert_eq!(stability, Some(Stability::Stable));
    }
}
