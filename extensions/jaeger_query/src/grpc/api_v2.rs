//! `jaeger.api_v2.QueryService`, as Jaeger's `grpc_handler.go` answers it: traces stream as
//! chunks of at most 10 spans, each span carrying its process (the api_v2 model on this API
//! has no separate process table), adjusted for clock skew unless `raw_traces`. An unknown
//! trace is NOT_FOUND "trace not found"; an all-zero or missing trace id INVALID_ARGUMENT;
//! `ArchiveTrace` is INTERNAL "failed to archive trace: archive span storage was not
//! configured", as Jaeger answers without an archive store (tracegate has none).

use std::collections::BTreeSet;
use std::sync::Arc;

use tonic::{Request, Response, Status};
use tracegate_core::storage::{TraceId, TraceQuery};
use tracegate_core::Traces;
use tracegate_translator_jaeger::proto::query_service_server::QueryService;
use tracegate_translator_jaeger::proto::{
    ArchiveTraceRequest, ArchiveTraceResponse, DependencyLink, FindTracesRequest, GetDependenciesRequest,
    GetDependenciesResponse, GetOperationsRequest, GetOperationsResponse, GetServicesRequest, GetServicesResponse,
    GetTraceRequest, Operation, SpansResponseChunk,
};

use super::{duration_of, non_empty, search_within, stream_of, time_of, unanswered_status, Messages};
use crate::api::{render, ApiState};
use crate::clockskew::adjust_clock_skew;
use crate::model::jaeger_spans;

/// Jaeger's `maxSpanCountInChunk`.
pub const SPANS_PER_CHUNK: usize = 10;

const GET_TRACE: &str = "/jaeger.api_v2.QueryService/GetTrace";
const FIND_TRACES: &str = "/jaeger.api_v2.QueryService/FindTraces";
const DEPENDENCIES: &str = "/jaeger.api_v2.QueryService/GetDependencies";

pub struct QueryServiceV2 {
    state: Arc<ApiState>,
}

impl QueryServiceV2 {
    pub fn new(state: Arc<ApiState>) -> Self {
        Self { state }
    }
}

/// A 16-byte, non-zero trace id, or Jaeger's INVALID_ARGUMENT.
fn trace_id(bytes: &[u8]) -> Result<TraceId, Status> {
    let uninitialized = || Status::invalid_argument("uninitialized TraceID is not allowed");
    if bytes.is_empty() || bytes.iter().all(|b| *b == 0) {
        return Err(uninitialized());
    }
    // Jaeger's TraceID unmarshals only 16 bytes; anything else fails before the handler.
    TraceId::try_from(bytes).map_err(|_| Status::invalid_argument(format!("trace_id must be 16 bytes, got {}", bytes.len())))
}

/// One trace as api_v2 chunks: spans with their process, adjusted unless `raw`.
pub fn span_chunks(trace: &Traces, state: &ApiState, raw: bool) -> Vec<SpansResponseChunk> {
    let mut translated = jaeger_spans(trace.resource_spans());
    if !raw && !state.max_clock_skew.is_zero() {
        adjust_clock_skew(&mut translated, state.max_clock_skew);
    }
    let processes = &translated.processes;
    let spans: Vec<_> = translated
        .spans
        .into_iter()
        .zip(&translated.process_of)
        .map(|(mut span, &p)| {
            span.process = processes.get(p).cloned();
            span
        })
        .collect();
    spans.chunks(SPANS_PER_CHUNK).map(|c| SpansResponseChunk { spans: c.to_vec() }).collect()
}

#[tonic::async_trait]
impl QueryService for QueryServiceV2 {
    type GetTraceStream = Messages<SpansResponseChunk>;
    type FindTracesStream = Messages<SpansResponseChunk>;

    async fn get_trace(&self, request: Request<GetTraceRequest>) -> Result<Response<Self::GetTraceStream>, Status> {
        let request = request.into_inner();
        let id = trace_id(&request.trace_id)?;
        let raw = request.raw_traces;
        Ok(Response::new(super::get_trace(&self.state, GET_TRACE, id, move |trace, state| span_chunks(trace, state, raw)).await?))
    }

    async fn archive_trace(&self, request: Request<ArchiveTraceRequest>) -> Result<Response<ArchiveTraceResponse>, Status> {
        trace_id(&request.into_inner().trace_id)?;
        // Jaeger checks for an archive store before looking the trace up.
        Err(Status::internal("failed to archive trace: archive span storage was not configured"))
    }

    async fn find_traces(&self, request: Request<FindTracesRequest>) -> Result<Response<Self::FindTracesStream>, Status> {
        let query = request.into_inner().query.ok_or_else(|| Status::invalid_argument("missing query"))?;
        let raw = query.raw_traces;
        let (limit, _) = self.state.bounds.clamp_limit(usize::try_from(query.search_depth).unwrap_or(0));
        let query = TraceQuery {
            service: query.service_name,
            operation: non_empty(query.operation_name),
            tags: query.tags.into_iter().collect(),
            start_min: time_of(query.start_time_min.as_ref()),
            start_max: time_of(query.start_time_max.as_ref()),
            duration_min: duration_of(query.duration_min.as_ref()),
            duration_max: duration_of(query.duration_max.as_ref()),
            limit,
        };
        let state = self.state.clone();
        let chunks = self
            .state
            .bounds
            .run(FIND_TRACES, move |budget| async move {
                let traces = state.reader.find_traces(&query).await?;
                render(move || search_within(&state, FIND_TRACES, &budget, traces, |t| span_chunks(t, &state, raw))).await
            })
            .await
            .map_err(|u| unanswered_status(u, "failed when searching for traces"))?;
        Ok(Response::new(stream_of(chunks)))
    }

    async fn get_services(&self, _: Request<GetServicesRequest>) -> Result<Response<GetServicesResponse>, Status> {
        let services = super::services(&self.state).await?;
        Ok(Response::new(GetServicesResponse { services }))
    }

    async fn get_operations(&self, request: Request<GetOperationsRequest>) -> Result<Response<GetOperationsResponse>, Status> {
        let request = request.into_inner();
        let operations = super::operations(&self.state, &request.service, request.span_kind).await?;
        // The deprecated list: each name once, as Jaeger's getUniqueOperationNames.
        let operation_names = operations.iter().map(|o| o.name.clone()).collect::<BTreeSet<_>>().into_iter().collect();
        let operations = operations.into_iter().map(|o| Operation { name: o.name, span_kind: o.span_kind }).collect();
        Ok(Response::new(GetOperationsResponse { operation_names, operations }))
    }

    async fn get_dependencies(&self, request: Request<GetDependenciesRequest>) -> Result<Response<GetDependenciesResponse>, Status> {
        let request = request.into_inner();
        let (Some(start), Some(end)) = (time_of(request.start_time.as_ref()), time_of(request.end_time.as_ref())) else {
            return Err(Status::invalid_argument("StartTime and EndTime must be initialized."));
        };
        let lookback = end.duration_since(start).unwrap_or_default();
        let state = self.state.clone();
        let links = self
            .state
            .bounds
            .run(DEPENDENCIES, move |_| async move { Ok(state.reader.dependencies(end, lookback).await?) })
            .await
            .map_err(|u| unanswered_status(u, "failed to fetch dependencies"))?;
        let dependencies = links
            .into_iter()
            .map(|l| DependencyLink { parent: l.parent, child: l.child, call_count: l.call_count, source: String::new() })
            .collect();
        Ok(Response::new(GetDependenciesResponse { dependencies }))
    }
}
