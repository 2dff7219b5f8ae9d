//! Searches without a service (Jaeger 2.x: api_v3 and the v2 storage API take an empty
//! service name as "any service", RFC 0013's cross-service search): by operation, by tag, by
//! duration, or by the time range alone, newest first, with the one-span rule as usual.
//! A backend that cannot must say so in its [`Capabilities`] and refuse with `BadQuery`.

use std::time::Duration;

use tracegate_core::storage::{TraceId, TraceQuery};

use crate::caps::{expect_service_required, Capabilities};
use crate::data::{batch, Ids, TestSpan, Val};
use crate::find::{ago, expect, query, tags};
use crate::Store;

/// Four traces in three services, a minute apart (t1 oldest):
/// t1 frontend "GET /checkout" 20 ms marker=yes; t2 backend "GET /checkout" 200 ms;
/// t3 backend "SELECT" 5 ms marker=yes; t4 db "SELECT" 300 ms.
async fn four_services(store: &Store, seed: u64) -> [TraceId; 4] {
    let mut ids = Ids::new(seed);
    let t = [ids.trace_id(), ids.trace_id(), ids.trace_id(), ids.trace_id()];
    let ms = Duration::from_millis;
    let spans = [
        TestSpan::new(&mut ids, t[0], "frontend", "GET /checkout", ago(4)).duration(ms(20)).attr("marker", Val::Str("yes")),
        TestSpan::new(&mut ids, t[1], "backend", "GET /checkout", ago(3)).duration(ms(200)),
        TestSpan::new(&mut ids, t[2], "backend", "SELECT", ago(2)).duration(ms(5)).attr("marker", Val::Str("yes")),
        TestSpan::new(&mut ids, t[3], "db", "SELECT", ago(1)).duration(ms(300)),
    ];
    // Two batches, neither in time order.
    store.write(batch(&[spans[2].clone(), spans[0].clone()])).await;
    store.write(batch(&[spans[3].clone(), spans[1].clone()])).await;
    t
}

fn any_service() -> TraceQuery {
    query("")
}

pub async fn find_without_service_by_operation(store: &Store, caps: &Capabilities) {
    let [t1, t2, t3, t4] = four_services(store, 50).await;
    let mut q = any_service();
    q.operation = Some("GET /checkout".into());
    if !caps.search_without_service {
        return expect_service_required(store, &q).await;
    }
    expect(store, &q, &[t2, t1], "an operation in two services").await;
    q.operation = Some("SELECT".into());
    expect(store, &q, &[t4, t3], "the other operation").await;
    q.operation = Some("DELETE".into());
    expect(store, &q, &[], "an operation no span has").await;
}

pub async fn find_without_service_by_tag(store: &Store, caps: &Capabilities) {
    let [t1, _, t3, _] = four_services(store, 51).await;
    let mut q = any_service();
    q.tags = tags(&[("marker", "yes")]);
    if !caps.search_without_service {
        return expect_service_required(store, &q).await;
    }
    expect(store, &q, &[t3, t1], "a tag in two services").await;
    q.tags = tags(&[("host.name", "host-1")]);
    q.limit = 3;
    let all = store.reader.find_trace_ids(&q).await.expect("find_trace_ids");
    assert_eq!(all.len(), 3, "a resource tag every trace has, limit 3: {all:?}");
    q.limit = 100;
    q.tags = tags(&[("marker", "yes")]);
    q.operation = Some("SELECT".into());
    expect(store, &q, &[t3], "tag and operation on one span").await;
    q.tags = tags(&[("marker", "no")]);
    q.operation = None;
    expect(store, &q, &[], "a value no span has").await;
}

pub async fn find_without_service_by_duration(store: &Store, caps: &Capabilities) {
    let [t1, t2, t3, t4] = four_services(store, 52).await;
    let ms = Duration::from_millis;
    let mut q = any_service();
    q.duration_min = Some(ms(100));
    if !caps.search_without_service {
        return expect_service_required(store, &q).await;
    }
    expect(store, &q, &[t4, t2], "min only").await;
    q.duration_min = None;
    q.duration_max = Some(ms(20));
    expect(store, &q, &[t3, t1], "max only, inclusive").await;
    q.duration_min = Some(ms(100));
    q.duration_max = Some(ms(250));
    expect(store, &q, &[t2], "min and max").await;
    q.operation = Some("SELECT".into());
    expect(store, &q, &[], "the 200 ms span is another operation").await;
}

/// Only a time range (api_v3 requires nothing more): every trace in it, newest first.
pub async fn find_without_service_by_time_only(store: &Store, caps: &Capabilities) {
    let [t1, t2, t3, t4] = four_services(store, 53).await;
    let mut q = any_service();
    if !caps.search_without_service {
        return expect_service_required(store, &q).await;
    }
    expect(store, &q, &[t4, t3, t2, t1], "every trace, newest first").await;
    q.start_min = Some(ago(3) - Duration::from_secs(30));
    q.start_max = Some(ago(2) + Duration::from_secs(30));
    expect(store, &q, &[t3, t2], "the time range").await;
    q.start_min = None;
    q.start_max = None;
    q.limit = 2;
    expect(store, &q, &[t4, t3], "limit keeps the newest").await;
}
