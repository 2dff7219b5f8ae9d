//! health_check extension: an HTTP endpoint (default `0.0.0.0:13133`) that answers 200 while
//! the service is ready and 503 while it starts, stops, or has a failed component — the
//! Collector's `health_check` extension, so the same load-balancer and Kubernetes probes work.

mod config;
mod extension;
mod response;

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
