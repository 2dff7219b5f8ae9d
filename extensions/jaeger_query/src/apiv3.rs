//! Jaeger's api_v3 HTTP gateway (`cmd/query/app/apiv3/http_gateway.go`, under
//! `cmd/jaeger/internal/extension/jaegerquery` in Jaeger 2.x): the same reads as the v1 API,
//! answered as the gateway answers them, since scripts and tools written against Jaeger read
//! these bodies and statuses as they are:
//!
//! - traces in OTLP JSON wrapped as `{"result": <TracesData>}` (one trace, or every trace a
//!   search found merged into one `TracesData`);
//! - errors as `{"error":{"httpCode":400,"message":"..."}}` (plus `http.Error`'s newline);
//!   an unknown trace id and a search that matches nothing are both 404 "No traces found"
//!   (Jaeger 2.x's reader yields no trace rather than an error);
//! - `/api/v3/services` and `/api/v3/operations` always carry their list (`[]` when empty,
//!   as the gateway hands protojson a non-nil slice); an operation seen without a span kind
//!   is reported as `internal`, as the gateway does;
//! - `/api/v3/trace-summaries` (Jaeger 2.19): the search's parameters, answered as one
//!   `FindTraceSummariesResponse` in protobuf JSON (`{"summaries":[...]}`, 64-bit times as
//!   decimal strings, zero counts left out) and `{"summaries":[]}` when nothing matches;
//!   the summaries are [`crate::summary::summarize`]'s, as gRPC FindTraceSummaries sends;
//! - parameters, trace ids (hex or base64) and their error texts as in
//!   [`crate::apiv3_params`].
//!
//! A search needs only `query.startTimeMin` and `query.startTimeMax`, as Jaeger 2.x: without
//! `query.serviceName` the store searches every service (the `TraceReader` contract); a store
//! that cannot answers 400 with its reason (Jaeger's text for that is "this storage backend
//! requires a service name to search; searching all services is not supported"). `/api/traces`
//! (v1) still requires a service, as in Jaeger.
//!
//! The bounds of [`crate::bounds`] apply as in v1: the search depth is clamped to
//! `max_limit`, answers are written trace by trace within `max_response_bytes`, and a refused
//! query answers 503 (`Retry-After`), 504 or 422 in the gateway's error shape. Protobuf JSON
//! has no place for a note (and Go clients reading it with protojson refuse unknown fields),
//! so a clamped or cut answer says so only in a `Warning: 299 - "..."` header.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use tracegate_core::storage::StorageError;
use tracegate_core::Traces;

use crate::answer::{finish_v3_result, v3_result};
use crate::api::{go_http_error, json_body, render, to_json, RawParams, SharedState};
use crate::bounds::Unanswered;
pub(crate) use crate::apiv3_params::parse_query;
use crate::apiv3_params::{check_trace_params, malformed, param, trace_id_from_string};
use crate::model::trace_id_string;
use crate::params::Params;

mod summaries;

pub use summaries::trace_summaries;

fn error(code: StatusCode, message: impl Into<String>) -> Response {
    let message = message.into();
    if code == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!("HTTP handler, Internal Server Error: {message}");
    }
    let body = json!({"error": {"httpCode": code.as_u16(), "message": message}});
    // Go's json.Marshal plus http.Error's newline.
    go_http_error(code, to_json(&body, false))
}

fn param_error(name: &str, err: &str) -> Response {
    error(StatusCode::BAD_REQUEST, malformed(name, err))
}

fn storage_error(e: StorageError) -> Response {
    match e {
        StorageError::BadQuery(msg) => error(StatusCode::BAD_REQUEST, msg),
        e @ StorageError::Backend(_) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// The bounded routes, as the metrics' `endpoint` label names them.
const FIND_TRACES: &str = "/api/v3/traces";
const TRACE: &str = "/api/v3/traces/{trace_id}";

/// A bounded query's failure in the gateway's error shape.
fn unanswered(u: Unanswered) -> Response {
    u.into_response(error, storage_error)
}

/// A body as the gateway's `marshalResponse` (protojson) writes it: compact, no newline.
fn protojson<T: Serialize>(value: &T) -> Vec<u8> {
    let mut body = to_json(value, false);
    body.pop();
    body
}

fn json<T: Serialize>(value: &T) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], protojson(value)).into_response()
}

/// One trace's resource spans as protobuf JSON values (defaults left out).
fn resource_values(traces: Traces) -> Vec<serde_json::Value> {
    traces
        .into_resource_spans()
        .into_iter()
        .map(|rs| {
            let mut value = serde_json::to_value(rs).unwrap_or_default();
            omit_defaults(&mut value);
            value
        })
        .collect()
}

/// The `AnyValue` oneof members: protobuf JSON writes them even when they hold a default.
const ONEOF_VALUES: &[&str] =
    &["stringValue", "boolValue", "intValue", "doubleValue", "bytesValue", "arrayValue", "kvlistValue"];

/// Drops fields holding their default (null, "", 0, false, []), as protobuf JSON (Go's
/// protojson, which Jaeger uses) leaves them out; the serde derive writes them all.
fn omit_defaults(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            map.retain(|key, v| {
                ONEOF_VALUES.contains(&key.as_str())
                    || !matches!(v, Value::Null)
                        && v.as_str() != Some("")
                        && v.as_str() != Some("0")
                        && v.as_u64() != Some(0)
                        && v.as_bool() != Some(false)
                        && v.as_array().is_none_or(|a| !a.is_empty())
            });
            map.values_mut().for_each(omit_defaults);
        }
        Value::Array(items) => items.iter_mut().for_each(omit_defaults),
        _ => {}
    }
}

// No `skip_serializing_if` on the lists: the gateway hands protojson non-nil slices, which it
// writes even when empty (`{"services":[]}`).
#[derive(Serialize)]
struct Services {
    services: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Operation {
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    span_kind: String,
}

#[derive(Serialize)]
struct Operations {
    operations: Vec<Operation>,
}

pub async fn services(State(state): SharedState) -> Response {
    match state.reader.services().await {
        Ok(services) => json(&Services { services }),
        Err(e) => storage_error(e),
    }
}

pub async fn operations(State(state): SharedState, Query(q): RawParams) -> Response {
    let params = Params(q);
    let service = params.get("service").unwrap_or_default();
    let (kind, _) = param(&params, "spanKind", "span_kind");
    match state.reader.operations(service, kind).await {
        Ok(ops) => json(&Operations {
            operations: ops
                .into_iter()
                // The gateway's default: an operation stored without a kind reads as internal.
                .map(|o| Operation { name: o.name, span_kind: if o.span_kind.is_empty() { "internal".into() } else { o.span_kind } })
                .collect(),
        }),
        Err(e) => storage_error(e),
    }
}

pub async fn trace(State(state): SharedState, Path(id): Path<String>, Query(q): RawParams) -> Response {
    let id = match trace_id_from_string(&id) {
        Ok(id) => id,
        Err(e) => return param_error("trace_id", &e),
    };
    if let Err(msg) = check_trace_params(&Params(q)) {
        return error(StatusCode::BAD_REQUEST, msg);
    }
    let work_state = state.clone();
    let outcome = state
        .bounds
        .run(TRACE, move |budget| async move {
            // Jaeger 2.x's reader yields nothing for an unknown id, which the gateway answers as
            // an empty search: 404 "No traces found".
            let traces = work_state.reader.get_trace(id).await?.ok_or(Unanswered::NoMatch)?;
            render(move || {
                let spans = traces.span_count();
                let mut w = v3_result(budget.max_bytes);
                w.push_all(&resource_values(traces)).map_err(|_| work_state.bounds.too_large(&trace_id_string(&id), spans))?;
                Ok(finish_v3_result(w))
            })
            .await
        })
        .await;
    match outcome {
        Ok(body) => json_body(body, &[]),
        Err(u) => unanswered(u),
    }
}

pub async fn find_traces(State(state): SharedState, Query(q): RawParams) -> Response {
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
        .run(FIND_TRACES, move |budget| async move {
            let traces = work_state.reader.find_traces(&query).await?;
            if traces.is_empty() {
                // As Jaeger's HTTP gateway: an empty search is a 404, not an empty result.
                return Err(Unanswered::NoMatch);
            }
            let mut warnings = Vec::new();
            if clamped && traces.len() >= limit {
                warnings.push(work_state.bounds.clamp_note(requested));
                work_state.bounds.metrics.truncated(FIND_TRACES, "max_limit");
            }
            render(move || {
                let found = traces.len();
                let (mut w, mut served) = (v3_result(budget.max_bytes), 0);
                for traces in traces {
                    if budget.expired() {
                        return Err(Unanswered::Expired);
                    }
                    if w.push_all(&resource_values(traces)).is_ok() {
                        served += 1;
                    } else {
                        warnings.push(work_state.bounds.cut_note(served, found));
                        work_state.bounds.metrics.truncated(FIND_TRACES, "max_response_bytes");
                        break;
                    }
                }
                Ok((finish_v3_result(w), warnings))
            })
            .await
        })
        .await;
    match outcome {
        Ok((body, warnings)) => json_body(body, &warnings),
        Err(u) => unanswered(u),
    }
}
