//! The `otlp` (gRPC) and `otlphttp` exporters: forward spans to any OTLP backend, usually
//! another Collector or tracegate, as the Collector's otlpexporter and otlphttpexporter do.
//!
//! Both live in one crate because they share everything but the transport: the config
//! conventions (`headers`, `compression`, `tls`), body compression ([`Compression`]), and the
//! judgement of which failures are worth retrying ([`classify`](crate::classify)), which must
//! agree so that a pipeline behaves the same whichever protocol it speaks. Queueing, retry
//! and timeout are the engine's; an export here sends once and says how it went.
//!
//! TLS (`tls:`, the Collector's client shape) is rustls under both transports, through one
//! connector ([`transport`](crate::transport)): gRPC uses TLS unless `insecure: true` or an
//! `http://` endpoint says otherwise, as in the Collector; OTLP/HTTP uses it for `https://` URLs.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod classify;
mod compression;
mod config;
mod grpc;
mod http;
mod transport;
pub mod raw_codec;

use std::sync::Arc;

use tracegate_core::{ComponentError, CreateContext, Exporter, ExporterFactory, Stability};

pub use compression::Compression;
pub use config::{Encoding, GrpcConfig, GrpcSettings, HttpConfig, HttpSettings, TlsConfig};
pub use grpc::OtlpGrpcExporter;
pub use http::OtlpHttpExporter;

/// Sent with every request, so a backend's logs say who is calling.
const USER_AGENT: &str = concat!("tracegate/", env!("CARGO_PKG_VERSION"));

/// Builds [`OtlpGrpcExporter`]s for the `otlp` type.
pub struct OtlpGrpcExporterFactory;

impl ExporterFactory for OtlpGrpcExporterFactory {
    const TYPE: &'static str = "otlp";
    const STABILITY: Stability = Stability::Stable;
    type Config = GrpcConfig;

    fn create(
        &self,
        ctx: CreateContext,
        settings: GrpcSettings,
    ) -> Result<Arc<dyn Exporter>, ComponentError> {
        Ok(Arc::new(OtlpGrpcExporter::new(ctx.id.to_string(), settings)?))
    }
}

/// Builds [`OtlpHttpExporter`]s for the `otlphttp` type.
pub struct OtlpHttpExporterFactory;

impl ExporterFactory for OtlpHttpExporterFactory {
    const TYPE: &'static str = "otlphttp";
    const STABILITY: Stability = Stability::Stable;
    type Config = HttpConfig;

    fn create(
        &self,
        ctx: CreateContext,
        settings: HttpSettings,
    ) -> Result<Arc<dyn Exporter>, ComponentError> {
        Ok(Arc::new(OtlpHttpExporter::new(ctx.id.to_string(), settings)?))
    }
}

tracegate_core::register_exporter!(OtlpGrpcExporterFactory);
tracegate_core::register_exporter!(OtlpHttpExporterFactory);

#[cfg(test)]
mod auth_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tls_tests;

#[cfg(test)]
mod tests {
    use tracegate_core::factory::Registry;
    use tracegate_core::{Kind, Stability};

    #[test]
    fn both_types_are_registered_as_stable_builtins() {
        let registry = Registry::builtin();
        for name in ["otlp", "otlphttp"] {
            let stability = registry.get(Kind::Exporter, name).map(|f| f.stability());
            assert_eq!(stability, Some(Stability::Stable), "{name}");
        }
    }
}
