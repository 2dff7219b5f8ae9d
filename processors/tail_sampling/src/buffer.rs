//! The trace table: every trace held, in arrival order, pending or decided. Pure data (no
//! clock, no I/O), so its rules are tested directly.
//!
//! Arrival order serves both purposes the Collector has a ring for: decisions are due in
//! arrival order (first span + `decision_wait`), and when `num_traces` are held the oldest is
//! evicted. So one queue holds every trace: the decided ones form a prefix, the pending ones
//! the rest. A decided trace stays in the table without its spans, so late spans follow the
//! decision until the trace ages out; the optional decision caches remember ids longer.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracegate_core::data::ResourceSpans;

use crate::trace_data::{Piece, ResourceKey, ScopeKey, TraceData};

pub type TraceId = [u8; 16];

/// A trace id as a fixed key; ids of another length (malformed input) are padded or cut so
/// they still group deterministically.
pub fn trace_key(id: &[u8]) -> TraceId {
    let mut k = [0u8; 16];
    let n = id.len().min(16);
    k[..n].copy_from_slice(&id[..n]);
    k
}

#[derive(Debug)]
enum State {
    Pending(TraceData),
    Sampled,
    NotSampled,
}

/// Remembers up to `cap` decided ids, dropping the oldest first.
#[derive(Debug, Default)]
struct DecisionCache {
    ids: HashSet<TraceId>,
    order: VecDeque<TraceId>,
    cap: usize,
}

impl DecisionCache {
    fn new(cap: usize) -> Self {
        Self { cap, ..Default::default() }
    }

    fn insert(&mut self, id: TraceId) {
        if self.cap == 0 || !self.ids.insert(id) {
            return;
        }
        self.order.push_back(id);
        if self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
    }

    fn contains(&self, id: &TraceId) -> bool {
        self.ids.contains(id)
    }
}

/// What adding a batch did besides buffering.
#[derive(Debug, Default)]
pub struct AddOutcome {
    /// Spans of traces already sampled: to send on.
    pub late_sampled: Vec<Piece>,
    /// Spans of traces already not sampled: dropped.
    pub late_dropped: usize,
    /// Undecided traces evicted to make room, and their spans (dropped).
    pub evicted_traces: usize,
    pub evicted_spans: usize,
}

#[derive(Debug, Default)]
pub struct DecideOutcome {
    pub sampled: Vec<Piece>,
    pub sampled_traces: usize,
    pub not_sampled_traces: usize,
    pub dropped_spans: usize,
}

pub struct TraceBuffer {
    traces: HashMap<TraceId, State>,
    /// Every trace in the table, oldest first, with its first span's arrival.
    order: VecDeque<(TraceId, Instant)>,
    /// `order[..first_pending]` are decided.
    first_pending: usize,
    num_traces: usize,
    sampled_cache: DecisionCache,
    not_sampled_cache: DecisionCache,
}

impl TraceBuffer {
    pub fn new(num_traces: usize, expected_traces: usize, sampled_cache: usize, not_sampled_cache: usize) -> Self {
        // Pre-sizing is a hint: capped, so a large setting cannot demand memory up front.
        let cap = expected_traces.min(num_traces).min(1 << 20);
        Self {
            traces: HashMap::with_capacity(cap),
            order: VecDeque::with_capacity(cap),
            first_pending: 0,
            num_traces: num_traces.max(1),
            sampled_cache: DecisionCache::new(sampled_cache),
            not_sampled_cache: DecisionCache::new(not_sampled_cache),
        }
    }

    /// Traces held (pending and decided).
    pub fn len(&self) -> usize {
        self.traces.len()
    }

    pub fn is_empty(&self) -> bool {
        self.traces.is_empty()
    }

    pub fn pending(&self) -> usize {
        self.order.len() - self.first_pending
    }

    /// Sorts a batch's spans into the table.
    pub fn add(&mut self, batch: Vec<ResourceSpans>, now: Instant) -> AddOutcome {
        self.add_of_tenant(batch, None, now)
    }

    /// [`Self::add`] for a batch of `tenant`: its pieces keep the tenant.
    pub fn add_of_tenant(&mut self, batch: Vec<ResourceSpans>, tenant: Option<Arc<str>>, now: Instant) -> AddOutcome {
        let mut out = AddOutcome::default();
        for rs in batch {
            let resource = Arc::new(ResourceKey { resource: rs.resource, schema_url: rs.schema_url, tenant: tenant.clone() });
            for ss in rs.scope_spans {
                let scope = Arc::new(ScopeKey { scope: ss.scope, schema_url: ss.schema_url });
                for span in ss.spans {
                    let id = trace_key(&span.trace_id);
                    match self.traces.get_mut(&id) {
                        Some(State::Pending(data)) => data.push(&resource, &scope, span),
                        Some(State::Sampled) => push_piece(&mut out.late_sampled, &resource, &scope, span),
                        Some(State::NotSampled) => out.late_dropped += 1,
                        None if self.sampled_cache.contains(&id) => push_piece(&mut out.late_sampled, &resource, &scope, span),
                        None if self.not_sampled_cache.contains(&id) => out.late_dropped += 1,
                        None => {
                            self.make_room(&mut out);
                            let mut data = TraceData::default();
                            data.push(&resource, &scope, span);
                            self.traces.insert(id, State::Pending(data));
                            self.order.push_back((id, now));
                        }
                    }
                }
            }
        }
        out
    }

    fn make_room(&mut self, out: &mut AddOutcome) {
        while self.traces.len() >= self.num_traces {
            let Some((old, _)) = self.order.pop_front() else { return };
            if self.first_pending > 0 {
                self.first_pending -= 1;
            }
            if let Some(State::Pending(data)) = self.traces.remove(&old) {
                out.evicted_traces += 1;
                out.evicted_spans += data.span_count;
            }
        }
    }

    /// Decides every pending trace whose first span arrived `wait` ago or earlier (all of
    /// them with `wait = None`), in arrival order.
    pub fn decide_due(&mut self, now: Instant, wait: Option<Duration>, mut decide: impl FnMut(&TraceId, &TraceData) -> bool) -> DecideOutcome {
        let mut out = DecideOutcome::default();
        while let Some((id, arrived)) = self.order.get(self.first_pending).copied() {
            if let Some(wait) = wait {
                if now.saturating_duration_since(arrived) < wait {
                    break;
                }
            }
            self.first_pending += 1;
            let Some(state) = self.traces.get_mut(&id) else { continue };
            let State::Pending(data) = std::mem::replace(state, State::NotSampled) else { continue };
            if decide(&id, &data) {
                *state = State::Sampled;
                self.sampled_cache.insert(id);
                out.sampled_traces += 1;
                out.sampled.extend(data.pieces);
            } else {
                self.not_sampled_cache.insert(id);
                out.not_sampled_traces += 1;
                out.dropped_spans += data.span_count;
            }
        }
        out
    }

    /// Estimated bytes held for pending traces' spans (see [`TraceData::approx_bytes`]).
    pub fn approx_span_bytes(&self) -> usize {
        self.traces.values().map(|s| if let State::Pending(d) = s { d.approx_bytes() } else { 0 }).sum()
    }
}

fn push_piece(out: &mut Vec<Piece>, resource: &Arc<ResourceKey>, scope: &Arc<ScopeKey>, span: tracegate_core::data::Span) {
    match out.last_mut() {
        Some(p) if Arc::ptr_eq(&p.resource, resource) && Arc::ptr_eq(&p.scope, scope) => p.spans.push(span),
        _ => out.push(Piece { resource: resource.clone(), scope: scope.clone(), spans: vec![span] }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use tracegate_core::data::{ScopeSpans, Span};

    fn batch(ids: &[u8]) -> Vec<ResourceSpans> {
        let spans = ids.iter().map(|i| Span { trace_id: vec![*i; 16], span_id: vec![1; 8], ..Default::default() }).collect();
        vec![ResourceSpans { scope_spans: vec![ScopeSpans { spans, ..Default::default() }], ..Default::default() }]
    }

    const WAIT: Option<Duration> = Some(Duration::from_secs(10));

    #[test]
    fn decides_after_the_wait_in_arrival_order() {
        let t0 = Instant::now();
        let mut b = TraceBuffer::new(100, 0, 0, 0);
        b.add(batch(&[1, 1, 2]), t0);
        b.add(batch(&[3]), t0 + Duration::from_secs(5));
        let mut seen = Vec::new();
        let out = b.decide_due(t0 + Duration::from_secs(10), WAIT, |id, t| {
            seen.push((id[0], t.span_count));
            id[0] == 1
        });
        assert_eq!(seen, vec![(1, 2), (2, 1)], "trace 3 is not due yet");
        assert_eq!((out.sampled_traces, out.not_sampled_traces, out.dropped_spans), (1, 1, 1));
        assert_eq!(out.sampled.iter().map(|p| p.spans.len()).sum::<usize>(), 2);
        assert_eq!(b.pending(), 1);
        let out = b.decide_due(t0, None, |_, _| true);
        assert_eq!(out.sampled_traces, 1, "a flush decides everything");
    }

    #[test]
    fn late_spans_follow_the_decision() {
        let t0 = Instant::now();
        let mut b = TraceBuffer::new(100, 0, 0, 0);
        b.add(batch(&[1, 2]), t0);
        b.decide_due(t0, None, |id, _| id[0] == 1);
        let out = b.add(batch(&[1, 2, 2]), t0);
        assert_eq!(out.late_sampled.iter().map(|p| p.spans.len()).sum::<usize>(), 1);
        assert_eq!(out.late_dropped, 2);
        assert_eq!(b.pending(), 0);
    }

    #[test]
    fn full_table_evicts_the_oldest_and_counts_undecided_ones() {
        let t0 = Instant::now();
        let mut b = TraceBuffer::new(3, 0, 0, 0);
        b.add(batch(&[1, 1, 2, 3]), t0);
        b.decide_due(t0, None, |id, _| id[0] == 1); // 1..3 decided
        b.add(batch(&[4]), t0); // evicts decided 1: not counted
        let out = b.add(batch(&[5, 6]), t0); // evicts decided 2, 3
        assert_eq!((out.evicted_traces, out.evicted_spans), (0, 0));
        let out = b.add(batch(&[7, 7]), t0); // evicts pending 4
        assert_eq!((out.evicted_traces, out.evicted_spans), (1, 1));
        assert_eq!(b.len(), 3);
        assert_eq!(b.pending(), 3);
        // Trace 1 aged out of the table with no cache: a late span starts a new trace.
        b.add(batch(&[1]), t0);
        assert_eq!(b.pending(), 3);
    }

    #[test]
    fn decision_caches_outlive_the_table() {
        let t0 = Instant::now();
        let mut b = TraceBuffer::new(2, 0, 10, 10);
        b.add(batch(&[1, 2]), t0);
        b.decide_due(t0, None, |id, _| id[0] == 1);
        b.add(batch(&[3, 4]), t0); // both decided traces evicted from the table
        let out = b.add(batch(&[1, 2]), t0);
        assert_eq!(out.late_sampled.len(), 1);
        assert_eq!(out.late_dropped, 1);
    }

    #[test]
    fn empty_batch_and_odd_ids() {
        let mut b = TraceBuffer::new(10, 0, 0, 0);
        let out = b.add(Vec::new(), Instant::now());
        assert_eq!(out.late_dropped + out.evicted_spans, 0);
        let odd = vec![ResourceSpans {
            scope_spans: vec![ScopeSpans { spans: vec![Span { trace_id: vec![9; 3], ..Default::default() }, Span::default()], ..Default::default() }],
            ..Default::default()
        }];
        b.add(odd, Instant::now());
        assert_eq!(b.len(), 2);
    }
}
