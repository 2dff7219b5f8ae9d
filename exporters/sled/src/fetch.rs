//! Whole traces out of their blocks: `get_trace`, and the answer to a search.
//!
//! A trace's spans sit in one or more blocks (a block per batch and partition), found by the
//! trace index ([`crate::trace_index`]; format 2's `t`+trace+seq keys too). Every block is decoded once per request, and through
//! the [`BlockCache`](crate::block_cache::BlockCache) once for a search and the fetches that
//! follow it: the search walked those blocks, and a block holds hundreds of traces, so
//! building the results from them costs a walk, not a decompression per result.
//!
//! Duplicates: a retried batch writes the same spans again; byte-identical spans (with the
//! same resource and scope) are returned once. Spans that share an id but differ in any
//! field are all returned, as Jaeger does (its `GetTraceWithDuplicateSpans` fixture). Only
//! spans whose id repeats in the trace are compared byte for byte.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use prost::Message;
use tracegate_core::storage::TraceId;
use tracegate_core::Traces;

use crate::block_read::Block;
use crate::db::{Partition, StoreError};
use crate::read::SledReader;

impl SledReader {
    /// The decoded block `seq` of `p`, from the cache or the tree.
    pub(crate) fn block(&self, p: &Partition, seq: &[u8]) -> Result<Option<Arc<Block>>, StoreError> {
        let Some(n) = seq.try_into().ok().map(u64::from_be_bytes) else { return Ok(None) };
        let key = (self.shared.store_id, p.start, n);
        if let Some(b) = self.shared.blocks_cache.get(key) {
            return Ok(Some(b));
        }
        let Some(stored) = p.blocks.get(seq)? else { return Ok(None) };
        let block = Arc::new(Block::decode(&p.file.resolve(&stored)?)?);
        self.shared.blocks_cache.insert(key, block.clone());
        Ok(Some(block))
    }

    pub(crate) fn get_trace_blocking(&self, id: TraceId) -> Result<Option<Traces>, StoreError> {
        Ok(self.traces_blocking(&[id])?.pop().map(|(_, t)| t))
    }

    /// The traces of `ids` that have spans stored, in the order of `ids`.
    pub(crate) fn traces_blocking(&self, ids: &[TraceId]) -> Result<Vec<(TraceId, Traces)>, StoreError> {
        // Blocks oldest first, so spans come back in the order they were written.
        let mut wanted: BTreeMap<(u64, [u8; 8]), (Partition, Vec<TraceId>)> = BTreeMap::new();
        let parts = self.shared.partitions_between(self.oldest_secs(), u64::MAX);
        for id in ids {
            for p in &parts {
                let mut seqs = p.traces.blocks_of(&p.blocks, &p.file, id)?;
                crate::trace_index::legacy_blocks(&p.index, id, &mut seqs)?;
                for seq in seqs {
                    wanted.entry((p.start, seq.to_be_bytes())).or_insert_with(|| (p.clone(), Vec::new())).1.push(*id);
                }
            }
        }
        let mut spans: HashMap<TraceId, Vec<ResourceSpans>> = HashMap::new();
        for ((_, seq), (p, in_block)) in &wanted {
            let Some(block) = self.block(p, seq)? else { continue };
            for (id, rs) in block.traces(in_block)? {
                spans.entry(id).or_default().extend(rs);
            }
        }
        Ok(ids
            .iter()
            .filter_map(|id| {
                let mut rs = spans.remove(id)?;
                drop_identical_duplicates(&mut rs);
                Some((*id, Traces::new(rs)))
            })
            .collect())
    }
}

/// Removes spans byte-identical to an earlier one under an identical resource and scope.
fn drop_identical_duplicates(trace: &mut Vec<ResourceSpans>) {
    let mut ids: HashMap<&[u8], u32> = HashMap::new();
    for ss in trace.iter().flat_map(|rs| &rs.scope_spans) {
        for s in &ss.spans {
            *ids.entry(s.span_id.as_slice()).or_default() += 1;
        }
    }
    let repeated: HashSet<Vec<u8>> = ids.into_iter().filter(|(_, n)| *n > 1).map(|(id, _)| id.to_vec()).collect();
    if repeated.is_empty() {
        return;
    }
    let mut seen: HashSet<(u64, Vec<u8>)> = HashSet::new();
    for rs in trace.iter_mut() {
        let resource = rs.resource.as_ref().map(Message::encode_to_vec).unwrap_or_default();
        for ss in &mut rs.scope_spans {
            let mut h = DefaultHasher::new();
            (&resource, &rs.schema_url, ss.scope.as_ref().map(Message::encode_to_vec), &ss.schema_url).hash(&mut h);
            let context = h.finish();
            ss.spans.retain(|s| !repeated.contains(&s.span_id) || seen.insert((context, s.encode_to_vec())));
        }
        rs.scope_spans.retain(|ss| !ss.spans.is_empty());
    }
    trace.retain(|rs| !rs.scope_spans.is_empty());
}
