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
//!
//! The file is past 400 lines because the writer's caches and the columns they feed are one
//! state, written in one order; what could go out has: the batch index
//! ([`crate::batch_index`]) and the reading of a batch of structs (`block_write_decoded.rs`).

use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use tracegate_pdata::view::{AnyValueView, FromWire, KeyValueView, Many, SpanView, ValueView, ViewError};

use crate::batch_index::{BatchIndex, SpanEntry};

use crate::codec::{put_bytes, put_varint, view_filter_text, write_filter_text, zigzag, FastMap, FastSet};
use crate::summary::tag_hash_seeded;

#[path = "block_write_decoded.rs"]
mod decoded;

/// An attribute's value as the writer takes it: a scalar (from either form), or another
/// shape kept as the `AnyValue` it is (bytes as they arrived, or a struct to encode).
#[derive(Clone, Copy)]
enum AttrValue<'b> {
    /// A string, bool, int or double.
    Scalar(ValueView<'b>),
    Wire(AnyValueView<'b>),
    Struct(&'b opentelemetry_proto::tonic::common::v1::AnyValue),
}

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
/// The page table ([`Checkpoint`]s), stored as a tenth column; a block without one (written
/// before format 5) is one page.
pub const PAGES: usize = 9;
/// Columns of a block without a page table.
pub const COLUMNS_UNPAGED: usize = 9;
pub const COLUMNS: usize = 10;

/// Spans per page, at least: a page ends at the first trace boundary past this many.
///
/// # Why pages
///
/// Columns are varint streams, so without a checkpoint a reader reaches a span only by
/// walking every span before it. A rare-tag search found its one or two candidates in a block
/// and walked ~5000 spans to reach them, and fetching a result trace walked the block again up
/// to it: ~200k spans walked for 20 results (10M spans in the default load shape: 40 ms).
/// A checkpoint every ~512 spans (where every column, value columns included, stands at that
/// trace) lets a search walk only the pages its candidates are in, and a fetch only its
/// trace's page. It costs ~2 bytes per column per page before compression (under 1 B/span
/// with 80 attribute keys) and nothing on the write path but copying the column lengths.
pub const PAGE_SPANS: usize = 512;

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

/// One key's value column. A value seen before in the column is stored as an index (strings)
/// and is not hashed again for the same service: `strings` keeps, per distinct string, its
/// index and the last service seed its tag hash went into the block's tag set.
///
/// Most values repeat (methods, routes, status codes, peers): `seen` maps (service seed, the
/// bytes after the key field) of an attribute already written to how to write it again, so a
/// repeat costs one hash of its value bytes, without parsing, UTF-8 checks, maps or tag
/// hashing. The seed is part of the key because the tag hash is per service: keyed by bytes
/// alone, one entry served every service, so in a block of 50 services (the realistic load
/// shape) `GET` or `200` under one service evicted it for the next, most repeats took the
/// full path, and the column soon stopped caching (~23% of the fill's CPU went to that path).
///
/// A column whose values rarely repeat (sizes, durations, ids) stops caching after a few
/// misses, and then also stops looking its strings up in `strings`: each is stored verbatim
/// (`V_STR`; readers count every `V_STR`, so indexes stay right), which spares a hash-map
/// insert per unique value, and zstd finds the few repeats anyway.
#[derive(Default)]
struct ValueColumn<'b> {
    bytes: Vec<u8>,
    seen: FastMap<(u64, &'b [u8]), Seen>,
    /// `seen` for attributes read from structs, keyed by value rather than by bytes
    /// ([`crate::block_write::decoded`]); hits and misses count both alike.
    seen_decoded: FastMap<(u64, decoded::ValueKey<'b>), Seen>,
    hits: u32,
    misses: u32,
    strings: FastMap<&'b str, (u64, u64)>,
    /// `V_STR` values written so far (the index the next one gets).
    n_str: u64,
    /// (value tag, value bits, seed) of the last non-string value hashed.
    last: Option<(u8, u64, u64)>,
    /// The service seed whose (seed, key) pair is in [`BlockWriter::keys`] already.
    catalogued: Option<u64>,
}

impl ValueColumn<'_> {
    fn caching(&self) -> bool {
        self.misses <= 32 || self.hits >= self.misses
    }
}

/// Where a page begins: every column's length then, so a reader can start walking there.
struct Checkpoint {
    /// Ordinal of the page's first trace.
    trace: usize,
    /// The start time the next span's start is a delta from.
    prev_start: u64,
    fixed: [usize; COLUMNS_UNPAGED],
    /// Per value column (by key string index; columns created later are absent): its length
    /// and how many `V_STR` values it held, the index the page's first new string gets.
    values: Vec<(usize, u64)>,
}

/// An attribute position's last key: its encoded key field (empty: none to compare) and
/// string index; the field's text is always that string.
#[derive(Clone, Copy, Default)]
struct KeyHint<'b> {
    field: &'b [u8],
    key: u32,
}

/// The `KeyValue.key` field (tag, length, text) and its text, when it is the first field of
/// `raw`.
fn key_field(raw: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&tag, mut rest) = raw.split_first()?;
    if tag != 0x0a {
        return None;
    }
    let len = usize::try_from(prost::encoding::decode_varint(&mut rest).ok()?).ok()?;
    let start = raw.len() - rest.len();
    let end = start.checked_add(len)?;
    Some((raw.get(..end)?, raw.get(start..end)?))
}

/// How an attribute's `KeyValue` bytes were written: key index and the value column bytes
/// that write the same value again (`len` 0: not repeatable).
#[derive(Clone, Copy, Default)]
struct Seen {
    key: u32,
    value: [u8; 12],
    len: u8,
}

#[derive(Default)]
pub struct BlockWriter<'b> {
    trace_ids: Vec<[u8; 16]>,
    strings: Vec<&'b str>,
    string_index: FastMap<&'b str, u32>,
    resources: Vec<u8>,
    n_resources: u32,
    resource_index: FastMap<u32, u32>,
    scopes: Vec<u8>,
    n_scopes: u32,
    scope_index: FastMap<u32, u32>,
    cols: [Vec<u8>; COLUMNS_UNPAGED],
    /// Value column per string index (only keys get one).
    values: Vec<ValueColumn<'b>>,
    prev_start: u64,
    ids_of_trace: FastMap<&'b [u8], u64>,
    /// The key last seen at each attribute position (span, event): spans of one
    /// instrumentation list their keys in the same order, so a key is found by comparing
    /// bytes, and a value its column has seen is written without parsing (see `ValueColumn`).
    span_key_hints: Vec<KeyHint<'b>>,
    event_key_hints: Vec<KeyHint<'b>>,
    /// Key fields (tag, length, text) that decided their key, to the key's string index: the
    /// fallback when a position's hint is another key. Spans of different kinds list
    /// different keys at one position (in the realistic load shape an endpoint's second key is
    /// `http.route`, a client call's `http.url`, a query's `db.name`), and spans of all kinds
    /// interleave in a trace, so hints alone sent many cached values down the full path.
    key_fields: FastMap<&'b [u8], u32>,
    /// Where each page after the first begins (see [`PAGE_SPANS`]).
    checkpoints: Vec<Checkpoint>,
    /// Spans added since the last checkpoint (or the block's start).
    page_spans: usize,
    /// [`PAGE_SPANS`], except in tests that write blocks as before pages.
    page_size: usize,
    /// Name string index of each span of the last trace added, in the order given.
    pub names: Vec<u32>,
    /// Tag hashes (service, key, value text) of the span and event attributes written.
    pub tags: FastSet<u64>,
    /// (service seed, key string index) of every attribute key written, for the key catalog
    /// ([`crate::catalog`]). Recorded where a value is written out in full: a value repeated
    /// under the same service and key is written from the column's cache, and its key is in
    /// here already.
    pub keys: FastSet<(u64, u32)>,
    text: String,
}

impl<'b> BlockWriter<'b> {
    pub fn new() -> Self {
        let mut w = Self { page_size: PAGE_SPANS, ..Self::default() };
        // Index 0: the empty string.
        w.strings.push("");
        w.string_index.insert("", 0);
        w
    }

    fn string(&mut self, s: &'b str) -> u32 {
        // Most status messages (and many other optional strings) are empty: index 0, without
        // hashing (the status message's lookup was ~2% of a fill).
        if s.is_empty() {
            return 0;
        }
        if let Some(i) = self.string_index.get(s) {
            return *i;
        }
        let i = self.strings.len() as u32;
        self.strings.push(s);
        self.string_index.insert(s, i);
        i
    }

    /// A writer of blocks as they were before pages (one page, no page table).
    #[cfg(test)]
    pub fn unpaged() -> Self {
        Self { page_size: usize::MAX, ..Self::new() }
    }

    /// A writer that starts a page every `spans` spans (small blocks with a page table, for
    /// the fuzz seeds).
    #[cfg(test)]
    pub fn paged_every(spans: usize) -> Self {
        Self { page_size: spans, ..Self::new() }
    }

    /// A string of the table by index ("" for an unknown index).
    pub fn string_at(&self, i: u32) -> &'b str {
        self.strings.get(i as usize).copied().unwrap_or("")
    }

    fn resource(&mut self, batch: &BatchIndex<'b>, r: u32) -> u32 {
        if let Some(i) = self.resource_index.get(&r) {
            return *i;
        }
        let Some(entry) = batch.resources.get(r as usize) else { return 0 };
        put_varint(&mut self.resources, u64::from(entry.resource.is_some() || entry.decoded.is_some()));
        if let Some(res) = &entry.resource {
            // The `Resource` as it arrived: the reader decodes it with prost.
            put_bytes(&mut self.resources, res.raw);
        } else if let Some(res) = entry.decoded {
            put_bytes(&mut self.resources, &res.encode_to_vec());
        }
        put_bytes(&mut self.resources, entry.schema_url.as_bytes());
        let i = self.n_resources;
        self.n_resources += 1;
        self.resource_index.insert(r, i);
        i
    }

    fn scope(&mut self, batch: &BatchIndex<'b>, s: u32) -> u32 {
        if let Some(i) = self.scope_index.get(&s) {
            return *i;
        }
        let Some(entry) = batch.scopes.get(s as usize) else { return 0 };
        put_varint(&mut self.scopes, u64::from(entry.scope.is_some() || entry.decoded.is_some()));
        if let Some(scope) = entry.scope {
            put_bytes(&mut self.scopes, scope);
        } else if let Some(scope) = entry.decoded {
            put_bytes(&mut self.scopes, &scope.encode_to_vec());
        }
        put_bytes(&mut self.scopes, entry.schema_url.as_bytes());
        let i = self.n_scopes;
        self.n_scopes += 1;
        self.scope_index.insert(s, i);
        i
    }

    /// Adds one trace: `spans` index `batch.spans`, in batch order. Hashes the attributes'
    /// tags into [`BlockWriter::tags`] as it writes them.
    pub fn add_trace(&mut self, id: [u8; 16], batch: &'b BatchIndex<'b>, spans: &[u32]) -> Result<(), ViewError> {
        if self.page_spans >= self.page_size {
            self.checkpoints.push(Checkpoint {
                trace: self.trace_ids.len(),
                prev_start: self.prev_start,
                fixed: std::array::from_fn(|i| self.cols[i].len()),
                values: self.values.iter().map(|v| (v.bytes.len(), v.n_str)).collect(),
            });
            self.page_spans = 0;
        }
        self.page_spans += spans.len();
        self.trace_ids.push(id);
        let entry = |i: u32| batch.spans.get(i as usize);
        // (resource, scope) runs, as the batch had them.
        let mut runs: Vec<(u32, u32, u64)> = Vec::new();
        let mut last = None;
        for e in spans.iter().filter_map(|&i| entry(i)) {
            if last == Some(e.scope) {
                if let Some(run) = runs.last_mut() {
                    run.2 += 1;
                }
                continue;
            }
            last = Some(e.scope);
            let (ri, si) = (self.resource(batch, batch.resource_of(e)), self.scope(batch, e.scope));
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
        for (j, e) in spans.iter().filter_map(|&i| entry(i)).enumerate() {
            put_bytes(&mut self.cols[IDS], e.span.span_id);
            self.ids_of_trace.entry(e.span.span_id).or_insert(j as u64);
        }
        self.names.clear();
        for e in spans.iter().filter_map(|&i| entry(i)) {
            let seed = batch.resources.get(batch.resource_of(e) as usize).map_or(0, |r| r.seed);
            self.span(&id, e, seed)?;
        }
        Ok(())
    }

    fn span(&mut self, trace_id: &[u8; 16], entry: &SpanEntry<'b>, seed: u64) -> Result<(), ViewError> {
        let span = &entry.span;
        let parent = if span.parent_span_id.is_empty() {
            PARENT_NONE
        } else {
            self.ids_of_trace.get(span.parent_span_id).map_or(PARENT_RAW, |j| PARENT_IN_TRACE + j)
        };
        put_varint(&mut self.cols[PARENTS], parent);
        if parent == PARENT_RAW {
            put_bytes(&mut self.cols[RARE], span.parent_span_id);
        }
        let t = &mut self.cols[TIMES];
        put_varint(t, zigzag(span.start_time_unix_nano.wrapping_sub(self.prev_start) as i64));
        put_varint(t, zigzag(span.end_time_unix_nano.wrapping_sub(span.start_time_unix_nano) as i64));
        self.prev_start = span.start_time_unix_nano;
        let name = self.string(span.name);
        self.names.push(name);
        put_varint(&mut self.cols[NAMES], u64::from(name));

        let mut mask = 0;
        for (bit, on) in [
            (RARE_TRACE_ID, span.trace_id != trace_id.as_slice()),
            (RARE_TRACE_STATE, !span.trace_state.is_empty()),
            (RARE_DROPPED_ATTRS, span.dropped_attributes_count != 0),
            (RARE_DROPPED_EVENTS, span.dropped_events_count != 0),
            (RARE_DROPPED_LINKS, span.dropped_links_count != 0),
            (RARE_LINKS, !span.links.is_empty() || entry.decoded.is_some_and(|d| !d.links.is_empty())),
            (RARE_FLAGS, span.flags != 0),
        ] {
            if on {
                mask |= bit;
            }
        }
        let status = span.status.as_ref().map(|s| (s.code, self.string(s.message)));
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
            self.rare(span, entry.decoded, mask, seed)?;
        }
        if let Some(decoded) = entry.decoded {
            self.decoded_attributes(&decoded.attributes, seed);
            self.decoded_events(decoded, seed);
            return Ok(());
        }

        self.attributes(span.attributes, seed, false)?;
        put_varint(&mut self.cols[EVENTS], span.events.len() as u64);
        for e in span.events {
            let e = e?;
            let name = self.string(e.name);
            let ev = &mut self.cols[EVENTS];
            put_varint(ev, zigzag(e.time_unix_nano.wrapping_sub(span.start_time_unix_nano) as i64));
            put_varint(ev, u64::from(name));
            put_varint(ev, u64::from(e.dropped_attributes_count));
            self.attributes(e.attributes, seed, true)?;
        }
        Ok(())
    }

    fn rare(&mut self, span: &SpanView<'b>, decoded: Option<&'b Span>, mask: u64, seed: u64) -> Result<(), ViewError> {
        let out = &mut self.cols[RARE];
        if mask & RARE_TRACE_ID != 0 {
            put_bytes(out, span.trace_id);
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
        if let Some(decoded) = decoded.filter(|_| mask & RARE_LINKS != 0) {
            self.decoded_links(decoded, seed);
        } else if mask & RARE_LINKS != 0 {
            put_varint(&mut self.cols[RARE], span.links.len() as u64);
            for link in span.links {
                let link = link?;
                // The `Link` as it arrived: the reader decodes it with prost.
                put_bytes(&mut self.cols[RARE], link.raw);
                // A link's attributes are searchable (Jaeger v2), so they go into the filter.
                for kv in link.attributes {
                    let kv = kv?;
                    let k = self.string(kv.key);
                    self.keys.insert((seed, k));
                    if let Some(v) = kv.value {
                        if view_filter_text(&v.value, &mut self.text) {
                            self.tags.insert(tag_hash_seeded(seed, kv.key, &self.text));
                        }
                    }
                }
            }
        }
        if mask & RARE_FLAGS != 0 {
            put_varint(&mut self.cols[RARE], u64::from(span.flags));
        }
        Ok(())
    }

    fn attributes(&mut self, attrs: Many<'b, KeyValueView<'b>>, seed: u64, event: bool) -> Result<(), ViewError> {
        put_varint(&mut self.cols[ATTR_KEYS], attrs.len() as u64);
        for (pos, raw) in attrs.raw().enumerate() {
            let raw = raw?;
            let hints = if event { &mut self.event_key_hints } else { &mut self.span_key_hints };
            if hints.len() <= pos {
                hints.resize(pos + 1, KeyHint::default());
            }
            let hint = hints[pos];
            // The key field as at this position last time, or one seen elsewhere: look the
            // rest (the value) up among the values this key's column has seen under this
            // service.
            let found = match (!hint.field.is_empty()).then(|| raw.strip_prefix(hint.field)).flatten() {
                Some(rest) => Some((rest, hint.key, false)),
                None => key_field(raw).and_then(|(f, _)| self.key_fields.get(f).map(|&k| (&raw[f.len()..], k, true))),
            };
            let guess = found.map_or(hint.key, |(_, k, _)| k);
            if let Some((rest, k, moved)) = found {
                if let Some(col) = self.values.get_mut(k as usize) {
                    if col.caching() {
                        if let Some(seen) = col.seen.get(&(seed, rest)) {
                            col.hits += 1;
                            col.bytes.extend_from_slice(&seen.value[..usize::from(seen.len)]);
                            put_varint(&mut self.cols[ATTR_KEYS], u64::from(k));
                            if moved {
                                let hints = if event { &mut self.event_key_hints } else { &mut self.span_key_hints };
                                hints[pos] = KeyHint { field: &raw[..raw.len() - rest.len()], key: k };
                            }
                            continue;
                        }
                        col.misses += 1;
                    }
                }
            }
            let (seen, key) = self.attribute(raw, seed, guess)?;
            // The key field when it comes first (every encoder writes it first) and decides the
            // key: a second key field later in the bytes would make the same rest mean
            // another key, so such an attribute is neither a hint nor cached.
            let field = key_field(raw).filter(|(_, text)| *text == key.as_bytes()).map(|(f, _)| f);
            let hints = if event { &mut self.event_key_hints } else { &mut self.span_key_hints };
            hints[pos] = KeyHint { field: field.unwrap_or_default(), key: seen.key };
            if let Some(f) = field.filter(|f| *f != hint.field) {
                self.key_fields.entry(f).or_insert(seen.key);
            }
            if let (true, Some(f), Some(col)) = (seen.len > 0, field, self.values.get_mut(seen.key as usize)) {
                if col.caching() {
                    col.seen.insert((seed, &raw[f.len()..]), seen);
                }
            }
        }
        Ok(())
    }

    /// Writes one attribute; returns how to write the same bytes again. `hint` is the key
    /// index seen at this position last time, tried before hashing into the string table.
    fn attribute(&mut self, raw: &'b [u8], seed: u64, hint: u32) -> Result<(Seen, &'b str), ViewError> {
        let kv = KeyValueView::from_wire(raw)?;
        let value = kv.value.map(|v| match v.value {
            scalar @ (ValueView::Str(_) | ValueView::Bool(_) | ValueView::Int(_) | ValueView::Double(_)) => AttrValue::Scalar(scalar),
            _ => AttrValue::Wire(v),
        });
        Ok((self.write_attribute(kv.key, value, seed, hint), kv.key))
    }

    /// Writes one attribute, whichever form it was read from; returns how to write the same
    /// value again. Inlined into each caller: called as a function, the byte path paid ~460
    /// instructions a span more (the ingest bench under cachegrind) than when this was part of
    /// `attribute`.
    #[inline(always)]
    fn write_attribute(&mut self, key: &'b str, value: Option<AttrValue<'b>>, seed: u64, hint: u32) -> Seen {
        // The key seen at this position last time, before hashing into the string table.
        let k = match self.strings.get(hint as usize) {
            Some(&h) if h == key => hint,
            _ => self.string(key),
        };
        put_varint(&mut self.cols[ATTR_KEYS], u64::from(k));
        if self.values.len() <= k as usize {
            self.values.resize_with(k as usize + 1, ValueColumn::default);
        }
        let col = &mut self.values[k as usize];
        if col.catalogued != Some(seed) {
            col.catalogued = Some(seed);
            self.keys.insert((seed, k));
        }
        let dedupe = col.caching();
        let out = &mut col.bytes;
        let before = out.len();
        // What writes this value again: the bytes just written, or for a new string its index.
        let mut again: Option<u64> = None;
        match value {
            None => out.push(V_NONE),
            Some(AttrValue::Scalar(ValueView::Str(s))) if !dedupe => {
                // Mostly distinct values (see `ValueColumn`): verbatim, no lookup.
                col.n_str += 1;
                out.push(V_STR);
                put_bytes(out, s.as_bytes());
                self.tags.insert(tag_hash_seeded(seed, key, s));
            }
            Some(AttrValue::Scalar(ValueView::Str(s))) => {
                let next = col.n_str;
                match col.strings.entry(s) {
                    std::collections::hash_map::Entry::Occupied(mut e) => {
                        out.push(V_STR_AGAIN);
                        put_varint(out, e.get().0);
                        if e.get().1 != seed {
                            e.get_mut().1 = seed;
                            self.tags.insert(tag_hash_seeded(seed, key, s));
                        }
                    }
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert((next, seed));
                        col.n_str += 1;
                        out.push(V_STR);
                        put_bytes(out, s.as_bytes());
                        self.tags.insert(tag_hash_seeded(seed, key, s));
                        again = Some(next);
                    }
                }
            }
            Some(AttrValue::Scalar(scalar)) => {
                let bits = match scalar {
                    ValueView::Bool(b) => {
                        out.push(if b { V_TRUE } else { V_FALSE });
                        u64::from(b)
                    }
                    ValueView::Int(i) => {
                        out.push(V_INT);
                        put_varint(out, zigzag(i));
                        i as u64
                    }
                    ValueView::Double(d) => {
                        out.push(V_DOUBLE);
                        out.extend_from_slice(&d.to_le_bytes());
                        // Every double is filed under one marker (`DOUBLE_VALUES`): the
                        // same "last" for all, so the marker is hashed once per run.
                        0
                    }
                    _ => 0,
                };
                let last = Some((out[before], bits, seed));
                if col.last != last {
                    col.last = last;
                    if view_filter_text(&scalar, &mut self.text) {
                        self.tags.insert(tag_hash_seeded(seed, key, &self.text));
                    }
                }
            }
            Some(AttrValue::Wire(v)) => {
                // The `AnyValue` as it arrived: the reader decodes it with prost.
                out.push(V_OTHER);
                put_bytes(out, v.raw);
                if view_filter_text(&v.value, &mut self.text) {
                    self.tags.insert(tag_hash_seeded(seed, key, &self.text));
                }
                return Seen { key: k, ..Seen::default() };
            }
            Some(AttrValue::Struct(v)) => {
                // What prost's encoding of the request would have held (the reader decodes it).
                out.push(V_OTHER);
                put_bytes(out, &v.encode_to_vec());
                if v.value.as_ref().is_some_and(|v| write_filter_text(v, &mut self.text)) {
                    self.tags.insert(tag_hash_seeded(seed, key, &self.text));
                }
                return Seen { key: k, ..Seen::default() };
            }
        }
        let mut value = [0u8; 12];
        let len = match again {
            Some(mut i) => {
                value[0] = V_STR_AGAIN;
                let mut n = 1;
                while i >= 0x80 && n < 11 {
                    value[n] = (i as u8) | 0x80;
                    i >>= 7;
                    n += 1;
                }
                value[n] = i as u8;
                n + 1
            }
            None => match out.get(before..) {
                Some(w) if w.len() <= value.len() => {
                    value[..w.len()].copy_from_slice(w);
                    w.len()
                }
                _ => 0,
            },
        } as u8;
        Seen { key: k, value, len }
    }

    /// The raw (uncompressed) block.
    pub fn finish(&self) -> Vec<u8> {
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
        let keyed: Vec<(usize, &Vec<u8>)> =
            self.values.iter().map(|v| &v.bytes).enumerate().filter(|(_, v)| !v.is_empty()).collect();
        // A block of one page is written as before pages (nine columns).
        let pages = (!self.checkpoints.is_empty()).then(|| self.page_table(keyed.iter().map(|(k, _)| *k)));
        put_varint(&mut out, if pages.is_some() { COLUMNS } else { COLUMNS_UNPAGED } as u64);
        for c in &self.cols[..COLUMNS_UNPAGED] {
            put_varint(&mut out, c.len() as u64);
        }
        if let Some(pages) = &pages {
            put_varint(&mut out, pages.len() as u64);
        }
        put_varint(&mut out, keyed.len() as u64);
        for (k, v) in &keyed {
            put_varint(&mut out, *k as u64);
            put_varint(&mut out, v.len() as u64);
        }
        for c in &self.cols[..COLUMNS_UNPAGED] {
            out.extend_from_slice(c);
        }
        out.extend_from_slice(pages.as_deref().unwrap_or_default());
        for (_, v) in keyed {
            out.extend_from_slice(v);
        }
        out
    }

    /// The [`PAGES`] column: the checkpoints' count, then each as deltas from the one before
    /// (trace ordinal, the fixed columns' offsets, then per keyed value column in `keyed`
    /// order its offset and `V_STR` count) and the previous start as it is.
    fn page_table(&self, keyed: impl Iterator<Item = usize> + Clone) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(&mut out, self.checkpoints.len() as u64);
        let mut trace = 0;
        let mut fixed = [0usize; COLUMNS_UNPAGED];
        let mut values: FastMap<usize, (usize, u64)> = FastMap::default();
        for cp in &self.checkpoints {
            put_varint(&mut out, (cp.trace - trace) as u64);
            trace = cp.trace;
            put_varint(&mut out, cp.prev_start);
            for (at, before) in cp.fixed.iter().zip(&mut fixed) {
                put_varint(&mut out, (at - *before) as u64);
                *before = *at;
            }
            for k in keyed.clone() {
                let (len, n_str) = cp.values.get(k).copied().unwrap_or_default();
                let before = values.entry(k).or_default();
                put_varint(&mut out, (len - before.0) as u64);
                put_varint(&mut out, n_str - before.1);
                *before = (len, n_str);
            }
        }
        out
    }
}
