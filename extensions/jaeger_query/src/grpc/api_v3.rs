//! `jaeger.api_v3.QueryService`, as Jaeger's `apiv3/grpc_handler.go` answers it: traces stream
//! as one OTLP `TracesData` per trace; an unknown trace is NOT_FOUND "trace not found"; a
//! search needs `query` with `start_time_min` and `start_time_max` (INVALID_ARGUMENT
//! otherwise), takes 100 traces when `search_depth` is 0 and answers a search that matches
//! nothing with an empty stream. `GetDependencies` needs both times, the end after the start.
//! `FindTraceSummaries` streams one response per trace ([`crate::summary`]).
//!
//! Two deliberate differences: a malformed trace id is INVALID_ARGUMENT (Jaeger's text, but
//! Jaeger returns a bare Go error, which gRPC sends as UNKNOWN); and a query with `filter`
//! (Jaeger's expression search) is refused with INVALID_ARGUMENT and the text of a Jaeger
//! whose filter is disabled, since tracegate does not evaluate expressions and ignoring one
//! would answer a different question.

use std::sync::Arc;

use opentelemetry_proto::tonic::trace::v1::TracesData;
use tonic::{Request, Response, Status};
use tracegate_core::storage::TraceQuery;
use tracegate_core::Traces;

use super::proto_v3::query_service_server::QueryService;
use super::proto_v3::{
    Dependency, DependenciesResponse, FindTraceSummariesRequest, FindTraceSummariesResponse, FindTracesRequest,
    GetDependenciesRequest, GetOperationsRequest, GetOperationsResponse, GetServicesRequest, GetServicesResponse,
    GetTraceRequest, Operation, ServiceSummary, TraceQueryParameters, TraceSummary,
};
use super::{duration_of, non_empty, search_within, stream_of, time_of, unanswered_status, Messages};
use crate::api::{render, ApiState};
use crate::bounds::QueryBounds;
use crate::params::parse_trace_id;
use crate::summary::summarize;

/// Jaeger's api_v3 `defaultSearchDepth`.
const DEFAULT_SEARCH_DEPTH: usize = 100;

const GET_TRACE: &str = "/jaeger.api_v3.QueryService/GetTrace";
const FIND_TRACES: &str = "/jaeger.api_v3.QueryService/FindTraces";
const FIND_SUMMARIES: &str = "/jaeger.api_v3.QueryService/FindTraceSummaries";
const DEPENDENCIES: &str = "/jaeger.api_v3.QueryService/GetDependencies";

pub struct QueryServiceV3 {
    state: Arc<ApiState>,
}

impl QueryServiceV3 {
    pub fn new(state: Arc<ApiState>) -> Self {
        Self { state }
    }
}

/// The store query of an api_v3 search, or Jaeger's INVALID_ARGUMENT.
pub fn trace_query(query: Option<TraceQueryParameters>, bounds: &QueryBounds) -> Result<TraceQuery, Status> {
    let query = query.ok_or_else(|| Status::invalid_argument("missing query"))?;
    let (Some(start_min), Some(start_max)) = (time_of(query.start_time_min.as_ref()), time_of(query.start_time_max.as_ref())) else {
        return Err(Status::invalid_argument("start time min and max are required parameters"));
    };
    if query.filter.is_some() {
        return Err(Status::invalid_argument(crate::apiv3_params::FILTER_DISABLED));
    }
    let depth = usize::try_from(query.search_depth).ok().filter(|d| *d > 0).unwrap_or(DEFAULT_SEARCH_DEPTH);
    Ok(TraceQuery {
        service: query.service_name,
        operation: non_empty(query.operation_name),
        tags: query.attributes.into_iter().collect(),
        start_min: Some(start_min),
        start_max: Some(start_max),
        duration_min: duration_of(query.duration_min.as_ref()),
        duration_max: duration_of(query.duration_max.as_ref()),
        limit: bounds.clamp_limit(depth).0,
    })
}

fn traces_data(trace: &Traces) -> Vec<TracesData> {
    vec![TracesData { resource_spans: trace.resource_spans().to_vec() }]
}

/// A summary in api_v3's message.
pub fn summary_message(trace: &Traces) -> FindTraceSummariesResponse {
    let s = summarize(trace);
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    let summary = TraceSummary {
        trace_id: s.trace_id_hex(),
        root_service_name: s.root_service_name,
        root_operation_name: s.root_operation_name,
        min_start_time_unix_nano: s.min_start_time_unix_nano,
        max_end_time_unix_nano: s.max_end_time_unix_nano,
        span_count: count(s.span_count),
        error_span_count: count(s.error_span_count),
        orphan_span_count: count(s.orphan_span_count),
        services: s
            .services
            .into_iter()
            .map(|v| ServiceSummary { name: v.name, span_count: count(v.span_count), error_span_count: count(v.error_span_count) })
            .collect(),
    };
    FindTraceSummariesResponse { summaries: vec![summary] }
}

impl QueryServiceV3 {
    /// A bounded search whose traces become messages by `to_messages`.
    async fn search<M: prost::Message + 'static>(
        &self,
        endpoint: &'static str,
        query: TraceQuery,
        to_messages: fn(&Traces) -> Vec<M>,
    ) -> Result<Messages<M>, Status> {
        let state = self.state.clone();
        let messages = self
            .state
            .bounds
            .run(endpoint, move |budget| async move {
                let traces = state.reader.find_traces(&query).await?;
                render(move || search_within(&state, endpoint, &budget, traces, to_messages)).await
            })
            .await
            .map_err(|u| unanswered_status(u, "failed when searching for traces"))?;
        Ok(stream_of(messages))
    }
}

#[tonic::async_trait]
impl QueryService for QueryServiceV3 {
    type GetTraceStream = Messages<TracesData>;
    type FindTracesStream = Messages<TracesData>;
    type FindTraceSummariesStream = Messages<FindTraceSummariesResponse>;

    async fn get_trace(&self, request: Request<GetTraceRequest>) -> Result<Response<Self::GetTraceStream>, Status> {
        let id = parse_trace_id(&request.into_inner().trace_id).map_err(|e| Status::invalid_argument(format!("malform trace ID: {e}")))?;
        Ok(Response::new(super::get_trace(&self.state, GET_TRACE, id, |trace, _| traces_data(trace)).await?))
    }

    async fn find_traces(&self, request: Request<FindTracesRequest>) -> Result<Response<Self::FindTracesStream>, Status> {
        let query = trace_query(request.into_inner().query, &self.state.bounds)?;
        Ok(Response::new(self.search(FIND_TRACES, query, traces_data).await?))
    }

    async fn find_trace_summaries(
        &self,
        request: Request<FindTraceSummariesRequest>,
    ) -> Result<Response<Self::FindTraceSummariesStream>, Status> {
        let query = trace_query(request.into_inner().query, &self.state.bounds)?;
        Ok(Response::new(self.search(FIND_SUMMARIES, query, |t| vec![summary_message(t)]).await?))
    }

    async fn get_services(&self, _: Request<GetServicesRequest>) -> Result<Response<GetServicesResponse>, Status> {
        let services = super::services(&self.state).await?;
        Ok(Response::new(GetServicesResponse { services }))
    }

    async fn get_operations(&self, request: Request<GetOperationsRequest>) -> Result<Response<GetOperationsResponse>, Status> {
        let request = request.into_inner();
        let operations = super::operations(&self.state, &request.service, request.span_kind).await?;
        let operations = operations.into_iter().map(|o| Operation { name: o.name, span_kind: o.span_kind }).collect();
        Ok(Response::new(GetOperationsResponse { operations }))
    }

    async fn get_dependencies(&self, request: Request<GetDependenciesRequest>) -> Result<Response<DependenciesResponse>, Status> {
        let request = request.into_inner();
        let start = time_of(request.start_time.as_ref()).ok_or_else(|| Status::invalid_argument("start_time is required"))?;
        let end = time_of(request.end_time.as_ref()).ok_or_else(|| Status::invalid_argument("end_time is required"))?;
        let Ok(lookback) = end.duration_since(start) else {
            return Err(Status::invalid_argument("end_time must be after start_time"));
        };
        if lookback.is_zero() {
            return Err(Status::invalid_argument("end_time must be after start_time"));
        }
        let state = self.state.clone();
        let links = self
            .state
            .bounds
            .run(DEPENDENCIES, move |_| async move { Ok(state.reader.dependencies(end, lookback).await?) })
            .await
            .map_err(|u| unanswered_status(u, "failed to fetch dependencies"))?;
        let dependencies = links.into_iter().map(|l| Dependency { parent: l.parent, child: l.child, call_count: l.call_count }).collect();
        Ok(Response::new(DependenciesResponse { dependencies }))
    }
}
