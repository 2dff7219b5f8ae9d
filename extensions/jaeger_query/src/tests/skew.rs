//! Clock-skew adjustment through the API: Jaeger's shifts and warnings, off with `raw`.

use std::time::Duration;

use serde_json::json;
use tracegate_core::{Exporter, Traces};
use tracegate_exporter_memory::MemoryStore;

use super::fixture::*;

const SKEWED: [u8; 16] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x5c];

/// A parent on one host; its child (another host) starts 50ms before it; a grandchild on the
/// child's host; an orphan whose parent is missing.
async fn skewed_store() -> (MemoryStore, u64) {
    let t = base_nanos();
    let parent = span(SKEWED, 1, 0, "parent", 3, t, 100_000);
    let child = span(SKEWED, 2, 1, "child", 2, t - 50_000_000, 20_000);
    let grandchild = span(SKEWED, 3, 2, "grandchild", 1, t - 45_000_000, 5_000);
    let orphan = span(SKEWED, 4, 0xee, "orphan", 1, t, 1_000);
    let store = MemoryStore::new(10);
    let batch = Traces::new(vec![
        resource(vec![kv("service.name", s("a")), kv("ip", s("10.0.0.1"))], vec![parent]),
        resource(vec![kv("service.name", s("b")), kv("ip", s("10.0.0.2"))], vec![child, grandchild, orphan]),
    ]);
    store.export(batch).await.expect("export");
    (store, t)
}

fn by_name(trace: &serde_json::Value, name: &str) -> serde_json::Value {
    trace["spans"].as_array().and_then(|s| s.iter().find(|s| s["operationName"] == name).cloned()).unwrap_or_default()
}

#[tokio::test]
async fn child_before_parent_is_shifted_with_a_warning() {
    let (store, t) = skewed_store().await;
    let app = app_with(&store, Duration::from_secs(1), None).await;
    let trace = get(&app, "/api/traces/5c").await.json()["data"][0].clone();
    let start = micros(t);
    // Centred in the parent: parent start + (100ms - 20ms) / 2.
    let child = by_name(&trace, "child");
    assert_eq!(child["startTime"], json!(start + 40_000));
    assert_eq!(child["warnings"], json!(["This span's timestamps were adjusted by 90ms"]));
    // Same host as its parent: the same shift.
    let grandchild = by_name(&trace, "grandchild");
    assert_eq!(grandchild["startTime"], json!(start + 45_000));
    assert_eq!(grandchild["warnings"], json!(["This span's timestamps were adjusted by 90ms"]));
    assert_eq!(by_name(&trace, "parent")["warnings"], json!(null));
    assert_eq!(
        by_name(&trace, "orphan")["warnings"],
        json!(["parent span ID=00000000000000ee is not in the trace; skipping clock skew adjustment"])
    );

    // Search results are adjusted too; `raw=true` shows the stored times.
    let searched = get(&app, "/api/traces?service=b").await.json()["data"][0].clone();
    assert_eq!(by_name(&searched, "child")["startTime"], json!(start + 40_000));
    let raw = get(&app, "/api/traces/5c?raw=true").await.json()["data"][0].clone();
    assert_eq!((by_name(&raw, "child")["startTime"].clone(), by_name(&raw, "child")["warnings"].clone()), (json!(start - 50_000), json!(null)));
}

#[tokio::test]
async fn shifts_beyond_the_maximum_are_reported_not_applied() {
    let (store, t) = skewed_store().await;
    let app = app_with(&store, Duration::from_millis(10), None).await;
    let trace = get(&app, "/api/traces/5c").await.json()["data"][0].clone();
    let child = by_name(&trace, "child");
    assert_eq!(child["startTime"], json!(micros(t) - 50_000));
    assert_eq!(child["warnings"], json!(["max clock skew adjustment delta of 10ms exceeded; not applying calculated delta of 90ms"]));

    // Off (the default): nothing is touched and nothing is said.
    let off = app_with(&store, Duration::ZERO, None).await;
    let trace = get(&off, "/api/traces/5c").await.json()["data"][0].clone();
    assert!(trace["spans"].as_array().expect("spans").iter().all(|s| s["warnings"].is_null()), "{trace}");
}
