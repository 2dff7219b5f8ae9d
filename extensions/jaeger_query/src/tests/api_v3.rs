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
    let reply = get(&app, "/api/v3/operations?service=backend&spanKind=server").await;
    assert_eq!(reply.json(), json!({"operations": [{"name": "SELECT", "spanKind": "server"}]}), "the canonical spelling");
    // The gateway hands protojson a non-nil slice: an empty list is written, not left out.
    assert_eq!(get(&app, "/api/v3/operations?service=nobody").await.body, "{\"operations\":[]}");
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

    // Jaeger 2.x's reader yields nothing for an unknown id: the gateway's empty answer.
    assert_v3_error(&app, "/api/v3/traces/ab", StatusCode::NOT_FOUND, "No traces found").await;
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
    assert_v3_error(&app, "/api/v3/traces?query.service_name=a", bad, "query.startTimeMin and query.startTimeMax are required").await;
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
        "query.startTimeMin and query.startTimeMax are required").await;
}

/// `/api/v3/trace-summaries` with `window` and more parameters.
async fn summaries(app: &axum::Router, params: &str) -> Reply {
    let window = "query.startTimeMin=2000-01-01T00:00:00Z&query.startTimeMax=2100-01-01T00:00:00Z";
    get(app, &format!("/api/v3/trace-summaries?{window}{params}")).await
}

#[tokio::test]
async fn empty_lists_are_written() {
    let store = tracegate_exporter_memory::MemoryStore::new(10);
    let app = app_with(&store, std::time::Duration::ZERO, None).await;
    let reply = get(&app, "/api/v3/services").await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "{\"services\":[]}"));
    assert_eq!(summaries(&app, "").await.body, "{\"summaries\":[]}");
}

/// The gateway reports an operation stored without a span kind as `internal`.
#[tokio::test]
async fn an_unset_span_kind_reads_as_internal() {
    use tracegate_core::Exporter;
    let store = tracegate_exporter_memory::MemoryStore::new(10);
    let t = base_nanos();
    let unset = span(TRACE_A, 1, 0, "tick", 0, t, 10);
    let server = span(TRACE_A, 2, 1, "serve", 2, t, 10);
    store.export(tracegate_core::Traces::new(vec![resource(frontend(), vec![unset, server])])).await.expect("export");
    let app = app_with(&store, std::time::Duration::ZERO, None).await;
    let reply = get(&app, "/api/v3/operations?service=frontend").await;
    assert_eq!(reply.json(), json!({"operations": [{"name": "serve", "spanKind": "server"}, {"name": "tick", "spanKind": "internal"}]}));
}

/// Jaeger's `TraceIDFromString`: hex, else standard or URL-safe base64, padded or not.
#[tokio::test]
async fn trace_ids_in_hex_and_base64() {
    let (app, _) = app().await;
    // TRACE_B = 0102030405060708 1112131415161718; TRACE_A's low half is 00..00a1.
    for id in [
        TRACE_B_HEX,
        "AQIDBAUGBwgREhMUFRYXGA==",
        "AQIDBAUGBwgREhMUFRYXGA",
        "AAAAAAAAAAAAAAAAAAAAoQ==",
        "AAAAAAAAAKE=", // 8 bytes: the low half
        "a1",
    ] {
        let reply = get(&app, &format!("/api/v3/traces/{id}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{id}: {}", reply.body);
    }
    let spans = |reply: &Reply| reply.json()["result"]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"].clone();
    assert_eq!(spans(&get(&app, "/api/v3/traces/AQIDBAUGBwgREhMUFRYXGA").await), json!(TRACE_B_HEX));
    // '+' and '/' (percent-encoded in a path) and their URL-safe '-' and '_' are the same id.
    let plus = get(&app, "/api/v3/traces/EjRWeJq83vD%2B3LqYdlQyEA==").await;
    let dash = get(&app, "/api/v3/traces/EjRWeJq83vD-3LqYdlQyEA==").await;
    assert_eq!((plus.status, plus.body.as_str()), (StatusCode::NOT_FOUND, dash.body.as_str()));
    assert_eq!(dash.json(), json!({"error": {"httpCode": 404, "message": "No traces found"}}), "decoded, then not found");

    let bad = StatusCode::BAD_REQUEST;
    // "xyz" decodes as unpadded base64 to 2 bytes: Go's TraceIDFromBytes error.
    assert_v3_error(&app, "/api/v3/traces/xyz", bad, "malformed parameter trace_id: invalid length for TraceID").await;
    // Neither hex nor base64: the hex parser's error.
    assert_v3_error(&app, "/api/v3/traces/not-a-valid-id!", bad, "malformed parameter trace_id: strconv.ParseUint: parsing \"not-a-valid-id!\": invalid syntax").await;
    assert_v3_error(&app, "/api/v3/traces/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAlong", bad,
        "malformed parameter trace_id: TraceID cannot be longer than 32 hex characters: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAlong").await;
}

#[tokio::test]
async fn get_trace_parameters_are_checked_as_jaeger_checks_them() {
    let (app, _) = app().await;
    let ok = get(&app, &format!("/api/v3/traces/{TRACE_B_HEX}?startTime=2000-01-01T00:00:00Z&end_time=2100-01-01T00:00:00Z&rawTraces=true")).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let bad = StatusCode::BAD_REQUEST;
    let layout = "2006-01-02T15:04:05.999999999Z07:00";
    assert_v3_error(&app, &format!("/api/v3/traces/{TRACE_B_HEX}?startTime=abc"), bad,
        &format!("malformed parameter startTime: parsing time \"abc\" as \"{layout}\": cannot parse \"abc\" as RFC 3339")).await;
    let reply = get(&app, &format!("/api/v3/traces/{TRACE_B_HEX}?end_time=xyz")).await;
    assert!(reply.json()["error"]["message"].as_str().is_some_and(|m| m.starts_with("malformed parameter end_time: ")), "{}", reply.body);
    assert_v3_error(&app, &format!("/api/v3/traces/{TRACE_B_HEX}?rawTraces=foobar"), bad,
        "malformed parameter rawTraces: strconv.ParseBool: parsing \"foobar\": invalid syntax").await;
    assert_v3_error(&app, &format!("/api/v3/traces/{TRACE_B_HEX}?raw_traces=yes"), bad,
        "malformed parameter raw_traces: strconv.ParseBool: parsing \"yes\": invalid syntax").await;
}

#[tokio::test]
async fn search_parameters_are_checked_as_jaeger_checks_them() {
    let (app, _) = app().await;
    let bad = StatusCode::BAD_REQUEST;
    let window = "query.startTimeMin=2000-01-01T00:00:00Z&query.startTimeMax=2100-01-01T00:00:00Z";
    for path in ["/api/v3/traces", "/api/v3/trace-summaries"] {
        assert_v3_error(&app, path, bad, "query.startTimeMin and query.startTimeMax are required").await;
        // An empty value is no value.
        assert_v3_error(&app, &format!("{path}?query.startTimeMin=&query.start_time_max=2100-01-01T00:00:00Z"), bad,
            "query.startTimeMin and query.startTimeMax are required").await;
        assert_v3_error(&app, &format!("{path}?query.startTimeMin=2100-01-01T00:00:00Z&query.startTimeMax=2000-01-01T00:00:00Z"), bad,
            "query.startTimeMin must be before query.startTimeMax").await;
        // Errors name the spelling that was read.
        assert_v3_error(&app, &format!("{path}?{window}&query.durationMin=5"), bad,
            "malformed parameter query.durationMin: time: missing unit in duration \"5\"").await;
        assert_v3_error(&app, &format!("{path}?{window}&query.duration_max=1x"), bad,
            "malformed parameter query.duration_max: time: unknown unit \"x\" in duration \"1x\"").await;
        assert_v3_error(&app, &format!("{path}?{window}&query.searchDepth=x"), bad,
            "malformed parameter query.searchDepth: strconv.Atoi: parsing \"x\": invalid syntax").await;
        assert_v3_error(&app, &format!("{path}?{window}&query.num_traces=99999999999999999999"), bad,
            "malformed parameter query.num_traces: strconv.Atoi: parsing \"99999999999999999999\": value out of range").await;
        assert_v3_error(&app, &format!("{path}?{window}&query.rawTraces=maybe"), bad,
            "malformed parameter query.rawTraces: strconv.ParseBool: parsing \"maybe\": invalid syntax").await;
        // Expression search is not evaluated here: refused as by a Jaeger whose filter is off.
        assert_v3_error(&app, &format!("{path}?{window}&query.filter=%7B%7D"), bad, "the structured query filter is disabled").await;
        let reply = get(&app, &format!("{path}?{window}&query.attributes=%7Bnot-json")).await;
        assert_eq!(reply.status, bad);
        assert!(reply.json()["error"]["message"].as_str().is_some_and(|m| m.starts_with("malformed parameter query.attributes: ")), "{}", reply.body);
    }
    // The canonical spelling wins over the deprecated one.
    let reply = get(&app, &format!("/api/v3/traces?{window}&query.serviceName=backend&query.service_name=frontend&query.searchDepth=1&query.search_depth=x")).await;
    assert_eq!(trace_ids(&reply), [TRACE_B_HEX]);
}

/// Field by field, as protojson writes `api_v3.FindTraceSummariesResponse`.
#[tokio::test]
async fn trace_summaries_as_the_gateway_writes_them() {
    let (app, t) = app().await;
    let reply = summaries(&app, "&query.serviceName=frontend").await;
    assert_eq!((reply.status, reply.content_type.as_str()), (StatusCode::OK, "application/json"), "{}", reply.body);
    let a_start = t;
    let a_end = t + 10_000_000;
    assert_eq!(
        reply.json(),
        json!({"summaries": [{
            "traceId": "000000000000000000000000000000a1",
            "rootServiceName": "frontend",
            "rootOperationName": "GET /",
            "minStartTimeUnixNano": a_start.to_string(),
            "maxEndTimeUnixNano": a_end.to_string(),
            "spanCount": 4,
            "services": [{"name": "backend", "spanCount": 1}, {"name": "frontend", "spanCount": 3}],
        }]}),
        "zero counts are left out, 64-bit times are strings"
    );
    // Every trace, newest first, without a service; the depth bounds the count.
    let all = summaries(&app, "").await.json();
    let ids: Vec<_> = all["summaries"].as_array().expect("summaries").iter().map(|s| s["traceId"].clone()).collect();
    assert_eq!(ids, [json!(TRACE_B_HEX), json!("000000000000000000000000000000a1")]);
    assert_eq!(all["summaries"][0]["rootOperationName"], "cleanup");
    assert_eq!(summaries(&app, "&query.searchDepth=1").await.json()["summaries"].as_array().map(Vec::len), Some(1));
    // Nothing matches: 200 with an empty list (unlike /api/v3/traces' 404).
    let none = summaries(&app, "&query.serviceName=nobody").await;
    assert_eq!((none.status, none.body.as_str()), (StatusCode::OK, "{\"summaries\":[]}"));
}

/// An error span and an orphan: the counts appear, and the service's error count.
#[tokio::test]
async fn trace_summaries_count_errors_and_orphans() {
    use opentelemetry_proto::tonic::trace::v1::Status;
    use tracegate_core::Exporter;
    let store = tracegate_exporter_memory::MemoryStore::new(10);
    let t = base_nanos();
    let root = span(TRACE_A, 1, 0, "root", 2, t, 100);
    let mut failed = span(TRACE_A, 2, 1, "fails", 3, t + 1000, 10);
    failed.status = Some(Status { code: 2, ..Default::default() });
    let orphan = span(TRACE_A, 3, 7, "orphan", 1, t + 2000, 10);
    store.export(tracegate_core::Traces::new(vec![resource(frontend(), vec![root, failed]), resource(backend(), vec![orphan])])).await.expect("export");
    let app = app_with(&store, std::time::Duration::ZERO, None).await;
    let s = summaries(&app, "").await.json()["summaries"][0].clone();
    assert_eq!((s["spanCount"].clone(), s["errorSpanCount"].clone(), s["orphanSpanCount"].clone()), (json!(3), json!(1), json!(1)));
    assert_eq!(s["services"], json!([{"name": "backend", "spanCount": 1}, {"name": "frontend", "spanCount": 2, "errorSpanCount": 1}]));
}
