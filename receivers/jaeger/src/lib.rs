//! The `jaeger` receiver: tracegate as a drop-in Jaeger agent and collector.
//!
//! Applications instrumented with Jaeger clients keep sending what they always sent, to the
//! ports they always used: `Agent.emitBatch` over UDP in compact (6831) or binary (6832)
//! Thrift, a Thrift `Batch` to `POST /api/traces` (14268), or `PostSpans` over gRPC (14250).
//! Each arrives here, is translated to OTLP once by `tracegate-translator-jaeger`, and enters
//! the pipeline. The config is the Collector's `jaegerreceiver` shape.
//!
//! - [`config`]: protocols, endpoints and the UDP queue options, with validation.
//! - [`receiver`]: binding, serving and graceful shutdown.
//! - [`udp`], [`http`], [`grpc`]: the transports; [`ingest`]: the shared way into the pipeline.
//! - [`drops`]: counting and (rate-limited) logging of input that never became spans;
//!   [`kernel_drops`]: the datagrams the kernel dropped before the UDP reader saw them.

use std::sync::Arc;

use tracegate_core::{ComponentError, Consumer, CreateContext, Receiver, ReceiverFactory, Stability};

pub mod config;
pub mod drops;
pub mod grpc;
pub mod http;
pub mod ingest;
pub mod kernel_drops;
pub mod receiver;
pub mod udp;
#[cfg(test)]
mod testutil;
#[cfg(test)]
mod tenancy_tests;

pub use config::Config;
pub use receiver::{BoundAddrs, JaegerReceiver};

/// Creates `jaeger` receivers.
pub struct JaegerReceiverFactory;

impl ReceiverFactory for JaegerReceiverFactory {
    const TYPE: &'static str = "jaeger";
    const STABILITY: Stability = Stability::Beta;
    type Config = Config;

    fn create(&self, ctx: CreateContext, config: Config, next: Arc<dyn Consumer>) -> Result<Arc<dyn Receiver>, ComponentError> {
        Ok(Arc::new(JaegerReceiver::new(ctx.id, config, next, &ctx.telemetry)))
    }
}

tracegate_core::register_receiver!(JaegerReceiverFactory);

#[cfg(test)]
mod tests {
    use tracegate_core::factory::Registry;
    use tracegate_core::{Kind, Stability};

    #[test]
    fn registered_as_a_beta_builtin_receiver() {
        let registry = Registry::builtin();
        let stability = registry.get(Kind::Receiver, "jaeger").map(|f| f.stability());
        assert_eq!(stability, Some(Stability::Beta));
    }
}
