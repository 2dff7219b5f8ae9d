//! Checks of `find_trace_ids` / `find_traces`: every `TraceQuery` field alone and combined,
//! with counter-examples that must not match.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use tracegate_core::storage::{TraceId, TraceQuery};

use crate::data::{batch, span_keys, Ids, TestSpan, Val};
use crate::Store;

pub(crate) fn ago(minutes: u64) -> SystemTime {
    SystemTime::now() - Duration::from_secs(minutes * 60)
}

pub(crate) fn query(service: &str) -> TraceQuery {
    TraceQuery { service: service.into(), limit: 100, ..Default::default() }
}

pub(crate) fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

pub(crate) async fn ids_of(store: &Store, q: &TraceQuery) -> Vec<TraceId> {
    match store.reader.find_trace_ids(q).await {
        Ok(ids) => ids,
        Err(e) => panic!("find_trace_ids({q:?}) failed: {e}"),
    }
}

/// Asserts the exact result, in order (newest first).
pub(crate) async fn expect(store: &Store, q: &TraceQuery, want: &[TraceId], why: &str) {
    assert_eq!(ids_of(store, q).await, want, "{why}: {q:?}");
}

/// Three traces one minute apart; `frontend` in all, `backend` only in the middle one.
pub async fn find_by_service(store: &Store) {
    let mut ids = Ids::new(10);
    let (t1, t2, t3) = (ids.trace_id(), ids.trace_id(), ids.trace_id());
    let a = TestSpan::new(&mut ids, t1, "frontend", "GET /", ago(3));
    let b = TestSpan::new(&mut ids, t2, "frontend", "GET /", ago(2));
    let b2 = TestSpan::new(&mut ids, t2, "backend", "query", ago(2)).child_of(&b);
    let c = TestSpan::new(&mut ids, t3, "frontend", "GET /", ago(1));
    store.write(batch(&[c, a])).await;
    store.write(batch(&[b, b2])).await;
    expect(store, &query("frontend"), &[t3, t2, t1], "every trace of the service, newest first").await;
    expect(store, &query("backend"), &[t2], "only traces with a span of the service").await;
    expect(store, &query("nobody"), &[], "an unknown service matches nothing").await;
}

pub async fn find_by_operation(store: &Store) {
    let mut ids = Ids::new(11);
    let (t1, t2) = (ids.trace_id(), ids.trace_id());
    let a = TestSpan::new(&mut ids, t1, "api", "GET /users", ago(2));
    let b = TestSpan::new(&mut ids, t2, "api", "POST /users", ago(1));
    // The same operation name in another service must not make t2 match for `api`.
    let b2 = TestSpan::new(&mut ids, t2, "db", "GET /users", ago(1));
    store.write(batch(&[a, b, b2])).await;
    let mut q = query("api");
    q.operation = Some("GET /users".into());
    expect(store, &q, &[t1], "operation of the service only").await;
    q.operation = Some("DELETE".into());
    expect(store, &q, &[], "unknown operation").await;
}

/// Span attributes of every type match by their text.
pub async fn find_by_span_tag(store: &Store) {
    let mut ids = Ids::new(12);
    let (t1, t2) = (ids.trace_id(), ids.trace_id());
    let a = TestSpan::new(&mut ids, t1, "api", "GET /", ago(2))
        .attr("http.status_code", Val::Int(500))
        .attr("retry", Val::Bool(true))
        .attr("user", Val::Str("alice"));
    let b = TestSpan::new(&mut ids, t2, "api", "GET /", ago(1))
        .attr("http.status_code", Val::Int(200))
        .attr("user", Val::Str("bob"));
    store.write(batch(&[a, b])).await;
    let mut q = query("api");
    q.tags = tags(&[("user", "alice")]);
    expect(store, &q, &[t1], "string tag").await;
    q.tags = tags(&[("http.status_code", "200")]);
    expect(store, &q, &[t2], "int tag by its decimal text").await;
    q.tags = tags(&[("retry", "true")]);
    expect(store, &q, &[t1], "bool tag by its text").await;
    q.tags = tags(&[("http.method", "GET")]);
    expect(store, &q, &[t2, t1], "tag on both").await;
    q.tags = tags(&[("user", "carol")]);
    expect(store, &q, &[], "value that no span has").await;
    q.tags = tags(&[("alice", "user")]);
    expect(store, &q, &[], "key and value swapped").await;
}

/// Process (resource) attributes match, but only for spans of that process's service.
pub async fn find_by_resource_tag(store: &Store) {
    let mut ids = Ids::new(13);
    let (t1, t2) = (ids.trace_id(), ids.trace_id());
    let a = TestSpan::new(&mut ids, t1, "api", "GET /", ago(2)).resource_attr("k8s.pod.name", Val::Str("api-7f9"));
    let b = TestSpan::new(&mut ids, t2, "api", "GET /", ago(1));
    let b2 = TestSpan::new(&mut ids, t2, "db", "SELECT", ago(1)).resource_attr("k8s.pod.name", Val::Str("api-7f9"));
    store.write(batch(&[a, b, b2])).await;
    let mut q = query("api");
    q.tags = tags(&[("k8s.pod.name", "api-7f9")]);
    expect(store, &q, &[t1], "resource attribute of the service's span").await;
    q.tags = tags(&[("host.name", "host-1")]);
    expect(store, &q, &[t2, t1], "resource attribute shared by all").await;
}

/// Event (log) attributes match, as Jaeger matches log fields.
pub async fn find_by_event_tag(store: &Store) {
    let mut ids = Ids::new(14);
    let (t1, t2) = (ids.trace_id(), ids.trace_id());
    let a = TestSpan::new(&mut ids, t1, "api", "GET /", ago(2))
        .event("exception", vec![("exception.type", Val::Str("IOError"))]);
    let b = TestSpan::new(&mut ids, t2, "api", "GET /", ago(1)).event("cache", vec![("hit", Val::Bool(false))]);
    store.write(batch(&[a, b])).await;
    let mut q = query("api");
    q.tags = tags(&[("exception.type", "IOError")]);
    expect(store, &q, &[t1], "string event attribute").await;
    q.tags = tags(&[("hit", "false")]);
    expect(store, &q, &[t2], "bool event attribute").await;
}

/// The counter-examples: conditions met by different spans of one trace do not match.
pub async fn find_tags_must_match_one_span(store: &Store) {
    let mut ids = Ids::new(15);
    let (t1, t2) = (ids.trace_id(), ids.trace_id());
    let a = TestSpan::new(&mut ids, t1, "api", "GET /", ago(2)).attr("user", Val::Str("alice"));
    let a2 = TestSpan::new(&mut ids, t1, "api", "SELECT", ago(2)).child_of(&a).attr("db", Val::Str("users"));
    let b = TestSpan::new(&mut ids, t2, "api", "SELECT", ago(1))
        .attr("user", Val::Str("alice"))
        .attr("db", Val::Str("users"));
    store.write(batch(&[a, a2, b])).await;
    let mut q = query("api");
    q.tags = tags(&[("user", "alice"), ("db", "users")]);
    expect(store, &q, &[t2], "two tags on two spans of t1 must not match").await;
    q.tags = tags(&[("user", "alice")]);
    q.operation = Some("SELECT".into());
    expect(store, &q, &[t2], "tag on one span and operation on another must not match").await;
    q.operation = Some("GET /".into());
    q.duration_min = Some(Duration::from_secs(1));
    expect(store, &q, &[], "operation+tag span too short").await;
}

pub async fn find_by_start_time(store: &Store) {
    let mut ids = Ids::new(16);
    let (t1, t2, t3) = (ids.trace_id(), ids.trace_id(), ids.trace_id());
    let spans = [
        TestSpan::new(&mut ids, t1, "api", "GET /", ago(30)),
        TestSpan::new(&mut ids, t2, "api", "GET /", ago(20)),
        TestSpan::new(&mut ids, t3, "api", "GET /", ago(10)),
    ];
    store.write(batch(&spans)).await;
    let mut q = query("api");
    q.start_min = Some(ago(25));
    expect(store, &q, &[t3, t2], "start_min").await;
    q.start_max = Some(ago(15));
    expect(store, &q, &[t2], "start_min and start_max").await;
    q.start_min = None;
    expect(store, &q, &[t2, t1], "start_max").await;
    q.start_max = Some(ago(40));
    expect(store, &q, &[], "before everything").await;
}

/// Duration bounds apply to one span, the one that meets the other conditions too.
pub async fn find_by_duration(store: &Store) {
    let mut ids = Ids::new(17);
    let (t1, t2, t3) = (ids.trace_id(), ids.trace_id(), ids.trace_id());
    let ms = Duration::from_millis;
    let a = TestSpan::new(&mut ids, t1, "api", "GET /", ago(3)).duration(ms(5));
    let b = TestSpan::new(&mut ids, t2, "api", "GET /", ago(2)).duration(ms(50));
    let c = TestSpan::new(&mut ids, t3, "api", "GET /", ago(1)).duration(ms(500));
    // A long span of another operation in t1.
    let a2 = TestSpan::new(&mut ids, t1, "api", "slow", ago(3)).duration(ms(900)).child_of(&a);
    store.write(batch(&[a, a2, b, c])).await;
    let mut q = query("api");
    q.duration_min = Some(ms(40));
    expect(store, &q, &[t3, t2, t1], "min only").await;
    q.duration_max = Some(ms(100));
    expect(store, &q, &[t2], "min and max").await;
    q.duration_min = None;
    expect(store, &q, &[t2, t1], "max only").await;
    q.operation = Some("GET /".into());
    q.duration_min = Some(ms(400));
    q.duration_max = None;
    expect(store, &q, &[t3], "the long span of t1 is another operation").await;
    q.duration_min = Some(ms(50));
    q.duration_max = Some(ms(50));
    expect(store, &q, &[t2], "bounds are inclusive").await;
}

pub async fn find_combined_conditions(store: &Store) {
    let mut ids = Ids::new(18);
    let ms = Duration::from_millis;
    let mut traces = Vec::new();
    let mut spans = Vec::new();
    for i in 0..6u64 {
        let t = ids.trace_id();
        traces.push(t);
        let status = if i % 2 == 0 { 500 } else { 200 };
        spans.push(
            TestSpan::new(&mut ids, t, "api", if i < 4 { "GET /orders" } else { "GET /" }, ago(20 - i))
                .duration(ms(10 * (i + 1)))
                .attr("http.status_code", Val::Int(status)),
        );
    }
    store.write(batch(&spans)).await;
    let q = TraceQuery {
        service: "api".into(),
        operation: Some("GET /orders".into()),
        tags: tags(&[("http.status_code", "500"), ("http.method", "GET")]),
        start_min: Some(ago(19) - Duration::from_secs(30)),
        start_max: Some(SystemTime::now()),
        duration_min: Some(ms(20)),
        duration_max: Some(ms(40)),
        limit: 10,
    };
    // i=0: too early; i=1: status 200; i=2: match; i=3: 200; i=4,5: other operation.
    expect(store, &q, &[traces[2]], "every condition at once").await;
}

pub async fn find_limit_keeps_the_newest(store: &Store) {
    let mut ids = Ids::new(19);
    let mut traces = Vec::new();
    for batch_no in 0..2u64 {
        let mut spans = Vec::new();
        for i in 0..5u64 {
            let t = ids.trace_id();
            let minute = 40 - (batch_no * 5 + i) * 2;
            traces.push(t);
            spans.push(TestSpan::new(&mut ids, t, "api", "GET /", ago(minute)));
        }
        // Written newest-first within each batch, so storage order is not time order.
        spans.reverse();
        store.write(batch(&spans)).await;
    }
    traces.reverse();
    let mut q = query("api");
    q.limit = 3;
    expect(store, &q, &traces[..3], "limit keeps the newest").await;
    q.limit = 100;
    expect(store, &q, &traces, "all ten, newest first").await;
}

/// `find_traces` returns every span of a matching trace, not only the matching span.
pub async fn find_traces_returns_whole_traces(store: &Store) {
    let mut ids = Ids::new(20);
    let (t1, t2) = (ids.trace_id(), ids.trace_id());
    let a = TestSpan::new(&mut ids, t1, "api", "GET /", ago(2));
    let a2 = TestSpan::new(&mut ids, t1, "db", "SELECT", ago(2)).child_of(&a);
    let b = TestSpan::new(&mut ids, t2, "api", "GET /", ago(1));
    store.write(batch(&[a.clone(), a2.clone(), b.clone()])).await;
    let mut q = query("db");
    let found = store.reader.find_traces(&q).await.expect("find_traces");
    assert_eq!(found.len(), 1);
    assert_eq!(span_keys(&found[0]), crate::data::expected_keys(&[&a, &a2]));
    q.service = "api".into();
    let found = store.reader.find_traces(&q).await.expect("find_traces");
    let sizes: Vec<_> = found.iter().map(|t| t.span_count()).collect();
    assert_eq!(sizes, [1, 2], "newest first, whole traces");
}
