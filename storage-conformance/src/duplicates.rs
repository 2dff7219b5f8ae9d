//! No span is dropped silently. Jaeger's `GetTraceWithDuplicateSpans` writes a trace of 200
//! spans where every 20th span reuses the first span's id (each with its own start time) and
//! expects every one back: span ids are chosen by clients, and buggy or hostile ones repeat
//! them, so a store keyed by span id alone loses data. Here half of the repeats go further and
//! differ from the first span only in one attribute, which rules out keys of (span id, start
//! time) as well. Only an exact copy of a stored span (a retried batch) is kept once.

use std::time::Duration;

use crate::data::{batch, span_keys, Ids, TestSpan, Val};
use crate::find::{ago, expect, query, tags};
use crate::Store;

/// Spans in the trace, and how often a span reuses the first one's id (Jaeger's figures).
const SPANS: usize = 200;
const EVERY: usize = 20;

pub async fn duplicate_span_ids_are_all_kept(store: &Store) {
    let mut ids = Ids::new(40);
    let t = ids.trace_id();
    let base = ago(30);
    let first = TestSpan::new(&mut ids, t, "api", "span 0", base + Duration::from_secs(1));
    let mut spans = vec![first.clone()];
    for i in 1..SPANS {
        let mut span = TestSpan::new(&mut ids, t, "api", &format!("span {i}"), base + Duration::from_secs(i as u64 + 1));
        if i % EVERY == 0 {
            span.span_id = first.span_id;
            if i % (2 * EVERY) == 0 {
                // Same id, same start and duration as the first span: only the name and one
                // attribute differ.
                span = span.start(first.start).attr("copy", Val::Int(i as i64));
            }
        }
        spans.push(span);
    }
    let written = batch(&spans);
    store.write(written.clone()).await;
    // A retried batch: every span again, byte for byte.
    store.write(written).await;

    let got = store.reader.get_trace(t).await.expect("get_trace").expect("the trace is stored");
    let keys = span_keys(&got);
    let refs: Vec<&TestSpan> = spans.iter().collect();
    assert_eq!(keys.len(), SPANS, "every span once: the {} sharing an id, and no copy of the retried batch", SPANS / EVERY);
    assert_eq!(keys, crate::data::expected_keys(&refs));
    let sharing = keys.iter().filter(|(id, _, _)| *id == first.span_id).count();
    assert_eq!(sharing, SPANS / EVERY, "spans sharing the first span's id");

    let mut q = query("api");
    expect(store, &q, &[t], "the trace is found once").await;
    q.tags = tags(&[("copy", "40")]);
    expect(store, &q, &[t], "a span that shares id and start with another is searchable").await;
    let found = store.reader.find_traces(&q).await.expect("find_traces");
    assert_eq!(found.iter().map(|trace| trace.span_count()).collect::<Vec<_>>(), [SPANS], "find_traces returns all spans");
}
