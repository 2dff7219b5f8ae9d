//! The table's rules: decisions in arrival order, late spans, eviction, decision caches, and
//! the memory budget with a spill (real files in a temporary directory).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::ingest::Batch;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use tracegate_core::data::{ResourceSpans, ScopeSpans, Span};

/// A request with one span per id (trace id = the id repeated), each padded by `pad` bytes.
fn request_padded(ids: &[u8], pad: usize) -> Vec<u8> {
    let spans = ids
        .iter()
        .map(|i| Span {
            trace_id: vec![*i; 16],
            span_id: vec![1; 8],
            name: "x".repeat(pad),
            ..Default::default()
        })
        .collect();
    let resource = Resource {
        attributes: vec![KeyValue { key: "service.name".into(), value: Some(AnyValue { value: Some(Value::StringValue("svc".into())) }), ..Default::default() }],
        ..Default::default()
    };
    ExportTraceServiceRequest { resource_spans: vec![ResourceSpans { resource: Some(resource), scope_spans: vec![ScopeSpans { spans, ..Default::default() }], ..Default::default() }] }
        .encode_to_vec()
}

fn add(b: &mut TraceBuffer, ids: &[u8], now: Instant) -> AddOutcome {
    let req = request_padded(ids, 0);
    b.add(&Batch::from_request(&req, None).unwrap(), now)
}

/// Spans per trace (first id byte) in released batches.
fn released(out: ReleaseBuilder) -> Vec<(u8, usize)> {
    let mut per: std::collections::BTreeMap<u8, usize> = Default::default();
    for (t, _) in out.finish() {
        for r in t.resource_spans() {
            for s in r.scope_spans.iter().flat_map(|s| &s.spans) {
                *per.entry(s.trace_id[0]).or_default() += 1;
            }
        }
    }
    per.into_iter().collect()
}

const WAIT: Option<Duration> = Some(Duration::from_secs(10));

#[test]
fn decides_after_the_wait_in_arrival_order() {
    let t0 = Instant::now();
    let mut b = TraceBuffer::new(100, 0, 0, 0);
    add(&mut b, &[1, 1, 2], t0);
    add(&mut b, &[3], t0 + Duration::from_secs(5));
    let mut seen = Vec::new();
    let out = b.decide_due(t0 + Duration::from_secs(10), WAIT, |id, t| {
        seen.push((id[0], t.span_count()));
        id[0] == 1
    });
    assert_eq!(seen, vec![(1, 2), (2, 1)], "trace 3 is not due yet");
    assert_eq!((out.sampled_traces, out.not_sampled_traces, out.dropped_spans), (1, 1, 1));
    assert_eq!(released(out.sampled), [(1, 2)]);
    assert_eq!(b.pending(), 1);
    let out = b.decide_due(t0, None, |_, _| true);
    assert_eq!(out.sampled_traces, 1, "a flush decides everything");
    assert_eq!(b.memory_traces(), 0);
    assert_eq!(b.span_bytes(), 0);
}

#[test]
fn late_spans_follow_the_decision() {
    let t0 = Instant::now();
    let mut b = TraceBuffer::new(100, 0, 0, 0);
    add(&mut b, &[1, 2], t0);
    b.decide_due(t0, None, |id, _| id[0] == 1);
    let out = add(&mut b, &[1, 2, 2], t0);
    assert_eq!(released(out.late_sampled), [(1, 1)]);
    assert_eq!(out.late_dropped, 2);
    assert_eq!(b.pending(), 0);
}

#[test]
fn full_table_evicts_the_oldest_and_counts_undecided_ones() {
    let t0 = Instant::now();
    let mut b = TraceBuffer::new(3, 0, 0, 0);
    add(&mut b, &[1, 1, 2, 3], t0);
    b.decide_due(t0, None, |id, _| id[0] == 1); // 1..3 decided
    add(&mut b, &[4], t0); // evicts decided 1: not counted
    let out = add(&mut b, &[5, 6], t0); // evicts decided 2, 3
    assert_eq!((out.evicted_traces, out.evicted_spans), (0, 0));
    let out = add(&mut b, &[7, 7], t0); // evicts pending 4
    assert_eq!((out.evicted_traces, out.evicted_spans), (1, 1));
    assert_eq!(b.len(), 3);
    assert_eq!(b.pending(), 3);
    // Trace 1 aged out of the table with no cache: a late span starts a new trace.
    add(&mut b, &[1], t0);
    assert_eq!(b.pending(), 3);
}

#[test]
fn decision_caches_outlive_the_table() {
    let t0 = Instant::now();
    let mut b = TraceBuffer::new(2, 0, 10, 10);
    add(&mut b, &[1, 2], t0);
    b.decide_due(t0, None, |id, _| id[0] == 1);
    add(&mut b, &[3, 4], t0); // both decided traces evicted from the table
    let out = add(&mut b, &[1, 2], t0);
    assert_eq!(released(out.late_sampled), [(1, 1)]);
    assert_eq!(out.late_dropped, 1);
}

#[test]
fn empty_batch_and_odd_ids() {
    let mut b = TraceBuffer::new(10, 0, 0, 0);
    let out = b.add(&Batch::default(), Instant::now());
    assert_eq!(out.late_dropped + out.evicted_spans, 0);
    let odd = vec![ResourceSpans {
        scope_spans: vec![ScopeSpans { spans: vec![Span { trace_id: vec![9; 3], ..Default::default() }, Span::default()], ..Default::default() }],
        ..Default::default()
    }];
    let mut scratch = Vec::new();
    b.add(&Batch::from_decoded(&odd, None, &mut scratch), Instant::now());
    assert_eq!(b.len(), 2);
}

#[test]
fn heads_are_freed_with_the_last_trace_that_names_them() {
    let t0 = Instant::now();
    let mut b = TraceBuffer::new(100, 0, 0, 0);
    add(&mut b, &[1, 2], t0);
    add(&mut b, &[2, 3], t0);
    assert_eq!(b.resources.len(), 1, "one resource for every batch of the service");
    b.decide_due(t0, None, |id, _| id[0] == 2);
    assert!(b.resources.is_empty() && b.scopes.is_empty());
}

/// 200 traces of two spans, one span each in two requests, ~1 KB per span.
fn fill(b: &mut TraceBuffer, now: Instant) -> Vec<AddOutcome> {
    let ids: Vec<u8> = (0..200).map(|i| i as u8).collect();
    let mut out = Vec::new();
    for half in 0..2 {
        for chunk in ids.chunks(20) {
            let req = request_padded(chunk, 1000 + half);
            out.push(b.add(&Batch::from_request(&req, None).unwrap(), now));
        }
    }
    out
}

#[test]
fn past_the_budget_the_oldest_spill_and_come_back_joined_at_the_decision() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let budget = 64 << 10;
    let mut b = TraceBuffer::new(1000, 0, 0, 0).with_memory_budget(Some(budget));
    b.set_spill(Spill::open(dir.path()).unwrap());
    for out in fill(&mut b, t0) {
        assert_eq!(out.budget.dropped_traces, 0);
        assert!(b.held_bytes() <= budget, "{} held", b.held_bytes());
    }
    assert!(b.spilled_traces() > 100, "{} spilled", b.spilled_traces());
    assert!(b.spill_totals().spilled_traces > b.spilled_traces() as u64, "late spans of spilled traces spilled again (chained)");
    let out = b.decide_due(t0, None, |_, t| t.span_count() == 2);
    assert_eq!(out.sampled_traces, 200, "every trace whole at its decision");
    assert_eq!((out.lost_spans, out.read_error.is_none()), (0, true));
    let spans = released(out.sampled);
    assert_eq!(spans.len(), 200);
    assert!(spans.iter().all(|(_, n)| *n == 2));
    assert_eq!(b.spill_bytes(), 0);
    assert_eq!((b.spilled_traces(), b.memory_traces()), (0, 0));
    assert!(b.resources.is_empty(), "heads read back are freed too");
}

#[test]
fn without_a_spill_the_budget_drops_the_oldest_pending() {
    let t0 = Instant::now();
    let budget = 64 << 10;
    let mut b = TraceBuffer::new(1000, 0, 0, 0).with_memory_budget(Some(budget));
    let dropped: usize = fill(&mut b, t0).iter().map(|o| o.budget.dropped_traces).sum();
    assert!(dropped > 100);
    assert!(b.held_bytes() <= budget);
    let out = b.decide_due(t0, None, |_, _| true);
    assert_eq!(out.sampled_traces + dropped, 200);
}

#[test]
fn a_spilled_trace_evicted_by_num_traces_frees_its_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let mut b = TraceBuffer::new(50, 0, 0, 0).with_memory_budget(Some(32 << 10));
    b.set_spill(Spill::open(dir.path()).unwrap());
    let evicted: usize = fill(&mut b, t0).iter().map(|o| o.evicted_traces).sum();
    assert!(evicted > 0);
    b.decide_due(t0, None, |_, _| true);
    assert_eq!(b.spill_bytes(), 0, "nothing left on disk");
}

#[test]
fn a_table_too_large_for_the_budget_asks_to_wait() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    // So small that the table of 200 ids alone is over it.
    let mut b = TraceBuffer::new(1000, 0, 0, 0).with_memory_budget(Some(4 << 10));
    b.set_spill(Spill::open(dir.path()).unwrap());
    fill(&mut b, t0);
    assert!(b.over_budget());
    assert_eq!(b.memory_traces(), 0, "every span that could go is on disk");
    b.decide_due(t0, None, |_, _| false);
    b.keep_to_budget();
    assert!(!b.over_budget(), "decided traces are forgotten to make room");
}

#[test]
fn held_bytes_stay_within_a_fifth_of_the_otlp_size() {
    // 1000 traces of 5 spans with 10 attributes, as the bench holds them.
    let mut spans = Vec::new();
    for t in 0u32..1000 {
        for s in 0u32..5 {
            let attrs = (0..10)
                .map(|a| KeyValue { key: format!("attr.{a}"), value: Some(AnyValue { value: Some(Value::StringValue(format!("value-{a}-{}", t % 50))) }), ..Default::default() })
                .collect();
            spans.push(Span { trace_id: [t.to_be_bytes(); 4].concat(), span_id: [s.to_be_bytes(); 2].concat(), name: "GET /api/v1/items".into(), attributes: attrs, ..Default::default() });
        }
    }
    let req = ExportTraceServiceRequest { resource_spans: vec![ResourceSpans { scope_spans: vec![ScopeSpans { spans, ..Default::default() }], ..Default::default() }] }.encode_to_vec();
    let mut b = TraceBuffer::new(100_000, 0, 0, 0);
    b.add(&Batch::from_request(&req, None).unwrap(), Instant::now());
    let ratio = b.held_bytes() as f64 / req.len() as f64;
    assert!(ratio <= 1.2, "held {} for {} OTLP bytes ({ratio:.2}x)", b.held_bytes(), req.len());
}

#[test]
fn a_large_release_is_decided_in_slices() {
    let t0 = Instant::now();
    let mut b = TraceBuffer::new(10_000, 0, 0, 0);
    // 250 traces of ~20 KB: 5 MB, more than two slices' worth of sampled spans.
    for chunk in (0..250u8).collect::<Vec<_>>().chunks(25) {
        let req = request_padded(chunk, 20_000);
        b.add(&Batch::from_request(&req, None).unwrap(), t0);
    }
    let mut calls = 0;
    let mut sampled = 0;
    loop {
        calls += 1;
        let out = b.decide_due(t0, None, |_, _| true);
        assert!(out.sampled.bytes() <= SLICE_BYTES + 25_000, "a slice ends at its size");
        sampled += out.sampled_traces;
        if !out.more {
            break;
        }
    }
    assert!(calls >= 3, "{calls} slices");
    assert_eq!(sampled, 250);
    assert_eq!(b.pending(), 0);
}

#[test]
fn past_the_budget_decided_traces_are_forgotten_before_pending_ones_spill() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let budget = 256 << 10;
    let mut b = TraceBuffer::new(1_000_000, 0, 0, 0).with_memory_budget(Some(budget));
    b.set_spill(Spill::open(dir.path()).unwrap());
    // Many small traces decided: their ids alone would outgrow the budget.
    for round in 0..40u32 {
        let spans = (0..250u32)
            .map(|i| Span { trace_id: [(round * 250 + i).to_be_bytes(); 4].concat(), span_id: vec![1; 8], ..Default::default() })
            .collect();
        let req = ExportTraceServiceRequest { resource_spans: vec![ResourceSpans { scope_spans: vec![ScopeSpans { spans, ..Default::default() }], ..Default::default() }] }
            .encode_to_vec();
        b.add(&Batch::from_request(&req, None).unwrap(), t0);
        assert!(b.held_bytes() <= budget);
        while b.decide_due(t0, None, |_, _| false).more {}
    }
    assert!(b.len() < 10_000 / 4, "{} decided traces kept of 10000", b.len());
    assert_eq!(b.spill_totals().spilled_traces, 0, "nothing pending had to go to disk");
}
