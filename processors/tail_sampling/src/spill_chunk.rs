//! A spilled piece of a trace, self-contained: the trace's records with their resource and
//! scope heads (and tenant) written out in full, since head ids mean nothing once the heads
//! they named are freed. Reading a chunk back interns the heads again.
//!
//! A trace spilled twice (spans that arrived after its first spill, spilled in turn) has its
//! chunks chained: each chunk starts with the location of the one before, so the table keeps
//! one location per trace however often it spilled.
//!
//! ```text
//! u8 has_prev | u32 segment | u32 offset | u32 length      (the previous chunk, little-endian)
//! then per record:
//! varint tenant length + 1 (0: none) | tenant | varint head length | resource head
//! | varint head length | scope head | varint spans | varint payload length | payload
//! ```

use std::sync::Arc;

use tracegate_pdata::wire::read_varint;

use crate::heads::Heads;
use crate::held::HeldTrace;
use crate::spill::{SpillError, SpillRef};

const PREV: usize = 13;

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    prost::encoding::encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// The chunk for `trace`'s records, chained after `prev`.
#[cfg(test)]
pub fn encode(prev: Option<SpillRef>, trace: &HeldTrace, resources: &Heads, scopes: &Heads) -> Vec<u8> {
    let mut out = Vec::with_capacity(PREV + trace.len() + 256);
    encode_into(&mut out, prev, trace, resources, scopes);
    out
}

/// Appends the chunk for `trace`'s records, chained after `prev`, to `out`.
pub fn encode_into(out: &mut Vec<u8>, prev: Option<SpillRef>, trace: &HeldTrace, resources: &Heads, scopes: &Heads) {
    let p = prev.unwrap_or(SpillRef { segment: 0, offset: 0, len: 0 });
    out.push(u8::from(prev.is_some()));
    out.extend_from_slice(&p.segment.to_le_bytes());
    out.extend_from_slice(&p.offset.to_le_bytes());
    out.extend_from_slice(&p.len.to_le_bytes());
    for r in trace.records() {
        match resources.tenant_of(r.resource) {
            None => out.push(0),
            Some(t) => {
                prost::encoding::encode_varint(t.len() as u64 + 1, out);
                out.extend_from_slice(t.as_bytes());
            }
        }
        put_bytes(out, resources.bytes_of(r.resource));
        put_bytes(out, scopes.bytes_of(r.scope));
        prost::encoding::encode_varint(u64::from(r.spans), out);
        put_bytes(out, r.payload);
    }
}

/// The chunk before this one.
pub fn prev(chunk: &[u8]) -> Result<Option<SpillRef>, SpillError> {
    let head = chunk.get(..PREV).ok_or(SpillError::Malformed)?;
    let word = |i: usize| head.get(i..i + 4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes).ok_or(SpillError::Malformed);
    if head[0] == 0 {
        return Ok(None);
    }
    Ok(Some(SpillRef { segment: word(1)?, offset: word(5)?, len: word(9)? }))
}

fn bytes<'a>(rest: &mut &'a [u8], n: u64) -> Result<&'a [u8], SpillError> {
    let n = usize::try_from(n).map_err(|_| SpillError::Malformed)?;
    if n > rest.len() {
        return Err(SpillError::Malformed);
    }
    let (a, b) = rest.split_at(n);
    *rest = b;
    Ok(a)
}

/// Appends the chunk's records to `into`, interning their heads again (each record takes a
/// reference, as [`HeldTrace`] records do). On an error the records read so far stay in
/// `into`, holding their references.
pub fn decode_into(chunk: &[u8], resources: &mut Heads, scopes: &mut Heads, into: &mut HeldTrace) -> Result<(), SpillError> {
    let mut rest = chunk.get(PREV..).ok_or(SpillError::Malformed)?;
    let varint = |rest: &mut &[u8]| read_varint(rest).map_err(|_| SpillError::Malformed);
    while !rest.is_empty() {
        let tenant = match varint(&mut rest)? {
            0 => None,
            n => {
                let name = std::str::from_utf8(bytes(&mut rest, n - 1)?).map_err(|_| SpillError::Malformed)?;
                Some(Arc::<str>::from(name))
            }
        };
        let n = varint(&mut rest)?;
        let resource = bytes(&mut rest, n)?;
        let n = varint(&mut rest)?;
        let scope = bytes(&mut rest, n)?;
        let spans = u32::try_from(varint(&mut rest)?).map_err(|_| SpillError::Malformed)?;
        let n = varint(&mut rest)?;
        let payload = bytes(&mut rest, n)?;
        let r = resources.intern(tenant.as_ref(), resource);
        let s = scopes.intern(None, scope);
        into.push_payload(r, s, spans, payload);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn a_chunk_round_trips_with_its_heads_tenant_and_link() {
        let (mut res, mut scopes) = (Heads::default(), Heads::default());
        let acme: Arc<str> = Arc::from("acme");
        let r = res.intern(Some(&acme), b"resource-head");
        let s = scopes.intern(None, b"scope-head");
        let mut t = HeldTrace::default();
        t.push_spans(r, s, &[b"span-1", b"span-2"]);
        let link = SpillRef { segment: 3, offset: 99, len: 40 };
        let chunk = encode(Some(link), &t, &res, &scopes);
        assert_eq!(prev(&chunk).unwrap(), Some(link));
        t.release_heads(&mut res, &mut scopes);
        assert!(res.is_empty() && scopes.is_empty());

        let mut back = HeldTrace::default();
        decode_into(&chunk, &mut res, &mut scopes, &mut back).unwrap();
        assert_eq!(back.span_count(), 2);
        let rec = back.records().next().unwrap();
        assert_eq!(res.bytes_of(rec.resource), b"resource-head");
        assert_eq!(res.tenant_of(rec.resource).map(|t| &**t), Some("acme"));
        assert_eq!(scopes.bytes_of(rec.scope), b"scope-head");
        assert_eq!(prev(&encode(None, &back, &res, &scopes)).unwrap(), None);
    }

    #[test]
    fn truncated_chunks_are_errors() {
        let (mut res, mut scopes) = (Heads::default(), Heads::default());
        let r = res.intern(None, b"r");
        let mut t = HeldTrace::default();
        t.push_spans(r, r, &[b"span"]);
        let chunk = encode(None, &t, &res, &scopes);
        for cut in 0..chunk.len() {
            let mut into = HeldTrace::default();
            let _ = decode_into(&chunk[..cut], &mut res, &mut scopes, &mut into);
            let _ = prev(&chunk[..cut]);
        }
        assert!(decode_into(&chunk[..PREV + 3], &mut res, &mut scopes, &mut HeldTrace::default()).is_err());
    }
}
