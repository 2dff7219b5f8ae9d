//! This processor's own metrics, beside the engine's incoming/outgoing/dropped/refused spans:
//! what the table holds in memory and on disk, and what went through the spill.
//!
//! Names follow the processor's existing ones (`tracegate_processor_tail_sampling_*`), labelled
//! with `processor` and `pipeline` as the engine's processor metrics are. The families are
//! shared by every instance (`Metrics::component_counter`), so the instance a reload builds
//! counts into the same series as the one it replaces.

use prometheus::{IntCounter, IntGauge};
use tracegate_core::factory::CreateContext;

use crate::buffer::{SpillTotals, TraceBuffer};

pub struct TailMetrics {
    pub dropped_too_early: Option<IntCounter>,
    traces_held: Option<IntGauge>,
    memory_traces: Option<IntGauge>,
    memory_bytes: Option<IntGauge>,
    spilled_traces_now: Option<IntGauge>,
    spilled_bytes_now: Option<IntGauge>,
    spilled_traces: Option<IntCounter>,
    spilled_bytes: Option<IntCounter>,
    read_back_traces: Option<IntCounter>,
    read_back_bytes: Option<IntCounter>,
    pub budget_dropped_traces: Option<IntCounter>,
    /// Totals already added to the counters.
    synced: std::sync::Mutex<SpillTotals>,
}

impl TailMetrics {
    pub fn new(ctx: &CreateContext) -> Self {
        let (id, pipeline) = (ctx.id.to_string(), ctx.pipeline.clone().unwrap_or_default());
        let labels = ["processor", "pipeline"];
        let metrics = &ctx.telemetry.metrics;
        let counter = |name: &str, help: &str| {
            let family = metrics.component_counter(&format!("tracegate_processor_tail_sampling_{name}"), help, &labels)?;
            Some(family.with_label_values(&[&id, &pipeline]))
        };
        let gauge = |name: &str, help: &str| {
            let family = metrics.component_gauge(&format!("tracegate_processor_tail_sampling_{name}"), help, &labels)?;
            Some(family.with_label_values(&[&id, &pipeline]))
        };
        Self {
            dropped_too_early: counter("sampling_trace_dropped_too_early", "Traces evicted before their decision because num_traces were held."),
            traces_held: gauge("traces_held", "Traces in the tail_sampling table (pending, in memory or spilled, and recently decided)."),
            memory_traces: gauge("memory_traces", "Pending traces with spans held in memory."),
            memory_bytes: gauge("memory_bytes", "Bytes held in memory: pending spans (OTLP), their resources and scopes, and the trace table."),
            spilled_traces_now: gauge("spilled_traces", "Pending traces with spans spilled to disk."),
            spilled_bytes_now: gauge("spill_file_bytes", "Bytes the spill files take on disk now."),
            spilled_traces: counter("spill_written_traces", "Trace chunks written to the spill (a trace spilled twice counts twice)."),
            spilled_bytes: counter("spill_written_bytes", "Bytes written to the spill."),
            read_back_traces: counter("spill_read_traces", "Spilled traces read back for their decision."),
            read_back_bytes: counter("spill_read_bytes", "Bytes read back from the spill."),
            budget_dropped_traces: counter(
                "memory_dropped_traces",
                "Undecided traces dropped to keep max_memory_mib: no spill configured, or the spill could not be written.",
            ),
            synced: std::sync::Mutex::new(SpillTotals::default()),
        }
    }

    /// Brings the gauges and counters up to the table's state.
    pub fn observe(&self, buffer: &TraceBuffer) {
        let set = |g: &Option<IntGauge>, v: u64| {
            if let Some(g) = g {
                g.set(i64::try_from(v).unwrap_or(i64::MAX));
            }
        };
        set(&self.traces_held, buffer.len() as u64);
        set(&self.memory_traces, buffer.memory_traces() as u64);
        set(&self.memory_bytes, buffer.held_bytes() as u64);
        set(&self.spilled_traces_now, buffer.spilled_traces() as u64);
        set(&self.spilled_bytes_now, buffer.spill_bytes());
        let now = buffer.spill_totals();
        let mut synced = self.synced.lock().unwrap_or_else(|p| p.into_inner());
        let add = |c: &Option<IntCounter>, now: u64, before: u64| {
            if let Some(c) = c {
                c.inc_by(now.saturating_sub(before));
            }
        };
        add(&self.spilled_traces, now.spilled_traces, synced.spilled_traces);
        add(&self.spilled_bytes, now.spilled_bytes, synced.spilled_bytes);
        add(&self.read_back_traces, now.read_back_traces, synced.read_back_traces);
        add(&self.read_back_bytes, now.read_back_bytes, synced.read_back_bytes);
        *synced = now;
    }
}
