//! Jaeger's query HTTP API (`cmd/query/app/http_handler.go`) over a [`TraceReader`].
//!
//! Everything answers in Jaeger's envelope `{data,total,limit,offset,errors}`; errors are
//! the same envelope with one `{code,msg}` entry, sent as Go's `http.Error` sends it (plain
//! text content type, trailing newline), 400 for bad parameters and 500 for storage faults.
//! Searches default to the last two days like Jaeger's (`start` and `end` absent).
//!
//! Searches, traces by id and dependencies are bounded (count, bytes, time, concurrency; see
//! [`crate::bounds`]): a refused one answers in the same envelope, 503 (with `Retry-After`),
//! 504 or 422, and a search served short carries a note in `errors` and a `Warning` header.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tracegate_core::storage::{StorageError, TraceId, TraceQuery, TraceReader};
use tracegate_core::Traces;

use crate::answer::{envelope, finish_envelope, EnvelopeTail};
use crate::bounds::{warning_header, Budget, QueryBounds, Unanswered};
use crate::clockskew::adjust_clock_skew;
use crate::model::{jaeger_spans, trace_id_string, ui_trace, Trace};
use crate::params::{param_error, parse_duration, parse_limit, parse_tags, parse_time, parse_trace_id, Params};

/// Jaeger's `defaultTraceQueryLookbackDuration`.
const SEARCH_LOOKBACK: Duration = Duration::from_secs(2 * 24 * 3600);
/// Jaeger's `defaultDependencyLookbackDuration`.
const DEPENDENCY_LOOKBACK: Duration = Duration::from_secs(24 * 3600);
const DEFAULT_LIMIT: usize = 100;

/// The bounded routes, as the metrics' `endpoint` label names them.
const SEARCH: &str = "/api/traces";
const TRACE: &str = "/api/traces/{trace_id}";
const DEPENDENCIES: &str = "/api/dependencies";

/// What every handler shares.
pub struct ApiState {
    pub reader: Arc<dyn TraceReader>,
    /// Zero: no clock-skew adjustment.
    pub max_clock_skew: Duration,
    /// The live tails (`/api/live/traces`) this state serves; closed at shutdown.
    pub live: crate::live::LiveStreams,
    /// Count, byte, time and concurrency bounds of expensive queries.
    pub bounds: QueryBounds,
}

pub type SharedState = State<Arc<ApiState>>;
pub type RawParams = Query<Vec<(String, String)>>;

#[derive(Serialize)]
struct Envelope<T: Serialize> {
    data: T,
    total: usize,
    limit: usize,
    offset: usize,
    errors: Option<Vec<ApiError>>,
}

#[derive(Serialize)]
struct ApiError {
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<u16>,
    msg: String,
    #[serde(rename = "traceID", skip_serializing_if = "Option::is_none")]
    trace_id: Option<String>,
}

/// Serializes like Go's `json.Encoder`: a trailing newline, four-space indent when pretty.
pub fn to_json<T: Serialize>(value: &T, pretty: bool) -> Vec<u8> {
    // Big answers (a trace of thousands of spans) otherwise regrow and copy the buffer ~20 times.
    let mut out = Vec::with_capacity(4096);
    let written = if pretty {
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        value.serialize(&mut serde_json::Serializer::with_formatter(&mut out, fmt))
    } else {
        serde_json::to_writer(&mut out, value)
    };
    if let Err(e) = written {
        tracing::error!("cannot serialize a response: {e}");
    }
    out.push(b'\n');
    out
}

fn is_pretty(params: &Params) -> bool {
    params.get("prettyPrint").is_some_and(|v| v != "false")
}

fn json_response<T: Serialize>(value: &T, params: &Params) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], to_json(value, is_pretty(params))).into_response()
}

/// A JSON body written already, with a `Warning` header per warning.
pub(crate) fn json_body(body: Vec<u8>, warnings: &[String]) -> Response {
    let mut response = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    for w in warnings {
        if let Ok(value) = HeaderValue::from_str(&warning_header(w)) {
            response.headers_mut().append(header::WARNING, value);
        }
    }
    response
}

fn ok<T: Serialize>(data: T, total: usize, params: &Params) -> Response {
    json_response(&Envelope { data, total, limit: 0, offset: 0, errors: None }, params)
}

/// Go's `http.Error` with Jaeger's error envelope in it.
pub fn error(code: StatusCode, msg: impl Into<String>) -> Response {
    let msg = msg.into();
    if code == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!("HTTP handler, Internal Server Error: {msg}");
    }
    let body = Envelope::<Option<()>> {
        data: None,
        total: 0,
        limit: 0,
        offset: 0,
        errors: Some(vec![ApiError { code: Some(code.as_u16()), msg, trace_id: None }]),
    };
    go_http_error(code, to_json(&body, false))
}

pub fn go_http_error(code: StatusCode, body: Vec<u8>) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::X_CONTENT_TYPE_OPTIONS, "nosniff")],
        body,
    )
        .into_response()
}

fn storage_error(e: StorageError) -> Response {
    match e {
        StorageError::BadQuery(msg) => error(StatusCode::BAD_REQUEST, msg),
        e @ StorageError::Backend(_) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// A bounded query's failure in Jaeger's envelope.
fn unanswered(u: Unanswered) -> Response {
    u.into_response(error, storage_error)
}

/// Runs blocking rendering off the async workers, so a big answer does not stall the
/// runtime that also serves ingest.
pub(crate) async fn render<T: Send + 'static>(f: impl FnOnce() -> Result<T, Unanswered> + Send + 'static) -> Result<T, Unanswered> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| Err(Unanswered::Failed(format!("the query failed: {e}"))))
}

/// One stored trace as the UI shows it, adjusted unless `raw`.
pub fn to_ui(traces: &Traces, state: &ApiState, adjust: bool) -> Trace {
    let mut spans = jaeger_spans(traces.resource_spans());
    if adjust && !state.max_clock_skew.is_zero() {
        adjust_clock_skew(&mut spans, state.max_clock_skew);
    }
    ui_trace(spans, &[])
}

fn is_raw(params: &Params) -> bool {
    // Go's strconv.ParseBool: anything else (or nothing) means adjust.
    matches!(params.get("raw"), Some("1" | "t" | "T" | "true" | "TRUE" | "True"))
}

pub async fn services(State(state): SharedState, Query(q): RawParams) -> Response {
    match state.reader.services().await {
        Ok(services) => {
            let total = services.len();
            ok(services, total, &Params(q))
        }
        Err(e) => storage_error(e),
    }
}

/// The legacy list of operation names (all span kinds), sorted and unique; `null` when
/// there are none, as Jaeger's nil slice marshals.
pub async fn service_operations(State(state): SharedState, Path(service): Path<String>, Query(q): RawParams) -> Response {
    match state.reader.operations(&service, None).await {
        Ok(ops) => {
            let mut names: Vec<String> = ops.into_iter().map(|o| o.name).collect();
            names.sort();
            names.dedup();
            let total = names.len();
            ok((!names.is_empty()).then_some(names), total, &Params(q))
        }
        Err(e) => storage_error(e),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationJson {
    pub name: String,
    pub span_kind: String,
}

pub async fn operations(State(state): SharedState, Query(q): RawParams) -> Response {
    let params = Params(q);
    let Some(service) = params.get("service") else {
        return error(StatusCode::BAD_REQUEST, "parameter 'service' is required");
    };
    match state.reader.operations(service, params.get("spanKind")).await {
        Ok(ops) => {
            let data: Vec<OperationJson> =
                ops.into_iter().map(|o| OperationJson { name: o.name, span_kind: o.span_kind }).collect();
            let total = data.len();
            ok(data, total, &params)
        }
        Err(e) => storage_error(e),
    }
}

pub(crate) struct Search {
    pub(crate) query: TraceQuery,
    pub(crate) trace_ids: Vec<TraceId>,
}

pub(crate) fn parse_search(params: &Params, now: SystemTime) -> Result<Search, String> {
    let micros = Duration::from_micros(1);
    let start = parse_time(params, "start", micros)?.unwrap_or_else(|| now.checked_sub(SEARCH_LOOKBACK).unwrap_or(now));
    let end = parse_time(params, "end", micros)?.unwrap_or(now);
    let tags = parse_tags(params.all("tag"), params.all("tags"))?;
    let limit = parse_limit(params, "limit", DEFAULT_LIMIT)?;
    let duration = |name: &str| match params.get(name) {
        None => Ok(None),
        Some(raw) => parse_duration(raw).map_err(|e| param_error(name, &e)),
    };
    let (duration_min, duration_max) = (duration("minDuration")?, duration("maxDuration")?);
    let trace_ids = params
        .all("traceID")
        .map(|id| parse_trace_id(id).map_err(|e| format!("cannot parse traceID param: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let service = params.get("service").unwrap_or_default().to_string();
    if trace_ids.is_empty() && service.is_empty() {
        return Err("parameter 'service' is required".to_string());
    }
    // Jaeger compares only when both are set (and non-zero).
    if let (Some(min), Some(max)) = (duration_min.filter(|d| !d.is_zero()), duration_max.filter(|d| !d.is_zero())) {
        if max < min {
            return Err("'maxDuration' should be greater than 'minDuration'".to_string());
        }
    }
    let query = TraceQuery {
        service,
        operation: params.get("operation").map(str::to_string),
        tags,
        start_min: Some(start),
        start_max: Some(end),
        duration_min: duration_min.filter(|d| !d.is_zero()),
        duration_max: duration_max.filter(|d| !d.is_zero()),
        limit,
    };
    Ok(Search { query, trace_ids })
}

/// A search answer, rendered, with the notes that also go into `Warning` headers.
struct Answer {
    body: Vec<u8>,
    warnings: Vec<String>,
}

pub async fn search(State(state): SharedState, Query(q): RawParams) -> Response {
    let params = Params(q);
    let mut search = match parse_search(&params, SystemTime::now()) {
        Ok(s) => s,
        Err(msg) => return error(StatusCode::BAD_REQUEST, msg),
    };
    let bounds = &state.bounds;
    let requested = search.query.limit;
    let (limit, clamped) = bounds.clamp_limit(requested);
    search.query.limit = limit;
    let mut notes = Vec::new();
    if search.trace_ids.len() > bounds.max_limit {
        let n = search.trace_ids.len();
        notes.push(format!(
            "{n} traceID parameters are above this server's max_limit of {max}: the first {max} are looked up",
            max = bounds.max_limit
        ));
        search.trace_ids.truncate(bounds.max_limit);
        bounds.metrics.truncated(SEARCH, "max_limit");
    }
    let pretty = is_pretty(&params);
    let work_state = state.clone();
    let outcome = bounds
        .run(SEARCH, move |budget| async move {
            let (traces, errors) = find(&work_state, &search).await?;
            if clamped && traces.len() >= limit {
                notes.push(work_state.bounds.clamp_note(requested));
                work_state.bounds.metrics.truncated(SEARCH, "max_limit");
            }
            render(move || render_search(&work_state, traces, errors, notes, pretty, &budget)).await
        })
        .await;
    match outcome {
        Ok(answer) => json_body(answer.body, &answer.warnings),
        Err(u) => unanswered(u),
    }
}

/// The traces a search names: by its ids (with a "trace not found" entry for each unknown
/// one) or by its query.
async fn find(state: &ApiState, search: &Search) -> Result<(Vec<Traces>, Vec<ApiError>), Unanswered> {
    if search.trace_ids.is_empty() {
        return Ok((state.reader.find_traces(&search.query).await?, Vec::new()));
    }
    let (mut found, mut not_found) = (Vec::new(), Vec::new());
    for id in &search.trace_ids {
        match state.reader.get_trace(*id).await? {
            Some(t) => found.push(t),
            None => not_found.push(ApiError { code: None, msg: "trace not found".to_string(), trace_id: Some(trace_id_string(id)) }),
        }
    }
    Ok((found, not_found))
}

/// Writes the traces (newest first) until the byte budget is spent; `notes` (and a note of
/// the cut, if any) follow the "trace not found" entries in `errors`.
fn render_search(
    state: &ApiState,
    traces: Vec<Traces>,
    mut errors: Vec<ApiError>,
    mut notes: Vec<String>,
    pretty: bool,
    budget: &Budget,
) -> Result<Answer, Unanswered> {
    let found = traces.len();
    errors.extend(notes.iter().map(|msg| ApiError { code: None, msg: msg.clone(), trace_id: None }));
    let mut w = envelope(pretty, budget.max_bytes, &errors);
    for traces in traces {
        if budget.expired() {
            return Err(Unanswered::Expired);
        }
        // Jaeger always adjusts search results (`raw` applies to a single trace only).
        let ui = to_ui(&traces, state, true);
        drop(traces);
        if w.push(&ui).is_err() {
            let note = state.bounds.cut_note(w.count(), found);
            state.bounds.metrics.truncated(SEARCH, "max_response_bytes");
            errors.push(ApiError { code: None, msg: note.clone(), trace_id: None });
            notes.push(note);
            break;
        }
    }
    let errors = (!errors.is_empty()).then_some(errors.as_slice());
    let body = finish_envelope(w, &EnvelopeTail { total: 0, limit: 0, offset: 0, errors });
    Ok(Answer { body, warnings: notes })
}

pub async fn trace(State(state): SharedState, Path(id): Path<String>, Query(q): RawParams) -> Response {
    let params = Params(q);
    let id = match parse_trace_id(&id) {
        Ok(id) => id,
        Err(msg) => return error(StatusCode::BAD_REQUEST, msg),
    };
    let (adjust, pretty) = (!is_raw(&params), is_pretty(&params));
    let work_state = state.clone();
    let outcome = state
        .bounds
        .run(TRACE, move |budget| async move {
            let traces = work_state.reader.get_trace(id).await?.ok_or(Unanswered::NotFound)?;
            render(move || {
                let spans = traces.span_count();
                let ui = to_ui(&traces, &work_state, adjust);
                drop(traces);
                let mut w = envelope::<ApiError>(pretty, budget.max_bytes, &[]);
                w.push(&ui).map_err(|_| work_state.bounds.too_large(&trace_id_string(&id), spans))?;
                Ok(finish_envelope::<ApiError>(w, &EnvelopeTail { total: 0, limit: 0, offset: 0, errors: None }))
            })
            .await
        })
        .await;
    match outcome {
        Ok(body) => json_body(body, &[]),
        Err(u) => unanswered(u),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DependencyJson {
    parent: String,
    child: String,
    call_count: u64,
}

pub async fn dependencies(State(state): SharedState, Query(q): RawParams) -> Response {
    let params = Params(q);
    let parsed = parse_time(&params, "endTs", Duration::from_millis(1)).and_then(|end| {
        let lookback = match params.get("lookback") {
            None => DEPENDENCY_LOOKBACK,
            Some(raw) => match raw.parse::<i64>() {
                Ok(ms) => Duration::from_millis(ms.max(0).unsigned_abs()),
                Err(_) => return Err(param_error("lookback", &format!("strconv.ParseInt: parsing \"{raw}\": invalid syntax"))),
            },
        };
        Ok((end.unwrap_or_else(SystemTime::now), lookback))
    });
    let (end, lookback) = match parsed {
        Ok(p) => p,
        Err(msg) => return error(StatusCode::BAD_REQUEST, msg),
    };
    let reader = state.reader.clone();
    let links = match state.bounds.run(DEPENDENCIES, move |_| async move { Ok(reader.dependencies(end, lookback).await?) }).await {
        Ok(l) => l,
        Err(u) => return unanswered(u),
    };
    let service = params.get("service");
    let mut merged: std::collections::BTreeMap<(String, String), u64> = Default::default();
    for l in links.into_iter().filter(|l| service.is_none_or(|s| l.parent == s || l.child == s)) {
        *merged.entry((l.parent, l.child)).or_default() += l.call_count;
    }
    let data: Vec<DependencyJson> =
        merged.into_iter().map(|((parent, child), call_count)| DependencyJson { parent, child, call_count }).collect();
    ok(data, 0, &params)
}
