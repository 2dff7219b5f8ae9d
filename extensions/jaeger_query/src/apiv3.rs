//! Jaeger's api_v3 HTTP gateway (`cmd/query/app/apiv3/http_gateway.go`): the same reads as
//! the v1 API, answered in OTLP JSON wrapped as `{"result": <TracesData>}`, with errors as
//! the gRPC gateway writes them: `{"error":{"httpCode":400,"message":"..."}}`.
//!
//! Parameters use the gateway's `query.*` names; the camelCase spellings grpc-gateway also
//! accepts (`query.serviceName`, ...) work too. `query.attributes` takes a JSON object or
//! repeated `key:value`; `query.search_depth` (or the older `query.num_traces`) is the limit.
//!
//! FindTraces requires only `query.start_time_min` and `query.start_time_max`, as Jaeger 2.x's
//! gateway does (`parseFindTracesQuery`): without `query.service_name` the store searches every
//! service (the `TraceReader` contract); a store that cannot answers 400 with its reason.
//! `/api/traces` (v1) still requires a service, as in Jaeger.
//!
//! The bounds of [`crate::bounds`] apply as in v1: `query.search_depth` is clamped to
//! `max_limit`, answers are written trace by trace within `max_response_bytes`, and a refused
//! query answers 503 (`Retry-After`), 504 or 422 in the gateway's error shape. Protobuf JSON
//! has no place for a note (and Go clients reading it with protojson refuse unknown fields),
//! so a clamped or cut answer says so only in a `Warning: 299 - "..."` header.

use std::collections::BTreeMap;
use std::time::SystemTime;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use tracegate_core::storage::{StorageError, TraceQuery};
use tracegate_core::Traces;

use crate::answer::{finish_v3_result, v3_result};
use crate::api::{go_http_error, json_body, render, to_json, RawParams, SharedState};
use crate::bounds::Unanswered;
use crate::model::trace_id_string;
use crate::params::{parse_duration, parse_trace_id, Params};
use crate::rfc3339::parse_rfc3339;

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
    error(StatusCode::BAD_REQUEST, format!("malformed parameter {name}: {err}"))
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

fn json<T: Serialize>(value: &T) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], to_json(value, false)).into_response()
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

#[derive(Serialize)]
struct Services {
    // protobuf JSON leaves empty lists out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
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
    #[serde(skip_serializing_if = "Vec::is_empty")]
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
    let kind = params.get("span_kind").or_else(|| params.get("spanKind"));
    match state.reader.operations(service, kind).await {
        Ok(ops) => json(&Operations {
            operations: ops.into_iter().map(|o| Operation { name: o.name, span_kind: o.span_kind }).collect(),
        }),
        Err(e) => storage_error(e),
    }
}

pub async fn trace(State(state): SharedState, Path(id): Path<String>) -> Response {
    let id = match parse_trace_id(&id) {
        Ok(id) => id,
        Err(e) => return param_error("trace_id", &e),
    };
    let work_state = state.clone();
    let outcome = state
        .bounds
        .run(TRACE, move |budget| async move {
            let traces = work_state.reader.get_trace(id).await?.ok_or(Unanswered::NotFound)?;
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

/// The first of the snake_case and camelCase spellings that is present.
fn get<'a>(params: &'a Params, snake: &str, camel: &str) -> Option<&'a str> {
    params.get(&format!("query.{snake}")).or_else(|| params.get(&format!("query.{camel}")))
}

fn parse_attributes(params: &Params) -> Result<BTreeMap<String, String>, String> {
    let mut tags = BTreeMap::new();
    for raw in params.all("query.attributes") {
        if raw.trim_start().starts_with('{') {
            let map: BTreeMap<String, String> = serde_json::from_str(raw).map_err(|e| e.to_string())?;
            tags.extend(map);
        } else if let Some((k, v)) = raw.split_once(':') {
            tags.insert(k.to_string(), v.to_string());
        } else {
            return Err(format!("expecting a JSON object or key:value, received: {raw}"));
        }
    }
    Ok(tags)
}

pub(crate) fn parse_query(params: &Params) -> Result<TraceQuery, Box<Response>> {
    let (Some(min), Some(max)) = (get(params, "start_time_min", "startTimeMin"), get(params, "start_time_max", "startTimeMax"))
    else {
        return Err(Box::new(error(StatusCode::BAD_REQUEST, "query.start_time_min and query.start_time_max are required")));
    };
    let time = |name: &str, raw: &str| -> Result<SystemTime, Box<Response>> {
        parse_rfc3339(raw).map_err(|e| Box::new(param_error(name, &e)))
    };
    let (start_min, start_max) = (time("query.start_time_min", min)?, time("query.start_time_max", max)?);
    let duration = |snake: &str, camel: &str| match get(params, snake, camel) {
        None => Ok(None),
        Some(raw) => parse_duration(raw).map_err(|e| Box::new(param_error(&format!("query.{snake}"), &e))),
    };
    let duration_min = duration("duration_min", "durationMin")?;
    let duration_max = duration("duration_max", "durationMax")?;
    let limit = match get(params, "search_depth", "searchDepth").or_else(|| get(params, "num_traces", "numTraces")) {
        None => 0,
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) => usize::try_from(n).unwrap_or(0),
            Err(_) => {
                let msg = format!("strconv.Atoi: parsing \"{raw}\": invalid syntax");
                return Err(Box::new(param_error("query.search_depth", &msg)));
            }
        },
    };
    let tags = parse_attributes(params).map_err(|e| Box::new(param_error("query.attributes", &e)))?;
    Ok(TraceQuery {
        service: get(params, "service_name", "serviceName").unwrap_or_default().to_string(),
        operation: get(params, "operation_name", "operationName").map(str::to_string),
        tags,
        start_min: Some(start_min),
        start_max: Some(start_max),
        duration_min,
        duration_max,
        limit,
    })
}

pub async fn find_traces(State(state): SharedState, Query(q): RawParams) -> Response {
    let mut query = match parse_query(&Params(q)) {
        Ok(q) => q,
        Err(response) => return *response,
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
