//! Encodes a block: the spans of one batch and partition, grouped by trace, as columns.
//!
//! # Why columns
//!
//! Format 1 stored each trace as an OTLP protobuf segment and compressed the block with zstd:
//! ~59 B/span for 10-attribute spans. In a row layout every span interleaves the same keys
//! and structure with a few random bytes (ids, times, user ids), so zstd pays for a match and
//! a literal run many times per span. Here each kind of field has its own column, so the
//! random parts sit together and the repeated parts become long runs zstd stores almost for
//! free:
//!
//! - **Table of contents**: the trace ids; per trace its spans' (resource, scope) runs.
//! - **Strings**: one table per block for span names, attribute keys, event names and status
//!   messages; spans refer to them by index.
//! - **Resources and scopes**: each stored once per block as protobuf (format 1 repeated the
//!   resource in every trace segment).
//! - **Span columns**: span ids; parents as "span j of this trace" (or raw bytes); start as a
//!   delta from the previous span's start, end as a delta from the start; name index; kind and
//!   status; rarely used fields (trace state, dropped counts, links, flags, a trace id that is
//!   not the group's) behind a bit mask.
//! - **Attributes**: one column of key indexes per span and event, and one value column per
//!   key, so all `user.id` values are adjacent, all `http.status_code` values are adjacent, ...
//!   A string is stored verbatim the first time it occurs in its key's column (a tag search
//!   can look for its bytes) and as the index of that first occurrence after that: zstd
//!   spends ~2-3 B on each repeat it finds itself, a one-byte index costs almost nothing.
//!   Ints are zigzag varints, doubles 8 bytes; arrays, maps and other shapes protobuf bytes.
//!
//! Nothing is lost: [`crate::block_read`] rebuilds the exact OTLP messages, except a span or
//! event attribute's `key_strindex` (a profiling-only field the spec says to ignore elsewhere).

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, Span};
use prost::Message;

use crate::codec::{put_bytes, put_varint, zigzag, FastMap, SpanRef};

/// Fixed columns, in the order they are stored.
pub const GROUPS: usize = 0;
pub const IDS: usize = 1;
pub const PARENTS: usize = 2;
pub const TIMES: usize = 3;
pub const NAMES: usize = 4;
pub const HEADS: usize = 5;
pub const RARE: usize = 6;
pub const ATTR_KEYS: usize = 7;
pub const EVENTS: usize = 8;
pub const COLUMNS: usize = 9;

/// Bits of a span's rare-field mask (in `HEADS`); the values follow in `RARE`.
pub const RARE_TRACE_ID: u64 = 1;
pub const RARE_TRACE_STATE: u64 = 2;
pub const RARE_DROPPED_ATTRS: u64 = 4;
pub const RARE_DROPPED_EVENTS: u64 = 8;
pub const RARE_DROPPED_LINKS: u64 = 16;
pub const RARE_LINKS: u64 = 32;
pub const RARE_FLAGS: u64 = 64;

/// Value tags in a key's value column.
pub const V_NONE: u8 = 0;
pub const V_STR: u8 = 1;
pub const V_FALSE: u8 = 2;
pub const V_TRUE: u8 = 3;
pub const V_INT: u8 = 4;
pub const V_DOUBLE: u8 = 5;
pub const V_OTHER: u8 = 6;
/// A string seen before in this column: varint index among the column's `V_STR` values.
pub const V_STR_AGAIN: u8 = 7;

/// Parent codes in `PARENTS`: none, raw bytes in `RARE`, or `PARENT_IN_TRACE + j` for span j
/// of the same trace in this block.
pub const PARENT_NONE: u64 = 0;
pub const PARENT_RAW: u64 = 1;
pub const PARENT_IN_TRACE: u64 = 2;

#[derive(Default)]
struct ValueColumn<'b> {
    bytes: Vec<u8>,
    strings: FastMap<&'b str, u64>,
}

#[derive(Default)]
pub struct BlockWriter<'b> {
    trace_ids: Vec<[u8; 16]>,
    strings: Vec<&'b str>,
    string_index: FastMap<&'b str, u32>,
    resources: Vec<u8>,
    n_resources: u32,
    resource_index: FastMap<usize, u32>,
    scopes: Vec<u8>,
    n_scopes: u32,
    scope_index: FastMap<(usize, usize), u32>,
    cols: [Vec<u8>; COLUMNS],
    /// Value column per string index (only keys get one).
    values: Vec<ValueColumn<'b>>,
    prev_start: u64,
    ids_of_trace: FastMap<&'b [u8], u64>,
    scratch: Vec<u8>,
}

impl<'b> BlockWriter<'b> {
    pub fn new() -> Self {
        let mut w = Self::default();
        w.string(""); // index 0: the empty string
        w
    }

    fn string(&mut self, s: &'b str) -> u32 {
        if let Some(i) = self.string_index.get(s) {
            return *i;
        }
        let i = self.strings.len() as u32;
        self.strings.push(s);
        self.string_index.insert(s, i);
        i
    }

    fn resource(&mut self, batch: &'b [ResourceSpans], r: usize) -> u32 {
        if let Some(i) = self.resource_index.get(&r) {
            return *i;
        }
        let rs = &batch[r];
        put_varint(&mut self.resources, u64::from(rs.resource.is_some()));
        if let Some(res) = &rs.resource {
            self.scratch.clear();
            res.encode_raw(&mut self.scratch);
            put_bytes(&mut self.resources, &self.scratch);
        }
        put_bytes(&mut self.resources, rs.schema_url.as_bytes());
        let i = self.n_resources;
        self.n_resources += 1;
        self.resource_index.insert(r, i);
        i
    }

    fn scope(&mut self, batch: &'b [ResourceSpans], r: usize, s: usize) -> u32 {
        if let Some(i) = self.scope_index.get(&(r, s)) {
            return *i;
        }
        let ss = &batch[r].scope_spans[s];
        put_varint(&mut self.scopes, u64::from(ss.scope.is_some()));
        if let Some(scope) = &ss.scope {
            self.scratch.clear();
            scope.encode_raw(&mut self.scratch);
            put_bytes(&mut self.scopes, &self.scratch);
        }
        put_bytes(&mut self.scopes, ss.schema_url.as_bytes());
        let i = self.n_scopes;
        self.n_scopes += 1;
        self.scope_index.insert((r, s), i);
        i
    }

    /// Adds one trace: `spans` all come from `batch` and are in batch order.
    pub fn add_trace(&mut self, id: [u8; 16], batch: &'b [ResourceSpans], spans: &[SpanRef]) {
        self.trace_ids.push(id);
        // (resource, scope) runs, as the batch had them.
        let mut runs: Vec<(u32, u32, u64)> = Vec::new();
        let mut last = None;
        for &(r, s, _) in spans {
            if last == Some((r, s)) {
                if let Some(run) = runs.last_mut() {
                    run.2 += 1;
                }
                continue;
            }
            last = Some((r, s));
            let (ri, si) = (self.resource(batch, r), self.scope(batch, r, s));
            runs.push((ri, si, 1));
        }
        let g = &mut self.cols[GROUPS];
        put_varint(g, runs.len() as u64);
        for (ri, si, n) in runs {
            put_varint(g, u64::from(ri));
            put_varint(g, u64::from(si));
            put_varint(g, n);
        }
        // Span ids first, so a parent may be any span of the trace (children usually arrive
        // before their parents).
        self.ids_of_trace.clear();
        for (j, &(r, s, i)) in spans.iter().enumerate() {
            let span = &batch[r].scope_spans[s].spans[i];
            put_bytes(&mut self.cols[IDS], &span.span_id);
            self.ids_of_trace.entry(&span.span_id).or_insert(j as u64);
        }
        for &(r, s, i) in spans {
            self.span(&id, &batch[r].scope_spans[s].spans[i]);
        }
    }

    fn span(&mut self, trace_id: &[u8; 16], span: &'b Span) {
        let parent = if span.parent_span_id.is_empty() {
            PARENT_NONE
        } else {
            self.ids_of_trace.get(span.parent_span_id.as_slice()).map_or(PARENT_RAW, |j| PARENT_IN_TRACE + j)
        };
        put_varint(&mut self.cols[PARENTS], parent);
        if parent == PARENT_RAW {
            put_bytes(&mut self.cols[RARE], &span.parent_span_id);
        }
        let t = &mut self.cols[TIMES];
        put_varint(t, zigzag(span.start_time_unix_nano.wrapping_sub(self.prev_start) as i64));
        put_varint(t, zigzag(span.end_time_unix_nano.wrapping_sub(span.start_time_unix_nano) as i64));
        self.prev_start = span.start_time_unix_nano;
        let name = self.string(&span.name);
        put_varint(&mut self.cols[NAMES], u64::from(name));

        let mut mask = 0;
        for (bit, on) in [
            (RARE_TRACE_ID, span.trace_id.as_slice() != trace_id.as_slice()),
            (RARE_TRACE_STATE, !span.trace_state.is_empty()),
            (RARE_DROPPED_ATTRS, span.dropped_attributes_count != 0),
            (RARE_DROPPED_EVENTS, span.dropped_events_count != 0),
            (RARE_DROPPED_LINKS, span.dropped_links_count != 0),
            (RARE_LINKS, !span.links.is_empty()),
            (RARE_FLAGS, span.flags != 0),
        ] {
            if on {
                mask |= bit;
            }
        }
        let status = span.status.as_ref().map(|s| (s.code, self.string(&s.message)));
        let h = &mut self.cols[HEADS];
        put_varint(h, zigzag(i64::from(span.kind)));
        match status {
            None => put_varint(h, 0),
            Some((code, message)) => {
                put_varint(h, 1 + zigzag(i64::from(code)));
                put_varint(h, u64::from(message));
            }
        }
        put_varint(h, mask);
        if mask != 0 {
            self.rare(span, mask);
        }

        self.attributes(&span.attributes);
        put_varint(&mut self.cols[EVENTS], span.events.len() as u64);
        for e in &span.events {
            let name = self.string(&e.name);
            let ev = &mut self.cols[EVENTS];
            put_varint(ev, zigzag(e.time_unix_nano.wrapping_sub(span.start_time_unix_nano) as i64));
            put_varint(ev, u64::from(name));
            put_varint(ev, u64::from(e.dropped_attributes_count));
            self.attributes(&e.attributes);
        }
    }

    fn rare(&mut self, span: &Span, mask: u64) {
        let out = &mut self.cols[RARE];
        if mask & RARE_TRACE_ID != 0 {
            put_bytes(out, &span.trace_id);
        }
        if mask & RARE_TRACE_STATE != 0 {
            put_bytes(out, span.trace_state.as_bytes());
        }
        for (bit, n) in [
            (RARE_DROPPED_ATTRS, span.dropped_attributes_count),
            (RARE_DROPPED_EVENTS, span.dropped_events_count),
            (RARE_DROPPED_LINKS, span.dropped_links_count),
        ] {
            if mask & bit != 0 {
                put_varint(out, u64::from(n));
            }
        }
        if mask & RARE_LINKS != 0 {
            put_varint(out, span.links.len() as u64);
            for link in &span.links {
                self.scratch.clear();
                link.encode_raw(&mut self.scratch);
                put_bytes(out, &self.scratch);
            }
        }
        if mask & RARE_FLAGS != 0 {
            put_varint(out, u64::from(span.flags));
        }
    }

    fn attributes(&mut self, attrs: &'b [KeyValue]) {
        put_varint(&mut self.cols[ATTR_KEYS], attrs.len() as u64);
        for kv in attrs {
            let k = self.string(&kv.key);
            put_varint(&mut self.cols[ATTR_KEYS], u64::from(k));
            if self.values.len() <= k as usize {
                self.values.resize_with(k as usize + 1, ValueColumn::default);
            }
            let col = &mut self.values[k as usize];
            let out = &mut col.bytes;
            match kv.value.as_ref().map(|v| (v, v.value.as_ref())) {
                None => out.push(V_NONE),
                Some((_, Some(any_value::Value::StringValue(s)))) => {
                    let next = col.strings.len() as u64;
                    match col.strings.entry(s.as_str()) {
                        std::collections::hash_map::Entry::Occupied(e) => {
                            out.push(V_STR_AGAIN);
                            put_varint(out, *e.get());
                        }
                        std::collections::hash_map::Entry::Vacant(e) => {
                            e.insert(next);
                            out.push(V_STR);
                            put_bytes(out, s.as_bytes());
                        }
                    }
                }
                Some((_, Some(any_value::Value::BoolValue(b)))) => out.push(if *b { V_TRUE } else { V_FALSE }),
                Some((_, Some(any_value::Value::IntValue(i)))) => {
                    out.push(V_INT);
                    put_varint(out, zigzag(*i));
                }
                Some((_, Some(any_value::Value::DoubleValue(d)))) => {
                    out.push(V_DOUBLE);
                    out.extend_from_slice(&d.to_le_bytes());
                }
                Some((v, _)) => {
                    out.push(V_OTHER);
                    put_bytes(out, &AnyValue::encode_to_vec(v));
                }
            }
        }
    }

    /// The raw (uncompressed) block.
    pub fn finish(self) -> Vec<u8> {
        let columns: usize = self.cols.iter().map(Vec::len).sum::<usize>() + self.values.iter().map(|v| v.bytes.len()).sum::<usize>();
        let mut out = Vec::with_capacity(64 + self.trace_ids.len() * 16 + self.resources.len() + self.scopes.len() + columns);
        put_varint(&mut out, self.trace_ids.len() as u64);
        for id in &self.trace_ids {
            out.extend_from_slice(id);
        }
        put_varint(&mut out, self.strings.len() as u64);
        for s in &self.strings {
            put_bytes(&mut out, s.as_bytes());
        }
        put_varint(&mut out, u64::from(self.n_resources));
        out.extend_from_slice(&self.resources);
        put_varint(&mut out, u64::from(self.n_scopes));
        out.extend_from_slice(&self.scopes);
        put_varint(&mut out, COLUMNS as u64);
        for c in &self.cols {
            put_varint(&mut out, c.len() as u64);
        }
        let keyed: Vec<(usize, &Vec<u8>)> =
            self.values.iter().map(|v| &v.bytes).enumerate().filter(|(_, v)| !v.is_empty()).collect();
        put_varint(&mut out, keyed.len() as u64);
        for (k, v) in &keyed {
            put_varint(&mut out, *k as u64);
            put_varint(&mut out, v.len() as u64);
        }
        for c in &self.cols {
            out.extend_from_slice(c);
        }
        for (_, v) in keyed {
            out.extend_from_slice(v);
        }
        out
    }
}
