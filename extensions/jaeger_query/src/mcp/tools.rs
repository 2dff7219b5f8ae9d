//! What each MCP tool does, over the query service's own reader and bounds: the same store
//! calls as the HTTP and gRPC APIs (`services`, `operations`, `find_traces`, `get_trace`,
//! `dependencies`), the same trace summaries ([`crate::summary`]), and the same slots, time
//! budget and `max_limit` clamp ([`crate::bounds`]) for the expensive ones. A tool's failure
//! is a message for the agent (the MCP `isError` result), worded as Jaeger's tools word it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use regex::{Regex, RegexBuilder};
use tracegate_core::storage::TraceQuery;
use tracegate_core::timefmt::rfc3339_nanos;
use tracegate_core::Traces;

use super::config::McpConfig;
use super::critical_path::{critical_path, CpSpan};
use super::span::{duration_us, is_error, service_name, span_detail, span_id_hex, spans_of, status_code};
use super::topology::{flat_topology, TopoSpan};
use super::types::*;
use crate::api::{render, ApiState};
use crate::bounds::Unanswered;
use crate::model::hex;
use crate::params::{parse_duration, parse_trace_id};
use crate::summary::summarize;
use super::time::parse_time_arg;

/// Jaeger's defaults for the list tools' `limit` and `search_traces`' `search_depth`.
const DEFAULT_LIST_LIMIT: usize = 100;
const DEFAULT_SEARCH_DEPTH: usize = 10;
const SEARCH_LOOKBACK: Duration = Duration::from_secs(3600);
const DEPENDENCY_LOOKBACK: Duration = Duration::from_secs(24 * 3600);
/// A `pattern` compiles to at most this much regex program: enough for any name filter.
const PATTERN_SIZE_LIMIT: usize = 1 << 20;

/// The tools over one query service.
#[derive(Clone)]
pub struct Tools {
    pub state: Arc<ApiState>,
    pub limits: McpConfig,
}

/// The metrics' `endpoint` label of a tool's bounded query.
fn endpoint(tool: &str) -> String {
    format!("/api/ai/mcp/{tool}")
}

fn unanswered_message(u: Unanswered) -> String {
    match u {
        Unanswered::Busy { message, .. } => message,
        Unanswered::TimedOut(msg) | Unanswered::TooLarge(msg) | Unanswered::Failed(msg) => msg,
        Unanswered::NotFound => "trace not found".to_string(),
        Unanswered::NoMatch => "no traces found".to_string(),
        Unanswered::Storage(e) => e.to_string(),
        Unanswered::Expired => "the query ran past query_timeout".to_string(),
    }
}

fn pattern(raw: &str) -> Result<Option<Regex>, String> {
    if raw.is_empty() {
        return Ok(None);
    }
    RegexBuilder::new(raw).size_limit(PATTERN_SIZE_LIMIT).build().map(Some).map_err(|e| format!("invalid pattern: {e}"))
}

/// A list `limit` argument: Jaeger's default when 0 or negative.
fn list_limit(limit: i64) -> usize {
    usize::try_from(limit).ok().filter(|n| *n > 0).unwrap_or(DEFAULT_LIST_LIMIT)
}

fn duration_arg(name: &str, raw: &str) -> Result<Option<Duration>, String> {
    if raw.is_empty() {
        return Ok(None);
    }
    parse_duration(raw).map(|d| d.filter(|d| !d.is_zero())).map_err(|e| format!("invalid {name}: {e}"))
}

impl Tools {
    pub async fn get_services(&self, input: GetServicesInput) -> Result<GetServicesOutput, String> {
        let re = pattern(&input.pattern)?;
        let mut services = self.state.reader.services().await.map_err(|e| format!("failed to get services: {e}"))?;
        services.retain(|s| re.as_ref().is_none_or(|re| re.is_match(s)));
        services.sort();
        let total_count = services.len();
        let limit = list_limit(input.limit);
        services.truncate(limit);
        Ok(GetServicesOutput { services, total_count, truncated: total_count > limit })
    }

    pub async fn get_span_names(&self, input: GetSpanNamesInput) -> Result<GetSpanNamesOutput, String> {
        if input.service_name.is_empty() {
            return Err("service_name is required".to_string());
        }
        let re = pattern(&input.pattern)?;
        // Stores keep span kinds in lower case; Jaeger's schema shows them upper case.
        let kind = input.span_kind.trim().to_lowercase();
        let kind = (!kind.is_empty()).then_some(kind.as_str());
        let mut ops =
            self.state.reader.operations(&input.service_name, kind).await.map_err(|e| format!("failed to get span names: {e}"))?;
        ops.retain(|o| re.as_ref().is_none_or(|re| re.is_match(&o.name)));
        ops.sort_by(|a, b| a.name.cmp(&b.name));
        let total_count = ops.len();
        let limit = list_limit(input.limit);
        ops.truncate(limit);
        let span_names = ops.into_iter().map(|o| SpanNameInfo { name: o.name, span_kind: o.span_kind }).collect();
        Ok(GetSpanNamesOutput { span_names, total_count, truncated: total_count > limit })
    }

    pub async fn search_traces(&self, input: SearchTracesInput) -> Result<SearchTracesOutput, String> {
        let now = SystemTime::now();
        let start_min = parse_time_arg(&input.start_time_min, now.checked_sub(SEARCH_LOOKBACK).unwrap_or(now), now)
            .map_err(|e| format!("invalid start_time_min: {e}"))?;
        let start_max = parse_time_arg(&input.start_time_max, now, now).map_err(|e| format!("invalid start_time_max: {e}"))?;
        if start_max < start_min {
            return Err("start_time_max must be after start_time_min".to_string());
        }
        let duration_min = duration_arg("duration_min", &input.duration_min)?;
        let duration_max = duration_arg("duration_max", &input.duration_max)?;
        if let (Some(min), Some(max)) = (duration_min, duration_max) {
            if max < min {
                return Err("duration_max must be greater than duration_min".to_string());
            }
        }
        let depth = usize::try_from(input.search_depth).ok().filter(|n| *n > 0).unwrap_or(DEFAULT_SEARCH_DEPTH);
        let (limit, _) = self.state.bounds.clamp_limit(depth.min(self.limits.max_search_results));
        let mut tags = input.attributes;
        if input.with_errors {
            tags.insert("error".to_string(), "true".to_string());
        }
        let query = TraceQuery {
            service: input.service_name,
            operation: (!input.span_name.is_empty()).then_some(input.span_name),
            tags,
            start_min: Some(start_min),
            start_max: Some(start_max),
            duration_min,
            duration_max,
            limit,
        };
        let reader = self.state.reader.clone();
        let found = self
            .state
            .bounds
            .run(&endpoint("search_traces"), move |budget| async move {
                let traces = reader.find_traces(&query).await?;
                render(move || {
                    let mut out = Vec::with_capacity(traces.len().min(limit));
                    for trace in traces.iter().take(limit) {
                        if budget.expired() {
                            return Err(Unanswered::Expired);
                        }
                        out.push(trace_summary(trace));
                    }
                    Ok(out)
                })
                .await
            })
            .await;
        // As Jaeger's tool: a search the store could not run is reported in `error`, not as a failed call.
        Ok(match found {
            // Jaeger clamps `search_depth` silently; a full answer after a clamp says so here.
            Ok(traces) if depth > limit && traces.len() >= limit => SearchTracesOutput {
                traces,
                error: format!(
                    "search_depth {depth} is above this server's limit of {limit} (max_search_results): the newest {limit} matching traces are returned and more may match; narrow the search (time range, span name, attributes) to see the others"
                ),
            },
            Ok(traces) => SearchTracesOutput { traces, error: String::new() },
            Err(u) => SearchTracesOutput { traces: Vec::new(), error: unanswered_message(u) },
        })
    }

    /// Runs `f` over one stored trace, within the query bounds (a slot, `query_timeout`).
    async fn with_trace<T: Send + 'static>(
        &self,
        tool: &str,
        trace_id: &str,
        f: impl FnOnce(&Traces) -> Result<T, String> + Send + 'static,
    ) -> Result<T, String> {
        if trace_id.is_empty() {
            return Err("trace_id is required".to_string());
        }
        let id = parse_trace_id(trace_id.trim()).map_err(|e| format!("invalid trace_id: {e}"))?;
        let reader = self.state.reader.clone();
        let outcome = self
            .state
            .bounds
            .run(&endpoint(tool), move |_| async move {
                let trace = reader.get_trace(id).await?.ok_or(Unanswered::NotFound)?;
                render(move || Ok(f(&trace))).await
            })
            .await;
        outcome.map_err(unanswered_message)?
    }

    pub async fn get_span_details(&self, input: GetSpanDetailsInput) -> Result<GetSpanDetailsOutput, String> {
        if input.span_ids.is_empty() {
            return Err("span_ids is required and must not be empty".to_string());
        }
        let max = self.limits.max_span_details_per_request;
        if input.span_ids.len() > max {
            return Err(format!("span_ids exceeds maximum limit: requested {}, max allowed {max}", input.span_ids.len()));
        }
        let mut wanted = Vec::with_capacity(input.span_ids.len());
        for raw in &input.span_ids {
            let id = parse_span_id(raw).map_err(|e| format!("invalid span_id \"{raw}\": {e}"))?;
            if !wanted.contains(&id) {
                wanted.push(id);
            }
        }
        let trace_id = input.trace_id.clone();
        self.with_trace("get_span_details", &input.trace_id, move |trace| {
            let mut missing: Vec<String> = wanted.clone();
            let mut spans = Vec::new();
            for (rs, span) in spans_of(trace) {
                let id = span_id_hex(&span.span_id);
                if let Some(pos) = missing.iter().position(|m| *m == id) {
                    missing.swap_remove(pos);
                    spans.push(span_detail(rs, span));
                }
            }
            let error = if missing.is_empty() { String::new() } else { format!("spans not found: [{}]", missing.join(" ")) };
            Ok(GetSpanDetailsOutput { trace_id, spans, error })
        })
        .await
    }

    pub async fn get_trace_errors(&self, input: TraceIdInput) -> Result<GetTraceErrorsOutput, String> {
        let max = self.limits.max_span_details_per_request;
        let trace_id = input.trace_id.clone();
        self.with_trace("get_trace_errors", &input.trace_id, move |trace| {
            let mut total_error_count = 0;
            let mut spans = Vec::new();
            for (rs, span) in spans_of(trace).filter(|(_, s)| is_error(s)) {
                total_error_count += 1;
                if spans.len() < max {
                    spans.push(span_detail(rs, span));
                }
            }
            Ok(GetTraceErrorsOutput { trace_id, total_error_count, spans })
        })
        .await
    }

    pub async fn get_trace_topology(&self, input: GetTraceTopologyInput) -> Result<GetTraceTopologyOutput, String> {
        let max = self.limits.max_topology_spans;
        let depth = usize::try_from(input.depth).unwrap_or(0);
        let trace_id = input.trace_id.clone();
        self.with_trace("get_trace_topology", &input.trace_id, move |trace| {
            let mut spans: Vec<TopoSpan> = spans_of(trace)
                .map(|(rs, s)| TopoSpan {
                    span_id: span_id_hex(&s.span_id),
                    parent_id: span_id_hex(&s.parent_span_id),
                    service: service_name(rs.resource.as_ref()),
                    span_name: s.name.clone(),
                    start_time: rfc3339_nanos(s.start_time_unix_nano),
                    start_unix_nano: s.start_time_unix_nano,
                    duration_us: duration_us(s),
                    status: status_code(s).to_string(),
                })
                .collect();
            let total_span_count = spans.len();
            if total_span_count > max {
                // The earliest spans: parents start before their children, so the top of the tree stays.
                spans.sort_by_key(|s| s.start_unix_nano);
                spans.truncate(max);
            }
            Ok(GetTraceTopologyOutput { trace_id, spans: flat_topology(&spans, depth), total_span_count, truncated: total_span_count > max })
        })
        .await
    }

    pub async fn get_critical_path(&self, input: TraceIdInput) -> Result<GetCriticalPathOutput, String> {
        let max = self.limits.max_topology_spans;
        let trace_id = input.trace_id.clone();
        self.with_trace("get_critical_path", &input.trace_id, move |trace| {
            let all: Vec<_> = spans_of(trace).collect();
            let cp: Vec<CpSpan> = all
                .iter()
                .map(|(_, s)| CpSpan {
                    span_id: s.span_id.clone(),
                    parent_span_id: s.parent_span_id.clone(),
                    start_us: s.start_time_unix_nano / 1000,
                    duration_us: s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano) / 1000,
                })
                .collect();
            let sections = critical_path(&cp).ok_or("failed to compute critical path: no root span found in trace")?;
            let trace_start = cp.iter().map(|s| s.start_us).min().unwrap_or(0);
            let trace_end = all.iter().map(|(_, s)| s.end_time_unix_nano / 1000).max().unwrap_or(0);
            let critical_path_duration_us = sections.iter().map(|s| s.end_us - s.start_us).sum();
            let segments = sections
                .iter()
                .take(max)
                .map(|s| {
                    let (rs, span) = all[s.span];
                    CriticalPathSegment {
                        span_id: span_id_hex(&span.span_id),
                        service: service_name(rs.resource.as_ref()),
                        span_name: span.name.clone(),
                        self_time_us: s.end_us - s.start_us,
                        start_offset_us: s.start_us.saturating_sub(trace_start),
                        end_offset_us: s.end_us.saturating_sub(trace_start),
                    }
                })
                .collect();
            Ok(GetCriticalPathOutput {
                trace_id,
                total_duration_us: trace_end.saturating_sub(trace_start),
                critical_path_duration_us,
                segments,
                truncated: sections.len() > max,
            })
        })
        .await
    }

    pub async fn get_service_dependencies(&self, input: GetDependenciesInput) -> Result<GetDependenciesOutput, String> {
        let now = SystemTime::now();
        let end = parse_time_arg(&input.end_time, now, now).map_err(|e| format!("invalid end_time: {e}"))?;
        let start = parse_time_arg(&input.start_time, end.checked_sub(DEPENDENCY_LOOKBACK).unwrap_or(end), now)
            .map_err(|e| format!("invalid start_time: {e}"))?;
        let lookback = end.duration_since(start).ok().filter(|d| !d.is_zero()).ok_or("start_time must be before end_time")?;
        let reader = self.state.reader.clone();
        let links = self
            .state
            .bounds
            .run(&endpoint("get_service_dependencies"), move |_| async move { Ok(reader.dependencies(end, lookback).await?) })
            .await
            .map_err(|u| format!("failed to get dependencies: {}", unanswered_message(u)))?;
        // A store may report one pair more than once (per time bucket): one edge per pair, sorted.
        let mut merged: BTreeMap<(String, String), u64> = BTreeMap::new();
        for l in links {
            *merged.entry((l.parent, l.child)).or_default() += l.call_count;
        }
        let dependencies =
            merged.into_iter().map(|((caller, callee), call_count)| DependencyLink { caller, callee, call_count }).collect();
        Ok(GetDependenciesOutput { dependencies })
    }
}

/// A search result line, from the same summary the api_v3 `FindTraceSummaries` serves.
fn trace_summary(trace: &Traces) -> TraceSummary {
    let s = summarize(trace);
    let start_secs = s.min_start_time_unix_nano - s.min_start_time_unix_nano % 1_000_000_000;
    let duration = s.max_end_time_unix_nano.saturating_sub(s.min_start_time_unix_nano) / 1000;
    // Sorted by name and unique already.
    let services: Vec<String> = s.services.into_iter().map(|v| v.name).collect();
    TraceSummary {
        trace_id: hex(&s.trace_id),
        root_service: s.root_service_name,
        root_span_name: s.root_operation_name,
        // Jaeger's tool writes whole seconds here (time.RFC3339).
        start_time: if s.min_start_time_unix_nano == 0 { String::new() } else { rfc3339_nanos(start_secs) },
        duration_us: i64::try_from(duration).unwrap_or(i64::MAX),
        span_count: s.span_count,
        service_count: services.len(),
        services,
        has_errors: s.error_span_count > 0,
    }
}

/// A span id as Jaeger's tool takes it: 16 hex digits, not all zero; lower-cased.
fn parse_span_id(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    if raw.len() != 16 {
        return Err(format!("span ID must be 16 hex characters, got {}", raw.len()));
    }
    if !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("invalid hex string".to_string());
    }
    let id = raw.to_ascii_lowercase();
    if id.bytes().all(|b| b == b'0') {
        return Err("span ID must not be all zero".to_string());
    }
    Ok(id)
}
