//! The MCP tools' arguments and answers, field for field as Jaeger's `mcptools/internal/types`
//! names them, so an agent set up for Jaeger's MCP server calls tracegate's unchanged. Their
//! JSON Schemas (`tools/list`'s `inputSchema` and `outputSchema`) are derived from these types.
//!
//! Where tracegate answers more than Jaeger does, it adds fields and never changes one:
//! `total_count`/`truncated` on the lists that a limit can cut (Jaeger has them on services and
//! span names only), and `truncated`/`total_span_count` on the topology, which Jaeger cuts
//! without saying so.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct GetServicesInput {
    /// Optional regex pattern to filter service names
    #[serde(default)]
    pub pattern: String,
    /// Maximum number of services to return (default: 100)
    #[serde(default)]
    pub limit: i64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct GetServicesOutput {
    /// List of service names
    pub services: Vec<String>,
    /// Total number of matching services before the limit was applied
    pub total_count: usize,
    /// True if results were truncated by the limit; raise limit or refine pattern to see more
    pub truncated: bool,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct GetSpanNamesInput {
    /// Filter by service name (required). Use get_services to discover valid names
    pub service_name: String,
    /// Optional regex pattern to filter span names
    #[serde(default)]
    pub pattern: String,
    /// Optional span kind filter (e.g. SERVER CLIENT PRODUCER CONSUMER INTERNAL)
    #[serde(default)]
    pub span_kind: String,
    /// Maximum number of span names to return (default: 100)
    #[serde(default)]
    pub limit: i64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SpanNameInfo {
    /// Span name
    pub name: String,
    /// Span kind
    pub span_kind: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct GetSpanNamesOutput {
    /// List of span names for the service
    pub span_names: Vec<SpanNameInfo>,
    /// Total number of matching span names before the limit was applied
    pub total_count: usize,
    /// True if results were truncated by the limit; raise limit or refine pattern to see more
    pub truncated: bool,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct SearchTracesInput {
    /// Start of time interval (RFC3339 or relative like -1h). Default: -1h
    #[serde(default)]
    pub start_time_min: String,
    /// End of time interval (RFC3339 or relative like now). Default: now
    #[serde(default)]
    pub start_time_max: String,
    /// Filter by service name. Use get_services to discover valid names. Omit to search all services
    #[serde(default)]
    pub service_name: String,
    /// Filter by span name
    #[serde(default)]
    pub span_name: String,
    /// Key-value pairs to match against span/resource attributes
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// If true only return traces containing error spans
    #[serde(default)]
    pub with_errors: bool,
    /// Minimum duration filter (e.g. 2s 100ms)
    #[serde(default)]
    pub duration_min: String,
    /// Maximum duration filter (e.g. 10s 1m)
    #[serde(default)]
    pub duration_max: String,
    /// Maximum search depth (default: 10, max controlled by server config)
    #[serde(default)]
    pub search_depth: i64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TraceSummary {
    /// Unique identifier for the trace
    pub trace_id: String,
    /// Service name of the root span
    pub root_service: String,
    /// Span name of the root span
    pub root_span_name: String,
    /// Trace start time in RFC3339 format
    pub start_time: String,
    /// Total trace duration in microseconds
    pub duration_us: i64,
    /// Total number of spans in the trace
    pub span_count: usize,
    /// Number of unique services in the trace
    pub service_count: usize,
    /// Sorted list of unique service names participating in the trace
    pub services: Vec<String>,
    /// Whether the trace contains any error spans
    pub has_errors: bool,
}

#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct SearchTracesOutput {
    /// List of trace summaries matching the search criteria
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub traces: Vec<TraceSummary>,
    /// Error message if partial results were returned
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct GetSpanDetailsInput {
    /// Unique identifier for the trace
    pub trace_id: String,
    /// List of span IDs to fetch details for. Recommended to limit to 20 spans or fewer
    pub span_ids: Vec<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SpanStatus {
    /// Status code (Unset Ok Error)
    pub code: String,
    /// Status message
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SpanEvent {
    /// Event name
    pub name: String,
    /// Event timestamp in RFC3339 format
    pub timestamp: String,
    /// Event attributes
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SpanLink {
    /// Linked trace ID
    pub trace_id: String,
    /// Linked span ID
    pub span_id: String,
    /// Link attributes
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SpanDetail {
    /// Unique identifier for the span
    pub span_id: String,
    /// Trace identifier this span belongs to
    pub trace_id: String,
    /// Parent span identifier
    #[serde(skip_serializing_if = "String::is_empty")]
    pub parent_span_id: String,
    /// Service name from resource attributes
    pub service: String,
    /// Span name
    pub span_name: String,
    /// Span start time in RFC3339 format
    pub start_time: String,
    /// Span duration in microseconds
    pub duration_us: i64,
    /// Span status information
    pub status: SpanStatus,
    /// Span attributes
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// Span events
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<SpanEvent>,
    /// Span links
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<SpanLink>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct GetSpanDetailsOutput {
    /// Unique identifier for the trace
    pub trace_id: String,
    /// List of span details
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<SpanDetail>,
    /// Error message if some spans were not found
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct TraceIdInput {
    /// Unique identifier for the trace
    pub trace_id: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct GetTraceErrorsOutput {
    /// Unique identifier for the trace
    pub trace_id: String,
    /// Total number of error spans in the trace (may exceed the size of the spans list due to per-request limits)
    pub total_error_count: usize,
    /// Error span details (possibly truncated to server-configured limit)
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<SpanDetail>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct GetTraceTopologyInput {
    /// Unique identifier for the trace
    pub trace_id: String,
    /// Maximum depth of the tree. 0 for full tree
    #[serde(default)]
    pub depth: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct TopologySpan {
    /// Slash-delimited span IDs from root to this span
    pub path: String,
    /// Service name from resource attributes
    pub service: String,
    /// Span name
    pub span_name: String,
    /// Span start time in RFC3339 format
    pub start_time: String,
    /// Span duration in microseconds
    pub duration_us: i64,
    /// Span status (Unset Ok Error)
    pub status: String,
    /// Number of direct children excluded due to depth limit
    #[serde(skip_serializing_if = "is_zero")]
    pub truncated_children: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct GetTraceTopologyOutput {
    /// Unique identifier for the trace
    pub trace_id: String,
    /// Flat depth-first list of spans; Path encodes parent-child relationships
    pub spans: Vec<TopologySpan>,
    /// Number of spans in the stored trace
    pub total_span_count: usize,
    /// True if the trace has more spans than this server lists (max_topology_spans): the earliest-starting spans are kept; use depth to see the upper levels of a large trace
    pub truncated: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct CriticalPathSegment {
    /// Unique identifier for the span
    pub span_id: String,
    /// Service name from resource attributes
    pub service: String,
    /// Span name
    pub span_name: String,
    /// Time spent in this segment in microseconds
    pub self_time_us: u64,
    /// Start time of this segment relative to trace start in microseconds
    pub start_offset_us: u64,
    /// End time of this segment relative to trace start in microseconds
    pub end_offset_us: u64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct GetCriticalPathOutput {
    /// Unique identifier for the trace
    pub trace_id: String,
    /// Total trace duration in microseconds
    pub total_duration_us: u64,
    /// Total duration of critical path in microseconds
    pub critical_path_duration_us: u64,
    /// Ordered list of span segments on the critical path
    pub segments: Vec<CriticalPathSegment>,
    /// True if the path has more segments than this server lists (max_topology_spans): the latest ones are kept
    pub truncated: bool,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct GetDependenciesInput {
    /// Start of time range (RFC3339 or relative like -24h). Default: -24h
    #[serde(default)]
    pub start_time: String,
    /// End of time range (RFC3339 or relative like now). Default: now
    #[serde(default)]
    pub end_time: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct DependencyLink {
    /// Calling service name
    pub caller: String,
    /// Called service name
    pub callee: String,
    /// Number of calls from caller to callee in the time window
    pub call_count: u64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct GetDependenciesOutput {
    /// Service-to-service dependency edges with call counts
    pub dependencies: Vec<DependencyLink>,
}
