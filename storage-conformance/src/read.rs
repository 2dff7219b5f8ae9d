//! Checks of the reads that are not searches: get_trace, idempotent writes, services,
//! operations and dependencies.

use std::time::{Duration, SystemTime};

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use tracegate_core::storage::{DependencyLink, Operation};

use crate::data::{batch, expected_keys, span_keys, Ids, TestSpan, Val};
use crate::Store;

fn ago(minutes: u64) -> SystemTime {
    SystemTime::now() - Duration::from_secs(minutes * 60)
}

/// A trace written in two batches (two services) comes back whole, with resources and
/// attributes intact; another trace in the same batches does not leak into it.
pub async fn get_trace_returns_every_span(store: &Store) {
    let mut ids = Ids::new(1);
    let (t, other) = (ids.trace_id(), ids.trace_id());
    let root = TestSpan::new(&mut ids, t, "frontend", "GET /", ago(5)).attr("http.status_code", Val::Int(200));
    let child = TestSpan::new(&mut ids, t, "backend", "query", ago(5)).child_of(&root).kind(SpanKind::Client);
    let grandchild = TestSpan::new(&mut ids, t, "backend", "SELECT", ago(5)).child_of(&child);
    let noise = TestSpan::new(&mut ids, other, "frontend", "GET /x", ago(5));
    store.write(batch(&[child.clone(), noise.clone()])).await;
    store.write(batch(&[root.clone(), grandchild.clone()])).await;

    let got = store.reader.get_trace(t).await.expect("get_trace").expect("trace is stored");
    assert_eq!(span_keys(&got), expected_keys(&[&root, &child, &grandchild]));
    let attrs: Vec<_> = got
        .resource_spans()
        .iter()
        .flat_map(|rs| rs.scope_spans.iter().flat_map(|ss| ss.spans.iter()))
        .filter(|s| s.name == "GET /")
        .flat_map(|s| s.attributes.iter().map(|kv| kv.key.clone()))
        .collect();
    assert_eq!(attrs, ["http.method", "http.status_code"], "span attributes must survive storage");
    let host = got.resource_spans().iter().all(|rs| {
        rs.resource.as_ref().is_some_and(|r| r.attributes.iter().any(|kv| kv.key == "host.name"))
    });
    assert!(host, "resource attributes must survive storage");
    let parent = got
        .resource_spans()
        .iter()
        .flat_map(|rs| rs.scope_spans.iter().flat_map(|ss| ss.spans.iter()))
        .find(|s| s.name == "query")
        .map(|s| s.parent_span_id.clone());
    assert_eq!(parent, Some(root.span_id.to_vec()), "parent span id must survive storage");
}

pub async fn get_trace_of_missing_id_is_none(store: &Store) {
    let mut ids = Ids::new(2);
    let t = ids.trace_id();
    store.write(batch(&[TestSpan::new(&mut ids, t, "frontend", "GET /", ago(1))])).await;
    let missing = ids.trace_id();
    assert!(store.reader.get_trace(missing).await.expect("get_trace").is_none());
}

/// The same spans written twice (a retried export) come back once, and a search finds the
/// trace once.
pub async fn writes_are_idempotent(store: &Store) {
    let mut ids = Ids::new(3);
    let t = ids.trace_id();
    let a = TestSpan::new(&mut ids, t, "frontend", "GET /", ago(2));
    let b = TestSpan::new(&mut ids, t, "frontend", "render", ago(2)).child_of(&a);
    store.write(batch(&[a.clone(), b.clone()])).await;
    store.write(batch(&[a.clone(), b.clone()])).await;
    store.write(batch(std::slice::from_ref(&b))).await;
    let got = store.reader.get_trace(t).await.expect("get_trace").expect("stored");
    assert_eq!(span_keys(&got), expected_keys(&[&a, &b]));
    let q = tracegate_core::storage::TraceQuery { service: "frontend".into(), limit: 10, ..Default::default() };
    assert_eq!(store.reader.find_trace_ids(&q).await.expect("find"), vec![t]);
}

pub async fn services_are_sorted_and_distinct(store: &Store) {
    let mut ids = Ids::new(4);
    assert_eq!(store.reader.services().await.expect("services"), Vec::<String>::new());
    let t = ids.trace_id();
    let spans = [
        TestSpan::new(&mut ids, t, "zeta", "a", ago(1)),
        TestSpan::new(&mut ids, t, "alpha", "b", ago(1)),
        TestSpan::new(&mut ids, t, "mid", "c", ago(1)),
        TestSpan::new(&mut ids, t, "alpha", "d", ago(1)),
    ];
    store.write(batch(&spans)).await;
    store.write(batch(&spans[..1])).await;
    assert_eq!(store.reader.services().await.expect("services"), ["alpha", "mid", "zeta"]);
}

pub async fn operations_by_service_and_span_kind(store: &Store) {
    let mut ids = Ids::new(5);
    let t = ids.trace_id();
    let spans = [
        TestSpan::new(&mut ids, t, "api", "GET /users", ago(1)).kind(SpanKind::Server),
        TestSpan::new(&mut ids, t, "api", "SELECT users", ago(1)).kind(SpanKind::Client),
        TestSpan::new(&mut ids, t, "api", "publish", ago(1)).kind(SpanKind::Producer),
        TestSpan::new(&mut ids, t, "api", "GET /users", ago(1)).kind(SpanKind::Server),
        TestSpan::new(&mut ids, t, "api", "cache", ago(1)).kind(SpanKind::Unspecified),
        TestSpan::new(&mut ids, t, "worker", "consume", ago(1)).kind(SpanKind::Consumer),
    ];
    store.write(batch(&spans)).await;
    let op = |name: &str, kind: &str| Operation { name: name.into(), span_kind: kind.into() };
    let all = store.reader.operations("api", None).await.expect("operations");
    assert_eq!(
        all,
        [op("GET /users", "server"), op("SELECT users", "client"), op("cache", ""), op("publish", "producer")]
    );
    let servers = store.reader.operations("api", Some("server")).await.expect("operations");
    assert_eq!(servers, [op("GET /users", "server")]);
    assert_eq!(store.reader.operations("api", Some("consumer")).await.expect("operations"), []);
    assert_eq!(store.reader.operations("worker", None).await.expect("operations"), [op("consume", "consumer")]);
    assert_eq!(store.reader.operations("nobody", None).await.expect("operations"), []);
}

/// Parent service -> child service edges, counted per call; calls within one service are not
/// edges; a child written before its parent (children end first) still counts; spans outside
/// the window do not.
pub async fn dependencies_count_calls_between_services(store: &Store) {
    let mut ids = Ids::new(6);
    let mut write_later = Vec::new();
    for i in 0..3 {
        let t = ids.trace_id();
        let root = TestSpan::new(&mut ids, t, "frontend", "GET /", ago(10 + i));
        let internal = TestSpan::new(&mut ids, t, "frontend", "render", ago(10 + i)).child_of(&root);
        let call = TestSpan::new(&mut ids, t, "backend", "GET /api", ago(10 + i)).child_of(&root);
        let db = TestSpan::new(&mut ids, t, "db", "SELECT", ago(10 + i)).child_of(&call);
        if i == 0 {
            store.write(batch(&[root, internal, call, db])).await;
        } else {
            // Children first, parents in a later batch.
            store.write(batch(&[db, internal])).await;
            write_later.push(batch(&[call, root]));
        }
    }
    for b in write_later {
        store.write(b).await;
    }
    let t = ids.trace_id();
    let old_root = TestSpan::new(&mut ids, t, "frontend", "GET /", ago(180));
    let old_call = TestSpan::new(&mut ids, t, "cache", "get", ago(180)).child_of(&old_root);
    store.write(batch(&[old_root, old_call])).await;

    let mut links = store
        .reader
        .dependencies(SystemTime::now(), Duration::from_secs(3600))
        .await
        .expect("dependencies");
    links.sort_by(|a, b| (&a.parent, &a.child).cmp(&(&b.parent, &b.child)));
    let link = |p: &str, c: &str, n| DependencyLink { parent: p.into(), child: c.into(), call_count: n };
    assert_eq!(links, [link("backend", "db", 3), link("frontend", "backend", 3)]);

    let none = store
        .reader
        .dependencies(SystemTime::now() - Duration::from_secs(7 * 3600), Duration::from_secs(3600))
        .await
        .expect("dependencies");
    assert_eq!(none, []);
}
