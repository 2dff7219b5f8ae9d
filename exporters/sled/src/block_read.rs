//! Reads a block written by [`crate::block_write`]: a walk over its spans in stored order,
//! from the block's start or from a page's checkpoint ([`crate::block_page`]), that borrows
//! names and values from the decompressed bytes (a search checks spans without building OTLP
//! messages; [`crate::block_rebuild`] builds them for the traces a fetch wants).

use std::ops::Range;
use std::sync::OnceLock;

use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use prost::Message;

use crate::block_page::{parse_pages, Page, ValueCursor};
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
    pub(crate) scopes: Vec<(Option<InstrumentationScope>, String)>,
    cols: [Range<usize>; COLUMNS],
    /// Value column per string index.
    values: Vec<Range<usize>>,
    /// String indexes of the keys with a value column, in stored order (a [`Page`]'s
    /// `values` follow it).
    keyed: Vec<usize>,
    /// Where each page begins; the first begins at the block's start. A block written before
    /// pages is one page.
    pages: Vec<Page>,
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
        let columns = c.usize()?;
        if columns != COLUMNS && columns != COLUMNS_UNPAGED {
            return Err(CodecError::Corrupt("column count"));
        }
        let mut lens = [0usize; COLUMNS];
        for l in &mut lens[..columns] {
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
        for &(k, len) in &keyed {
            let slot = values.get_mut(k).ok_or(CodecError::Corrupt("value column of an unknown key"))?;
            *slot = take(len)?;
        }
        let keyed: Vec<usize> = keyed.into_iter().map(|(k, _)| k).collect();
        let pages = parse_pages(&raw[cols[PAGES].clone()], &cols, &values, &keyed, ids.len())?;
        Ok(Self { raw, ids, text, strings, resources, scopes, cols, values, keyed, pages })
    }

    /// Roughly what the decoded block occupies in memory (for [`crate::block_cache`]).
    pub fn memory_size(&self) -> usize {
        self.raw.len()
            + self.text.len()
            + self.ids.len() * 16
            + (self.strings.len() + self.values.len()) * 16
            + 256 * (self.resources.len() + self.scopes.len())
            + self.pages.len() * (96 + self.keyed.len() * 16)
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
            keyed: Vec::new(),
            pages: vec![Page::first(0)],
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
        f: impl FnMut(&SpanRow<'a>) -> Result<bool, CodecError>,
    ) -> Result<(), CodecError> {
        self.walk_from(wanted, 0, self.ids.len(), f)
    }

    /// How many pages the block has (see [`crate::block_write::PAGE_SPANS`]).
    pub fn page_count(&self) -> usize {
        self.pages.len()
    }

    /// The page trace `t` is in.
    pub(crate) fn page_of(&self, t: usize) -> usize {
        self.pages.partition_point(|p| p.trace <= t).saturating_sub(1)
    }

    /// [`Block::walk_while`] over page `p` only: it starts at the page's checkpoint, so the
    /// spans before it are not read.
    pub fn walk_page<'a>(
        &'a self,
        wanted: Option<&[bool]>,
        p: usize,
        f: impl FnMut(&SpanRow<'a>) -> Result<bool, CodecError>,
    ) -> Result<(), CodecError> {
        let end = self.pages.get(p + 1).map_or(self.ids.len(), |next| next.trace);
        self.walk_from(wanted, p, end, f)
    }

    /// Walks from page `p`'s first trace up to trace `end` (exclusive).
    fn walk_from<'a>(
        &'a self,
        wanted: Option<&[bool]>,
        p: usize,
        end: usize,
        mut f: impl FnMut(&SpanRow<'a>) -> Result<bool, CodecError>,
    ) -> Result<(), CodecError> {
        let page = self.pages.get(p).ok_or(CodecError::Corrupt("page"))?;
        let col = |i: usize| {
            let r = &self.cols[i];
            self.raw.get(r.start + page.fixed[i]..r.end).map(Cursor).ok_or(CodecError::Corrupt("page beyond column"))
        };
        let (mut groups, mut ids, mut parents, mut times) = (col(GROUPS)?, col(IDS)?, col(PARENTS)?, col(TIMES)?);
        let (mut names, mut heads, mut rare, mut keys, mut events) = (col(NAMES)?, col(HEADS)?, col(RARE)?, col(ATTR_KEYS)?, col(EVENTS)?);
        let mut values: Vec<ValueCursor<'a>> = self.values.iter().map(|r| ValueCursor::new(&self.raw[r.clone()], 0, 0)).collect::<Result<_, _>>()?;
        for (&k, &(at, base)) in self.keyed.iter().zip(&page.values) {
            values[k] = ValueCursor::new(&self.raw[self.values[k].clone()], at, base)?;
        }
        let mut row = SpanRow::default();
        let mut trace_ids: Vec<&'a [u8]> = Vec::new();
        let mut runs: Vec<(usize, usize, usize)> = Vec::new();
        let mut prev_start = page.prev_start;
        for t in page.trace..end.min(self.ids.len()) {
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
    /// may).
    pub fn count_values(&self, key: &str, want: &Want) -> Result<usize, CodecError> {
        Ok(self.count_values_by_page(key, want)?.iter().sum())
    }

    /// [`Block::count_values`] per page. Reads only that key's value column, so a tag search
    /// learns whether the block can match, which pages to walk, and when a page's walk has
    /// passed every candidate, without walking spans.
    pub fn count_values_by_page(&self, key: &str, want: &Want) -> Result<Vec<usize>, CodecError> {
        let mut counts = vec![0; self.pages.len()];
        for (j, &k) in self.keyed.iter().enumerate() {
            if self.string(k as u64)? != key {
                continue;
            }
            let whole = &self.raw[self.values[k].clone()];
            let mut col = ValueCursor::new(whole, 0, 0)?;
            let mut page = 0;
            while !col.is_empty() {
                let at = whole.len() - col.rest();
                while self.pages.get(page + 1).is_some_and(|next| next.values[j].0 <= at) {
                    page += 1;
                }
                counts[page] += usize::from(want.maybe(col.next()?));
            }
        }
        Ok(counts)
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
    values: &mut [ValueCursor<'a>],
    out: &mut Vec<Attr<'a>>,
) -> Result<(), CodecError> {
    for _ in 0..keys.usize()? {
        let k = keys.usize()?;
        if wanted.is_some_and(|w| !w.get(k).copied().unwrap_or(false)) {
            continue;
        }
        let key = block.string(k as u64)?;
        let v = values.get_mut(k).ok_or(CodecError::Corrupt("attribute key index"))?.next()?;
        out.push((key, v));
    }
    Ok(())
}
