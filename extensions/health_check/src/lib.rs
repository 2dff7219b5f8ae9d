//! health_check extension: an HTTP endpoint (default `0.0.0.0:13133`) that answers 200 while
//! the service is ready and 503 while it starts, stops, or has a failed component — the
//! Collector's `health_check` extension, so the same load-balancer and Kubernetes probes work.
//!
//! Also the other diagnostics extensions Jaeger v2's configs name: [`v2`] (`healthcheckv2`, the
//! same check in the Collector's newer shape) and [`diagnostics`] (`pprof`, `zpages`,
//! `expvar`, accepted with a warning and doing nothing).

mod config;
pub mod diagnostics;
mod extension;
mod response;
pub mod v2;

use std::sync::Arc;

use tracegate_core::{ComponentError, CreateContext, Extension, ExtensionFactory, Stability};

pub use config::Config;
pub use extension::{router, HealthCheckExtension};
pub use response::{health, rfc3339_nanos, Failure, HealthBody};

/// Builds [`HealthCheckExtension`]s for the `health_check` type.
pub struct HealthCheckFactory;

impl ExtensionFactory for HealthCheckFactory {
    const TYPE: &'static str = "health_check";
    const STABILITY: Stability = Stability::Stable;
    type Config = Config;

    fn create(&self, ctx: CreateContext, config: Config) -> Result<Arc<dyn Extension>, ComponentError> {
        Ok(Arc::new(HealthCheckExtension::new(ctx.id.to_string(), &config)))
    }
}

tracegate_core::register_extension!(HealthCheckFactory);

/// Builds [`HealthCheckExtension`]s for the `healthcheckv2` type (see [`v2`]).
pub struct HealthCheckV2Factory;

impl ExtensionFactory for HealthCheckV2Factory {
    const TYPE: &'static str = "healthcheckv2";
    const STABILITY: Stability = Stability::Beta;
    type Config = v2::Config;

    fn create(&self, ctx: CreateContext, config: v2::Config) -> Result<Arc<dyn Extension>, ComponentError> {
        match config.served() {
            Some(served) => Ok(Arc::new(HealthCheckExtension::new(ctx.id.to_string(), &served))),
            None => Ok(Arc::new(diagnostics::NotServed)),
        }
    }
}

tracegate_core::register_extension!(HealthCheckV2Factory);

#[cfg(test)]
mod tests {
    use tracegate_core::factory::Registry;
    use tracegate_core::Kind;

    #[test]
    fn registered_as_a_builtin_extension() {
        let registry = Registry::builtin();
        let factory = registry.get(Kind::Extension, "health_check").map(|f| f.stability());
        assert_eq!(factory, Some(tracegate_core::Stability::Stable));
    }
}
