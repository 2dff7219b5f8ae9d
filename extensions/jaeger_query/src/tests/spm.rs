//! Jaeger's metrics API (`/api/metrics/*`, the Monitor tab) over a memory store's RED metrics:
//! spans with known durations and errors, answers compared with what Jaeger's handlers write.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use axum::http::StatusCode;
use opentelemetry_proto::tonic::trace::v1::Status;
use tracegate_core::storage::{DependencyLink, Operation, StorageError, TraceId, TraceQuery, TraceReader};
use tracegate_core::timefmt::rfc3339_nanos;
use tracegate_core::{Exporter, Traces};
use tracegate_exporter_memory::MemoryStore;

use super::fixture::{assert_bad_request, error_envelope, get, kv, resource, s, span};
use crate::{router, ApiState};

/// The start of the minute five minutes ago, in ms.
fn minute_ms() -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    (now / 60_000 - 5) * 60_000
}

/// In that minute: 100 `GET /cart` server spans of 1..=100 ms (the first 10 failed) and 50
/// `call db` client spans of 2 ms, all of service `shop`.
async fn filled() -> (axum::Router, u64) {
    let m = minute_ms();
    let store = MemoryStore::new(10_000);
    let mut spans = Vec::new();
    for i in 1..=100u64 {
        let mut sp = span([7; 16], (i % 250) as u8 + 1, 0, "GET /cart", 2, (m + i) * 1_000_000, i * 1000);
        sp.span_id = i.to_be_bytes().to_vec();
        if i <= 10 {
            sp.status = Some(Status { code: 2, ..Default::default() });
        }
        spans.push(sp);
    }
    for i in 1..=50u64 {
        let mut sp = span([8; 16], 1, 0, "call db", 3, (m + i) * 1_000_000, 2000);
        sp.span_id = (1000 + i).to_be_bytes().to_vec();
        spans.push(sp);
    }
    store.export(Traces::new(vec![resource(vec![kv("service.name", s("shop"))], spans)])).await.expect("export");
    let state = Arc::new(ApiState { reader: Arc::new(store), max_clock_skew: Duration::ZERO, live: Default::default(), bounds: Default::default() });
    (router(state, None), m)
}

fn ts(ms: u64) -> String {
    rfc3339_nanos(ms * 1_000_000)
}

/// Three points a minute apart from the end of the data's minute, each looking back ten
/// minutes (a point's window is the minutes that start in `[t - 10 min, t)`).
fn window(m: u64) -> String {
    format!("endTs={}&lookback=120000&step=60000&ratePer=600000", m + 180_000)
}

fn series(labels: &str, values: &[(u64, &str)]) -> String {
    let points: Vec<String> =
        values.iter().map(|(t, v)| format!("{{\"gaugeValue\":{{\"doubleValue\":{v}}},\"timestamp\":\"{}\"}}", ts(*t))).collect();
    format!("{{\"labels\":[{labels}],\"metricPoints\":[{}]}}", points.join(","))
}

#[tokio::test]
async fn calls_and_errors_are_jaegers_metric_families_of_the_known_spans() {
    let (app, m) = filled().await;
    let points = |v: &'static str| [(m + 60_000, v), (m + 120_000, v), (m + 180_000, v)];
    let shop = r#"{"name":"service_name","value":"shop"}"#;

    let reply = get(&app, &format!("/api/metrics/calls?service=shop&{}", window(m))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.content_type, "application/json");
    // 100 server calls in a ten-minute window: 100/600 per second.
    let want = format!(
        r#"{{"name":"service_call_rate","type":"GAUGE","help":"calls/sec, grouped by service","metrics":[{}]}}"#,
        series(shop, &points("0.16666666666666666"))
    );
    assert_eq!(reply.body, want);

    let reply = get(&app, &format!("/api/metrics/errors?service=shop&{}", window(m))).await;
    let want = format!(
        r#"{{"name":"service_error_rate","type":"GAUGE","help":"error rate, computed as a fraction of errors/sec over calls/sec, grouped by service","metrics":[{}]}}"#,
        series(shop, &points("0.1"))
    );
    assert_eq!(reply.body, want);

    // Client spans, by operation: 50 calls, no errors.
    let reply = get(&app, &format!("/api/metrics/errors?service=shop&spanKind=client&groupByOperation=true&{}", window(m))).await;
    let want = format!(
        r#"{{"name":"service_operation_error_rate","type":"GAUGE","help":"error rate, computed as a fraction of errors/sec over calls/sec, grouped by service & operation","metrics":[{}]}}"#,
        series(&format!(r#"{shop},{{"name":"operation","value":"call db"}}"#), &points("0"))
    );
    assert_eq!(reply.body, want);

    // A service with no spans: a family without metrics, as jsonpb leaves out an empty list.
    let reply = get(&app, &format!("/api/metrics/calls?service=nobody&{}", window(m))).await;
    assert_eq!(reply.body, r#"{"name":"service_call_rate","type":"GAUGE","help":"calls/sec, grouped by service"}"#);
}

#[tokio::test]
async fn latency_quantiles_are_within_the_histograms_error() {
    let (app, m) = filled().await;
    for (q, want_ms) in [(0.5, 50.0), (0.75, 75.0), (0.95, 95.0), (0.99, 99.0)] {
        let reply = get(&app, &format!("/api/metrics/latencies?service=shop&quantile={q}&groupByOperation=true&{}", window(m))).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let json = reply.json();
        assert_eq!(json["name"], "service_operation_latencies");
        assert_eq!(json["help"], format!("{q:.2}th quantile latency, grouped by service & operation"));
        let metric = &json["metrics"][0];
        assert_eq!(metric["labels"][1]["value"], "GET /cart");
        let points = metric["metricPoints"].as_array().cloned().unwrap_or_default();
        assert_eq!(points.len(), 3);
        for p in points {
            let got = p["gaugeValue"]["doubleValue"].as_f64().unwrap_or(f64::NAN);
            assert!((got - want_ms).abs() / want_ms <= 0.125, "p{q}: {got} ms against {want_ms}");
        }
    }
}

#[tokio::test]
async fn bad_parameters_answer_as_jaeger_does() {
    let (app, m) = filled().await;
    assert_bad_request(&app, "/api/metrics/calls", "unable to parse param 'service': please provide at least one service name").await;
    assert_bad_request(&app, "/api/metrics/latencies?service=shop", "unable to parse param 'quantile': strconv.ParseFloat: parsing \"\": invalid syntax").await;
    assert_bad_request(&app, "/api/metrics/calls?service=shop&spanKind=server&spanKind=rpc", "unable to parse param 'spanKind': unsupported span kind: 'rpc'").await;
    assert_bad_request(&app, "/api/metrics/calls?service=shop&lookback=1h", "unable to parse param 'lookback': strconv.ParseInt: parsing \"1h\": invalid syntax").await;
    let reply = get(&app, &format!("/api/metrics/calls?service=shop&endTs={m}&step=0")).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        reply.body,
        error_envelope(500, "failed executing metrics query: bad_data: zero or negative query resolution step widths are not accepted. Try a positive integer")
    );
    let reply = get(&app, "/api/metrics/minstep").await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "{\"data\":60000,\"total\":0,\"limit\":0,\"offset\":0,\"errors\":null}\n"));
}

/// The memory store with its metrics hidden: a store that keeps none (Elasticsearch).
struct NoMetrics(MemoryStore);

#[async_trait]
impl TraceReader for NoMetrics {
    async fn get_trace(&self, id: TraceId) -> Result<Option<Traces>, StorageError> {
        self.0.get_trace(id).await
    }
    async fn services(&self) -> Result<Vec<String>, StorageError> {
        self.0.services().await
    }
    async fn operations(&self, service: &str, kind: Option<&str>) -> Result<Vec<Operation>, StorageError> {
        self.0.operations(service, kind).await
    }
    async fn find_trace_ids(&self, query: &TraceQuery) -> Result<Vec<TraceId>, StorageError> {
        self.0.find_trace_ids(query).await
    }
    async fn dependencies(&self, end: SystemTime, lookback: Duration) -> Result<Vec<DependencyLink>, StorageError> {
        self.0.dependencies(end, lookback).await
    }
}

#[tokio::test]
async fn a_store_without_metrics_answers_501_as_jaeger_without_a_metrics_store() {
    let reader = Arc::new(NoMetrics(MemoryStore::new(10)));
    let app = router(Arc::new(ApiState { reader, max_clock_skew: Duration::ZERO, live: Default::default(), bounds: Default::default() }), None);
    for uri in ["/api/metrics/calls?service=a", "/api/metrics/errors?service=a", "/api/metrics/latencies?service=a&quantile=0.95", "/api/metrics/minstep"] {
        let reply = get(&app, uri).await;
        assert_eq!(reply.status, StatusCode::NOT_IMPLEMENTED, "{uri}");
        assert_eq!(reply.body, error_envelope(501, "metrics querying is currently disabled"), "{uri}");
    }
    // Parameters are checked first, as Jaeger parses before it asks the store.
    assert_bad_request(&app, "/api/metrics/calls", "unable to parse param 'service': please provide at least one service name").await;
}
