//! Where a walk can start inside a block: the page table of format 5 blocks (see
//! [`crate::block_write::PAGE_SPANS`]) and the value-column cursor that starts at a page.
//! Split from [`crate::block_read`], which walks blocks with them.

use std::ops::Range;

use crate::block_read::Val;
use crate::block_write::*;
use crate::codec::{unzigzag, CodecError, Cursor};

/// Where a page of a block begins (see [`crate::block_write::PAGE_SPANS`]): offsets into each
/// column, so a walk can start there.
#[derive(Clone)]
pub struct Page {
    pub trace: usize,
    pub prev_start: u64,
    pub fixed: [usize; COLUMNS_UNPAGED],
    /// Per keyed value column (`Block::keyed` order): offset, and `V_STR` values before it.
    pub values: Vec<(usize, u64)>,
}

/// A key's value column, read from some point on. A `V_STR_AGAIN` counts strings from the
/// column's start, so one that points before the start point is found by scanning the column
/// before it, once and only as far as needed (a repeated value is usually one of the first
/// few the column stored).
pub struct ValueCursor<'a> {
    col: Cursor<'a>,
    /// The index of the first `V_STR` read from `col`.
    base: u64,
    seen: Vec<&'a str>,
    /// The column before the start point, not yet scanned, and the strings it held so far.
    before: Cursor<'a>,
    earlier: Vec<&'a str>,
}

impl<'a> ValueCursor<'a> {
    pub fn new(whole: &'a [u8], at: usize, base: u64) -> Result<Self, CodecError> {
        let (before, rest) = whole.split_at_checked(at).ok_or(CodecError::Corrupt("page beyond value column"))?;
        Ok(Self { col: Cursor(rest), base, seen: Vec::new(), before: Cursor(before), earlier: Vec::new() })
    }

    pub fn is_empty(&self) -> bool {
        self.col.0.is_empty()
    }

    /// Bytes left to read.
    pub fn rest(&self) -> usize {
        self.col.0.len()
    }

    pub fn next(&mut self) -> Result<Val<'a>, CodecError> {
        Ok(match self.col.byte()? {
            V_STR => {
                let s = self.col.str()?;
                self.seen.push(s);
                Val::Str(s)
            }
            V_STR_AGAIN => {
                let i = self.col.varint()?;
                Val::Str(self.again(i)?)
            }
            tag => plain_value(tag, &mut self.col)?,
        })
    }

    fn again(&mut self, i: u64) -> Result<&'a str, CodecError> {
        let bad = CodecError::Corrupt("string index");
        if let Some(j) = i.checked_sub(self.base) {
            return usize::try_from(j).ok().and_then(|j| self.seen.get(j).copied()).ok_or(bad);
        }
        let i = usize::try_from(i).map_err(|_| CodecError::Corrupt("string index"))?;
        while self.earlier.len() <= i {
            if self.before.0.is_empty() {
                return Err(bad);
            }
            match self.before.byte()? {
                V_STR => self.earlier.push(self.before.str()?),
                V_STR_AGAIN => {
                    self.before.varint()?;
                }
                tag => {
                    plain_value(tag, &mut self.before)?;
                }
            }
        }
        Ok(self.earlier[i])
    }
}

/// A value that is not a string, after its tag.
fn plain_value<'a>(tag: u8, col: &mut Cursor<'a>) -> Result<Val<'a>, CodecError> {
    Ok(match tag {
        V_NONE => Val::None,
        V_FALSE => Val::Bool(false),
        V_TRUE => Val::Bool(true),
        V_INT => Val::Int(unzigzag(col.varint()?)),
        V_DOUBLE => Val::Double(f64::from_le_bytes(col.take(8)?.try_into().map_err(|_| CodecError::Corrupt("double"))?)),
        V_OTHER => Val::Other(col.bytes()?),
        _ => return Err(CodecError::Corrupt("value tag")),
    })
}

impl Page {
    pub fn first(keyed: usize) -> Self {
        Self { trace: 0, prev_start: 0, fixed: [0; COLUMNS_UNPAGED], values: vec![(0, 0); keyed] }
    }
}

/// The [`PAGES`] column (see `BlockWriter::page_table`): every page's checkpoint, checked to
/// lie inside its columns and to move forward. Empty (a block written before pages): one page.
pub fn parse_pages(bytes: &[u8], cols: &[Range<usize>; COLUMNS], values: &[Range<usize>], keyed: &[usize], traces: usize) -> Result<Vec<Page>, CodecError> {
    let mut pages = vec![Page::first(keyed.len())];
    if bytes.is_empty() {
        return Ok(pages);
    }
    let bad = |what| CodecError::Corrupt(what);
    let mut c = Cursor(bytes);
    let n = c.usize()?;
    if n >= traces.max(1) {
        return Err(bad("more pages than traces"));
    }
    pages.reserve(n);
    for _ in 0..n {
        let last = pages.last().ok_or(bad("page"))?;
        let trace = last.trace.checked_add(c.usize()?).filter(|t| *t > last.trace && *t < traces).ok_or(bad("page's first trace"))?;
        let prev_start = c.varint()?;
        let mut fixed = last.fixed;
        for (i, at) in fixed.iter_mut().enumerate() {
            *at = at.checked_add(c.usize()?).filter(|at| *at <= cols[i].len()).ok_or(bad("page beyond column"))?;
        }
        let mut at = Vec::with_capacity(keyed.len());
        for (&(offset, base), &k) in last.values.iter().zip(keyed) {
            let offset = offset.checked_add(c.usize()?).filter(|o| values.get(k).is_some_and(|r| *o <= r.len())).ok_or(bad("page beyond value column"))?;
            at.push((offset, base.checked_add(c.varint()?).ok_or(bad("page's string count"))?));
        }
        pages.push(Page { trace, prev_start, fixed, values: at });
    }
    if !c.0.is_empty() {
        return Err(bad("page table length"));
    }
    Ok(pages)
}
