//! The `tail_sampling` processor, as the Collector's contrib processor of that name: spans are
//! held per trace for `decision_wait` after the trace's first span, then a list of policies
//! decides whether the whole trace is kept. Spans that arrive after the decision follow it.
//!
//! Memory is bounded by `num_traces`: the table holds that many traces (pending, or decided
//! and kept only as a tombstone so late spans follow the decision); when it is full the oldest
//! is evicted, and if it was still undecided its spans are dropped and counted
//! (`tracegate_processor_tail_sampling_sampling_trace_dropped_too_early`, and
//! `tracegate_processor_dropped_spans`), as the Collector does. The memory a buffered trace
//! costs is measured by `benches/tail_sampling.rs` and written in the docs.
//!
//! Differences from the Collector, on purpose: sampled spans the next component refuses with
//! a retryable error are held and sent again (the Collector drops them), and new data is
//! refused meanwhile; an attribute of the wrong type never matches an attribute policy (the
//! Collector reads it as zero/false/empty).

mod buffer;
mod config;
mod policy;
mod policy_config;
mod processor;
mod trace_data;

use std::sync::Arc;

use tracegate_core::component::{ComponentError, Consumer, Processor};
use tracegate_core::factory::{CreateContext, ProcessorFactory, Stability};

pub use buffer::{trace_key, AddOutcome, DecideOutcome, TraceBuffer, TraceId};
pub use config::{DecisionCacheConfig, TailSamplingConfig};
pub use policy::{combine, decide, probabilistic_threshold, Decision, EvalContext, NamedPolicy, Policy, PolicyError};
pub use policy_config::*;
pub use processor::TailSamplingProcessor;
pub use trace_data::{regroup, Piece, ResourceKey, ScopeKey, TraceData};

pub struct TailSamplingFactory;

impl ProcessorFactory for TailSamplingFactory {
    const TYPE: &'static str = "tail_sampling";
    const STABILITY: Stability = Stability::Beta;
    type Config = TailSamplingConfig;

    fn create(
        &self,
        ctx: CreateContext,
        config: TailSamplingConfig,
        next: Arc<dyn Consumer>,
    ) -> Result<Arc<dyn Processor>, ComponentError> {
        let p = TailSamplingProcessor::new(&ctx, &config, next).map_err(|e| ComponentError::Config(e.to_string()))?;
        Ok(p)
    }
}

tracegate_core::register_processor!(TailSamplingFactory);
