//! The `probabilistic_sampler` processor, as the Collector's contrib processor of that name:
//! keeps `sampling_percentage` percent of traces, deciding from the trace id alone, so every
//! span of a trace gets the same decision in every process that shares the configuration,
//! and an OTel Collector with the same `hash_seed` decides the same way (same FNV-1a hash,
//! same 14-bit buckets, same float32 rounding of the rate).
//!
//! Three modes, as the Collector: `hash_seed` (the legacy hash), and the W3C consistent
//! probability sampling modes `proportional` and `equalizing`, which read the trace id's low
//! 56 bits (or an explicit `rv`) and record the applied threshold as `ot=th:` in the span's
//! tracestate. With no `mode`, a non-zero `hash_seed` selects `hash_seed`, otherwise
//! `proportional` (the Collector's rule).
//!
//! One deliberate difference: in `hash_seed` mode the Collector also writes `ot=rv:..;th:..`
//! into every kept span's tracestate. tracegate does not (as the Collector did before it knew
//! about OTEP 235), so a batch in which every span is kept passes through untouched, without
//! a copy. The decisions are identical.

mod config;
mod hash;
mod processor;
mod sampler;
mod tracestate;

use std::sync::Arc;

use tracegate_core::component::{ComponentError, Consumer, Processor};
use tracegate_core::factory::{CreateContext, ProcessorFactory, Stability};

pub use config::{ProbabilisticSamplerConfig, SamplerMode};
pub use hash::{compute_hash, hash_bucket, randomness_from_bytes};
pub use processor::ProbabilisticSamplerProcessor;
pub use sampler::{Decision, Sampler};
pub use tracestate::{probability_to_threshold, threshold_tvalue, Threshold, MAX_ADJUSTED_COUNT};

pub struct ProbabilisticSamplerFactory;

impl ProcessorFactory for ProbabilisticSamplerFactory {
    const TYPE: &'static str = "probabilistic_sampler";
    const STABILITY: Stability = Stability::Beta;
    type Config = ProbabilisticSamplerConfig;

    fn create(
        &self,
        ctx: CreateContext,
        config: ProbabilisticSamplerConfig,
        next: Arc<dyn Consumer>,
    ) -> Result<Arc<dyn Processor>, ComponentError> {
        let sampler = Sampler::from_config(&config);
        Ok(Arc::new(ProbabilisticSamplerProcessor::new(ctx.id.clone(), sampler, next, ctx.processor_metrics())))
    }
}

tracegate_core::register_processor!(ProbabilisticSamplerFactory);
