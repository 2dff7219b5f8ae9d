//! `/api/*`: Jaeger's v1 HTTP API, shapes and errors.

use axum::http::StatusCode;
use serde_json::json;

use super::fixture::*;

#[tokio::test]
async fn services_and_operations() {
    let (app, _) = app().await;
    let reply = get(&app, "/api/services").await;
    assert_eq!((reply.status, reply.content_type.as_str()), (StatusCode::OK, "application/json"));
    assert_eq!(reply.body, "{\"data\":[\"backend\",\"frontend\"],\"total\":2,\"limit\":0,\"offset\":0,\"errors\":null}\n");

    let reply = get(&app, "/api/services/frontend/operations").await;
    assert_eq!(reply.json(), json!({"data": ["GET /", "query", "render"], "total": 3, "limit": 0, "offset": 0, "errors": null}));
    // Jaeger's nil slice: `null`, not `[]`.
    let reply = get(&app, "/api/services/nobody/operations").await;
    assert_eq!(reply.json(), json!({"data": null, "total": 0, "limit": 0, "offset": 0, "errors": null}));

    let reply = get(&app, "/api/operations?service=frontend&spanKind=server").await;
    assert_eq!(reply.json()["data"], json!([{"name": "GET /", "spanKind": "server"}]));
    let reply = get(&app, "/api/operations?service=frontend").await;
    assert_eq!(
        reply.json(),
        json!({"data": [{"name": "GET /", "spanKind": "server"}, {"name": "query", "spanKind": "client"},
            {"name": "render", "spanKind": "internal"}], "total": 3, "limit": 0, "offset": 0, "errors": null})
    );
    assert_bad_request(&app, "/api/operations", "parameter 'service' is required").await;
}

#[tokio::test]
async fn trace_by_id_in_jaegers_ui_model() {
    let (app, t) = app().await;
    let reply = get(&app, &format!("/api/traces/{TRACE_A_HEX}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let body = reply.json();
    assert_eq!((body["total"].clone(), body["errors"].clone()), (json!(0), json!(null)));
    let trace = &body["data"][0];
    assert_eq!(trace["traceID"], TRACE_A_HEX);
    assert_eq!(trace["warnings"], json!(null));
    let start = micros(t);
    let tag = |k: &str, ty: &str, v: serde_json::Value| json!({"key": k, "type": ty, "value": v});
    assert_eq!(
        trace["spans"][0],
        json!({
            "traceID": TRACE_A_HEX, "spanID": "0000000000000001", "flags": 1, "operationName": "GET /",
            "references": [], "startTime": start, "duration": 10_000,
            "tags": [
                tag("http.method", "string", json!("GET")), tag("ok", "bool", json!(true)),
                tag("n", "int64", json!(42)), tag("ratio", "float64", json!(1.5)),
                tag("whole", "float64", json!(2)), tag("raw", "binary", json!("AQID")),
                tag("span.kind", "string", json!("server")), tag("otel.status_code", "string", json!("OK")),
            ],
            "logs": [{"timestamp": start + 1000, "fields": [tag("event", "string", json!("retry")), tag("attempt", "int64", json!(2))]}],
            "processID": "p1", "warnings": null,
        })
    );
    // `flags` is left out when zero, as Go's omitempty does; a link is FOLLOWS_FROM.
    assert_eq!(
        trace["spans"][1],
        json!({
            "traceID": TRACE_A_HEX, "spanID": "0000000000000002", "operationName": "query",
            "references": [
                {"refType": "CHILD_OF", "traceID": TRACE_A_HEX, "spanID": "0000000000000001"},
                {"refType": "FOLLOWS_FROM", "traceID": TRACE_B_HEX, "spanID": "0000000000000009"},
            ],
            "startTime": start + 1000, "duration": 4000, "tags": [tag("span.kind", "string", json!("client"))],
            "logs": [], "processID": "p1", "warnings": null,
        })
    );
    let pids: Vec<&str> = trace["spans"].as_array().expect("spans").iter().map(|s| s["processID"].as_str().unwrap_or("")).collect();
    assert_eq!(pids, ["p1", "p1", "p2", "p1"], "identical processes share a key, numbered by first appearance");
    assert_eq!(
        trace["processes"],
        json!({
            "p1": {"serviceName": "frontend", "tags": [tag("host.name", "string", json!("h1"))]},
            "p2": {"serviceName": "backend", "tags": [tag("host.name", "string", json!("h2"))]},
        })
    );

    let reply = get(&app, &format!("/api/traces/{TRACE_B_HEX}")).await;
    let trace = &reply.json()["data"][0];
    assert_eq!((trace["traceID"].as_str(), trace["spans"][0]["traceID"].as_str()), (Some(TRACE_B_HEX), Some(TRACE_B_HEX)));
    assert_eq!(trace["spans"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn missing_and_malformed_trace_ids() {
    let (app, _) = app().await;
    let reply = get(&app, "/api/traces/ab").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(
        reply.body,
        "{\"data\":null,\"total\":0,\"limit\":0,\"offset\":0,\"errors\":[{\"code\":404,\"msg\":\"trace not found\"}]}\n"
    );
    assert_bad_request(&app, "/api/traces/xyz", "strconv.ParseUint: parsing \"xyz\": invalid syntax").await;
    let long = "a".repeat(33);
    assert_bad_request(&app, &format!("/api/traces/{long}"), &format!("TraceID cannot be longer than 32 hex characters: {long}")).await;
}

fn ids(reply: &Reply) -> Vec<String> {
    reply.json()["data"].as_array().expect("data").iter().map(|t| t["traceID"].as_str().unwrap_or("").to_string()).collect()
}

#[tokio::test]
async fn search_by_each_parameter() {
    let (app, t) = app().await;
    let reply = get(&app, "/api/traces?service=frontend").await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    assert_eq!((body["total"].clone(), body["limit"].clone(), body["errors"].clone()), (json!(0), json!(0), json!(null)));
    assert_eq!(ids(&reply), [TRACE_A_HEX]);
    assert_eq!(ids(&get(&app, "/api/traces?service=backend").await), [TRACE_B_HEX, TRACE_A_HEX], "newest first");
    assert_eq!(ids(&get(&app, "/api/traces?service=backend&limit=1").await), [TRACE_B_HEX]);
    assert_eq!(ids(&get(&app, "/api/traces?service=backend&operation=SELECT").await), [TRACE_A_HEX]);
    assert_eq!(ids(&get(&app, "/api/traces?service=frontend&tag=http.method:GET&tag=n:42").await), [TRACE_A_HEX]);
    assert!(ids(&get(&app, "/api/traces?service=frontend&tag=http.method:POST").await).is_empty());
    let tags = "%7B%22attempt%22%3A%222%22%7D"; // {"attempt":"2"}: a log field
    assert_eq!(ids(&get(&app, &format!("/api/traces?service=frontend&tags={tags}")).await), [TRACE_A_HEX]);
    assert_eq!(ids(&get(&app, "/api/traces?service=backend&minDuration=40ms").await), [TRACE_B_HEX]);
    assert_eq!(ids(&get(&app, "/api/traces?service=backend&maxDuration=2ms").await), [TRACE_A_HEX]);
    let (s, e) = (micros(t) + 50_000, micros(t) + 200_000);
    assert_eq!(ids(&get(&app, &format!("/api/traces?service=backend&start={s}&end={e}")).await), [TRACE_B_HEX]);
    assert!(ids(&get(&app, "/api/traces?service=backend&start=1&end=2&lookback=1h").await).is_empty());

    // By id, with a missing one reported beside the found one.
    let reply = get(&app, &format!("/api/traces?traceID={TRACE_B_HEX}&traceID=ff")).await;
    let body = reply.json();
    assert_eq!(ids(&reply), [TRACE_B_HEX]);
    assert_eq!(body["errors"], json!([{"msg": "trace not found", "traceID": "00000000000000ff"}]));
}

#[tokio::test]
async fn search_parameter_errors_are_400_with_jaegers_text() {
    let (app, _) = app().await;
    for (query, msg) in [
        ("", "parameter 'service' is required"),
        // Jaeger v1's API keeps requiring a service, whatever else narrows the search.
        ("operation=SELECT&tag=http.method:GET&minDuration=1ms", "parameter 'service' is required"),
        ("service=a&minDuration=abc", "unable to parse param 'minDuration': time: invalid duration \"abc\""),
        ("service=a&maxDuration=10", "unable to parse param 'maxDuration': time: missing unit in duration \"10\""),
        ("service=a&minDuration=2s&maxDuration=1s", "'maxDuration' should be greater than 'minDuration'"),
        ("service=a&limit=ten", "strconv.ParseInt: parsing \"ten\": invalid syntax"),
        ("service=a&start=yesterday", "unable to parse param 'start': strconv.ParseInt: parsing \"yesterday\": invalid syntax"),
        ("service=a&tag=novalue", "malformed 'tag' parameter, expecting key:value, received: novalue"),
        ("traceID=zz", "cannot parse traceID param: strconv.ParseUint: parsing \"zz\": invalid syntax"),
    ] {
        assert_bad_request(&app, &format!("/api/traces?{query}"), msg).await;
    }
    let reply = get(&app, "/api/traces?service=a&tags=%7Bbad").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.json()["errors"][0]["msg"].as_str().is_some_and(|m| m.starts_with("malformed 'tags' parameter, cannot unmarshal JSON: ")));
}

#[tokio::test]
async fn dependencies_pretty_print_and_raw() {
    let (app, t) = app().await;
    let reply = get(&app, "/api/dependencies").await;
    assert_eq!(
        reply.json(),
        json!({"data": [{"parent": "frontend", "child": "backend", "callCount": 1}], "total": 0, "limit": 0, "offset": 0, "errors": null})
    );
    let end_ms = t / 1_000_000 - 1000;
    let reply = get(&app, &format!("/api/dependencies?endTs={end_ms}&lookback=1000")).await;
    assert_eq!(reply.json()["data"], json!([]));
    let reply = get(&app, "/api/dependencies?service=nobody").await;
    assert_eq!(reply.json()["data"], json!([]));
    assert_bad_request(&app, "/api/dependencies?endTs=x", "unable to parse param 'endTs': strconv.ParseInt: parsing \"x\": invalid syntax").await;
    assert_bad_request(&app, "/api/dependencies?lookback=1h", "unable to parse param 'lookback': strconv.ParseInt: parsing \"1h\": invalid syntax").await;

    let reply = get(&app, "/api/services?prettyPrint=true").await;
    assert!(reply.body.starts_with("{\n    \"data\": [\n        \"backend\","), "{}", reply.body);
    let reply = get(&app, "/api/services?prettyPrint=false").await;
    assert!(reply.body.starts_with("{\"data\""), "{}", reply.body);
}

#[tokio::test]
async fn index_page_and_base_path() {
    let (store, _) = store().await;
    let based = app_with(&store, std::time::Duration::ZERO, Some("/jaeger/")).await;
    let page = get(&based, "/jaeger/").await;
    assert_eq!((page.status, page.content_type.as_str()), (StatusCode::OK, "text/html; charset=utf-8"));
    assert!(page.body.contains("href=\"api/services\""), "{}", page.body);
    assert_eq!(get(&based, "/jaeger/api/services").await.json()["total"], 2);
    assert_eq!(get(&based, "/jaeger/api/v3/services").await.status, StatusCode::OK);
    assert_eq!(get(&based, "/api/services").await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&based, "/jaeger").await.status, StatusCode::PERMANENT_REDIRECT);
    let (root, _) = app().await;
    assert!(get(&root, "/").await.body.contains("<base href=\"/\">"));
}
