//! How a store keeps one service's minute, and its ten-minute roll-up blocks
//! ([`super::ROLLUP_MINUTES`], [`Rows`]): the key orders by rows, service, then minute, so a query
//! for a service over a window is one range scan; the value lists (operation, kind, calls,
//! errors, sparse histogram) in varints. Merging a late minute into a stored one decodes both
//! and encodes the sum. A value that does not decode is reported, never a panic.

use std::sync::Arc;

use super::aggregate::Agg;
use super::histogram::{Histogram, BUCKETS};

/// The first byte of every per-minute RED metrics key in a store's index tree.
pub const KEY_PREFIX: u8 = b'm';

#[derive(Debug, thiserror::Error)]
#[error("a stored RED metrics record is damaged: {0}")]
pub struct RecordError(&'static str);

/// Which rows a record holds: a service's minute per (operation, kind), its ten-minute
/// roll-up block per (operation, kind), or the block summed over operations per kind (what a
/// query not grouped by operation reads: one entry per kind instead of one per operation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rows {
    Minutes,
    Blocks,
    ServiceBlocks,
}

impl Rows {
    /// The first byte of the keys of these rows.
    pub fn prefix(self) -> u8 {
        match self {
            Rows::Minutes => KEY_PREFIX,
            Rows::Blocks => b'M',
            Rows::ServiceBlocks => b'N',
        }
    }

    /// The rows a store keeping roll-ups reads for `request`.
    pub fn for_request(request: &super::RowRequest) -> Rows {
        match (request.block_minutes == super::ROLLUP_MINUTES, request.by_operation) {
            (false, _) => Rows::Minutes,
            (true, true) => Rows::Blocks,
            (true, false) => Rows::ServiceBlocks,
        }
    }
}

/// `m` + service + 0 + minute (u64 big-endian).
pub fn key(service: &str, minute: u64) -> Vec<u8> {
    key_of(Rows::Minutes, service, minute)
}

/// The key of `service`'s row starting at `minute` (the block's first minute for blocks).
pub fn key_of(rows: Rows, service: &str, minute: u64) -> Vec<u8> {
    let mut k = service_prefix(rows, service);
    k.extend_from_slice(&minute.to_be_bytes());
    k
}

/// The key prefix of every row of `rows` of `service`.
pub fn service_prefix(rows: Rows, service: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(service.len() + 10);
    k.push(rows.prefix());
    k.extend_from_slice(service.as_bytes());
    k.push(0);
    k
}

/// `entries` summed over operations, per kind, under the empty operation name.
pub fn per_kind(entries: &[(Arc<str>, u8, Agg)]) -> Vec<(Arc<str>, u8, Agg)> {
    let mut out: Vec<(Arc<str>, u8, Agg)> = Vec::new();
    for (_, kind, agg) in entries {
        match out.iter_mut().find(|e| e.1 == *kind) {
            Some(e) => e.2.merge(agg),
            None => out.push((Arc::from(""), *kind, agg.clone())),
        }
    }
    out
}

/// The minute of a key made by [`key`].
pub fn minute_of(key: &[u8]) -> Option<u64> {
    let tail = key.len().checked_sub(8).and_then(|at| key.get(at..))?;
    tail.try_into().ok().map(u64::from_be_bytes)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint(buf: &mut &[u8]) -> Result<u64, RecordError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = buf.split_first().ok_or(RecordError("truncated"))?;
        *buf = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err(RecordError("varint too long"))
}

pub fn encode(entries: &[(Arc<str>, u8, Agg)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * 64);
    put_varint(&mut out, entries.len() as u64);
    for (op, kind, agg) in entries {
        put_varint(&mut out, op.len() as u64);
        out.extend_from_slice(op.as_bytes());
        out.push(*kind);
        put_varint(&mut out, agg.calls);
        put_varint(&mut out, agg.errors);
        put_varint(&mut out, agg.latency.buckets.len() as u64);
        let mut prev = 0u16;
        for &(b, c) in &agg.latency.buckets {
            put_varint(&mut out, u64::from(b - prev));
            put_varint(&mut out, c);
            prev = b;
        }
    }
    out
}

pub fn decode(mut buf: &[u8]) -> Result<Vec<(Arc<str>, u8, Agg)>, RecordError> {
    let n = varint(&mut buf)?;
    // Each entry takes at least 5 bytes: a count past that is damage, not a reason to allocate.
    if n > buf.len() as u64 {
        return Err(RecordError("entry count past the record's end"));
    }
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let len = varint(&mut buf)? as usize;
        let (name, rest) = buf.split_at_checked(len).ok_or(RecordError("operation name past the end"))?;
        let op: Arc<str> = Arc::from(std::str::from_utf8(name).map_err(|_| RecordError("operation name is not UTF-8"))?);
        let (&kind, rest) = rest.split_first().ok_or(RecordError("truncated"))?;
        buf = rest;
        let calls = varint(&mut buf)?;
        let errors = varint(&mut buf)?;
        let nb = varint(&mut buf)?;
        if nb > BUCKETS as u64 {
            return Err(RecordError("more buckets than a histogram has"));
        }
        let mut latency = Histogram { buckets: Vec::with_capacity(nb as usize) };
        let mut bucket = 0u64;
        for _ in 0..nb {
            bucket += varint(&mut buf)?;
            if bucket >= BUCKETS as u64 {
                return Err(RecordError("bucket out of range"));
            }
            latency.buckets.push((bucket as u16, varint(&mut buf)?));
        }
        out.push((op, kind, Agg { calls, errors, latency }));
    }
    Ok(out)
}

/// `stored` (if any) plus `fresh`, encoded; a damaged stored record is replaced (its minute
/// loses what it held, which is logged by the caller through the error).
pub fn merge(stored: Option<&[u8]>, fresh: &[(Arc<str>, u8, Agg)]) -> (Vec<u8>, Option<RecordError>) {
    let Some(stored) = stored else { return (encode(fresh), None) };
    let mut all = match decode(stored) {
        Ok(all) => all,
        Err(e) => return (encode(fresh), Some(e)),
    };
    for (op, kind, agg) in fresh {
        match all.iter_mut().find(|(o, k, _)| o == op && k == kind) {
            Some((_, _, a)) => a.merge(agg),
            None => all.push((op.clone(), *kind, agg.clone())),
        }
    }
    (encode(&all), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_merge() {
        let mut agg = Agg { calls: 3, errors: 1, latency: Histogram::default() };
        for us in [5, 900, 1_000_000] {
            agg.latency.observe(us);
        }
        let entries = vec![(Arc::from("GET /"), 2u8, agg.clone())];
        let bytes = encode(&entries);
        assert_eq!(decode(&bytes).ok(), Some(entries.clone()));
        let (merged, err) = merge(Some(&bytes), &entries);
        assert!(err.is_none());
        let merged = decode(&merged).unwrap_or_default();
        assert_eq!(merged.len(), 1);
        assert_eq!((merged[0].2.calls, merged[0].2.errors, merged[0].2.latency.count()), (6, 2, 6));
        assert_eq!(minute_of(&key("svc", 12345)), Some(12345));
    }

    #[test]
    fn damaged_records_are_errors_not_panics() {
        let good = encode(&[(Arc::from("op"), 1u8, Agg::default())]);
        for cut in 0..good.len() {
            let _ = decode(&good[..cut]);
        }
        for garbage in [&[0xff; 12][..], &[200, 1, 2], &[1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f]] {
            assert!(decode(garbage).is_err());
        }
    }
}
