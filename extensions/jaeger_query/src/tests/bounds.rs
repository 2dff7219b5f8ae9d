//! The bounds on query answers (issue 15): limit clamped with a note, answers cut at the byte
//! budget, 504 past the time budget, and the concurrency gate, over a memory store, a slow one
//! and one that holds every call until the test lets it go.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use axum::http::StatusCode;
use tokio::sync::Semaphore;
use tracegate_core::storage::{DependencyLink, Operation, StorageError, TraceId, TraceQuery, TraceReader};
use tracegate_core::config::GoDuration;
use tracegate_core::{Exporter, Traces};
use tracegate_exporter_memory::MemoryStore;

use super::fixture::*;
use crate::config::ByteSize;
use crate::{router, ApiState, Config, QueryBounds, QueryMetrics};

/// A trace id whose low byte is `n`.
fn id(n: u8) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[0] = 0x10;
    id[15] = n;
    id
}

/// `count` traces of service `svc`, each of `spans` spans with a 200-byte attribute, trace
/// `n` starting `n` ms after the base time (so the highest `n` is the newest).
async fn filled_store(count: u8, spans: u8) -> MemoryStore {
    let store = MemoryStore::new(1000);
    let t = base_nanos();
    let mut batches = Vec::new();
    for n in 0..count {
        let start = t + u64::from(n) * 1_000_000;
        let list = (1..=spans)
            .map(|i| {
                let mut sp = span(id(n), i, if i == 1 { 0 } else { 1 }, "work", 1, start + u64::from(i) * 1000, 500);
                sp.attributes = vec![kv("payload", s(&"x".repeat(200)))];
                sp
            })
            .collect();
        batches.push(resource(vec![kv("service.name", s("svc"))], list));
    }
    store.export(Traces::new(batches)).await.expect("memory export");
    store
}

fn bounds(edit: impl FnOnce(&mut Config)) -> QueryBounds {
    let mut config = Config::default();
    edit(&mut config);
    QueryBounds::new(&config, QueryMetrics::new("jaeger_query"))
}

fn app_over(reader: Arc<dyn TraceReader>, bounds: QueryBounds) -> (axum::Router, Arc<ApiState>) {
    let state = Arc::new(ApiState { reader, max_clock_skew: Duration::ZERO, live: Default::default(), bounds });
    (router(state.clone(), None), state)
}

fn trace_ids(body: &serde_json::Value) -> Vec<String> {
    body["data"].as_array().expect("data").iter().map(|t| t["traceID"].as_str().unwrap_or_default().to_string()).collect()
}

fn warnings(reply: &Reply) -> Vec<String> {
    reply.headers.get_all("warning").iter().map(|v| v.to_str().unwrap_or_default().to_string()).collect()
}

#[tokio::test]
async fn a_limit_above_max_limit_is_clamped_and_a_full_answer_says_so() {
    let store = filled_store(5, 2).await;
    let (app, state) = app_over(Arc::new(store), bounds(|c| c.max_limit = 3));

    let reply = get(&app, "/api/traces?service=svc&limit=100000000").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let body = reply.json();
    assert_eq!(trace_ids(&body), [4, 3, 2].map(|n| crate::model::hex(&id(n))));
    let note = "limit 100000000 is above this server's max_limit of 3: the newest 3 traces are returned and more may match; narrow the search (time range, operation, tags) to see the others";
    assert_eq!(body["errors"], serde_json::json!([{"msg": note}]));
    assert_eq!(warnings(&reply), [format!("299 - \"{note}\"")]);
    assert_eq!(state.bounds.metrics.count("truncated", &["/api/traces", "max_limit"]), 1);

    // Within the maximum, or clamped but not full: nothing hidden, nothing said.
    let reply = get(&app, "/api/traces?service=svc&limit=2").await;
    assert_eq!((trace_ids(&reply.json()).len(), reply.json()["errors"].clone()), (2, serde_json::Value::Null));
    let (app, _) = app_over(Arc::new(filled_store(2, 1).await), bounds(|c| c.max_limit = 3));
    let reply = get(&app, "/api/traces?service=svc&limit=50").await;
    assert_eq!((trace_ids(&reply.json()).len(), reply.json()["errors"].clone(), warnings(&reply).len()), (2, serde_json::Value::Null, 0));

    // api_v3: `query.search_depth` is clamped the same way; the note is a header only.
    let (min, max) = ("2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z");
    let uri = format!("/api/v3/traces?query.service_name=svc&query.start_time_min={min}&query.start_time_max={max}&query.search_depth=999");
    let reply = get(&app_over(Arc::new(store_of(5).await), bounds(|c| c.max_limit = 3)).0, &uri).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["result"]["resourceSpans"].as_array().map(Vec::len), Some(3));
    assert_eq!(warnings(&reply), [format!("299 - \"{}\"", note.replace("100000000", "999"))]);
}

async fn store_of(count: u8) -> MemoryStore {
    filled_store(count, 2).await
}

#[tokio::test]
async fn a_search_over_the_byte_budget_is_cut_with_a_note_and_stays_within_it() {
    let store = filled_store(20, 20).await;
    let (full_app, _) = app_over(Arc::new(store.clone()), QueryBounds::default());
    let full = get(&full_app, "/api/traces?service=svc&limit=20").await;
    let all = trace_ids(&full.json());
    assert_eq!(all.len(), 20);
    let budget = 64 << 10;
    assert!(full.body.len() > 2 * budget, "the test needs an answer well over the budget: {}", full.body.len());

    let (app, state) = app_over(Arc::new(store), bounds(|c| c.max_response_bytes = ByteSize(budget as u64)));
    for pretty in ["false", "true"] {
        let reply = get(&app, &format!("/api/traces?service=svc&limit=20&prettyPrint={pretty}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert!(reply.body.len() <= budget, "pretty {pretty}: {} bytes", reply.body.len());
        let body = reply.json();
        let served = trace_ids(&body);
        assert!(!served.is_empty() && served.len() < 20, "pretty {pretty}: {} traces", served.len());
        assert_eq!(served, all[..served.len()], "the newest first, a prefix of the whole answer");
        let note = format!(
            "answer cut at this server's max_response_bytes of 64KiB: {} of 20 traces returned (the newest); narrow the search or lower the limit to see the others",
            served.len()
        );
        assert_eq!(body["errors"], serde_json::json!([{"msg": note}]), "pretty {pretty}");
        assert_eq!(warnings(&reply), [format!("299 - \"{note}\"")]);
    }
    assert_eq!(state.bounds.metrics.count("truncated", &["/api/traces", "max_response_bytes"]), 2);

    // By trace id: the "trace not found" entries stay, the cut note follows them.
    let ids: String = (0..20u8).rev().map(|n| format!("&traceID={}", crate::model::hex(&id(n)))).collect();
    let reply = get(&app, &format!("/api/traces?traceID=ffff{ids}")).await;
    assert!(reply.body.len() <= budget, "{} bytes", reply.body.len());
    let errors = reply.json()["errors"].clone();
    assert_eq!(errors[0], serde_json::json!({"msg": "trace not found", "traceID": "000000000000ffff"}));
    assert!(errors[1]["msg"].as_str().unwrap_or_default().starts_with("answer cut at"), "{errors}");

    // api_v3: the same cut, said in a header.
    let (min, max) = ("2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z");
    let uri = format!("/api/v3/traces?query.service_name=svc&query.start_time_min={min}&query.start_time_max={max}&query.search_depth=20");
    let reply = get(&app, &uri).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.body.len() <= budget, "{} bytes", reply.body.len());
    let groups = reply.json()["result"]["resourceSpans"].as_array().map(Vec::len).unwrap_or_default();
    assert!(groups > 0 && groups < 20, "{groups}");
    assert!(warnings(&reply)[0].starts_with(&format!("299 - \"answer cut at this server's max_response_bytes of 64KiB: {groups} of 20")), "{:?}", warnings(&reply));
    assert_eq!(state.bounds.metrics.count("truncated", &["/api/v3/traces", "max_response_bytes"]), 1);
}

#[tokio::test]
async fn one_trace_over_the_budget_answers_422_with_the_reason() {
    let store = filled_store(1, 250).await;
    let (app, state) = app_over(Arc::new(store), bounds(|c| c.max_response_bytes = ByteSize(64 << 10)));
    let hex = crate::model::hex(&id(0));
    let msg = format!("trace {hex} (250 spans) does not fit in this server's max_response_bytes of 64KiB; raise max_response_bytes to read it");
    let reply = get(&app, &format!("/api/traces/{hex}")).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
    assert_eq!(reply.body, error_envelope(422, &msg));
    let reply = get(&app, &format!("/api/v3/traces/{hex}")).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.json(), serde_json::json!({"error": {"httpCode": 422, "message": msg}}));
    assert_eq!(state.bounds.metrics.count("refused", &["/api/traces/{trace_id}", "too_large"]), 1);
    assert_eq!(state.bounds.metrics.count("refused", &["/api/v3/traces/{trace_id}", "too_large"]), 1);
    // A search holding only that trace serves none of it, and says why.
    let reply = get(&app, "/api/traces?service=svc").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(trace_ids(&reply.json()).len(), 0);
    assert!(reply.json()["errors"][0]["msg"].as_str().unwrap_or_default().contains("0 of 1 traces returned"));
}

/// A store whose expensive calls wait for the gate (when there is one), then for `delay_ms`.
struct HeldReader {
    inner: MemoryStore,
    delay_ms: AtomicU64,
    gate: Option<Semaphore>,
    entered: AtomicUsize,
}

impl HeldReader {
    fn new(inner: MemoryStore, delay: Duration, gated: bool) -> Arc<Self> {
        Arc::new(Self {
            inner,
            delay_ms: AtomicU64::new(delay.as_millis() as u64),
            gate: gated.then(|| Semaphore::new(0)),
            entered: AtomicUsize::new(0),
        })
    }

    async fn hold(&self) {
        self.entered.fetch_add(1, Ordering::SeqCst);
        if let Some(gate) = &self.gate {
            drop(gate.acquire().await);
        }
        tokio::time::sleep(Duration::from_millis(self.delay_ms.load(Ordering::SeqCst))).await;
    }

    fn open(&self) {
        if let Some(gate) = &self.gate {
            gate.add_permits(1);
        }
    }
}

#[async_trait]
impl TraceReader for HeldReader {
    async fn get_trace(&self, id: TraceId) -> Result<Option<Traces>, StorageError> {
        self.hold().await;
        self.inner.get_trace(id).await
    }
    async fn services(&self) -> Result<Vec<String>, StorageError> {
        self.inner.services().await
    }
    async fn operations(&self, service: &str, span_kind: Option<&str>) -> Result<Vec<Operation>, StorageError> {
        self.inner.operations(service, span_kind).await
    }
    async fn find_trace_ids(&self, query: &TraceQuery) -> Result<Vec<TraceId>, StorageError> {
        self.hold().await;
        self.inner.find_trace_ids(query).await
    }
    async fn find_traces(&self, query: &TraceQuery) -> Result<Vec<Traces>, StorageError> {
        self.hold().await;
        self.inner.find_traces(query).await
    }
    async fn dependencies(&self, end: SystemTime, lookback: Duration) -> Result<Vec<DependencyLink>, StorageError> {
        self.hold().await;
        self.inner.dependencies(end, lookback).await
    }
}

async fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_slow_store_answers_504_after_the_timeout_while_lists_still_answer() {
    let (store, _) = store().await;
    let reader = HeldReader::new(store, Duration::from_secs(30), false);
    let (app, state) = app_over(reader.clone(), bounds(|c| c.query_timeout = GoDuration(Duration::from_millis(200))));
    let msg = "the query ran past this server's query_timeout of 200ms and was abandoned; narrow it (a shorter time range, an operation or tags, a smaller limit) or raise query_timeout";
    for uri in ["/api/traces?service=frontend", &format!("/api/traces/{TRACE_A_HEX}"), "/api/dependencies"] {
        let started = Instant::now();
        let reply = get(&app, uri).await;
        assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT, "{uri}: {}", reply.body);
        assert_eq!(reply.body, error_envelope(504, msg), "{uri}");
        assert!(started.elapsed() < Duration::from_secs(5), "{uri}: {:?}", started.elapsed());
    }
    let reply = get(&app, "/api/v3/traces?query.start_time_min=2000-01-01T00:00:00Z&query.start_time_max=2100-01-01T00:00:00Z").await;
    assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(reply.json(), serde_json::json!({"error": {"httpCode": 504, "message": msg}}));
    assert_eq!(state.bounds.metrics.count("timed_out", &["/api/traces"]), 1);
    assert_eq!(state.bounds.metrics.count("timed_out", &["/api/dependencies"]), 1);
    assert_eq!(state.bounds.metrics.count("timed_out", &["/api/v3/traces"]), 1);
    // Cheap lists do not wait for a slot, even with all four held by abandoned store work.
    assert_eq!(state.bounds.metrics.running.get(), 4);
    assert_eq!(get(&app, "/api/services").await.status, StatusCode::OK);
    assert_eq!(get(&app, "/api/v3/operations?service=frontend").await.status, StatusCode::OK);
}

#[tokio::test]
async fn abandoned_store_work_keeps_its_slot_until_it_ends() {
    let (store, _) = store().await;
    let reader = HeldReader::new(store, Duration::from_millis(600), false);
    let bounds = bounds(|c| {
        c.query_timeout = GoDuration(Duration::from_millis(100));
        c.max_concurrent_queries = 1;
        c.max_queued_queries = 0;
    });
    let (app, state) = app_over(reader.clone(), bounds);
    assert_eq!(get(&app, "/api/traces?service=frontend").await.status, StatusCode::GATEWAY_TIMEOUT);
    // The store is still working on it: no second query may start beside it.
    assert_eq!(get(&app, "/api/traces?service=frontend").await.status, StatusCode::SERVICE_UNAVAILABLE);
    wait_for("the abandoned work to end", || state.bounds.metrics.running.get() == 0).await;
    reader.delay_ms.store(0, Ordering::SeqCst);
    assert_eq!(get(&app, "/api/traces?service=frontend").await.status, StatusCode::OK);
}

#[tokio::test]
async fn past_the_slots_an_expensive_query_is_refused_with_retry_after_and_services_still_answer() {
    let (store, _) = store().await;
    let reader = HeldReader::new(store, Duration::ZERO, true);
    let bounds = bounds(|c| {
        c.max_concurrent_queries = 2;
        c.max_queued_queries = 0;
    });
    let (app, state) = app_over(reader.clone(), bounds);
    let running: Vec<_> = (0..2)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { get(&app, "/api/traces?service=frontend").await })
        })
        .collect();
    wait_for("two searches in the store", || reader.entered.load(Ordering::SeqCst) == 2).await;

    let reply = get(&app, "/api/traces?service=frontend").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{}", reply.body);
    assert_eq!(reply.headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("5"));
    let msg = "the query service is busy: 2 expensive queries are running (max_concurrent_queries) and 0 waiting (max_queued_queries); retry in 5 s";
    assert_eq!(reply.body, error_envelope(503, msg));
    let reply = get(&app, &format!("/api/v3/traces/{TRACE_A_HEX}")).await;
    assert_eq!((reply.status, reply.json()["error"]["message"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some(msg)));
    assert_eq!(get(&app, "/api/dependencies").await.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(state.bounds.metrics.count("refused", &["/api/traces", "busy"]), 1);

    let services = get(&app, "/api/services").await;
    assert_eq!((services.status, services.json()["data"].clone()), (StatusCode::OK, serde_json::json!(["backend", "frontend"])));
    assert_eq!(get(&app, "/api/services/frontend/operations").await.status, StatusCode::OK);

    reader.open();
    for r in running {
        assert_eq!(r.await.expect("search task").status, StatusCode::OK);
    }
    assert_eq!(state.bounds.metrics.running.get(), 0);
}

#[tokio::test]
async fn past_the_slots_an_expensive_query_waits_in_a_bounded_queue() {
    let (store, _) = store().await;
    let reader = HeldReader::new(store, Duration::ZERO, true);
    let bounds = bounds(|c| {
        c.max_concurrent_queries = 1;
        c.max_queued_queries = 1;
        c.max_queue_wait = GoDuration(Duration::from_secs(30));
    });
    let (app, state) = app_over(reader.clone(), bounds);
    let spawn = |uri: &'static str| {
        let app = app.clone();
        tokio::spawn(async move { get(&app, uri).await })
    };
    let first = spawn("/api/traces?service=frontend");
    wait_for("the first search in the store", || reader.entered.load(Ordering::SeqCst) == 1).await;
    let second = spawn("/api/traces?service=backend");
    wait_for("the second search queued", || state.bounds.metrics.waiting.get() == 1).await;

    let third = get(&app, "/api/traces?service=frontend").await;
    assert_eq!(third.status, StatusCode::SERVICE_UNAVAILABLE, "{}", third.body);
    assert!(third.body.contains("1 expensive queries are running (max_concurrent_queries) and 1 waiting"), "{}", third.body);
    assert_eq!(get(&app, "/api/services").await.status, StatusCode::OK);

    reader.open();
    assert_eq!(first.await.expect("first").status, StatusCode::OK);
    let second = second.await.expect("second");
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_eq!(trace_ids(&second.json()), [TRACE_B_HEX, TRACE_A_HEX]);
    assert_eq!(state.bounds.metrics.waiting.get(), 0);
}

#[tokio::test]
async fn a_queued_query_is_refused_when_no_slot_comes_free_in_time() {
    let (store, _) = store().await;
    let reader = HeldReader::new(store, Duration::ZERO, true);
    let bounds = bounds(|c| {
        c.max_concurrent_queries = 1;
        c.max_queue_wait = GoDuration(Duration::from_millis(150));
    });
    let (app, state) = app_over(reader.clone(), bounds);
    let first = {
        let app = app.clone();
        tokio::spawn(async move { get(&app, "/api/traces?service=frontend").await })
    };
    wait_for("the first search in the store", || reader.entered.load(Ordering::SeqCst) == 1).await;
    let started = Instant::now();
    let reply = get(&app, "/api/traces?service=frontend").await;
    assert!(started.elapsed() >= Duration::from_millis(150), "it waited: {:?}", started.elapsed());
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    let msg = "the query service is busy: no query slot came free within max_queue_wait (150ms) (1 expensive queries run at once, max_concurrent_queries); retry in 1 s";
    assert_eq!(reply.body, error_envelope(503, msg));
    assert_eq!(state.bounds.metrics.waiting.get(), 0);
    reader.open();
    assert_eq!(first.await.expect("first").status, StatusCode::OK);
}

#[test]
fn metrics_are_exported_under_the_extension_id() {
    let registry = prometheus::Registry::new();
    let metrics = QueryMetrics::new("jaeger_query/x");
    metrics.register(&registry);
    metrics.refused("/api/traces", "busy");
    metrics.timed_out("/api/traces");
    metrics.truncated("/api/v3/traces", "max_response_bytes");
    let mut text = String::new();
    prometheus::TextEncoder::new().encode_utf8(&registry.gather(), &mut text).expect("encode");
    for line in [
        "tracegate_extension_jaeger_query_refused_requests{endpoint=\"/api/traces\",extension=\"jaeger_query/x\",reason=\"busy\"} 1",
        "tracegate_extension_jaeger_query_timed_out_requests{endpoint=\"/api/traces\",extension=\"jaeger_query/x\"} 1",
        "tracegate_extension_jaeger_query_truncated_answers{endpoint=\"/api/v3/traces\",extension=\"jaeger_query/x\",reason=\"max_response_bytes\"} 1",
        "tracegate_extension_jaeger_query_queries_running{extension=\"jaeger_query/x\"} 0",
        "tracegate_extension_jaeger_query_queries_waiting{extension=\"jaeger_query/x\"} 0",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
    // A second extension registers beside the first.
    QueryMetrics::new("jaeger_query/y").register(&registry);
}
