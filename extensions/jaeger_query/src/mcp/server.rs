//! The MCP server: `initialize`, `tools/list` and `tools/call` over [`Tools`], with Jaeger's
//! tool names, descriptions and argument names so an agent set up for Jaeger works unchanged.
//! A tool's answer is its JSON object both as `structuredContent` and as the text content
//! (what Jaeger's Go SDK sends); a failed call is an `isError` result whose text says why.
//! An answer over the query service's `max_response_bytes` is refused with the reason rather
//! than sent.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, ListToolsResult, PaginatedRequestParams,
    ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::tools::Tools;
use super::types::*;
use crate::config::ByteSize;

const INSTRUCTIONS: &str = "tracegate stores distributed traces (OpenTelemetry spans; a trace is a tree of spans, each a timed unit of work \
in a service). Start broad: get_services or search_traces to find traces, get_trace_topology for a trace's shape, get_critical_path \
for where its time went, get_trace_errors for what failed; ask get_span_details only for the few spans you need in full. \
Lists that a server limit cut say so (truncated, total_count).";

/// The MCP server for one query service; cheap to clone (one per MCP session).
#[derive(Clone)]
pub struct McpServer {
    tools: Arc<Tools>,
    list: Arc<Vec<Tool>>,
}

fn tool<I: JsonSchema + 'static, O: JsonSchema + 'static>(name: &'static str, description: &'static str) -> Tool {
    Tool::new(name, description, Arc::new(serde_json::Map::new()))
        .with_input_schema::<I>()
        .with_output_schema::<O>()
        .with_annotations(ToolAnnotations::new().read_only(true).open_world(false))
}

/// The tools, in Jaeger's order with Jaeger's descriptions (tracegate's limits named).
fn tool_list() -> Vec<Tool> {
    vec![
        tool::<GetServicesInput, GetServicesOutput>(
            "get_services",
            "List service names known to Jaeger. Supports optional regex filtering via 'pattern'.",
        ),
        tool::<GetSpanNamesInput, GetSpanNamesOutput>(
            "get_span_names",
            "List span/operation names for a given service, with their span kinds (SERVER, CLIENT, INTERNAL, etc.)",
        ),
        tool::<SearchTracesInput, SearchTracesOutput>(
            "search_traces",
            "Search for traces matching filters. Returns lightweight summaries (trace_id, duration, span_count, error flag, etc.) without individual spans or attributes.",
        ),
        tool::<GetSpanDetailsInput, GetSpanDetailsOutput>(
            "get_span_details",
            "Fetch full span data (attributes, events, links, status) for specific spans. Returns verbose output per span.",
        ),
        tool::<TraceIdInput, GetTraceErrorsOutput>(
            "get_trace_errors",
            "Get full details for all error-status spans in a trace. Results may be truncated to the server limit; compare total_error_count with the number of returned spans to detect truncation.",
        ),
        tool::<GetTraceTopologyInput, GetTraceTopologyOutput>(
            "get_trace_topology",
            "Get the structural overview of a trace as a flat, depth-first span list. Each span includes a 'path' field encoding ancestry as slash-delimited span IDs (e.g. 'rootID/parentID/spanID'). Does NOT include attributes, events, or links. Large traces are cut to the server limit (truncated, total_span_count).",
        ),
        tool::<TraceIdInput, GetCriticalPathOutput>(
            "get_critical_path",
            "Identify the critical latency path through a trace: the chain of spans that determined end-to-end duration. Higher self_time_us values indicate where time is concentrated on the critical path.",
        ),
        tool::<GetDependenciesInput, GetDependenciesOutput>(
            "get_service_dependencies",
            "Get the service dependency graph showing caller-callee pairs. Returns edges with call counts over a configurable time window (default: last 24h).",
        ),
    ]
}

impl McpServer {
    pub fn new(tools: Tools) -> Self {
        Self { tools: Arc::new(tools), list: Arc::new(tool_list()) }
    }

    /// The answer of a call to `name`, or `None` for a tool that does not exist.
    pub async fn call(&self, name: &str, arguments: serde_json::Map<String, serde_json::Value>) -> Option<CallToolResult> {
        let t = &self.tools;
        let args = serde_json::Value::Object(arguments);
        let result = match name {
            "get_services" => self.answer(args, |i| t.get_services(i)).await,
            "get_span_names" => self.answer(args, |i| t.get_span_names(i)).await,
            "search_traces" => self.answer(args, |i| t.search_traces(i)).await,
            "get_span_details" => self.answer(args, |i| t.get_span_details(i)).await,
            "get_trace_errors" => self.answer(args, |i| t.get_trace_errors(i)).await,
            "get_trace_topology" => self.answer(args, |i| t.get_trace_topology(i)).await,
            "get_critical_path" => self.answer(args, |i| t.get_critical_path(i)).await,
            "get_service_dependencies" => self.answer(args, |i| t.get_service_dependencies(i)).await,
            _ => return None,
        };
        Some(result.unwrap_or_else(|message| CallToolResult::error(vec![ContentBlock::text(message)])))
    }

    async fn answer<I, O, F>(&self, args: serde_json::Value, run: impl FnOnce(I) -> F) -> Result<CallToolResult, String>
    where
        I: DeserializeOwned,
        O: Serialize,
        F: std::future::Future<Output = Result<O, String>>,
    {
        let input: I = serde_json::from_value(args).map_err(|e| format!("invalid arguments: {e}"))?;
        let output = run(input).await?;
        let value = serde_json::to_value(&output).map_err(|e| format!("cannot encode the answer: {e}"))?;
        let size = serde_json::to_vec(&value).map(|v| v.len()).unwrap_or(usize::MAX);
        let max = self.tools.state.bounds.max_response_bytes;
        if size > max {
            return Err(format!(
                "the answer ({size} bytes) is larger than this server's max_response_bytes of {}: ask for less (a narrower search, fewer spans, a smaller depth)",
                ByteSize(max as u64)
            ));
        }
        Ok(CallToolResult::structured(value))
    }
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("tracegate", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(&self, _: Option<PaginatedRequestParams>, _: RequestContext<RoleServer>) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.list.as_ref().clone()))
    }

    async fn call_tool(&self, request: CallToolRequestParams, _: RequestContext<RoleServer>) -> Result<CallToolResponse, ErrorData> {
        let arguments = request.arguments.unwrap_or_default();
        match self.call(&request.name, arguments).await {
            Some(result) => Ok(result.into()),
            None => Err(ErrorData::invalid_params(format!("unknown tool \"{}\"", request.name), None)),
        }
    }
}
