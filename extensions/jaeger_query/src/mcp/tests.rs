//! The MCP tools against a memory store holding hand-built traces with known answers: each
//! tool called as an agent calls it (by name, with JSON arguments), its JSON answer checked;
//! and the endpoint itself, over HTTP, under a base path.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use serde_json::{json, Value as Json};
use tower::ServiceExt;
use tracegate_core::{Exporter, Traces};
use tracegate_exporter_memory::MemoryStore;

use super::{McpConfig, McpServer};
use crate::api::ApiState;

const TRACE: [u8; 16] = [0xab; 16];
const TRACE_HEX: &str = "abababababababababababababababab";
const OTHER: [u8; 16] = [0xcd; 16];
const OTHER_HEX: &str = "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";

fn service(name: &str) -> Option<Resource> {
    let kv = KeyValue { key: "service.name".into(), value: Some(AnyValue { value: Some(Value::StringValue(name.into())) }), ..Default::default() };
    Some(Resource { attributes: vec![kv], ..Default::default() })
}

fn id_hex(id: u8) -> String {
    format!("00000000000000{id:02x}")
}

/// A span of `trace` from `start` to `end` microseconds after `t`; status 2 is ERROR.
fn span(trace: [u8; 16], (id, parent): (u8, u8), name: &str, kind: i32, t: u64, (start, end): (u64, u64), status: i32) -> Span {
    Span {
        trace_id: trace.to_vec(),
        span_id: vec![0, 0, 0, 0, 0, 0, 0, id],
        parent_span_id: if parent == 0 { Vec::new() } else { vec![0, 0, 0, 0, 0, 0, 0, parent] },
        name: name.into(),
        kind,
        start_time_unix_nano: t + start * 1000,
        end_time_unix_nano: t + end * 1000,
        status: Some(Status { code: status, message: if status == 2 { format!("{name} failed") } else { String::new() } }),
        ..Default::default()
    }
}

fn resource(name: &str, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans { resource: service(name), scope_spans: vec![ScopeSpans { spans, ..Default::default() }], ..Default::default() }
}

/// TRACE (times in µs from `t`):
///
/// ```text
/// 1 frontend GET /checkout   |0..................................................100|
/// 2 frontend auth              |10....30|                                              (overlapped by 3)
/// 3 cart     load cart           |20.............60|
/// 4 db       SELECT                |25....50| ERROR
/// 5 payment  charge                                  |65...........90| ERROR
/// ```
///
/// Critical path, latest first: 1 90..100, 5 65..90, 1 60..65, 3 50..60, 4 25..50, 3 20..25, 1 0..20.
fn checkout(t: u64) -> Traces {
    Traces::new(vec![
        resource("frontend", vec![span(TRACE, (1, 0), "GET /checkout", 2, t, (0, 100), 0), span(TRACE, (2, 1), "auth", 3, t, (10, 30), 1)]),
        resource("cart", vec![span(TRACE, (3, 1), "load cart", 2, t, (20, 60), 0)]),
        resource("db", vec![span(TRACE, (4, 3), "SELECT", 3, t, (25, 50), 2)]),
        resource("payment", vec![span(TRACE, (5, 1), "charge", 2, t, (65, 90), 2)]),
    ])
}

/// OTHER: one healthy span of `frontend`.
fn health(t: u64) -> Traces {
    Traces::new(vec![resource("frontend", vec![span(OTHER, (1, 0), "GET /health", 2, t, (0, 5), 0)])])
}

/// Ten minutes ago, so the tools' default one-hour search window holds the data.
fn base() -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_micros() as u64;
    (now - 600_000_000) * 1000
}

async fn server_with(limits: McpConfig) -> McpServer {
    let store = MemoryStore::new(1000);
    let t = base();
    store.export(checkout(t)).await.expect("export");
    store.export(health(t + 1_000_000)).await.expect("export");
    let state = Arc::new(ApiState { reader: Arc::new(store), max_clock_skew: Default::default(), live: Default::default(), bounds: Default::default() });
    McpServer::new(super::tools::Tools { state, limits })
}

async fn server() -> McpServer {
    server_with(McpConfig::default()).await
}

/// Calls `tool`; `Ok(structured answer)` or `Err(error text)`.
async fn call(server: &McpServer, tool: &str, args: Json) -> Result<Json, String> {
    let Json::Object(args) = args else { panic!("arguments must be an object") };
    let result = server.call(tool, args).await.expect("a known tool");
    let text = match result.content.first().and_then(|c| c.as_text()) {
        Some(t) => t.text.clone(),
        None => String::new(),
    };
    if result.is_error == Some(true) {
        return Err(text);
    }
    let structured = result.structured_content.expect("structured content");
    assert_eq!(serde_json::from_str::<Json>(&text).ok(), Some(structured.clone()), "the text content is the same JSON");
    Ok(structured)
}

#[tokio::test]
async fn services_are_filtered_sorted_and_cut_with_a_note() {
    let s = server().await;
    let all = call(&s, "get_services", json!({})).await.expect("services");
    assert_eq!(all, json!({"services": ["cart", "db", "frontend", "payment"], "total_count": 4, "truncated": false}));
    let some = call(&s, "get_services", json!({"pattern": "^(c|f)", "limit": 1})).await.expect("services");
    assert_eq!(some, json!({"services": ["cart"], "total_count": 2, "truncated": true}));
    let bad = call(&s, "get_services", json!({"pattern": "("})).await.expect_err("bad regex");
    assert!(bad.starts_with("invalid pattern:"), "{bad}");
}

#[tokio::test]
async fn span_names_of_a_service_with_kinds() {
    let s = server().await;
    let names = call(&s, "get_span_names", json!({"service_name": "frontend"})).await.expect("names");
    assert_eq!(
        names,
        json!({"span_names": [{"name": "GET /checkout", "span_kind": "server"}, {"name": "GET /health", "span_kind": "server"}, {"name": "auth", "span_kind": "client"}], "total_count": 3, "truncated": false})
    );
    let clients = call(&s, "get_span_names", json!({"service_name": "frontend", "span_kind": "CLIENT"})).await.expect("names");
    assert_eq!(clients["span_names"], json!([{"name": "auth", "span_kind": "client"}]));
    let missing = call(&s, "get_span_names", json!({})).await.expect_err("service required");
    assert!(missing.contains("service_name"), "{missing}");
}

#[tokio::test]
async fn search_returns_summaries_and_filters_errors_and_durations() {
    let s = server().await;
    let found = call(&s, "search_traces", json!({"service_name": "frontend"})).await.expect("search");
    let traces = found["traces"].as_array().expect("traces");
    assert_eq!(traces.len(), 2, "{found}");
    let checkout = traces.iter().find(|t| t["trace_id"] == TRACE_HEX).expect("checkout trace");
    assert_eq!(checkout["root_service"], "frontend");
    assert_eq!(checkout["root_span_name"], "GET /checkout");
    assert_eq!(checkout["duration_us"], 100);
    assert_eq!(checkout["span_count"], 5);
    assert_eq!(checkout["services"], json!(["cart", "db", "frontend", "payment"]));
    assert_eq!(checkout["service_count"], 4);
    assert_eq!(checkout["has_errors"], true);
    // As in Jaeger, one span must meet every condition: frontend's spans have no error.
    let errors = call(&s, "search_traces", json!({"with_errors": true})).await.expect("search");
    assert_eq!(errors["traces"].as_array().map(|t| t.len()), Some(1));
    assert_eq!(errors["traces"][0]["trace_id"], TRACE_HEX);
    let errors = call(&s, "search_traces", json!({"service_name": "frontend", "with_errors": true})).await.expect("search");
    assert_eq!(errors, json!({}));
    let slow = call(&s, "search_traces", json!({"span_name": "charge", "duration_min": "20us", "attributes": {}})).await.expect("search");
    assert_eq!(slow["traces"][0]["trace_id"], TRACE_HEX);
    let none = call(&s, "search_traces", json!({"service_name": "frontend", "start_time_max": "-30m"})).await.expect("search");
    assert_eq!(none, json!({}), "nothing before 30 minutes ago");
    let bad = call(&s, "search_traces", json!({"duration_min": "2s", "duration_max": "1s"})).await.expect_err("bad range");
    assert_eq!(bad, "duration_max must be greater than duration_min");
    let depth = call(&s, "search_traces", json!({"search_depth": 1})).await.expect("search");
    assert_eq!(depth["traces"].as_array().map(|t| t.len()), Some(1), "search_depth bounds the answer");
    assert!(depth.get("error").is_none(), "asked for one, got one: {depth}");

    let capped = server_with(McpConfig { max_search_results: 1, ..McpConfig::default() }).await;
    let cut = call(&capped, "search_traces", json!({"search_depth": 5})).await.expect("search");
    assert_eq!(cut["traces"].as_array().map(|t| t.len()), Some(1));
    let note = cut["error"].as_str().unwrap_or_default();
    assert!(note.starts_with("search_depth 5 is above this server's limit of 1 (max_search_results)"), "{cut}");
}

#[tokio::test]
async fn span_details_with_limits_and_missing_spans() {
    let s = server_with(McpConfig { max_span_details_per_request: 2, ..McpConfig::default() }).await;
    let d = call(&s, "get_span_details", json!({"trace_id": TRACE_HEX, "span_ids": [id_hex(4), "00000000000000AA"]})).await.expect("details");
    assert_eq!(d["trace_id"], TRACE_HEX);
    assert_eq!(d["error"], "spans not found: [00000000000000aa]");
    let span = &d["spans"][0];
    assert_eq!(span["span_id"], id_hex(4));
    assert_eq!(span["parent_span_id"], id_hex(3));
    assert_eq!((span["service"].as_str(), span["span_name"].as_str()), (Some("db"), Some("SELECT")));
    assert_eq!(span["status"], json!({"code": "Error", "message": "SELECT failed"}));
    assert_eq!(span["duration_us"], 25);
    let too_many = call(&s, "get_span_details", json!({"trace_id": TRACE_HEX, "span_ids": [id_hex(1), id_hex(2), id_hex(3)]})).await;
    assert_eq!(too_many.expect_err("over the limit"), "span_ids exceeds maximum limit: requested 3, max allowed 2");
    let bad = call(&s, "get_span_details", json!({"trace_id": TRACE_HEX, "span_ids": ["xyz"]})).await.expect_err("bad id");
    assert_eq!(bad, "invalid span_id \"xyz\": span ID must be 16 hex characters, got 3");
}

#[tokio::test]
async fn trace_errors_are_counted_beyond_the_limit() {
    let s = server_with(McpConfig { max_span_details_per_request: 1, ..McpConfig::default() }).await;
    let e = call(&s, "get_trace_errors", json!({"trace_id": TRACE_HEX})).await.expect("errors");
    assert_eq!(e["total_error_count"], 2);
    assert_eq!(e["spans"].as_array().map(|s| s.len()), Some(1));
    let none = call(&s, "get_trace_errors", json!({"trace_id": OTHER_HEX})).await.expect("errors");
    assert_eq!(none, json!({"trace_id": OTHER_HEX, "total_error_count": 0}));
    let unknown = call(&s, "get_trace_errors", json!({"trace_id": "0123456789abcdef0123456789abcdef"})).await;
    assert_eq!(unknown.expect_err("unknown trace"), "trace not found");
    let bad = call(&s, "get_trace_errors", json!({"trace_id": "zz"})).await.expect_err("bad id");
    assert!(bad.starts_with("invalid trace_id:"), "{bad}");
}

#[tokio::test]
async fn topology_is_the_span_tree_depth_first() {
    let s = server().await;
    let t = call(&s, "get_trace_topology", json!({"trace_id": TRACE_HEX})).await.expect("topology");
    let paths: Vec<&str> = t["spans"].as_array().expect("spans").iter().filter_map(|s| s["path"].as_str()).collect();
    let (r, a, c, d, p) = (id_hex(1), id_hex(2), id_hex(3), id_hex(4), id_hex(5));
    assert_eq!(paths, [r.clone(), format!("{r}/{a}"), format!("{r}/{c}"), format!("{r}/{c}/{d}"), format!("{r}/{p}")]);
    assert_eq!(t["spans"][3]["status"], "Error");
    assert_eq!(t["spans"][3]["service"], "db");
    assert_eq!((t["total_span_count"].as_u64(), t["truncated"].as_bool()), (Some(5), Some(false)));
    let shallow = call(&s, "get_trace_topology", json!({"trace_id": TRACE_HEX, "depth": 1})).await.expect("topology");
    assert_eq!(shallow["spans"], json!([{"path": r, "service": "frontend", "span_name": "GET /checkout", "start_time": shallow["spans"][0]["start_time"], "duration_us": 100, "status": "Unset", "truncated_children": 3}]));

    let cut = server_with(McpConfig { max_topology_spans: 2, ..McpConfig::default() }).await;
    let t = call(&cut, "get_trace_topology", json!({"trace_id": TRACE_HEX})).await.expect("topology");
    assert_eq!((t["total_span_count"].as_u64(), t["truncated"].as_bool()), (Some(5), Some(true)));
    assert_eq!(t["spans"].as_array().map(|s| s.len()), Some(2), "the two earliest spans: {t}");
}

#[tokio::test]
async fn critical_path_follows_the_blocking_work() {
    let s = server().await;
    let cp = call(&s, "get_critical_path", json!({"trace_id": TRACE_HEX})).await.expect("critical path");
    let segments: Vec<(String, &str, u64, u64, u64)> = cp["segments"]
        .as_array()
        .expect("segments")
        .iter()
        .map(|s| {
            let n = |k: &str| s[k].as_u64().unwrap_or(u64::MAX);
            (s["span_id"].as_str().unwrap_or("").to_string(), s["service"].as_str().unwrap_or(""), n("start_offset_us"), n("end_offset_us"), n("self_time_us"))
        })
        .collect();
    let seg = |id: u8, service, start: u64, end: u64| (id_hex(id), service, start, end, end - start);
    assert_eq!(
        segments,
        [
            seg(1, "frontend", 90, 100),
            seg(5, "payment", 65, 90),
            seg(1, "frontend", 60, 65),
            seg(3, "cart", 50, 60),
            seg(4, "db", 25, 50),
            seg(3, "cart", 20, 25),
            seg(1, "frontend", 0, 20),
        ]
    );
    assert_eq!((cp["total_duration_us"].as_u64(), cp["critical_path_duration_us"].as_u64()), (Some(100), Some(100)));
    assert_eq!(cp["segments"][1]["span_name"], "charge");
    assert_eq!(cp["truncated"], false);
}

#[tokio::test]
async fn dependencies_are_caller_callee_pairs() {
    let s = server().await;
    let d = call(&s, "get_service_dependencies", json!({})).await.expect("dependencies");
    assert_eq!(
        d,
        json!({"dependencies": [
            {"caller": "cart", "callee": "db", "call_count": 1},
            {"caller": "frontend", "callee": "cart", "call_count": 1},
            {"caller": "frontend", "callee": "payment", "call_count": 1},
        ]})
    );
    let bad = call(&s, "get_service_dependencies", json!({"start_time": "now", "end_time": "-1h"})).await.expect_err("backwards");
    assert_eq!(bad, "start_time must be before end_time");
}

#[tokio::test]
async fn wrong_arguments_are_explained() {
    let s = server().await;
    let e = call(&s, "get_critical_path", json!({"trace_id": 7})).await.expect_err("not a string");
    assert!(e.starts_with("invalid arguments:"), "{e}");
    assert!(s.call("read_skill", serde_json::Map::new()).await.is_none(), "not a tool here");
}

/// POSTs one JSON-RPC message to `path` and returns the status, the session header and the
/// first JSON message of the answer (an event stream's `data:` line, or the JSON body).
async fn post(app: &axum::Router, path: &str, session: Option<&str>, body: Json) -> (StatusCode, Option<String>, Json) {
    let mut request = Request::post(path)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("host", "gateway.example:16686");
    if let Some(id) = session {
        request = request.header("mcp-session-id", id).header("mcp-protocol-version", "2025-06-18");
    }
    let response = app.clone().oneshot(request.body(Body::from(body.to_string())).expect("request")).await.expect("response");
    let status = response.status();
    let session = response.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut body = response.into_body();
    let mut text = String::new();
    // Read until the first complete message: an event stream stays open after it.
    while let Some(frame) = body.frame().await {
        if let Some(data) = frame.expect("body frame").data_ref() {
            text.push_str(&String::from_utf8_lossy(data));
        }
        if let Some(message) = first_message(&text) {
            return (status, session, message);
        }
    }
    (status, session, first_message(&text).unwrap_or(Json::Null))
}

fn first_message(text: &str) -> Option<Json> {
    if let Ok(json) = serde_json::from_str(text) {
        return Some(json);
    }
    text.lines().filter_map(|l| l.strip_prefix("data:")).find_map(|d| serde_json::from_str(d.trim()).ok())
}

#[tokio::test]
async fn the_endpoint_speaks_streamable_http_under_the_base_path() {
    let store = MemoryStore::new(10);
    store.export(checkout(base())).await.expect("export");
    let state = Arc::new(ApiState { reader: Arc::new(store), max_clock_skew: Default::default(), live: Default::default(), bounds: Default::default() });
    let shutdown = tokio_util::sync::CancellationToken::new();
    let app = super::router(state, &McpConfig::default(), Some("/jaeger"), shutdown.clone());
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}});
    let (status, session, answer) = post(&app, "/jaeger/api/ai/mcp/", None, init).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let session = session.expect("a session id");
    assert_eq!(answer["result"]["serverInfo"]["name"], "tracegate");
    assert!(answer["result"]["capabilities"]["tools"].is_object(), "{answer}");
    let (status, _, _) = post(&app, "/jaeger/api/ai/mcp/", Some(&session), json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, _, tools) = post(&app, "/jaeger/api/ai/mcp/", Some(&session), json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = tools["result"]["tools"].as_array().expect("tools").iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(
        names,
        ["get_services", "get_span_names", "search_traces", "get_span_details", "get_trace_errors", "get_trace_topology", "get_critical_path", "get_service_dependencies"]
    );
    let errors = &tools["result"]["tools"][4];
    assert_eq!(errors["inputSchema"]["required"], json!(["trace_id"]), "{errors}");
    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "get_services", "arguments": {}}});
    let (_, _, answer) = post(&app, "/jaeger/api/ai/mcp/", Some(&session), call).await;
    assert_eq!(answer["result"]["structuredContent"]["services"], json!(["cart", "db", "frontend", "payment"]));
    let (status, _, _) = post(&app, "/api/ai/mcp/", None, json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "only under the base path");
    shutdown.cancel();
}

#[tokio::test]
async fn sessions_past_max_sessions_are_refused_until_one_ends() {
    let store = MemoryStore::new(10);
    let state = Arc::new(ApiState { reader: Arc::new(store), max_clock_skew: Default::default(), live: Default::default(), bounds: Default::default() });
    let shutdown = tokio_util::sync::CancellationToken::new();
    let app = super::router(state, &McpConfig { max_sessions: 1, ..McpConfig::default() }, None, shutdown.clone());
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}});
    let (status, first, _) = post(&app, "/api/ai/mcp/", None, init.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let first = first.expect("a session");
    let refused = app.clone().oneshot(Request::post("/api/ai/mcp/")
        .header("host", "gateway.example:16686")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(Body::from(init.to_string())).expect("request")).await.expect("response");
    assert!(refused.status().is_server_error(), "{}", refused.status());
    let body = refused.into_body().collect().await.expect("body").to_bytes();
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("max_sessions of 1"), "{text}");
    let ended = app.clone().oneshot(Request::delete("/api/ai/mcp/").header("host", "gateway.example:16686").header("mcp-session-id", &first)
        .header("mcp-protocol-version", "2025-06-18").body(Body::empty()).expect("request")).await.expect("response");
    assert!(ended.status().is_success(), "{}", ended.status());
    // The place comes free once the session's task has closed it.
    let mut status = StatusCode::INTERNAL_SERVER_ERROR;
    for _ in 0..1000 {
        (status, _, _) = post(&app, "/api/ai/mcp/", None, init.clone()).await;
        if status == StatusCode::OK {
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(status, StatusCode::OK, "a new session after the first ended");
    shutdown.cancel();
}
