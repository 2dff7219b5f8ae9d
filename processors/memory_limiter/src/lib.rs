//! The `memory_limiter` processor, as the Collector's: every `check_interval` it measures the
//! span data the pipelines hold and, while that is above the soft limit (`limit -
//! spike_limit`), refuses new data with a retryable error, so receivers answer UNAVAILABLE /
//! 503 with a retry delay and clients back off instead of the gateway running out of memory.
//! Put it first in a pipeline.
//!
//! - [`config`]: `check_interval`, `limit_mib`, `spike_limit_mib`, `limit_percentage`,
//!   `spike_limit_percentage`, validated with the Collector's messages.
//! - [`memory`]: what is measured (the data the pipelines hold, not the resident set, and
//!   why) and the total for percentages.
//! - [`limiter`]: the checking task and the refusing consumer.

pub mod config;
pub mod limiter;
pub mod memory;

use std::sync::Arc;

use tracegate_core::component::{ComponentError, Consumer, Processor};
use tracegate_core::factory::{CreateContext, ProcessorFactory, Stability};

pub use config::Config;
pub use limiter::{Level, MemoryLimiter, MemoryLimiterProcessor};
pub use memory::{Limits, MemoryProbe, PipelineHeld, ProcessRss};

pub struct MemoryLimiterFactory;

impl ProcessorFactory for MemoryLimiterFactory {
    const TYPE: &'static str = "memory_limiter";
    const STABILITY: Stability = Stability::Beta;
    type Config = Config;

    fn create(&self, ctx: CreateContext, config: Config, next: Arc<dyn Consumer>) -> Result<Arc<dyn Processor>, ComponentError> {
        let limits = limits_of(&config, memory::total_memory)?;
        let refused = ctx.processor_metrics().refused;
        let held = PipelineHeld(ctx.telemetry.metrics.pipeline_memory());
        let limiter = MemoryLimiter::new(ctx.id.to_string(), limits, config.check_interval.get(), Arc::new(held), next, refused);
        Ok(Arc::new(MemoryLimiterProcessor(limiter)))
    }
}

/// The limits a config asks for; `limit_mib` wins over the percentages, as in the Collector.
pub fn limits_of(
    config: &Config,
    total: impl FnOnce() -> Result<u64, memory::TotalMemoryError>,
) -> Result<Limits, ComponentError> {
    if config.limit_mib != 0 {
        return Ok(Limits::from_mib(config.limit_mib, config.spike_limit_mib));
    }
    let total = total().map_err(|e| ComponentError::Config(e.to_string()))?;
    tracing::info!(
        total_memory_mib = total / (1024 * 1024),
        limit_percentage = config.limit_percentage,
        spike_limit_percentage = config.spike_limit_percentage,
        "using percentage memory limiter"
    );
    Ok(Limits::from_percentages(total, config.limit_percentage, config.spike_limit_percentage))
}

tracegate_core::register_processor!(MemoryLimiterFactory);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tracegate_core::testing::parse_config;

    #[test]
    fn limit_mib_wins_over_percentages_and_percentages_use_the_total() {
        let c: Config = parse_config("check_interval: 1s\nlimit_mib: 100\nlimit_percentage: 50").unwrap();
        assert_eq!(limits_of(&c, || panic!("total memory is not needed")).unwrap(), Limits::from_mib(100, 0));
        let c: Config = parse_config("check_interval: 1s\nlimit_percentage: 50\nspike_limit_percentage: 20").unwrap();
        assert_eq!(limits_of(&c, || Ok(1000)).unwrap(), Limits { hard: 500, soft: 300 });
    }

    #[test]
    fn registered_as_memory_limiter() {
        let reg = tracegate_core::factory::Registry::builtin();
        assert!(reg.get(tracegate_core::Kind::Processor, "memory_limiter").is_some());
    }
}
