//! Reads a block written by [`crate::block_write`]: a walk over its spans in stored order
//! that borrows names and values from the decompressed bytes (a search checks spans without
//! building OTLP messages), and the full OTLP form of one trace for `get_trace`.

use std::ops::Range;
use std::sync::OnceLock;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;

use crate::block_write::*;
use crate::codec::{decompress, service_of_resource, unzigzag, CodecError, Cursor};
use crate::matching::Want;

/// An attribute value borrowed from the block.
#[derive(Clone, Copy, Debug)]
pub enum Val<'a> {
    /// `KeyValue.value` was absent.
    None,
    Str(&'a str),
    Bool(bool),
    Int(i64),
    Double(f64),
    /// Any other shape, as `AnyValue` protobuf bytes.
    Other(&'a [u8]),
}

impl Val<'_> {
    fn to_any(self) -> Result<Option<AnyValue>, CodecError> {
        let v = |v| Some(AnyValue { value: Some(v) });
        Ok(match self {
            Val::None => None,
            Val::Str(s) => v(any_value::Value::StringValue(s.to_string())),
            Val::Bool(b) => v(any_value::Value::BoolValue(b)),
            Val::Int(i) => v(any_value::Value::IntValue(i)),
            Val::Double(d) => v(any_value::Value::DoubleValue(d)),
            Val::Other(b) => Some(AnyValue::decode(b)?),
        })
    }
}

pub type Attr<'a> = (&'a str, Val<'a>);

/// A trace id and its spans in one block.
pub type TraceSpans = ([u8; 16], Vec<ResourceSpans>);

pub struct EventRow<'a> {
    pub time: u64,
    pub name: &'a str,
    pub dropped: u32,
    pub attrs: Range<usize>,
}

/// One span as the walk sees it. The vectors are reused from span to span.
#[derive(Default)]
pub struct SpanRow<'a> {
    pub trace: usize,
    pub resource: usize,
    pub scope: usize,
    pub trace_id: Option<&'a [u8]>,
    pub span_id: &'a [u8],
    pub parent: &'a [u8],
    pub start: u64,
    pub end: u64,
    pub name: &'a str,
    pub kind: i32,
    pub status: Option<(i32, &'a str)>,
    pub trace_state: &'a str,
    pub dropped: [u32; 3],
    pub flags: u32,
    pub links: Vec<&'a [u8]>,
    pub attrs: Vec<Attr<'a>>,
    pub events: Vec<EventRow<'a>>,
    pub event_attrs: Vec<Attr<'a>>,
}

pub struct ResourceEntry {
    /// The `Resource` as the client sent it (`None`: the field was absent), decoded on first
    /// use: a search needs only the service name, which is read in place, and a block holds
    /// a resource per service and SDK instance (decoding them all was ~10% of a search).
    raw: Option<Range<usize>>,
    decoded: OnceLock<Option<Resource>>,
    pub schema_url: String,
    pub service: String,
}

impl ResourceEntry {
    pub fn attributes<'b>(&'b self, block: &'b Block) -> Result<&'b [KeyValue], CodecError> {
        Ok(self.resource(block)?.map(|r| r.attributes.as_slice()).unwrap_or_default())
    }

    pub fn resource<'b>(&'b self, block: &'b Block) -> Result<Option<&'b Resource>, CodecError> {
        if let Some(r) = self.decoded.get() {
            return Ok(r.as_ref());
        }
        let decoded = match &self.raw {
            Some(range) => Some(Resource::decode(block.raw.get(range.clone()).ok_or(CodecError::Corrupt("resource range"))?)?),
            None => None,
        };
        Ok(self.decoded.get_or_init(|| decoded).as_ref())
    }
}

pub struct Block {
    raw: Vec<u8>,
    pub ids: Vec<[u8; 16]>,
    /// The string table, validated as UTF-8 once per block: a walk looks up a name and a key
    /// per span, and re-checking them was ~8% of a tag search.
    text: String,
    /// Ranges of `text`.
    strings: Vec<Range<usize>>,
    pub resources: Vec<ResourceEntry>,
    scopes: Vec<(Option<InstrumentationScope>, String)>,
    cols: [Range<usize>; COLUMNS],
    /// Value column per string index.
    values: Vec<Range<usize>>,
}

impl Block {
    pub fn decode(stored: &[u8]) -> Result<Self, CodecError> {
        Self::parse(decompress(stored)?)
    }

    /// A block from its decompressed bytes (what [`Block::decode`] reads after zstd).
    pub fn parse(raw: Vec<u8>) -> Result<Self, CodecError> {
        let mut c = Cursor(&raw);
        let at = |c: &Cursor<'_>| raw.len() - c.0.len();
        let n = c.usize()?;
        let mut ids = Vec::with_capacity(n.min(1 << 16));
        for _ in 0..n {
            ids.push(c.take(16)?.try_into().map_err(|_| CodecError::Corrupt("trace id"))?);
        }
        let n = c.usize()?;
        let mut strings = Vec::with_capacity(n.min(1 << 16));
        let mut text = String::new();
        for _ in 0..n {
            let s = c.str()?;
            strings.push(text.len()..text.len() + s.len());
            text.push_str(s);
        }
        let n = c.usize()?;
        let mut resources = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let (raw, service) = if c.varint()? == 1 {
                let bytes = c.bytes()?;
                let end = at(&c);
                (Some(end - bytes.len()..end), service_of_resource(bytes)?.to_string())
            } else {
                (None, String::new())
            };
            let schema_url = c.str()?.to_string();
            resources.push(ResourceEntry { raw, decoded: OnceLock::new(), schema_url, service });
        }
        let n = c.usize()?;
        let mut scopes = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let scope = if c.varint()? == 1 { Some(InstrumentationScope::decode(c.bytes()?)?) } else { None };
            scopes.push((scope, c.str()?.to_string()));
        }
        if c.usize()? != COLUMNS {
            return Err(CodecError::Corrupt("column count"));
        }
        let mut lens = [0usize; COLUMNS];
        for l in &mut lens {
            *l = c.usize()?;
        }
        let n = c.usize()?;
        let mut keyed = Vec::with_capacity(n.min(1 << 16));
        for _ in 0..n {
            keyed.push((c.usize()?, c.usize()?));
        }
        let mut pos = at(&c);
        let mut take = |len: usize| {
            let end = pos.checked_add(len).filter(|e| *e <= raw.len()).ok_or(CodecError::Corrupt("column beyond block"))?;
            let r = pos..end;
            pos = end;
            Ok::<_, CodecError>(r)
        };
        let mut cols: [Range<usize>; COLUMNS] = Default::default();
        for (col, len) in cols.iter_mut().zip(lens) {
            *col = take(len)?;
        }
        let mut values = vec![0..0; strings.len()];
        for (k, len) in keyed {
            let slot = values.get_mut(k).ok_or(CodecError::Corrupt("value column of an unknown key"))?;
            *slot = take(len)?;
        }
        Ok(Self { raw, ids, text, strings, resources, scopes, cols, values })
    }

    /// Roughly what the decoded block occupies in memory (for [`crate::block_cache`]).
    pub fn memory_size(&self) -> usize {
        self.raw.len() + self.text.len() + self.ids.len() * 16 + (self.strings.len() + self.values.len()) * 16 + 256 * (self.resources.len() + self.scopes.len())
    }

    #[cfg(test)]
    pub fn empty_for_test(raw: usize) -> Self {
        Self {
            raw: vec![0; raw],
            ids: Vec::new(),
            text: String::new(),
            strings: Vec::new(),
            resources: Vec::new(),
            scopes: Vec::new(),
            cols: Default::default(),
            values: Vec::new(),
        }
    }

    /// Scope `i` of the block's scope table (a span row's `scope`).
    pub fn scope(&self, i: usize) -> Option<&InstrumentationScope> {
        self.scopes.get(i).and_then(|(s, _)| s.as_ref())
    }

    pub fn scope_count(&self) -> usize {
        self.scopes.len()
    }

    /// The rarely-set fields of every span (links among them) as stored: a value absent
    /// from these bytes is in no link of the block.
    pub fn rare_bytes(&self) -> &[u8] {
        &self.raw[self.cols[RARE].clone()]
    }

    fn string(&self, i: u64) -> Result<&str, CodecError> {
        usize::try_from(i)
            .ok()
            .and_then(|i| self.strings.get(i))
            .and_then(|r| self.text.get(r.clone()))
            .ok_or(CodecError::Corrupt("string index"))
    }

    /// The keys' string indexes as a mask for [`Block::walk`]; keys absent from the block
    /// are left out.
    pub fn key_mask<'k>(&self, keys: impl IntoIterator<Item = &'k str>) -> Vec<bool> {
        let mut mask = vec![false; self.strings.len()];
        for key in keys {
            for (i, r) in self.strings.iter().enumerate() {
                if self.text.get(r.clone()) == Some(key) {
                    mask[i] = true;
                }
            }
        }
        mask
    }

    /// Calls `f` for every span, in stored order (trace by trace). With `wanted` (a
    /// [`Block::key_mask`]) only those keys' attributes are read and reported: each key has
    /// its own value column, so the others are never parsed (a search needs one or two).
    #[cfg(test)]
    pub fn walk<'a>(
        &'a self,
        wanted: Option<&[bool]>,
        mut f: impl FnMut(&SpanRow<'a>) -> Result<(), CodecError>,
    ) -> Result<(), CodecError> {
        self.walk_while(wanted, |row| f(row).map(|()| true))
    }

    /// A walk that reads only the columns a search without tags needs (runs, times, names),
    /// leaving ids, parents, attributes and events unparsed: ~3 varints per span instead of
    /// ~20. Calls `f` with each span's (trace ordinal, resource, start, end, name); stops
    /// when it returns false.
    pub fn walk_light(&self, mut f: impl FnMut(usize, usize, u64, u64, &str) -> Result<bool, CodecError>) -> Result<(), CodecError> {
        let col = |i: usize| Cursor(&self.raw[self.cols[i].clone()]);
        let (mut groups, mut times, mut names) = (col(GROUPS), col(TIMES), col(NAMES));
        let mut prev_start = 0u64;
        for t in 0..self.ids.len() {
            for _ in 0..groups.usize()? {
                let (resource, scope, n) = (groups.usize()?, groups.usize()?, groups.usize()?);
                if resource >= self.resources.len() || scope >= self.scopes.len() {
                    return Err(CodecError::Corrupt("resource or scope index"));
                }
                for _ in 0..n {
                    let start = prev_start.wrapping_add(unzigzag(times.varint()?) as u64);
                    let end = start.wrapping_add(unzigzag(times.varint()?) as u64);
                    prev_start = start;
                    if !f(t, resource, start, end, self.string(names.varint()?)?)? {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    /// [`Block::walk`] that stops after the span for which `f` returns false.
    pub fn walk_while<'a>(
        &'a self,
        wanted: Option<&[bool]>,
        mut f: impl FnMut(&SpanRow<'a>) -> Result<bool, CodecError>,
    ) -> Result<(), CodecError> {
        let col = |i: usize| Cursor(&self.raw[self.cols[i].clone()]);
        let (mut groups, mut ids, mut parents, mut times) = (col(GROUPS), col(IDS), col(PARENTS), col(TIMES));
        let (mut names, mut heads, mut rare, mut keys, mut events) = (col(NAMES), col(HEADS), col(RARE), col(ATTR_KEYS), col(EVENTS));
        let mut values: Vec<(Cursor<'a>, Vec<&'a str>)> =
            self.values.iter().map(|r| (Cursor(&self.raw[r.clone()]), Vec::new())).collect();
        let mut row = SpanRow::default();
        let mut trace_ids: Vec<&'a [u8]> = Vec::new();
        let mut runs: Vec<(usize, usize, usize)> = Vec::new();
        let mut prev_start = 0u64;
        for t in 0..self.ids.len() {
            row.trace = t;
            runs.clear();
            let mut total = 0usize;
            for _ in 0..groups.usize()? {
                let run = (groups.usize()?, groups.usize()?, groups.usize()?);
                if run.0 >= self.resources.len() || run.1 >= self.scopes.len() {
                    return Err(CodecError::Corrupt("resource or scope index"));
                }
                total = total.checked_add(run.2).ok_or(CodecError::Corrupt("span count"))?;
                runs.push(run);
            }
            trace_ids.clear();
            for _ in 0..total {
                trace_ids.push(ids.bytes()?);
            }
            let mut j = 0;
            for &(resource, scope, n) in &runs {
                (row.resource, row.scope) = (resource, scope);
                for _ in 0..n {
                    row.span_id = trace_ids[j];
                    j += 1;
                    row.parent = match parents.varint()? {
                        PARENT_NONE => &[],
                        PARENT_RAW => rare.bytes()?,
                        p => usize::try_from(p - PARENT_IN_TRACE)
                            .ok()
                            .and_then(|p| trace_ids.get(p))
                            .ok_or(CodecError::Corrupt("parent index"))?,
                    };
                    row.start = prev_start.wrapping_add(unzigzag(times.varint()?) as u64);
                    row.end = row.start.wrapping_add(unzigzag(times.varint()?) as u64);
                    prev_start = row.start;
                    row.name = self.string(names.varint()?)?;
                    row.kind = i32::try_from(unzigzag(heads.varint()?)).map_err(|_| CodecError::Corrupt("kind"))?;
                    row.status = match heads.varint()? {
                        0 => None,
                        s => {
                            let code = i32::try_from(unzigzag(s - 1)).map_err(|_| CodecError::Corrupt("status"))?;
                            Some((code, self.string(heads.varint()?)?))
                        }
                    };
                    let mask = heads.varint()?;
                    read_rare(&mut row, mask, &mut rare)?;
                    row.attrs.clear();
                    read_attrs(self, wanted, &mut keys, &mut values, &mut row.attrs)?;
                    row.events.clear();
                    row.event_attrs.clear();
                    for _ in 0..events.usize()? {
                        let time = row.start.wrapping_add(unzigzag(events.varint()?) as u64);
                        let name = self.string(events.varint()?)?;
                        let dropped = events.u32()?;
                        let from = row.event_attrs.len();
                        read_attrs(self, wanted, &mut keys, &mut values, &mut row.event_attrs)?;
                        row.events.push(EventRow { time, name, dropped, attrs: from..row.event_attrs.len() });
                    }
                    if !f(&row)? {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    /// How many span and event attributes under `key` may have `want` as their text
    /// ([`Want::maybe`]: strings, ints and bools exactly; doubles and other shapes when they
    /// may). Reads only that key's value column, so a tag search learns whether the block can
    /// match, and when a walk has passed every candidate, without walking spans.
    pub fn count_values(&self, key: &str, want: &Want) -> Result<usize, CodecError> {
        let mut count = 0;
        for (i, r) in self.strings.iter().enumerate() {
            if self.text.get(r.clone()) != Some(key) {
                continue;
            }
            let Some(range) = self.values.get(i) else { continue };
            let mut col = Cursor(&self.raw[range.clone()]);
            let mut seen = Vec::new();
            while !col.0.is_empty() {
                count += usize::from(want.maybe(read_value(&mut col, &mut seen)?));
            }
        }
        Ok(count)
    }

    /// The spans of one trace in this block, grouped by resource and scope as they came.
    #[cfg(test)]
    pub fn trace(&self, id: &[u8; 16]) -> Result<Vec<ResourceSpans>, CodecError> {
        Ok(self.traces(&[*id])?.pop().map(|(_, rs)| rs).unwrap_or_default())
    }

    /// The spans of each of `ids` held in this block, grouped by resource and scope as they
    /// came, in one walk (a search's results usually share a few blocks). Only traces with
    /// spans here are returned, in the block's order. The walk stops after the last of them.
    pub fn traces(&self, ids: &[[u8; 16]]) -> Result<Vec<TraceSpans>, CodecError> {
        // Trace ordinals in this block -> slot in `out`.
        let mut slot: Vec<Option<usize>> = vec![None; self.ids.len()];
        let mut out: Vec<TraceSpans> = Vec::new();
        for (t, id) in self.ids.iter().enumerate() {
            if ids.contains(id) {
                slot[t] = Some(out.len());
                out.push((*id, Vec::new()));
            }
        }
        let Some(last_trace) = slot.iter().rposition(Option::is_some) else { return Ok(out) };
        let mut last: Option<(usize, usize, usize)> = None;
        self.walk_while(None, |row| {
            if row.trace > last_trace {
                return Ok(false);
            }
            let Some(i) = slot[row.trace] else { return Ok(true) };
            let span = self.span(row)?;
            let same_resource = last.is_some_and(|(t, r, _)| t == row.trace && r == row.resource);
            let same_scope = same_resource && last.is_some_and(|(_, _, s)| s == row.scope);
            let trace = &mut out[i].1;
            if !same_resource {
                let r = &self.resources[row.resource];
                trace.push(ResourceSpans { resource: r.resource(self)?.cloned(), scope_spans: Vec::new(), schema_url: r.schema_url.clone() });
            }
            let rs = trace.last_mut().ok_or(CodecError::Corrupt("no resource"))?;
            if !same_scope {
                let (scope, schema_url) = &self.scopes[row.scope];
                rs.scope_spans.push(ScopeSpans { scope: scope.clone(), spans: Vec::new(), schema_url: schema_url.clone() });
            }
            rs.scope_spans.last_mut().ok_or(CodecError::Corrupt("no scope"))?.spans.push(span);
            last = Some((row.trace, row.resource, row.scope));
            Ok(true)
        })?;
        Ok(out)
    }

    fn span(&self, row: &SpanRow<'_>) -> Result<Span, CodecError> {
        let attrs = |a: &[Attr<'_>]| -> Result<Vec<KeyValue>, CodecError> {
            a.iter().map(|(k, v)| Ok(KeyValue { key: k.to_string(), value: v.to_any()?, key_strindex: 0 })).collect()
        };
        Ok(Span {
            trace_id: row.trace_id.map_or_else(|| self.ids[row.trace].to_vec(), <[u8]>::to_vec),
            span_id: row.span_id.to_vec(),
            trace_state: row.trace_state.to_string(),
            parent_span_id: row.parent.to_vec(),
            flags: row.flags,
            name: row.name.to_string(),
            kind: row.kind,
            start_time_unix_nano: row.start,
            end_time_unix_nano: row.end,
            attributes: attrs(&row.attrs)?,
            dropped_attributes_count: row.dropped[0],
            events: row
                .events
                .iter()
                .map(|e| {
                    Ok(Event {
                        time_unix_nano: e.time,
                        name: e.name.to_string(),
                        attributes: attrs(&row.event_attrs[e.attrs.clone()])?,
                        dropped_attributes_count: e.dropped,
                    })
                })
                .collect::<Result<_, CodecError>>()?,
            dropped_events_count: row.dropped[1],
            links: row.links.iter().map(|b| Link::decode(*b)).collect::<Result<_, _>>()?,
            dropped_links_count: row.dropped[2],
            status: row.status.map(|(code, message)| Status { code, message: message.to_string() }),
        })
    }
}

fn read_rare<'a>(row: &mut SpanRow<'a>, mask: u64, rare: &mut Cursor<'a>) -> Result<(), CodecError> {
    row.trace_id = None;
    row.trace_state = "";
    row.dropped = [0; 3];
    row.flags = 0;
    row.links.clear();
    if mask == 0 {
        return Ok(());
    }
    if mask & RARE_TRACE_ID != 0 {
        row.trace_id = Some(rare.bytes()?);
    }
    if mask & RARE_TRACE_STATE != 0 {
        row.trace_state = rare.str()?;
    }
    for (i, bit) in [RARE_DROPPED_ATTRS, RARE_DROPPED_EVENTS, RARE_DROPPED_LINKS].into_iter().enumerate() {
        if mask & bit != 0 {
            row.dropped[i] = rare.u32()?;
        }
    }
    if mask & RARE_LINKS != 0 {
        for _ in 0..rare.usize()? {
            row.links.push(rare.bytes()?);
        }
    }
    if mask & RARE_FLAGS != 0 {
        row.flags = rare.u32()?;
    }
    Ok(())
}

fn read_attrs<'a>(
    block: &'a Block,
    wanted: Option<&[bool]>,
    keys: &mut Cursor<'a>,
    values: &mut [(Cursor<'a>, Vec<&'a str>)],
    out: &mut Vec<Attr<'a>>,
) -> Result<(), CodecError> {
    for _ in 0..keys.usize()? {
        let k = keys.usize()?;
        if wanted.is_some_and(|w| !w.get(k).copied().unwrap_or(false)) {
            continue;
        }
        let key = block.string(k as u64)?;
        let (col, seen) = values.get_mut(k).ok_or(CodecError::Corrupt("attribute key index"))?;
        let v = read_value(col, seen)?;
        out.push((key, v));
    }
    Ok(())
}

/// The next value of a key's value column; `seen` collects the column's `V_STR` strings so
/// far, which a `V_STR_AGAIN` refers to.
fn read_value<'a>(col: &mut Cursor<'a>, seen: &mut Vec<&'a str>) -> Result<Val<'a>, CodecError> {
    Ok(match col.byte()? {
        V_NONE => Val::None,
        V_STR => {
            let s = col.str()?;
            seen.push(s);
            Val::Str(s)
        }
        V_STR_AGAIN => Val::Str(usize::try_from(col.varint()?).ok().and_then(|i| seen.get(i)).ok_or(CodecError::Corrupt("string index"))?),
        V_FALSE => Val::Bool(false),
        V_TRUE => Val::Bool(true),
        V_INT => Val::Int(unzigzag(col.varint()?)),
        V_DOUBLE => Val::Double(f64::from_le_bytes(col.take(8)?.try_into().map_err(|_| CodecError::Corrupt("double"))?)),
        V_OTHER => Val::Other(col.bytes()?),
        _ => return Err(CodecError::Corrupt("value tag")),
    })
}
