//! Interned resource and scope "heads": the encoded fields that stand before a trace's spans
//! in OTLP (`Resource` + `schema_url` of a `ResourceSpans`, `InstrumentationScope` +
//! `schema_url` of a `ScopeSpans`), held once however many pending traces refer to them.
//!
//! Why intern: a resource (a dozen attributes, often larger than a span) arrives again with
//! every request of a service, and every trace of that request has spans under it. Copying it
//! into each held trace would cost more than the spans of a small trace; keeping it per
//! incoming batch (as the decoded form did, with an `Arc` per batch) still holds one copy per
//! request. Interned by content, a service's resource is held once while any trace of it is
//! pending. Each head is reference-counted by the records that name it and freed with the last.
//!
//! A resource head belongs to a tenant (`tracegate_core::tenancy`): the same bytes of two
//! tenants are two heads, so a released trace leaves as its tenant's.

use std::collections::HashMap;
use std::sync::Arc;

/// Index of an interned head.
pub type HeadId = u32;

struct Entry {
    /// The lookup key: the tenant's length + 1 (0: none) as a varint, the tenant, then the
    /// head bytes. Shared with the map, so the bytes are held once.
    key: Arc<[u8]>,
    /// Where the head bytes start in `key`.
    head_at: u32,
    tenant: Option<Arc<str>>,
    refs: u32,
}

/// One table of heads (the processor has one for resources and one for scopes).
#[derive(Default)]
pub struct Heads {
    entries: Vec<Option<Entry>>,
    free: Vec<HeadId>,
    ids: HashMap<Arc<[u8]>, HeadId>,
    bytes: usize,
    scratch: Vec<u8>,
}

/// Heap bytes of one entry beyond its key: the map's slot and the entry's slot, roughly.
const ENTRY_OVERHEAD: usize = 96;

impl Heads {
    /// The head with these bytes for `tenant`, interned if new; takes one reference.
    pub fn intern(&mut self, tenant: Option<&Arc<str>>, head: &[u8]) -> HeadId {
        self.scratch.clear();
        match tenant {
            None => self.scratch.push(0),
            Some(t) => {
                prost::encoding::encode_varint(t.len() as u64 + 1, &mut self.scratch);
                self.scratch.extend_from_slice(t.as_bytes());
            }
        }
        let head_at = self.scratch.len() as u32;
        self.scratch.extend_from_slice(head);
        if let Some(&id) = self.ids.get(self.scratch.as_slice()) {
            if let Some(Some(e)) = self.entries.get_mut(id as usize) {
                e.refs += 1;
                return id;
            }
        }
        let key: Arc<[u8]> = Arc::from(self.scratch.as_slice());
        self.bytes += key.len() + ENTRY_OVERHEAD;
        let entry = Entry { key: key.clone(), head_at, tenant: tenant.cloned(), refs: 1 };
        let id = match self.free.pop() {
            Some(id) => {
                self.entries[id as usize] = Some(entry);
                id
            }
            None => {
                self.entries.push(Some(entry));
                (self.entries.len() - 1) as HeadId
            }
        };
        self.ids.insert(key, id);
        id
    }

    /// Takes one more reference to `id`.
    pub fn retain(&mut self, id: HeadId) {
        if let Some(Some(e)) = self.entries.get_mut(id as usize) {
            e.refs += 1;
        }
    }

    /// Gives back one reference; the head is freed with its last.
    pub fn release(&mut self, id: HeadId) {
        let Some(slot) = self.entries.get_mut(id as usize) else { return };
        let Some(e) = slot else { return };
        e.refs = e.refs.saturating_sub(1);
        if e.refs > 0 {
            return;
        }
        if let Some(e) = slot.take() {
            self.ids.remove(&e.key);
            self.bytes = self.bytes.saturating_sub(e.key.len() + ENTRY_OVERHEAD);
            self.free.push(id);
        }
    }

    /// The head's bytes.
    pub fn bytes_of(&self, id: HeadId) -> &[u8] {
        match self.entries.get(id as usize) {
            Some(Some(e)) => e.key.get(e.head_at as usize..).unwrap_or_default(),
            _ => &[],
        }
    }

    /// The tenant the head was interned for.
    pub fn tenant_of(&self, id: HeadId) -> Option<&Arc<str>> {
        match self.entries.get(id as usize) {
            Some(Some(e)) => e.tenant.as_ref(),
            _ => None,
        }
    }

    /// Heads held.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Memory the table holds (keys plus an estimate per entry).
    pub fn held_bytes(&self) -> usize {
        self.bytes + self.entries.capacity() * std::mem::size_of::<Option<Entry>>()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn equal_heads_are_held_once_and_freed_with_their_last_reference() {
        let mut h = Heads::default();
        let a = h.intern(None, b"resource-a");
        let a2 = h.intern(None, b"resource-a");
        let b = h.intern(None, b"resource-b");
        assert_eq!(a, a2);
        assert_ne!(a, b);
        assert_eq!(h.len(), 2);
        assert_eq!(h.bytes_of(a), b"resource-a");
        h.release(a);
        assert_eq!(h.bytes_of(a), b"resource-a", "one reference left");
        h.release(a2);
        assert_eq!(h.len(), 1);
        assert_eq!(h.bytes_of(a), b"", "freed");
        let c = h.intern(None, b"resource-c");
        assert_eq!(c, a, "a freed id is reused");
        h.release(b);
        h.release(c);
        assert!(h.is_empty());
        h.release(c); // an extra release is harmless
    }

    #[test]
    fn the_same_bytes_of_two_tenants_are_two_heads() {
        let mut h = Heads::default();
        let acme: Arc<str> = Arc::from("acme");
        let a = h.intern(Some(&acme), b"r");
        let none = h.intern(None, b"r");
        assert_ne!(a, none);
        assert_eq!(h.tenant_of(a).map(|t| &**t), Some("acme"));
        assert_eq!(h.tenant_of(none), None);
        assert_eq!(h.bytes_of(a), h.bytes_of(none));
        // A tenant whose name ends like another's key prefix does not collide.
        let odd: Arc<str> = Arc::from("acm");
        let o = h.intern(Some(&odd), b"er");
        assert_ne!(o, a);
    }
}
