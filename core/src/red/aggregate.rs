//! The write side of RED metrics: a [`Recorder`] counts each stored span into a per-minute
//! aggregate keyed by (service, operation, span kind) — calls, errors and a latency
//! [`Histogram`] — and into cumulative per-(key, status code) counters for Prometheus
//! ([`crate::red::prometheus`]).
//!
//! Minutes stay in memory while spans may still arrive for them (the current and the previous
//! minute by the writer's clock); older ones are handed to the store with [`Recorder::take_due`]
//! to be merged into what it holds (a late span merges into a minute already stored). A
//! query adds what is still pending ([`Recorder::pending_rows`]), so nothing acknowledged is
//! missing from an answer.
//!
//! Keys are bounded: past `cardinality_limit` distinct (service, operation, kind) keys, a new
//! key's spans are counted under one overflow key (the spanmetrics connector's
//! `otel.metric.overflow="true"` series), so span names that carry ids cannot grow memory
//! without bound. One lock is taken per batch, not per span.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::histogram::Histogram;
use crate::fast_hash::FastMap;

/// The service and operation that overflowed spans are counted under (the connector's
/// attribute, as a name no real service is likely to have).
pub const OVERFLOW: &str = "otel.metric.overflow";

/// The default bound on distinct (service, operation, kind) keys.
pub const DEFAULT_CARDINALITY_LIMIT: usize = 5000;

/// What the recorder reads of one span (no decode: the store passes its view's fields).
#[derive(Clone, Copy, Debug)]
pub struct SpanSample<'a> {
    pub service: &'a str,
    pub operation: &'a str,
    /// OTLP span kind (0 unspecified .. 5 consumer).
    pub kind: i32,
    /// OTLP status code (0 unset, 1 ok, 2 error).
    pub status_code: i32,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
}

/// A span resolved to its key ([`Resolver::resolve`]), with what is counted of it.
#[derive(Clone, Copy, Debug)]
pub struct Resolved {
    id: u32,
    /// 0 unset, 1 ok, 2 error.
    status: u8,
    start_unix_nano: u64,
    nanos: u64,
}

/// Resolves the spans of one batch to their keys, holding the recorder's lock
/// ([`Recorder::resolver`]); `'a` is the spans' bytes.
pub struct Resolver<'r, 'a> {
    state: std::sync::MutexGuard<'r, State>,
    limit: usize,
    /// The previous span's key: spans of one service and operation come in runs.
    last: Option<(&'a str, &'a str, u8, u32)>,
}

impl<'a> Resolver<'_, 'a> {
    pub fn resolve(&mut self, s: SpanSample<'a>) -> Resolved {
        let kind = kind_of(s.kind);
        let id = match self.last {
            Some((svc, op, k, id)) if k == kind && svc == s.service && op == s.operation => id,
            _ => {
                let (id, over) = self.state.id_of(s.service, s.operation, kind, self.limit);
                if !over {
                    self.last = Some((s.service, s.operation, kind, id));
                }
                id
            }
        };
        Resolved {
            id,
            status: s.status_code.clamp(0, 2) as u8,
            start_unix_nano: s.start_unix_nano,
            nanos: s.end_unix_nano.saturating_sub(s.start_unix_nano),
        }
    }
}

/// One key's counts over one minute.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Agg {
    pub calls: u64,
    pub errors: u64,
    pub latency: Histogram,
}

impl Agg {
    pub fn merge(&mut self, other: &Agg) {
        self.calls = self.calls.saturating_add(other.calls);
        self.errors = self.errors.saturating_add(other.errors);
        self.latency.merge(&other.latency);
    }
}

/// One key's aggregate of one minute, as stores hand them to a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// Minutes since the Unix epoch.
    pub minute: u64,
    pub service: Arc<str>,
    pub operation: Arc<str>,
    pub kind: u8,
    pub agg: Agg,
}

/// One operation and kind of a service's minute: (operation, kind, aggregate).
pub type Entry = (Arc<str>, u8, Agg);

/// A minute of one service, ready to be merged into a store.
pub struct DueMinute {
    pub minute: u64,
    pub service: Arc<str>,
    pub entries: Vec<Entry>,
}

pub(crate) struct Key {
    pub service: Arc<str>,
    pub operation: Arc<str>,
    pub kind: u8,
    pub overflow: bool,
}

/// Cumulative counts of one (key, status code) for Prometheus: calls, the connector's
/// millisecond buckets (not cumulative here) and the sum of durations in milliseconds.
#[derive(Clone, Default)]
pub(crate) struct Totals {
    pub calls: u64,
    pub buckets: [u64; super::prometheus::BOUNDS_MS.len() + 1],
    pub sum_ms: f64,
}

#[derive(Default)]
pub(crate) struct State {
    ids: HashMap<u64, u32>,
    pub keys: Vec<Key>,
    overflow: Option<u32>,
    pending: BTreeMap<u64, FastMap<u32, Agg>>,
    /// Per key id, per status code (unset, ok, error).
    pub totals: Vec<[Option<Box<Totals>>; 3]>,
}

pub struct Recorder {
    pub(crate) state: Mutex<State>,
    limit: AtomicUsize,
    overflowed: AtomicU64,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new(DEFAULT_CARDINALITY_LIMIT)
    }
}

fn fold(h: u64, bytes: &[u8]) -> u64 {
    const M: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = h ^ (bytes.len() as u64).wrapping_mul(M);
    // Whole words read as such: a copy of a variable length into a padded word was a call to
    // memmove per word, ~2.4% of the all-in-one's fill (this runs for every span stored).
    let words = bytes.chunks_exact(8);
    let tail = words.remainder();
    for word in words {
        h = (h ^ u64::from_le_bytes(word.try_into().unwrap_or([0; 8]))).wrapping_mul(M).rotate_left(31);
    }
    if !tail.is_empty() {
        // The tail zero-padded, as a little-endian word.
        let w = tail.iter().enumerate().fold(0u64, |w, (i, b)| w | u64::from(*b) << (8 * i));
        h = (h ^ w).wrapping_mul(M).rotate_left(31);
    }
    h
}

fn key_hash(service: &str, operation: &str, kind: u8) -> u64 {
    let h = fold(fold(0xcbf2_9ce4_8422_2325, service.as_bytes()), operation.as_bytes()) ^ u64::from(kind);
    (h ^ (h >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9)
}

/// OTLP's kinds 0..=5; anything else counts as unspecified.
fn kind_of(kind: i32) -> u8 {
    if (0..=5).contains(&kind) {
        kind as u8
    } else {
        0
    }
}

impl State {
    fn id_of(&mut self, service: &str, operation: &str, kind: u8, limit: usize) -> (u32, bool) {
        let mut h = key_hash(service, operation, kind);
        while let Some(&id) = self.ids.get(&h) {
            if let Some(k) = self.keys.get(id as usize) {
                if !k.overflow && &*k.service == service && &*k.operation == operation && k.kind == kind {
                    return (id, false);
                }
            }
            // Another key with the same hash: probe the next.
            h = h.wrapping_add(1);
        }
        let real = self.keys.len() - usize::from(self.overflow.is_some());
        if real >= limit {
            let id = match self.overflow {
                Some(id) => id,
                None => {
                    let id = self.push(Key { service: Arc::from(OVERFLOW), operation: Arc::from(OVERFLOW), kind: 0, overflow: true });
                    self.overflow = Some(id);
                    id
                }
            };
            return (id, true);
        }
        let id = self.push(Key { service: Arc::from(service), operation: Arc::from(operation), kind, overflow: false });
        self.ids.insert(h, id);
        (id, false)
    }

    fn push(&mut self, key: Key) -> u32 {
        self.keys.push(key);
        self.totals.push(Default::default());
        (self.keys.len() - 1) as u32
    }
}

impl Recorder {
    pub fn new(cardinality_limit: usize) -> Self {
        Self { state: Mutex::default(), limit: AtomicUsize::new(cardinality_limit), overflowed: AtomicU64::new(0) }
    }

    /// Changes the bound on keys (keys already counted stay).
    pub fn set_cardinality_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// Spans counted under the overflow key so far.
    pub fn overflowed_spans(&self) -> u64 {
        self.overflowed.load(Ordering::Relaxed)
    }

    /// Counts a batch of spans ([`Recorder::resolver`] then [`Recorder::count`]).
    pub fn record<'a>(&self, spans: impl IntoIterator<Item = SpanSample<'a>>) {
        let resolved: Vec<Resolved> = {
            let mut resolver = self.resolver();
            spans.into_iter().map(|s| resolver.resolve(s)).collect()
        };
        self.count(&resolved);
    }

    /// Resolves spans to their keys, under one lock for the batch. A store calls it while it
    /// reads each span anyway, and counts the spans with [`Recorder::count`] once they are
    /// stored: looking a key up later, from a pass of its own, read every span's service and
    /// operation bytes a second time, a cache miss per span (~3% of the all-in-one's fill).
    pub fn resolver<'a>(&self) -> Resolver<'_, 'a> {
        Resolver {
            state: self.state.lock().unwrap_or_else(|p| p.into_inner()),
            limit: self.limit.load(Ordering::Relaxed),
            last: None,
        }
    }

    /// Counts resolved spans.
    pub fn count(&self, spans: &[Resolved]) {
        let mut overflowed = 0;
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let State { pending, totals, overflow, .. } = &mut *state;
        let minute = |s: &Resolved| s.start_unix_nano / 60_000_000_000;
        // Spans of a batch mostly share their minute: its counts are looked up once per run.
        for run in spans.chunk_by(|a, b| minute(a) == minute(b)) {
            let Some(first) = run.first() else { continue };
            let aggs = pending.entry(minute(first)).or_default();
            for s in run {
                if *overflow == Some(s.id) {
                    overflowed += 1;
                }
                let agg = aggs.entry(s.id).or_default();
                agg.calls += 1;
                agg.errors += u64::from(s.status == 2);
                agg.latency.observe(s.nanos / 1000);
                if let Some(slot) = totals.get_mut(s.id as usize).and_then(|t| t.get_mut(usize::from(s.status))) {
                    let totals = slot.get_or_insert_with(Box::default);
                    totals.calls += 1;
                    let ms = s.nanos as f64 / 1e6;
                    totals.sum_ms += ms;
                    let b = super::prometheus::BOUNDS_MS.partition_point(|bound| *bound < ms);
                    if let Some(c) = totals.buckets.get_mut(b) {
                        *c += 1;
                    }
                }
            }
        }
        drop(state);
        if overflowed > 0 {
            self.overflowed.fetch_add(overflowed, Ordering::Relaxed);
        }
    }

    /// Removes and returns the minutes that start before `now_secs`'s previous minute (all of
    /// them with `all`), grouped by service.
    pub fn take_due(&self, now_secs: u64, all: bool) -> Vec<DueMinute> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let keep_from = if all { u64::MAX } else { (now_secs / 60).saturating_sub(1) };
        let later = state.pending.split_off(&keep_from);
        let due = std::mem::replace(&mut state.pending, later);
        let mut out = Vec::new();
        for (minute, aggs) in due {
            let mut by_service: BTreeMap<Arc<str>, Vec<Entry>> = BTreeMap::new();
            for (id, agg) in aggs {
                let Some(k) = state.keys.get(id as usize) else { continue };
                by_service.entry(k.service.clone()).or_default().push((k.operation.clone(), k.kind, agg));
            }
            for (service, mut entries) in by_service {
                entries.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
                out.push(DueMinute { minute, service, entries });
            }
        }
        out
    }

    /// Puts minutes back (a store that could not write them keeps them for the next flush).
    pub fn put_back(&self, due: Vec<DueMinute>) {
        let limit = usize::MAX; // These keys were admitted already.
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        for d in due {
            for (op, kind, agg) in d.entries {
                let (id, _) = state.id_of(&d.service, &op, kind, limit);
                state.pending.entry(d.minute).or_default().entry(id).or_default().merge(&agg);
            }
        }
    }

    /// The pending minutes the request asks for (minute rows: [`super::evaluate`] files them
    /// under their block).
    pub fn pending_rows(&self, request: &super::RowRequest) -> Vec<Row> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut rows = Vec::new();
        let services = &request.services;
        for (&minute, aggs) in state.pending.range(request.from_minute..=request.to_minute) {
            for (&id, agg) in aggs {
                let Some(k) = state.keys.get(id as usize) else { continue };
                if !request.span_kinds.is_empty() && !request.span_kinds.contains(&k.kind) {
                    continue;
                }
                if services.is_empty() || services.iter().any(|s| **s == *k.service) {
                    rows.push(Row { minute, service: k.service.clone(), operation: k.operation.clone(), kind: k.kind, agg: agg.clone() });
                }
            }
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(services: &[&str], from_minute: u64, to_minute: u64) -> crate::red::RowRequest {
        crate::red::RowRequest {
            services: services.iter().map(|s| s.to_string()).collect(),
            span_kinds: Vec::new(),
            from_minute,
            to_minute,
            block_minutes: 1,
            by_operation: true,
        }
    }

    fn span(service: &'static str, op: &'static str, start_ms: u64, dur_ms: u64, code: i32) -> SpanSample<'static> {
        SpanSample {
            service,
            operation: op,
            kind: 2,
            status_code: code,
            start_unix_nano: start_ms * 1_000_000,
            end_unix_nano: (start_ms + dur_ms) * 1_000_000,
        }
    }

    /// The key hash reads a string as zero-padded little-endian words, whatever its length.
    #[test]
    fn the_key_hash_reads_padded_words() {
        let padded = |h: u64, bytes: &[u8]| {
            const M: u64 = 0x9E37_79B9_7F4A_7C15;
            let mut h = h ^ (bytes.len() as u64).wrapping_mul(M);
            for chunk in bytes.chunks(8) {
                let mut w = [0u8; 8];
                w[..chunk.len()].copy_from_slice(chunk);
                h = (h ^ u64::from_le_bytes(w)).wrapping_mul(M).rotate_left(31);
            }
            h
        };
        let text: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(37).wrapping_add(1)).collect();
        for len in 0..=text.len() {
            assert_eq!(super::fold(7, &text[..len]), padded(7, &text[..len]), "length {len}");
        }
    }

    #[test]
    fn spans_are_counted_per_minute_and_key_and_due_minutes_leave_memory() {
        let r = Recorder::default();
        r.record([span("a", "GET", 60_000, 5, 0), span("a", "GET", 61_000, 7, 2), span("a", "PUT", 125_000, 1, 0), span("b", "GET", 60_500, 3, 1)]);
        let rows = r.pending_rows(&all(&["a"], 0, 10));
        assert_eq!(rows.len(), 2);
        let get = rows.iter().find(|r| &*r.operation == "GET").map(|r| r.agg.clone()).unwrap_or_default();
        assert_eq!((get.calls, get.errors, get.latency.count()), (2, 1, 2));
        // At 3:10 the minutes before 2:00 are due; minute 2 stays.
        let due = r.take_due(190, false);
        assert_eq!(due.iter().map(|d| (d.minute, &*d.service, d.entries.len())).collect::<Vec<_>>(), vec![(1, "a", 1), (1, "b", 1)]);
        assert_eq!(r.pending_rows(&all(&[], 0, 10)).len(), 1);
        assert_eq!(r.take_due(0, true).len(), 1);
        assert!(r.pending_rows(&all(&[], 0, 10)).is_empty());
    }

    #[test]
    fn keys_past_the_limit_are_folded_into_one_overflow_key() {
        let r = Recorder::new(2);
        let names: Vec<String> = (0..50).map(|i| format!("op-{i}")).collect();
        let spans: Vec<SpanSample<'_>> = names
            .iter()
            .map(|n| SpanSample { service: "svc", operation: n, kind: 2, status_code: 0, start_unix_nano: 0, end_unix_nano: 1000 })
            .collect();
        r.record(spans);
        let rows = r.pending_rows(&all(&[], 0, 0));
        assert_eq!(rows.len(), 3, "two keys and the overflow");
        let over = rows.iter().find(|r| &*r.service == OVERFLOW).map(|r| r.agg.calls);
        assert_eq!(over, Some(48));
        assert_eq!(r.overflowed_spans(), 48);
        // Known keys still count as themselves.
        r.record([SpanSample { service: "svc", operation: "op-0", kind: 2, status_code: 0, start_unix_nano: 0, end_unix_nano: 1 }]);
        assert_eq!(r.overflowed_spans(), 48);
    }
}
