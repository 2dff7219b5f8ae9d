//! `/api/v3/*`: OTLP JSON in `{"result": ...}` and the gRPC gateway's error shape.

use axum::http::StatusCode;
use serde_json::json;

use super::fixture::*;

/// OTLP JSON always writes all 32 hex characters.
const TRACE_A_OTLP: &str = "000000000000000000000000000000a1";

fn v3_error(code: u16, message: &str) -> String {
    format!("{}\n", json!({"error": {"httpCode": code, "message": message}}))
}

async fn assert_v3_error(app: &axum::Router, uri: &str, code: StatusCode, message: &str) {
    let reply = get(app, uri).await;
    assert_eq!(reply.status, code, "{uri}: {}", reply.body);
    assert_eq!(reply.body, v3_error(code.as_u16(), message), "{uri}");
}

#[tokio::test]
async fn services_and_operations() {
    let (app, _) = app().await;
    let reply = get(&app, "/api/v3/services").await;
    assert_eq!((reply.status, reply.content_type.as_str()), (StatusCode::OK, "application/json"));
    assert_eq!(reply.json(), json!({"services": ["backend", "frontend"]}));
    let reply = get(&app, "/api/v3/operations?service=backend").await;
    assert_eq!(reply.json(), json!({"operations": [{"name": "SELECT", "spanKind": "server"}, {"name": "cleanup", "spanKind": "internal"}]}));
    let reply = get(&app, "/api/v3/operations?service=backend&span_kind=internal").await;
    assert_eq!(reply.json(), json!({"operations": [{"name": "cleanup", "spanKind": "internal"}]}));
    // Protobuf JSON leaves an empty list out.
    assert_eq!(get(&app, "/api/v3/operations?service=nobody").await.json(), json!({}));
}

#[tokio::test]
async fn trace_by_id_is_otlp_json() {
    let (app, t) = app().await;
    let reply = get(&app, &format!("/api/v3/traces/{TRACE_B_HEX}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let body = reply.json();
    let rs = &body["result"]["resourceSpans"];
    assert_eq!(rs.as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(rs[0]["resource"]["attributes"][0], json!({"key": "service.name", "value": {"stringValue": "backend"}}));
    let span = &rs[0]["scopeSpans"][0]["spans"][0];
    assert_eq!(span["traceId"], TRACE_B_HEX);
    assert_eq!(span["spanId"], "0000000000000009");
    assert_eq!(span["name"], "cleanup");
    assert_eq!(span["kind"], 1);
    assert_eq!(span["startTimeUnixNano"], json!((t + 100_000_000).to_string()));
    // Defaults are left out, as protobuf JSON does.
    let keys: Vec<&str> = span.as_object().expect("span").keys().map(String::as_str).collect();
    assert_eq!(keys, ["endTimeUnixNano", "kind", "name", "spanId", "startTimeUnixNano", "traceId"], "{span}");
    assert_eq!(rs[0]["scopeSpans"][0].as_object().map(|o| o.len()), Some(1), "no scope, no schema URL: {}", rs[0]);

    let reply = get(&app, &format!("/api/v3/traces/{TRACE_A_HEX}")).await;
    let spans: usize = reply.json()["result"]["resourceSpans"]
        .as_array()
        .expect("resourceSpans")
        .iter()
        .map(|rs| rs["scopeSpans"][0]["spans"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(spans, 4);
    let root = &reply.json()["result"]["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(root["attributes"][2], json!({"key": "n", "value": {"intValue": "42"}}), "64-bit integers are strings");

    assert_v3_error(&app, "/api/v3/traces/ab", StatusCode::NOT_FOUND, "trace not found").await;
    assert_v3_error(&app, "/api/v3/traces/xyz", StatusCode::BAD_REQUEST, "malformed parameter trace_id: strconv.ParseUint: parsing \"xyz\": invalid syntax").await;
}

fn trace_ids(reply: &Reply) -> Vec<String> {
    let mut ids: Vec<String> = reply.json()["result"]["resourceSpans"]
        .as_array()
        .expect("resourceSpans")
        .iter()
        .flat_map(|rs| rs["scopeSpans"][0]["spans"].as_array().cloned().unwrap_or_default())
        .map(|s| s["traceId"].as_str().unwrap_or("").to_string())
        .collect();
    ids.dedup();
    ids
}

#[tokio::test]
async fn find_traces_with_snake_and_camel_parameters() {
    let (app, _) = app().await;
    let window = "query.start_time_min=2000-01-01T00:00:00Z&query.start_time_max=2100-01-01T00:00:00Z";
    let reply = get(&app, &format!("/api/v3/traces?query.service_name=backend&{window}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(trace_ids(&reply), [TRACE_B_HEX, TRACE_A_OTLP]);
    let reply = get(&app, &format!("/api/v3/traces?query.serviceName=backend&query.operationName=SELECT&{window}")).await;
    assert_eq!(trace_ids(&reply), [TRACE_A_OTLP]);
    let reply = get(&app, &format!("/api/v3/traces?query.service_name=backend&query.search_depth=1&{window}")).await;
    assert_eq!(trace_ids(&reply), [TRACE_B_HEX]);
    let reply = get(&app, &format!("/api/v3/traces?query.service_name=backend&query.duration_min=40ms&{window}")).await;
    assert_eq!(trace_ids(&reply), [TRACE_B_HEX]);
    let attrs = "query.attributes=%7B%22host.name%22%3A%22h1%22%7D"; // {"host.name":"h1"}
    let reply = get(&app, &format!("/api/v3/traces?query.service_name=frontend&{attrs}&{window}")).await;
    assert_eq!(trace_ids(&reply), [TRACE_A_OTLP]);
    // A search that matches nothing: Jaeger's gateway answers 404 "No traces found".
    assert_v3_error(&app, &format!("/api/v3/traces?query.service_name=frontend&query.attributes=host.name:h2&{window}"), StatusCode::NOT_FOUND,
        "No traces found").await;

    let bad = StatusCode::BAD_REQUEST;
    assert_v3_error(&app, "/api/v3/traces?query.service_name=a", bad, "query.start_time_min and query.start_time_max are required").await;
    let reply = get(&app, "/api/v3/traces?query.service_name=a&query.start_time_min=yesterday&query.start_time_max=2100-01-01T00:00:00Z").await;
    assert_eq!(reply.status, bad);
    assert!(reply.json()["error"]["message"].as_str().is_some_and(|m| m.starts_with("malformed parameter query.start_time_min: parsing time \"yesterday\"")), "{}", reply.body);
    assert_v3_error(&app, &format!("/api/v3/traces?query.service_name=a&query.duration_min=5&{window}"), bad,
        "malformed parameter query.duration_min: time: missing unit in duration \"5\"").await;
    assert_v3_error(&app, &format!("/api/v3/traces?query.service_name=a&query.search_depth=x&{window}"), bad,
        "malformed parameter query.search_depth: strconv.Atoi: parsing \"x\": invalid syntax").await;
}

/// Jaeger 2.x: api_v3 needs only the time range; no service name searches every service.
#[tokio::test]
async fn find_traces_without_a_service_name() {
    let (app, _) = app().await;
    let window = "query.start_time_min=2000-01-01T00:00:00Z&query.start_time_max=2100-01-01T00:00:00Z";
    let reply = get(&app, &format!("/api/v3/traces?{window}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(trace_ids(&reply), [TRACE_B_HEX, TRACE_A_OTLP], "every trace, newest first");
    let reply = get(&app, &format!("/api/v3/traces?query.operation_name=SELECT&{window}")).await;
    assert_eq!(trace_ids(&reply), [TRACE_A_OTLP], "an operation of backend, found without naming it");
    let reply = get(&app, &format!("/api/v3/traces?query.operationName=cleanup&query.serviceName=&{window}")).await;
    assert_eq!(trace_ids(&reply), [TRACE_B_HEX], "an empty service name is no service name");
    let reply = get(&app, &format!("/api/v3/traces?query.attributes=attempt:2&{window}")).await;
    assert_eq!(trace_ids(&reply), [TRACE_A_OTLP], "an event attribute of frontend");
    let reply = get(&app, &format!("/api/v3/traces?query.duration_min=40ms&{window}")).await;
    assert_eq!(trace_ids(&reply), [TRACE_B_HEX], "the 50 ms span");
    // Operation and duration must hold on one span: nothing matches.
    assert_v3_error(&app, &format!("/api/v3/traces?query.operation_name=SELECT&query.duration_min=40ms&{window}"), StatusCode::NOT_FOUND,
        "No traces found").await;
    assert_v3_error(&app, "/api/v3/traces?query.operation_name=SELECT", StatusCode::BAD_REQUEST,
        "query.start_time_min and query.start_time_max are required").await;
}
