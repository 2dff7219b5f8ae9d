//! The `tail_sampling` processor, as the Collector's contrib processor of that name: spans are
//! held per trace for `decision_wait` after the trace's first span, then a list of policies
//! decides whether the whole trace is kept. Spans that arrive after the decision follow it.
//!
//! **Held as bytes.** A pending trace is held as the OTLP bytes its spans arrived in: each
//! span's message is copied out of the request without decoding it ([`ingest`]), framed as a
//! `ScopeSpans` holds it ([`held`]), under a resource and scope that are interned once for all
//! traces ([`heads`]). Policies read those bytes through `tracegate_pdata::view`
//! ([`policy`]), and a sampled trace leaves as request bytes ([`release`]) that an OTLP
//! exporter forwards as they are. Decoded structs cost about 5x their OTLP size (8.1 KB for a
//! 5-span trace of 1.6 KB, jemalloc); the bytes cost 1.2x (`benches/tail_sampling.rs` measures
//! both; docs/configuration.md has the figures, also through the gateway). A per-trace summary for the policies
//! was not kept beside the bytes: see [`policy`] for why.
//!
//! **Bounded memory.** `num_traces` bounds the traces in the table as in the Collector: when
//! full the oldest is evicted, and if it was still undecided its spans are dropped and counted
//! (`tracegate_processor_tail_sampling_sampling_trace_dropped_too_early`, and
//! `tracegate_processor_dropped_spans`). `max_memory_mib` bounds the bytes held, and past it
//! the oldest pending traces spill to disk ([`spill`]) and are read back for their decision,
//! on time; see [`buffer`] for the rules.
//!
//! Differences from the Collector, on purpose: sampled spans the next component refuses with
//! a retryable error are held and sent again (the Collector drops them), and new data is
//! refused meanwhile; an attribute of the wrong type never matches an attribute policy (the
//! Collector reads it as zero/false/empty).

mod buffer;
mod config;
pub mod heads;
pub mod held;
pub mod ingest;
mod metrics;
pub mod policy;
mod policy_config;
mod processor;
pub mod release;
pub mod spill;
mod spill_chunk;
mod spill_dir;
mod table;

use std::sync::Arc;

use tracegate_core::component::{ComponentError, Consumer, Processor};
use tracegate_core::factory::{CreateContext, ProcessorFactory, Stability};

pub use buffer::{trace_key, AddOutcome, BudgetOutcome, DecideOutcome, SpillTotals, TraceBuffer, TraceId};
pub use config::{DecisionCacheConfig, SpillConfig, TailSampling, TailSamplingConfig};
pub use held::TraceView;
pub use ingest::Batch;
pub use policy::{combine, decide, probabilistic_threshold, Decision, EvalContext, NamedPolicy, Policy, PolicyError};
pub use policy_config::*;
pub use processor::TailSamplingProcessor;
pub use release::ReleaseBuilder;

pub struct TailSamplingFactory;

impl ProcessorFactory for TailSamplingFactory {
    const TYPE: &'static str = "tail_sampling";
    const STABILITY: Stability = Stability::Beta;
    type Config = TailSamplingConfig;

    fn create(
        &self,
        ctx: CreateContext,
        validated: TailSampling,
        next: Arc<dyn Consumer>,
    ) -> Result<Arc<dyn Processor>, ComponentError> {
        Ok(TailSamplingProcessor::new(&ctx, validated, next))
    }
}

tracegate_core::register_processor!(TailSamplingFactory);
