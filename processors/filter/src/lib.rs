//! The `filter` processor: drops spans that match OTTL conditions (`traces.span`, as the
//! Collector's filter processor) or the older `spans: { include, exclude }` properties, and —
//! a tracegate addition — drops every span of a trace when one of its spans matches a
//! `traces.trace` condition. That trace-wide drop sees one batch at a time: put it after a
//! `batch` processor (or a `tail_sampling` decision) so a trace's spans travel together.
//!
//! Only a subset of OTTL is understood (see [`ottl`]); a condition outside it fails config
//! validation with its index, so nothing is silently matched differently from the Collector.
//! The `spans` properties and the span context are the shared rule engine's
//! ([`tracegate_span_rules`]).

mod eval;
mod ottl;

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tracegate_core::component::{Capabilities, ConsumeError, Consumer, Lifecycle, Processor};
use tracegate_core::config::ConfigProblem;
use tracegate_core::data::Traces;
use tracegate_core::factory::{ComponentConfig, FromConfig};
use tracegate_core::id::ComponentId;
use tracegate_core::telemetry::ProcessorMetrics;

use tracegate_core::component::ComponentError;
use tracegate_core::factory::{CreateContext, ProcessorFactory, Stability};
use tracegate_span_rules::cow::SpanCtx;
use tracegate_span_rules::{MatchProperties, SpanMatcher};

use eval::Expr;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorMode {
    /// A condition that cannot be evaluated rejects the whole batch (permanently).
    #[default]
    Propagate,
    /// Log it and treat the condition as not matching.
    Ignore,
    /// Treat it as not matching, without a log.
    Silent,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TraceConditions {
    /// OTTL conditions in span context; a span matching any of them is dropped.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub span: Vec<String>,
    /// Not supported (span events); present so the error can say so.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub spanevent: Vec<String>,
    /// tracegate: span conditions that drop the span's whole trace (within the batch).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trace: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LegacySpans {
    /// Keep only spans matching these properties.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include: Option<MatchProperties>,
    /// Drop spans matching these properties.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclude: Option<MatchProperties>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilterConfig {
    pub error_mode: ErrorMode,
    pub traces: TraceConditions,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spans: Option<LegacySpans>,
}

/// The compiled filter: the filter config's validated form, built once when the config is
/// validated, so `create` is handed it and cannot fail on a condition.
#[derive(Clone)]
pub struct FilterRules {
    span: Vec<Expr>,
    trace: Vec<Expr>,
    legacy: Option<SpanMatcher>,
    error_mode: ErrorMode,
}

fn compile_list(list: &[String], path: &str, problems: &mut Vec<ConfigProblem>) -> Vec<Expr> {
    let mut out = Vec::new();
    for (i, cond) in list.iter().enumerate() {
        match ottl::parse_condition(cond) {
            Ok(e) => out.push(e),
            Err(e) => problems.push(ConfigProblem::new(format!("{path}::{i}"), format!("condition {cond:?}: {e}"))),
        }
    }
    out
}

impl FromConfig<FilterConfig> for FilterRules {
    fn from_config(cfg: &FilterConfig, out: &mut Vec<ConfigProblem>) -> Option<Self> {
        let mut problems = Vec::new();
        let span = compile_list(&cfg.traces.span, "traces::span", &mut problems);
        let trace = compile_list(&cfg.traces.trace, "traces::trace", &mut problems);
        if !cfg.traces.spanevent.is_empty() {
            problems.push(ConfigProblem::new("traces::spanevent", "span event conditions are not supported; filter whole spans with traces::span"));
        }
        let legacy = match &cfg.spans {
            None => None,
            Some(s) => {
                if !cfg.traces.span.is_empty() || !cfg.traces.trace.is_empty() {
                    problems.push(ConfigProblem::new("spans", "cannot be used together with OTTL conditions in traces; pick one"));
                }
                match SpanMatcher::compile(s.include.as_ref(), s.exclude.as_ref(), "spans") {
                    Ok(m) => m,
                    Err(e) => {
                        problems.extend(e);
                        None
                    }
                }
            }
        };
        if problems.is_empty() {
            Some(Self { span, trace, legacy, error_mode: cfg.error_mode })
        } else {
            out.extend(problems);
            None
        }
    }
}

impl FilterRules {
    fn any(&self, list: &[Expr], ctx: SpanCtx<'_>, span: &tracegate_core::data::Span) -> Result<bool, String> {
        for e in list {
            match e.matches(ctx, span) {
                Ok(true) => return Ok(true),
                Ok(false) => {}
                Err(err) if self.error_mode == ErrorMode::Propagate => return Err(err),
                Err(err) if self.error_mode == ErrorMode::Ignore => tracing::warn!("filter condition failed, treated as not matching: {err}"),
                Err(_) => {}
            }
        }
        Ok(false)
    }

    /// Drops what matches. Returns how many spans were dropped; an unchanged batch is left
    /// untouched (no copy).
    pub fn apply(&self, traces: &mut Traces) -> Result<usize, String> {
        // Read-only pass: one flag per span, in batch order, plus trace ids to drop whole.
        let mut drop = Vec::new();
        let mut traces_to_drop: HashSet<&[u8]> = HashSet::new();
        let mut any = false;
        for rs in traces.resource_spans() {
            for ss in &rs.scope_spans {
                let ctx = SpanCtx { resource: rs.resource.as_ref(), scope: ss.scope.as_ref() };
                for span in &ss.spans {
                    let d = self.legacy.as_ref().is_some_and(|m| !m.selects(ctx.resource, ctx.scope, span))
                        || self.any(&self.span, ctx, span)?;
                    if !self.trace.is_empty() && self.any(&self.trace, ctx, span)? {
                        traces_to_drop.insert(&span.trace_id);
                        any = true;
                    }
                    any |= d;
                    drop.push(d);
                }
            }
        }
        if !any {
            return Ok(0);
        }
        let trace_ids: HashSet<Vec<u8>> = traces_to_drop.into_iter().map(<[u8]>::to_vec).collect();
        let mut flags = drop.into_iter();
        let mut dropped = 0;
        let batch = traces.make_mut();
        for rs in batch.iter_mut() {
            for ss in rs.scope_spans.iter_mut() {
                ss.spans.retain(|span| {
                    let d = flags.next().unwrap_or(false) || trace_ids.contains(&span.trace_id);
                    dropped += usize::from(d);
                    !d
                });
            }
            rs.scope_spans.retain(|ss| !ss.spans.is_empty());
        }
        batch.retain(|rs| !rs.scope_spans.is_empty());
        Ok(dropped)
    }
}

impl ComponentConfig for FilterConfig {
    type Validated = FilterRules;
}

pub struct FilterProcessor {
    id: ComponentId,
    rules: FilterRules,
    metrics: ProcessorMetrics,
    next: Arc<dyn Consumer>,
}

impl FilterProcessor {
    pub fn new(id: ComponentId, rules: FilterRules, metrics: ProcessorMetrics, next: Arc<dyn Consumer>) -> Self {
        Self { id, rules, metrics, next }
    }
}

#[async_trait]
impl Consumer for FilterProcessor {
    fn capabilities(&self) -> Capabilities {
        Capabilities { mutates_data: true }
    }

    async fn consume(&self, mut traces: Traces) -> Result<(), ConsumeError> {
        let had_spans = !traces.is_empty();
        let dropped = self.rules.apply(&mut traces).map_err(|e| {
            ConsumeError::permanent(format!("processor {}: a filter condition could not be evaluated (error_mode: propagate): {e}", self.id))
        })?;
        self.metrics.dropped.inc_by(dropped as u64);
        // As the Collector: when everything was filtered out, nothing is sent on.
        if had_spans && traces.is_empty() {
            return Ok(());
        }
        self.next.consume(traces).await
    }
}

#[async_trait]
impl Lifecycle for FilterProcessor {}

impl Processor for FilterProcessor {}

pub struct FilterProcessorFactory;

impl ProcessorFactory for FilterProcessorFactory {
    const TYPE: &'static str = "filter";
    const STABILITY: Stability = Stability::Alpha;
    type Config = FilterConfig;

    fn create(&self, ctx: CreateContext, rules: FilterRules, next: Arc<dyn Consumer>) -> Result<Arc<dyn Processor>, ComponentError> {
        Ok(Arc::new(FilterProcessor::new(ctx.id.clone(), rules, ctx.processor_metrics(), next)))
    }
}

tracegate_core::register_processor!(FilterProcessorFactory);

#[cfg(test)]
mod tests;
