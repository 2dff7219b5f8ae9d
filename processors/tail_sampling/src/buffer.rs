//! The trace table: every trace held, in arrival order, pending or decided, with its spans as
//! OTLP bytes in memory or spilled to disk. No clock (the caller passes instants) and no
//! logging (outcomes say what happened), so its rules are tested directly.
//!
//! Arrival order serves both purposes the Collector has a ring for: decisions are due in
//! arrival order (first span + `decision_wait`), and when `num_traces` are held the oldest is
//! evicted. So one queue holds every trace: the decided ones form a prefix, the pending ones
//! the rest. A decided trace stays in the table without its spans, so late spans follow the
//! decision until the trace ages out; the optional decision caches remember ids longer.
//!
//! The memory budget ([`TraceBuffer::with_memory_budget`]) counts what the table holds: span
//! bytes with their slack, interned heads, and the table itself (map, queue and caches, from
//! their capacities). Past it, the oldest pending traces' in-memory spans are spilled
//! ([`crate::spill`]) in one write, down to an eighth of the budget (at most 2 MiB) under it,
//! so that writes come in batches but one batch's buffer stays small; without a spill, or when the disk refuses, those traces are dropped and counted. Spans that
//! arrive for a spilled trace are held in memory and spilled in turn (chained, see
//! [`crate::spill_chunk`]); at the decision the chunks are read back and joined. Decided
//! traces (kept without their spans so late spans follow the decision) may take an eighth of
//! the budget: past it the oldest are forgotten first, before anything is spilled. If the table
//! alone (ids of spilled traces) outgrows the budget, decided traces are forgotten, and then
//! [`TraceBuffer::over_budget`] tells the processor to refuse new data until decisions make
//! room.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use crate::heads::{HeadId, Heads};
use crate::held::{HeldTrace, TraceView};
use crate::ingest::Batch;
use crate::release::ReleaseBuilder;
use crate::spill::{Spill, SpillError, SpillRef};
use crate::spill_chunk;
use crate::table::ShardedMap;

pub type TraceId = [u8; 16];

/// A trace id as a fixed key; ids of another length (malformed input) are padded or cut so
/// they still group deterministically.
pub fn trace_key(id: &[u8]) -> TraceId {
    let mut k = [0u8; 16];
    let n = id.len().min(16);
    k[..n].copy_from_slice(&id[..n]);
    k
}

struct Pending {
    /// Spans in memory (all of them, or those that arrived since the last spill).
    memory: HeldTrace,
    /// The last chunk spilled (it links to the ones before); `len` 0: none. Not an `Option`,
    /// which would take 4 more bytes in every entry of the table.
    spilled: SpillRef,
    spilled_spans: u32,
}

const NOT_SPILLED: SpillRef = SpillRef { segment: 0, offset: 0, len: 0 };

impl Default for Pending {
    fn default() -> Self {
        Self { memory: HeldTrace::default(), spilled: NOT_SPILLED, spilled_spans: 0 }
    }
}

impl Pending {
    fn span_count(&self) -> usize {
        self.memory.span_count() + self.spilled_spans as usize
    }

    fn last_spill(&self) -> Option<SpillRef> {
        (self.spilled.len > 0).then_some(self.spilled)
    }
}

enum State {
    Pending(Pending),
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

    fn held_bytes(&self) -> usize {
        self.ids.capacity() * (std::mem::size_of::<TraceId>() + 1) + self.order.capacity() * std::mem::size_of::<TraceId>()
    }
}

/// What adding a batch did besides holding its spans.
#[derive(Default)]
pub struct AddOutcome {
    /// Spans of traces already sampled: to send on.
    pub late_sampled: ReleaseBuilder,
    /// Spans of traces already not sampled: dropped.
    pub late_dropped: usize,
    /// Undecided traces evicted because `num_traces` were held, and their spans (dropped).
    pub evicted_traces: usize,
    pub evicted_spans: usize,
    pub budget: BudgetOutcome,
}

/// What keeping to the memory budget did.
#[derive(Default, Debug)]
pub struct BudgetOutcome {
    /// Undecided traces dropped because they could not be spilled (no spill configured, or
    /// the write failed), and their spans.
    pub dropped_traces: usize,
    pub dropped_spans: usize,
    /// The write error, when the spill failed.
    pub spill_error: Option<SpillError>,
}

#[derive(Default)]
pub struct DecideOutcome {
    pub sampled: ReleaseBuilder,
    pub sampled_traces: usize,
    pub not_sampled_traces: usize,
    /// Spans of traces not sampled.
    pub dropped_spans: usize,
    /// Spans lost because their spilled chunk could not be read back.
    pub lost_spans: usize,
    pub read_error: Option<SpillError>,
    /// Stopped at a slice's end with due traces left: call again (after sending these).
    pub more: bool,
}

/// What one trace costs in the table: its map entry (with the control byte) and its place in
/// the arrival queue.
pub(crate) const ENTRY_BYTES: usize = std::mem::size_of::<(TraceId, State)>() + 1 + std::mem::size_of::<(TraceId, u64)>();

/// One call of [`TraceBuffer::decide_due`] stops once its sampled spans reach this many bytes
/// (one outgoing request) or it decided this many traces, so what a tick releases is sent,
/// and its memory freed, before the next slice is read back and copied, and the table's lock
/// is not held for a whole tick's decisions at once.
pub const SLICE_BYTES: usize = crate::release::MAX_REQUEST_BYTES;
pub const SLICE_TRACES: usize = 10_000;

/// Running totals of the spill, for the processor's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpillTotals {
    pub spilled_traces: u64,
    pub spilled_bytes: u64,
    pub read_back_traces: u64,
    pub read_back_bytes: u64,
}

pub struct TraceBuffer {
    traces: ShardedMap<State>,
    /// Every trace in the table, oldest first, with its first span's arrival (milliseconds
    /// after `epoch`: 8 bytes instead of an `Instant`'s 16, in every entry).
    order: VecDeque<(TraceId, u64)>,
    /// The first instant the table was given.
    epoch: Option<Instant>,
    /// `order[..first_pending]` are decided.
    first_pending: usize,
    num_traces: usize,
    sampled_cache: DecisionCache,
    not_sampled_cache: DecisionCache,
    resources: Heads,
    scopes: Heads,
    budget: Option<usize>,
    spill: Option<Spill>,
    /// Heap bytes of the pending traces' in-memory spans.
    memory_bytes: usize,
    /// Pending traces with spans in memory.
    memory_traces: usize,
    /// Pending traces with spans on disk.
    spilled_traces: usize,
    /// Spilled traces that have spans in memory too (arrived after the spill).
    late_memory_traces: usize,
    /// `order[first_pending..spill_cursor]` were spilled, dropped or had nothing in memory
    /// when last looked at: the next spill starts after them.
    spill_cursor: usize,
    totals: SpillTotals,
}

impl TraceBuffer {
    pub fn new(num_traces: usize, expected_traces: usize, sampled_cache: usize, not_sampled_cache: usize) -> Self {
        // Pre-sizing is a hint: capped, so a large setting cannot demand memory up front.
        let cap = expected_traces.min(num_traces).min(1 << 20);
        Self {
            traces: ShardedMap::with_capacity(cap),
            order: VecDeque::with_capacity(cap),
            epoch: None,
            first_pending: 0,
            num_traces: num_traces.max(1),
            sampled_cache: DecisionCache::new(sampled_cache),
            not_sampled_cache: DecisionCache::new(not_sampled_cache),
            resources: Heads::default(),
            scopes: Heads::default(),
            budget: None,
            spill: None,
            memory_bytes: 0,
            memory_traces: 0,
            spilled_traces: 0,
            late_memory_traces: 0,
            spill_cursor: 0,
            totals: SpillTotals::default(),
        }
    }

    /// Bounds the bytes held in memory (see the module docs); `None`: no bound but
    /// `num_traces`. A pre-sized table is shrunk to at most half the budget.
    pub fn with_memory_budget(mut self, bytes: Option<usize>) -> Self {
        self.budget = bytes;
        if let Some(budget) = bytes {
            let entry = ENTRY_BYTES;
            let fits = budget / 2 / entry;
            if self.traces.capacity() > fits {
                self.traces.shrink_to(fits);
                self.order.shrink_to(fits);
            }
        }
        self
    }

    /// Where traces go past the budget.
    pub fn set_spill(&mut self, spill: Spill) {
        self.spill = Some(spill);
    }

    pub fn has_spill(&self) -> bool {
        self.spill.is_some()
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

    /// Pending traces with spans in memory.
    pub fn memory_traces(&self) -> usize {
        self.memory_traces
    }

    /// Pending traces with spans on disk.
    pub fn spilled_traces(&self) -> usize {
        self.spilled_traces
    }

    /// Bytes the spill's files take now.
    pub fn spill_bytes(&self) -> u64 {
        self.spill.as_ref().map_or(0, Spill::bytes_on_disk)
    }

    pub fn spill_totals(&self) -> SpillTotals {
        self.totals
    }

    /// Bytes held in memory: spans, heads and the table (what the budget bounds).
    pub fn held_bytes(&self) -> usize {
        let table = self.traces.table_bytes() + self.order.capacity() * std::mem::size_of::<(TraceId, u64)>();
        self.memory_bytes
            + self.resources.held_bytes()
            + self.scopes.held_bytes()
            + table
            + self.sampled_cache.held_bytes()
            + self.not_sampled_cache.held_bytes()
    }

    #[cfg(test)]
    pub fn debug_sizes(&self) -> String {
        format!(
            "memory {} in {} traces ({} late), heads {}+{}, map {} cap {}, order {} cap {}, spilled {}, cursor {} first_pending {}",
            self.memory_bytes,
            self.memory_traces,
            self.late_memory_traces,
            self.resources.held_bytes(),
            self.scopes.held_bytes(),
            self.traces.len(),
            self.traces.capacity(),
            self.order.len(),
            self.order.capacity(),
            self.spilled_traces,
            self.spill_cursor,
            self.first_pending
        )
    }

    /// Bytes of the pending traces' spans in memory, with their buffers' slack.
    pub fn span_bytes(&self) -> usize {
        self.memory_bytes
    }

    /// Still over the budget after making room: new data should wait.
    pub fn over_budget(&self) -> bool {
        self.budget.is_some_and(|b| self.held_bytes() > b)
    }

    /// Sorts a batch's spans into the table, then keeps to the budget.
    pub fn add(&mut self, batch: &Batch<'_>, now: Instant) -> AddOutcome {
        let mut out = AddOutcome::default();
        // Heads interned for this batch, each holding one reference of its own until the end,
        // so an eviction in between cannot free (and reuse) an id still to be written.
        let mut resource_ids: Vec<Option<HeadId>> = vec![None; batch.resources.len()];
        let mut scope_ids: Vec<Option<HeadId>> = vec![None; batch.scopes.len()];
        for run in &batch.runs {
            let spans = batch.spans_of(run);
            let resource_head = batch.resources.get(run.resource as usize).map_or(&[][..], Vec::as_slice);
            let scope_head = batch.scopes.get(run.scope as usize).map_or(&[][..], Vec::as_slice);
            let id = run.trace;
            let known = match self.traces.get(&id) {
                Some(State::Pending(_)) => Some(true),
                Some(State::Sampled) => Some(false),
                Some(State::NotSampled) => None,
                None if self.sampled_cache.contains(&id) => Some(false),
                None if self.not_sampled_cache.contains(&id) => None,
                None => {
                    self.make_room(&mut out);
                    self.traces.insert(id, State::Pending(Pending::default()));
                    let arrived = self.millis(now);
                    self.order.push_back((id, arrived));
                    Some(true)
                }
            };
            match known {
                Some(false) => out.late_sampled.add_spans(batch.tenant.as_ref(), resource_head, scope_head, spans),
                None => out.late_dropped += spans.len(),
                Some(true) => {
                    let r = intern(&mut self.resources, &mut resource_ids, run.resource, batch.tenant.as_ref(), resource_head);
                    let s = intern(&mut self.scopes, &mut scope_ids, run.scope, None, scope_head);
                    let Some(State::Pending(p)) = self.traces.get_mut(&id) else { continue };
                    if p.memory.is_empty() {
                        self.memory_traces += 1;
                        if p.last_spill().is_some() {
                            self.late_memory_traces += 1;
                        }
                    }
                    let before = p.memory.capacity();
                    p.memory.push_spans(r, s, spans);
                    self.memory_bytes += p.memory.capacity() - before;
                }
            }
        }
        for id in resource_ids.into_iter().flatten() {
            self.resources.release(id);
        }
        for id in scope_ids.into_iter().flatten() {
            self.scopes.release(id);
        }
        out.budget = self.keep_to_budget();
        out
    }

    fn make_room(&mut self, out: &mut AddOutcome) {
        while self.traces.len() >= self.num_traces {
            let Some((old, _)) = self.order.pop_front() else { return };
            self.first_pending = self.first_pending.saturating_sub(1);
            self.spill_cursor = self.spill_cursor.saturating_sub(1);
            if let Some(State::Pending(p)) = self.traces.remove(&old) {
                out.evicted_traces += 1;
                out.evicted_spans += self.discard(p);
            }
        }
    }

    /// Frees what a pending trace holds (memory, heads, spilled chunks); returns its spans.
    fn discard(&mut self, p: Pending) -> usize {
        let spans = p.span_count();
        self.forget_memory(&p);
        p.memory.release_heads(&mut self.resources, &mut self.scopes);
        if let Some(last) = p.last_spill() {
            self.spilled_traces = self.spilled_traces.saturating_sub(1);
            if let Some(spill) = &mut self.spill {
                // The chain's links are in the chunks: read each to find the one before.
                let mut next = Some(last);
                while let Some(r) = next {
                    next = spill.read(r).ok().and_then(|c| spill_chunk::prev(&c).ok().flatten());
                    spill.free(r);
                }
            }
        }
        spans
    }

    /// Takes a pending trace's in-memory part off the memory account.
    fn forget_memory(&mut self, p: &Pending) {
        if p.memory.is_empty() {
            return;
        }
        self.memory_traces = self.memory_traces.saturating_sub(1);
        self.memory_bytes = self.memory_bytes.saturating_sub(p.memory.capacity());
        if p.last_spill().is_some() {
            self.late_memory_traces = self.late_memory_traces.saturating_sub(1);
        }
    }

    /// Decides the pending traces whose first span arrived `wait` ago or earlier (all of
    /// them with `wait = None`), in arrival order, one slice at a time (see [`SLICE_BYTES`]:
    /// `more` says whether due traces are left); spilled spans are read back first.
    pub fn decide_due(&mut self, now: Instant, wait: Option<Duration>, mut decide: impl FnMut(&TraceId, &TraceView<'_>) -> bool) -> DecideOutcome {
        let mut out = DecideOutcome::default();
        let now = self.millis(now);
        let wait = wait.map(|w| u64::try_from(w.as_millis()).unwrap_or(u64::MAX));
        while let Some((id, arrived)) = self.order.get(self.first_pending).copied() {
            if let Some(wait) = wait {
                if now.saturating_sub(arrived) < wait {
                    break;
                }
            }
            if out.sampled.bytes() >= SLICE_BYTES || out.sampled_traces + out.not_sampled_traces >= SLICE_TRACES {
                out.more = true;
                break;
            }
            self.first_pending += 1;
            let Some(state) = self.traces.get_mut(&id) else { continue };
            let p = match std::mem::replace(state, State::NotSampled) {
                State::Pending(p) => p,
                other => {
                    *state = other;
                    continue;
                }
            };
            let trace = self.assemble(p, &mut out);
            if decide(&id, &TraceView::new(&trace, &self.resources)) {
                if let Some(state) = self.traces.get_mut(&id) {
                    *state = State::Sampled;
                }
                self.sampled_cache.insert(id);
                out.sampled_traces += 1;
                out.sampled.add_trace(&trace, &self.resources, &self.scopes);
            } else {
                self.not_sampled_cache.insert(id);
                out.not_sampled_traces += 1;
                out.dropped_spans += trace.span_count();
            }
            trace.release_heads(&mut self.resources, &mut self.scopes);
        }
        self.spill_cursor = self.spill_cursor.max(self.first_pending);
        self.shrink_if_sparse();
        out
    }

    /// `now` as milliseconds after the first instant the table was given (instants before
    /// it count as it).
    fn millis(&mut self, now: Instant) -> u64 {
        let epoch = *self.epoch.get_or_insert(now);
        u64::try_from(now.saturating_duration_since(epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// Gives memory back after a burst: a map or queue at a quarter of its capacity shrinks.
    fn shrink_if_sparse(&mut self) {
        self.traces.shrink_sparse();
        if self.order.capacity() > 4096 && self.order.len() * 4 < self.order.capacity() {
            self.order.shrink_to(self.order.len() * 2);
        }
    }
}

fn intern(heads: &mut Heads, ids: &mut [Option<HeadId>], index: u32, tenant: Option<&std::sync::Arc<str>>, head: &[u8]) -> HeadId {
    match ids.get_mut(index as usize) {
        Some(Some(id)) => {
            heads.retain(*id);
            *id
        }
        Some(slot) => {
            // One reference for the batch's cache, one for the record.
            let id = heads.intern(tenant, head);
            heads.retain(id);
            *slot = Some(id);
            id
        }
        None => heads.intern(tenant, head),
    }
}

#[path = "buffer_budget.rs"]
mod budget;

#[cfg(test)]
#[path = "buffer_tests.rs"]
mod tests;
