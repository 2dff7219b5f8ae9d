//! The `zipkin` receiver: Zipkin's span-reporting HTTP API on 9411, so apps instrumented with
//! Zipkin libraries (Brave, py_zipkin, zipkin-go, zipkin-js, ...) can point at tracegate and
//! change nothing.
//!
//! It accepts every encoding a Zipkin server accepts: `/api/v2/spans` with JSON or protobuf,
//! `/api/v1/spans` with JSON or Thrift, each optionally gzip-compressed. Spans are translated
//! to OTLP once, at the edge, by the OpenTelemetry Collector's rules (its `zipkinreceiver`),
//! so data looks the same whichever of the two gateways it passed through; the few places
//! where tracegate is deliberately more lenient than the Collector are documented in the
//! module that makes them.
//!
//! - [`config`]: `endpoint`, `parse_string_tags`, `max_request_body_size`.
//! - [`receiver`] and [`server`]: lifecycle and the HTTP API; [`decode`]: request -> OTLP.
//! - [`v2_json`], [`v2_proto`] -> [`model`] -> [`to_otlp`]: the v2 path.
//! - [`v1_json`], [`v1_thrift`] -> [`v1`]: the v1 path (the Collector translates v1 on its own).

use std::sync::Arc;

use tracegate_core::{ComponentError, Consumer, CreateContext, Receiver, ReceiverFactory, Stability};

mod attrs;
pub mod config;
pub mod decode;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod model;
mod packed;
pub mod receiver;
pub mod server;
pub mod to_otlp;
pub mod v1;
pub mod v1_json;
pub mod v1_thrift;
pub mod v2_json;
pub mod v2_proto;
#[cfg(test)]
mod testutil;
#[cfg(test)]
mod tenancy_tests;

pub use config::Config;
pub use decode::{translate, Options};
pub use error::{DecodeError, Format};
pub use receiver::ZipkinReceiver;

/// Creates `zipkin` receivers.
pub struct ZipkinReceiverFactory;

impl ReceiverFactory for ZipkinReceiverFactory {
    const TYPE: &'static str = "zipkin";
    const STABILITY: Stability = Stability::Beta;
    type Config = Config;

    fn create(
        &self,
        ctx: CreateContext,
        config: Config,
        next: Arc<dyn Consumer>,
    ) -> Result<Arc<dyn Receiver>, ComponentError> {
        Ok(Arc::new(ZipkinReceiver::new(ctx.id, config, next, &ctx.telemetry)))
    }
}

tracegate_core::register_receiver!(ZipkinReceiverFactory);

#[cfg(test)]
mod tests {
    use tracegate_core::factory::Registry;
    use tracegate_core::{Kind, Stability};

    #[test]
    fn registered_as_a_beta_builtin_receiver() {
        let registry = Registry::builtin();
        let stability = registry.get(Kind::Receiver, "zipkin").map(|f| f.stability());
        assert_eq!(stability, Some(Stability::Beta));
    }
}
