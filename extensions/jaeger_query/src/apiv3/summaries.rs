//! `/api/v3/trace-summaries` (Jaeger 2.19's HTTP FindTraceSummaries): the search of
//! `/api/v3/traces`, answered with one summary per trace in the protobuf JSON of
//! `api_v3.FindTraceSummariesResponse`, as Jaeger's gateway writes it. The summaries are
//! [`crate::summary::summarize`]'s, the same the gRPC FindTraceSummaries sends, so the two
//! ports cannot disagree.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use super::{error, parse_query, protojson, unanswered};
use crate::api::{json_body, render, RawParams, SharedState};
use crate::bounds::Unanswered;
use crate::params::Params;
use crate::summary::{summarize, TraceSummary};

/// The route, as the metrics' `endpoint` label names it.
const SUMMARIES: &str = "/api/v3/trace-summaries";

/// One trace summary in protobuf JSON (`api_v3.TraceSummary` through protojson): camelCase,
/// fixed64 times as decimal strings, empty strings and zero counts left out, `services`
/// always written (the gateway builds a non-nil slice).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SummaryJson {
    #[serde(skip_serializing_if = "String::is_empty")]
    trace_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    root_service_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    root_operation_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_start_time_unix_nano: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_end_time_unix_nano: Option<String>,
    #[serde(skip_serializing_if = "is_zero")]
    span_count: i32,
    #[serde(skip_serializing_if = "is_zero")]
    error_span_count: i32,
    #[serde(skip_serializing_if = "is_zero")]
    orphan_span_count: i32,
    services: Vec<ServiceSummaryJson>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServiceSummaryJson {
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "is_zero")]
    span_count: i32,
    #[serde(skip_serializing_if = "is_zero")]
    error_span_count: i32,
}

#[derive(Serialize)]
struct Summaries {
    summaries: Vec<SummaryJson>,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

/// int32 as Jaeger converts a count (saturating here rather than wrapping).
fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn nanos(n: u64) -> Option<String> {
    (n != 0).then(|| n.to_string())
}

fn summary_json(s: TraceSummary) -> SummaryJson {
    SummaryJson {
        trace_id: s.trace_id_hex(),
        root_service_name: s.root_service_name,
        root_operation_name: s.root_operation_name,
        min_start_time_unix_nano: nanos(s.min_start_time_unix_nano),
        max_end_time_unix_nano: nanos(s.max_end_time_unix_nano),
        span_count: count(s.span_count),
        error_span_count: count(s.error_span_count),
        orphan_span_count: count(s.orphan_span_count),
        services: s
            .services
            .into_iter()
            .map(|v| ServiceSummaryJson { name: v.name, span_count: count(v.span_count), error_span_count: count(v.error_span_count) })
            .collect(),
    }
}

/// `/api/v3/trace-summaries`: the search of `/api/v3/traces`, one summary per trace (newest
/// first), `{"summaries":[]}` with 200 when nothing matches, as the gateway answers.
pub async fn trace_summaries(State(state): SharedState, Query(q): RawParams) -> Response {
    let mut query = match parse_query(&Params(q)) {
        Ok(q) => q,
        Err(msg) => return error(StatusCode::BAD_REQUEST, msg),
    };
    let requested = query.limit;
    let (limit, clamped) = state.bounds.clamp_limit(requested);
    query.limit = limit;
    let work_state = state.clone();
    let outcome = state
        .bounds
        .run(SUMMARIES, move |budget| async move {
            let traces = work_state.reader.find_traces(&query).await?;
            let mut warnings = Vec::new();
            if clamped && traces.len() >= limit {
                warnings.push(work_state.bounds.clamp_note(requested));
                work_state.bounds.metrics.truncated(SUMMARIES, "max_limit");
            }
            render(move || {
                let mut summaries = Vec::with_capacity(traces.len());
                for trace in &traces {
                    if budget.expired() {
                        return Err(Unanswered::Expired);
                    }
                    summaries.push(summary_json(summarize(trace)));
                }
                // A summary is a few hundred bytes and their number is clamped to max_limit,
                // so the answer is small next to max_response_bytes; it is written whole.
                Ok((protojson(&Summaries { summaries }), warnings))
            })
            .await
        })
        .await;
    match outcome {
        Ok((body, warnings)) => json_body(body, &warnings),
        Err(u) => unanswered(u),
    }
}
