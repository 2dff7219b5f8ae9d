//! Per-block search summaries: what a search reads instead of an index key per span.
//!
//! A summary lists the block's services, for each its operations (with span kind) and the
//! min/max start and duration of its spans, plus a Bloom filter over `(service, tag key,
//! tag value)` for span attributes, resource attributes, event attributes and the derived
//! tags. A search walks summaries newest first and decompresses only blocks whose summary
//! can match; the spans are then checked exactly, so a false positive costs time, never a
//! wrong answer.
//!
//! Three layouts are read; [`Summary::encode`] writes the timed one:
//!
//! - **Legacy** (the first format-2 databases): u32 service count, each service with its
//!   operations as length-prefixed strings, then an 8-bits-per-item, 5-probe filter (~2%
//!   false positives). Operation strings were ~9 of its ~12.5 B/span, and a reader had to
//!   walk all of them to find the filter.
//! - **Compact**: [`COMPACT`] marker, bound, probe count and filter first, then per service a
//!   byte length so a reader skips the services it does not want without parsing them;
//!   operations are sorted and front-coded (`GET /api/v1/route12` after `.../route11` costs 3
//!   bytes) with the kind as one byte. Parsing is O(1): a rare-tag search reads ~1000
//!   summaries. The filter's kind byte is stored (a Bloom probe count, or 0 for a binary fuse
//!   filter, see [`crate::filter`]), so the filter can change without another layout. A
//!   denser Bloom filter (12 bits, 8 probes, ~0.3%) grew gateway disk from 64 to 83 B/span
//!   end to end; the fuse filter gets 0.39% at ~9 bits per item, and since format 5 its
//!   16-bit form 1 in 65536 at ~19 bits (see [`crate::filter`]).
//!
//! - **Timed** ([`TIMED`], written now): compact, plus per service a staircase of (duration,
//!   start) points that gives the latest start of any span at least `d` long ([`staircase`],
//!   at most [`STAIRCASE_POINTS`], ~50 B per service) and per operation the latest start of its
//!   spans (~1 B each). A search ranks traces by the start of their newest matching span and
//!   stops once no block can beat its `limit`-th; with only the service's latest start, a
//!   search for long or rare spans could not tell that a block full of recent short spans
//!   holds no recent match, and walked every block written while its long spans ran
//!   (`minDuration=20ms` on a service with rare slow spans: ~900 ms at 10M spans of the
//!   realistic load, 343 blocks walked). Duration classes (doubling from 1 ms) were tried
//!   first: a 20 ms search still counted that service's 16-20 ms spans, which every block
//!   has, and walked as many blocks.
//!
//! All are format 2: the marker cannot be a legacy service count (it would need 4 billion
//! services), so no database is refused, and old summaries keep working until retention
//! drops them. A build older than this one skips compact summaries (it cannot parse them), so
//! its searches would miss blocks written by this one: do not downgrade in place (a build
//! before the timed layout skips timed summaries the same way).

use std::collections::HashSet;
use std::hash::BuildHasher;

use crate::filter::{self, FilterView};

/// Probe count of legacy summaries (8 bits per item).
const LEGACY_PROBES: u64 = 5;
/// First four bytes (LE) of a compact summary; a legacy summary starts with its service count.
pub const COMPACT: u32 = 0xFFFF_FF02;
/// First four bytes (LE) of a timed summary: compact, plus latest starts per duration class
/// and per operation (see the module doc).
pub const TIMED: u32 = 0xFFFF_FF03;
/// Most points a service's duration staircase keeps per block (see [`staircase`]).
pub const STAIRCASE_POINTS: usize = 24;

/// The staircase of `(duration, start)` pairs (durations descending, starts ascending) that
/// tells the latest start of any span at least `d` long: the spans no other span beats in
/// both duration and start (their Pareto front). Longer than [`STAIRCASE_POINTS`], runs of
/// neighbours merge into one point with the run's longest duration and latest start, which
/// still bounds every span of the run from above: a search may walk a block for nothing,
/// never skip one it needs. The cuts between runs go where the start jumps most (where
/// long spans started long before the short ones): that is the step a `minDuration` search
/// needs to see; evenly sized runs blurred it away.
pub fn staircase(mut spans: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    spans.sort_unstable_by(|a, b| b.cmp(a));
    let mut front: Vec<(u64, u64)> = Vec::new();
    for (duration, start) in spans {
        if front.last().is_none_or(|&(_, latest)| start > latest) {
            front.push((duration, start));
        }
    }
    if front.len() <= STAIRCASE_POINTS {
        return front;
    }
    // Cut after point i where the start rises most to point i + 1.
    let mut gaps: Vec<(u64, usize)> = front.windows(2).enumerate().map(|(i, w)| (w[1].1 - w[0].1, i)).collect();
    gaps.sort_unstable_by(|a, b| b.cmp(a));
    let mut cuts: Vec<usize> = gaps.iter().take(STAIRCASE_POINTS - 1).map(|(_, i)| *i).collect();
    cuts.sort_unstable();
    let mut out = Vec::with_capacity(STAIRCASE_POINTS);
    let mut first = 0;
    for cut in cuts.into_iter().chain([front.len() - 1]) {
        out.push((front[first].0, front[cut].1));
        first = cut + 1;
    }
    out
}

/// Span kinds as one byte in compact summaries; [`KIND_OTHER`] is followed by the string.
const KINDS: [&str; 6] = ["", "internal", "server", "client", "producer", "consumer"];
const KIND_OTHER: u8 = 0xFF;

/// Stable 64-bit hash of a tag; stable across processes and builds, since it is stored on
/// disk (format 2). Reads 8 bytes at a time: FNV-1a byte by byte was 3.5% of ingest.
pub fn tag_hash(service: &str, key: &str, value: &str) -> u64 {
    tag_hash_seeded(service_seed(service), key, value)
}

/// The part of [`tag_hash`] that depends only on the service, computed once per resource.
pub fn service_seed(service: &str) -> u64 {
    absorb(0x243F_6A88_85A3_08D3, service.as_bytes())
}

pub fn tag_hash_seeded(seed: u64, key: &str, value: &str) -> u64 {
    let h = absorb(absorb(seed, key.as_bytes()), value.as_bytes());
    let h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^ (h >> 31)
}

/// Folds `bytes` (and their length, so "ab"+"c" differs from "a"+"bc") into `h`.
fn absorb(mut h: u64, bytes: &[u8]) -> u64 {
    const M: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().unwrap_or_default());
        h = (h ^ w).wrapping_mul(M).rotate_left(29);
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    h = (h ^ u64::from_le_bytes(tail)).wrapping_mul(M).rotate_left(29);
    (h ^ bytes.len() as u64).wrapping_mul(M)
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceSummary {
    pub name: String,
    pub min_start: u64,
    pub max_start: u64,
    pub min_duration: u64,
    pub max_duration: u64,
    /// (operation, span kind name), sorted and distinct.
    pub operations: Vec<(String, String)>,
    /// The latest start of each operation's spans, in the order of `operations` (missing:
    /// `max_start`).
    pub op_latest: Vec<u64>,
    /// [`staircase`] of this service's spans (empty: unknown).
    pub latest_by_duration: Vec<(u64, u64)>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    pub services: Vec<ServiceSummary>,
    bloom: Vec<u8>,
    probes: u8,
    /// The latest span start in this block and every block written before it (lower
    /// sequence numbers, any partition): a newest-first search stops once this cannot beat
    /// what it has found. Set by the writer after it takes the block's sequence number.
    pub bound: u64,
}

impl Summary {
    pub fn new<S: BuildHasher>(services: Vec<ServiceSummary>, tags: &HashSet<u64, S>) -> Self {
        let (probes, bloom) = filter::build16(tags);
        Self { services, bloom, probes, bound: u64::MAX }
    }

    /// The compact layout (see the module doc).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.bloom.len() + 128 * self.services.len());
        out.extend_from_slice(&TIMED.to_le_bytes());
        out.extend_from_slice(&self.bound.to_le_bytes());
        out.push(self.probes);
        put_varint(&mut out, self.bloom.len() as u64);
        out.extend_from_slice(&self.bloom);
        let mut service = Vec::new();
        for s in &self.services {
            service.clear();
            put_bytes(&mut service, s.name.as_bytes());
            for v in [s.min_start, s.max_start, s.min_duration, s.max_duration] {
                service.extend_from_slice(&v.to_le_bytes());
            }
            // The staircase: each duration below the previous one, each start below max_start.
            put_varint(&mut service, s.latest_by_duration.len() as u64);
            let mut prev = u64::MAX;
            for &(duration, start) in &s.latest_by_duration {
                put_varint(&mut service, if prev == u64::MAX { duration } else { prev.saturating_sub(duration) });
                put_varint(&mut service, s.max_start.saturating_sub(start));
                prev = duration;
            }
            let mut ops: Vec<(&(String, String), u64)> =
                s.operations.iter().enumerate().map(|(i, op)| (op, s.op_latest.get(i).copied().unwrap_or(s.max_start))).collect();
            ops.sort_unstable_by(|a, b| a.0.cmp(b.0).then(b.1.cmp(&a.1)));
            ops.dedup_by(|a, b| a.0 == b.0);
            put_varint(&mut service, ops.len() as u64);
            let mut prev: &[u8] = &[];
            for ((op, kind), latest) in ops {
                let op = op.as_bytes();
                let shared = prev.iter().zip(op).take_while(|(a, b)| a == b).count();
                put_varint(&mut service, shared as u64);
                put_bytes(&mut service, &op[shared..]);
                match KINDS.iter().position(|k| k == kind) {
                    Some(i) => service.push(i as u8),
                    None => {
                        service.push(KIND_OTHER);
                        put_bytes(&mut service, kind.as_bytes());
                    }
                }
                // Every operation has a span: its distance below max_start, no "none" code.
                put_varint(&mut service, s.max_start.saturating_sub(latest));
                prev = op;
            }
            put_bytes(&mut out, &service);
        }
        out
    }

    /// `None` for bytes this code did not write (either layout).
    #[cfg(test)]
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let view = SummaryView::parse(bytes)?;
        let mut services = Vec::new();
        for s in view.services() {
            let s = s?;
            services.push(ServiceSummary {
                name: String::from_utf8(s.name.to_vec()).ok()?,
                min_start: s.min_start,
                max_start: s.max_start,
                min_duration: s.min_duration,
                max_duration: s.max_duration,
                operations: Vec::new(),
                op_latest: Vec::new(),
                latest_by_duration: s.latest_by_duration().collect(),
            });
            let last = services.last_mut()?;
            (last.operations, last.op_latest) = s.operations()?.into_iter().map(|(n, k, l)| ((n, k), l)).unzip();
        }
        Some(Self { services, bloom: view.bloom.to_vec(), probes: view.kind, bound: view.bound })
    }
}

/// A summary read in place, without copying names or the filter: a search reads one per
/// block. Parsing a compact summary reads a fixed header; services are found on demand.
pub struct SummaryView<'a> {
    /// Legacy: every service parsed up front. Compact: the service records, unparsed.
    legacy: Option<Vec<ServiceView<'a>>>,
    services: &'a [u8],
    #[cfg(test)]
    bloom: &'a [u8],
    filter: FilterView<'a>,
    /// The filter's kind byte ([`filter::FUSE`] or a Bloom probe count).
    #[cfg(test)]
    kind: u8,
    /// See [`Summary::bound`].
    pub bound: u64,
    layout: Layout,
}

#[derive(Clone, Copy)]
pub struct ServiceView<'a> {
    pub name: &'a [u8],
    pub min_start: u64,
    pub max_start: u64,
    pub min_duration: u64,
    pub max_duration: u64,
    ops: &'a [u8],
    n_ops: u32,
    layout: Layout,
    /// Timed layout: the varints of the duration staircase ([`staircase`]).
    steps: &'a [u8],
    n_steps: u32,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Layout {
    Legacy,
    Compact,
    Timed,
}

impl<'a> SummaryView<'a> {
    /// `None` for bytes this code did not write.
    pub fn parse(bytes: &'a [u8]) -> Option<Self> {
        let mut r = Reader(bytes);
        let layout = match r.u32()? {
            COMPACT => Layout::Compact,
            TIMED => Layout::Timed,
            _ => return Self::parse_legacy(bytes),
        };
        let bound = r.u64()?;
        let kind = *r.take(1)?.first()?;
        let len = usize::try_from(r.varint()?).ok()?;
        let bloom = r.take(len)?;
        Some(Self {
            legacy: None,
            services: r.0,
            #[cfg(test)]
            bloom,
            filter: FilterView::parse(kind, bloom),
            #[cfg(test)]
            kind,
            bound,
            layout,
        })
    }

    fn parse_legacy(bytes: &'a [u8]) -> Option<Self> {
        let mut r = Reader(bytes);
        let n = r.u32()?;
        let mut services = Vec::with_capacity(n.min(64) as usize);
        for _ in 0..n {
            let len = r.u32()? as usize;
            let name = r.take(len)?;
            let (min_start, max_start, min_duration, max_duration) = (r.u64()?, r.u64()?, r.u64()?, r.u64()?);
            let n_ops = r.u32()?;
            let before = r.0;
            for _ in 0..n_ops {
                let l = r.u32()? as usize;
                r.take(l)?;
                let l = r.u32()? as usize;
                r.take(l)?;
            }
            let ops = &before[..before.len() - r.0.len()];
            services.push(ServiceView {
                name,
                min_start,
                max_start,
                min_duration,
                max_duration,
                ops,
                n_ops,
                layout: Layout::Legacy,
                steps: &[],
                n_steps: 0,
            });
        }
        let len = r.u32()? as usize;
        let bloom = r.take(len)?;
        let filter = FilterView::parse(LEGACY_PROBES as u8, bloom);
        Some(Self {
            legacy: Some(services),
            services: &[],
            #[cfg(test)]
            bloom,
            filter,
            #[cfg(test)]
            kind: LEGACY_PROBES as u8,
            bound: r.u64()?,
            layout: Layout::Legacy,
        })
    }

    /// Every service; an item is `None` where the bytes are damaged (and the walk ends there).
    pub fn services(&self) -> impl Iterator<Item = Option<ServiceView<'a>>> + '_ {
        let legacy = self.legacy.iter().flatten().map(|s| Some(*s));
        let mut r = Reader(self.services);
        let compact = std::iter::from_fn(move || {
            if r.0.is_empty() {
                return None;
            }
            let parsed = Self::compact_service(&mut r, self.layout);
            if parsed.is_none() {
                r.0 = &[];
            }
            Some(parsed)
        });
        legacy.chain(compact)
    }

    fn compact_service(r: &mut Reader<'a>, layout: Layout) -> Option<ServiceView<'a>> {
        let len = usize::try_from(r.varint()?).ok()?;
        let mut s = Reader(r.take(len)?);
        let name_len = usize::try_from(s.varint()?).ok()?;
        let name = s.take(name_len)?;
        let (min_start, max_start, min_duration, max_duration) = (s.u64()?, s.u64()?, s.u64()?, s.u64()?);
        let (mut steps, mut n_steps): (&[u8], u32) = (&[], 0);
        if layout == Layout::Timed {
            n_steps = u32::try_from(s.varint()?).ok()?;
            let before = s.0;
            for _ in 0..n_steps {
                s.varint()?;
                s.varint()?;
            }
            steps = &before[..before.len() - s.0.len()];
        }
        let n_ops = u32::try_from(s.varint()?).ok()?;
        Some(ServiceView { name, min_start, max_start, min_duration, max_duration, ops: s.0, n_ops, layout, steps, n_steps })
    }

    pub fn service(&self, name: &str) -> Option<ServiceView<'a>> {
        if let Some(legacy) = &self.legacy {
            return legacy.iter().find(|s| s.name == name.as_bytes()).copied();
        }
        // Each record starts with its length and name: another service's record is skipped
        // unparsed (parsing each one's times and staircase was ~25% of a rare-tag search
        // reading 10k summaries of 20 services each).
        let mut r = Reader(self.services);
        while !r.0.is_empty() {
            let mut record = r;
            let len = usize::try_from(r.varint()?).ok()?;
            let body = r.take(len)?;
            let mut head = Reader(body);
            let name_len = usize::try_from(head.varint()?).ok()?;
            if head.take(name_len)? == name.as_bytes() {
                return Self::compact_service(&mut record, self.layout);
            }
        }
        None
    }

    /// False only when the tag is certainly absent from the block.
    pub fn may_have_tag(&self, hash: u64) -> bool {
        self.filter.may_contain(hash)
    }
}

impl ServiceView<'_> {
    /// The latest start of the operation's spans in this block (the service's latest where
    /// the layout does not say), or `None` when the service has no such operation here.
    pub fn operation_latest(&self, op: &str) -> Option<u64> {
        let mut found = None;
        self.each_operation(|name, _, latest| {
            if name == op.as_bytes() {
                found = Some(found.unwrap_or(0).max(latest));
            }
            true
        });
        found
    }

    /// The latest start of this service's spans at least `min` long (from the staircase;
    /// the service's latest start where the layout has none); 0 when no span is that long.
    pub fn latest_with_duration(&self, min: u64) -> u64 {
        if self.n_steps == 0 {
            return self.max_start;
        }
        let mut latest = 0;
        for (duration, start) in self.staircase() {
            let Some((duration, start)) = duration.zip(start) else { return self.max_start };
            if duration < min {
                break;
            }
            latest = start;
        }
        latest
    }

    /// The staircase's points; `None` parts where the bytes are damaged.
    fn staircase(&self) -> impl Iterator<Item = (Option<u64>, Option<u64>)> + '_ {
        let mut r = Reader(self.steps);
        let mut prev: Option<u64> = None;
        (0..self.n_steps).map(move |_| {
            let d = r.varint().map(|v| match prev {
                None => v,
                Some(p) => p.saturating_sub(v),
            });
            prev = d.or(prev);
            (d, r.varint().map(|below| self.max_start.saturating_sub(below)))
        })
    }

    #[cfg(test)]
    fn latest_by_duration(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.staircase().map_while(|(d, s)| d.zip(s))
    }

    /// Calls `f` with each (name, kind, latest start) until it returns false; false if the
    /// bytes are damaged.
    fn each_operation(&self, mut f: impl FnMut(&[u8], &[u8], u64) -> bool) -> bool {
        let mut r = Reader(self.ops);
        let mut name: Vec<u8> = Vec::new();
        for _ in 0..self.n_ops {
            let kind: &[u8] = if self.layout != Layout::Legacy {
                let Some(shared) = r.varint().and_then(|v| usize::try_from(v).ok()) else { return false };
                let Some(suffix) = r.varint().and_then(|l| r.take(usize::try_from(l).ok()?)) else { return false };
                if shared > name.len() {
                    return false;
                }
                name.truncate(shared);
                name.extend_from_slice(suffix);
                match r.take(1).and_then(|b| b.first().copied()) {
                    Some(KIND_OTHER) => match r.varint().and_then(|l| r.take(usize::try_from(l).ok()?)) {
                        Some(k) => k,
                        None => return false,
                    },
                    Some(i) => match KINDS.get(usize::from(i)) {
                        Some(k) => k.as_bytes(),
                        None => return false,
                    },
                    None => return false,
                }
            } else {
                let Some(n) = r.u32().and_then(|l| r.take(l as usize)) else { return false };
                let Some(k) = r.u32().and_then(|l| r.take(l as usize)) else { return false };
                name.clear();
                name.extend_from_slice(n);
                k
            };
            let latest = if self.layout == Layout::Timed {
                match r.varint() {
                    None => return false,
                    Some(below) => self.max_start.saturating_sub(below),
                }
            } else {
                self.max_start
            };
            if !f(&name, kind, latest) {
                return true;
            }
        }
        true
    }

    #[cfg(test)]
    fn operations(&self) -> Option<Vec<(String, String, u64)>> {
        let mut out = Vec::new();
        let mut bad = false;
        let whole = self.each_operation(|n, k, latest| {
            match (std::str::from_utf8(n), std::str::from_utf8(k)) {
                (Ok(n), Ok(k)) => out.push((n.to_string(), k.to_string(), latest)),
                _ => bad = true,
            }
            !bad
        });
        (whole && !bad).then_some(out)
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

#[cfg(test)]
fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
fn put_str_u32(out: &mut Vec<u8>, s: &str) {
    put_u32(out, s.len() as u32);
    out.extend_from_slice(s.as_bytes());
}

#[derive(Clone, Copy)]
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.0.split_first()?;
            self.0 = rest;
            v |= u64::from(b & 0x7F) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str, ops: &[(&str, &str)]) -> ServiceSummary {
        ServiceSummary {
            name: name.into(),
            min_start: 10,
            max_start: 20,
            min_duration: 1,
            max_duration: u64::MAX,
            operations: ops.iter().map(|(o, k)| (o.to_string(), k.to_string())).collect(),
            // What a layout without these reads back: the service's latest start.
            op_latest: vec![20; ops.len()],
            latest_by_duration: Vec::new(),
        }
    }

    /// Latest starts per operation and per duration class survive the round trip, and a
    /// search learns from them the newest start a span of an operation or a duration range
    /// can have in the block.
    #[test]
    fn latest_starts_by_operation_and_duration_round_trip() {
        let mut api = service("api", &[("GET /a", "server"), ("GET /b", "client"), ("GET /b", "server")]);
        api.max_start = 1_000;
        api.op_latest = vec![900, 1_000, 400];
        let ms = 1_000_000;
        // A 5 s span starting at 300, 20 ms ones up to 700, short ones up to 1000.
        api.latest_by_duration = staircase(vec![(5_000 * ms, 300), (20 * ms, 700), (20 * ms, 500), (ms / 2, 1_000), (ms / 4, 990), (3 * ms, 200)]);
        assert_eq!(api.latest_by_duration, vec![(5_000 * ms, 300), (20 * ms, 700), (ms / 2, 1_000)], "the front only");
        let bytes = Summary::new(vec![api.clone()], &HashSet::new()).encode();
        let back = Summary::decode(&bytes).expect("decode");
        assert_eq!(back.services, vec![api]);
        let view = SummaryView::parse(&bytes).expect("parse");
        let svc = view.service("api").expect("service");
        assert_eq!(svc.operation_latest("GET /a"), Some(900));
        assert_eq!(svc.operation_latest("GET /b"), Some(1_000), "the later of its two kinds");
        assert_eq!(svc.operation_latest("GET /c"), None);
        assert_eq!(svc.latest_with_duration(0), 1_000);
        assert_eq!(svc.latest_with_duration(ms), 700, "a 20 ms span is the latest over 1 ms");
        assert_eq!(svc.latest_with_duration(21 * ms), 300, "only the long span can match");
        assert_eq!(svc.latest_with_duration(6_000 * ms), 0, "no span that long");
        // Merging keeps the big step: 500 recent spans of 1-19 ms, 500 of 20 ms and more
        // that started long before.
        let mut spans: Vec<(u64, u64)> = (0..500u64).map(|i| (ms + i * 36_000, 1_000_000 - i)).collect();
        spans.extend((0..500u64).map(|i| (20 * ms + i * ms, 1_000 - i)));
        let merged = staircase(spans);
        assert!(merged.len() <= STAIRCASE_POINTS);
        let bound = |d: u64| merged.iter().filter(|(md, _)| *md >= d).map(|(_, s)| *s).max().unwrap_or(0);
        assert_eq!(bound(20 * ms), 1_000, "the long spans' latest start, not the short ones'");
        // Merged runs bound every span they stand for from above.
        let spans: Vec<(u64, u64)> = (0..1000u64).map(|i| (i * ms, 5_000 - i)).collect();
        let merged = staircase(spans.clone());
        assert!(merged.len() <= STAIRCASE_POINTS);
        for (d, start) in spans {
            let bound = merged.iter().filter(|(md, _)| *md >= d).map(|(_, s)| *s).max().unwrap_or(0);
            assert!(bound >= start, "{d} ns, start {start}: bound {bound}");
        }
    }

    /// What the legacy writer produced (copied from it), so old databases stay readable.
    fn legacy_encode(services: &[ServiceSummary], tags: &HashSet<u64>, bound: u64) -> Vec<u8> {
        let bloom = filter::bloom(tags, LEGACY_PROBES);
        let mut out = Vec::new();
        put_u32(&mut out, services.len() as u32);
        for s in services {
            put_str_u32(&mut out, &s.name);
            for v in [s.min_start, s.max_start, s.min_duration, s.max_duration] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            put_u32(&mut out, s.operations.len() as u32);
            for (op, kind) in &s.operations {
                put_str_u32(&mut out, op);
                put_str_u32(&mut out, kind);
            }
        }
        put_u32(&mut out, bloom.len() as u32);
        out.extend_from_slice(&bloom);
        out.extend_from_slice(&bound.to_le_bytes());
        out
    }

    #[test]
    fn round_trip_and_bloom_has_no_false_negatives() {
        let tags: HashSet<u64> = (0..1000).map(|i| tag_hash("api", "k", &i.to_string())).collect();
        let s = Summary::new(vec![service("api", &[("GET", "server")])], &tags);
        let back = Summary::decode(&s.encode()).expect("decodes");
        assert_eq!(back, s);
        let bytes = s.encode();
        let view = SummaryView::parse(&bytes).expect("parses in place");
        let false_hits = (1000..11000).filter(|i| view.may_have_tag(tag_hash("api", "k", &i.to_string()))).count();
        // A binary fuse filter: ~0.39% expected.
        assert!(false_hits < 100, "{false_hits} false positives in 10000");
        assert!(Summary::decode(&[1, 0, 0, 0, 9]).is_none());
        let api = view.service("api").expect("service");
        assert!(api.operation_latest("GET").is_some() && api.operation_latest("POST").is_none());
        assert!(view.service("web").is_none());
        assert!(tags.iter().all(|h| view.may_have_tag(*h)));
    }

    #[test]
    fn no_false_negatives_for_any_tag_of_any_service() {
        let services = ["frontend", "checkout", "", "ünïcode"];
        for n in [0usize, 1, 7, 64, 5000] {
            let items: Vec<(usize, String, String)> =
                (0..n).map(|i| (i % services.len(), format!("key{}", i % 13), format!("value-{i}"))).collect();
            let tags: HashSet<u64> = items.iter().map(|(s, k, v)| tag_hash(services[*s], k, v)).collect();
            let bytes = Summary::new(Vec::new(), &tags).encode();
            let view = SummaryView::parse(&bytes).expect("parses");
            for (s, k, v) in &items {
                assert!(view.may_have_tag(tag_hash(services[*s], k, v)), "{n} items: lost {}/{k}={v}", services[*s]);
            }
        }
    }

    #[test]
    fn operations_are_front_coded_and_round_trip() {
        let routes: Vec<String> = (0..40).map(|i| format!("GET /api/v1/route{i}")).collect();
        let mut ops: Vec<(&str, &str)> = routes.iter().map(|r| (r.as_str(), "client")).collect();
        ops.extend([("GET /api/v1/route1", "server"), ("", ""), ("x", "some-future-kind"), ("GET", "consumer")]);
        let services = vec![service("frontend", &ops), service("checkout", &[]), service("a\0b", &[("é", "internal")])];
        let mut s = Summary::new(services.clone(), &HashSet::new());
        s.bound = 1234;
        let bytes = s.encode();
        let back = Summary::decode(&bytes).expect("decodes");
        let mut sorted = services[0].operations.clone();
        sorted.sort();
        assert_eq!(back.services[0].operations, sorted);
        assert_eq!(back.services[1..], services[1..]);
        assert_eq!(back.bound, 1234);
        let view = SummaryView::parse(&bytes).expect("parses");
        let frontend = view.service("frontend").expect("frontend");
        for (op, _) in &ops {
            assert!(frontend.operation_latest(op).is_some(), "{op:?}");
        }
        assert!(frontend.operation_latest("GET /api/v1/route").is_none() && frontend.operation_latest("GET /api/v1/route400").is_none());
        assert!(view.service("checkout").is_some_and(|c| c.operation_latest("GET").is_none()));
        let legacy = legacy_encode(&services, &HashSet::new(), 0);
        // Front coding saves ~4x; the timed layout spends about a byte per operation of that.
        assert!(bytes.len() * 3 < legacy.len(), "compact {} B vs legacy {} B", bytes.len(), legacy.len());
    }

    #[test]
    fn legacy_summaries_still_read() {
        let tags: HashSet<u64> = (0..500).map(|i| tag_hash("api", "user.id", &format!("user-{i}"))).collect();
        let services = vec![service("api", &[("GET /a", "server"), ("GET /b", "client")]), service("web", &[("load", "")])];
        let bytes = legacy_encode(&services, &tags, 99);
        let view = SummaryView::parse(&bytes).expect("legacy parses");
        assert_eq!(view.bound, 99);
        assert!((0..500).all(|i| view.may_have_tag(tag_hash("api", "user.id", &format!("user-{i}")))));
        let api = view.service("api").expect("api");
        assert_eq!((api.min_start, api.max_start, api.max_duration), (10, 20, u64::MAX));
        assert!(api.operation_latest("GET /b").is_some() && api.operation_latest("load").is_none());
        assert!(view.service("web").is_some_and(|w| w.operation_latest("load").is_some()));
        assert!(view.service("db").is_none());
        let back = Summary::decode(&bytes).expect("legacy decodes");
        assert_eq!(back.services, services);
    }

    #[test]
    fn damaged_summaries_never_panic() {
        let tags: HashSet<u64> = (0..50).map(|i| tag_hash("api", "k", &i.to_string())).collect();
        let services = vec![service("api", &[("GET /a", "server"), ("GET /b", "weird")]), service("web", &[])];
        let mut compact = Summary::new(services.clone(), &tags).encode();
        let legacy = legacy_encode(&services, &tags, 5);
        for bytes in [compact.clone(), legacy] {
            for cut in 0..bytes.len() {
                if let Some(view) = SummaryView::parse(&bytes[..cut]) {
                    let _ = view.may_have_tag(1);
                    for name in ["api", "web", "x"] {
                        let _ = view.service(name).map(|s| s.operation_latest("GET /b"));
                    }
                    let _ = view.services().count();
                }
            }
        }
        for i in 4..compact.len() {
            compact[i] = compact[i].wrapping_add(0x55);
            if let Some(view) = SummaryView::parse(&compact) {
                let _ = view.service("web").map(|s| s.operation_latest("GET /a"));
                let _ = Summary::decode(&compact);
            }
        }
    }
}
