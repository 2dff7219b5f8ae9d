//! The write path: the batches of one cut block ([`crate::ingest`]) become, per time
//! partition they touch, one compressed block
//! (spans grouped by trace), one search summary, its sorted trace ids ([`crate::trace_index`]), and counts of
//! new service dependencies. Runs on a blocking thread (sled calls block).
//!
//! Each batch of a block is read in the form it came in ([`Part`]): a batch from the OTLP
//! receiver as its request bytes, in place (`tracegate_pdata::view`); a decoded one (Jaeger, Zipkin,
//! OTLP/JSON, or changed by a processor) as its borrowed structs
//! ([`crate::block_write`]'s `decoded` module). Such a batch is still prost-encoded once, in
//! [`crate::ingest`], but that encoding is the write-ahead log's record (durability needs
//! bytes), not a copy for this writer, which no longer walks the views of bytes it just
//! encoded. A block does not depend on the form: the same batch as bytes or as structs gives
//! the same block, summary and index (`form_tests.rs`). A log replayed after a restart gives
//! bytes, which take the byte path.
//!
//! Instructions per span in the ingest bench (1000-span batches, 10 attributes a span;
//! `SLED_INGEST_ONLY=decoded:100` and `bytes:100` against `decoded:0`, under `valgrind
//! --tool=cachegrind --cache-sim=no`, sled's spin-waits left out; see `benches/ingest.rs`):
//! a decoded batch 26,248 when it was encoded and read back through the views, 21,870
//! now (encoding for the log included); a byte batch 19,032 before, 19,113 now. History:
//! `docs/perf/pdata-history.md`.
//!
//! Bytes a view refuses (a singular message repeated, which prost would merge) fail the
//! whole block before anything is written; the block is then written again from prost's
//! re-encoding ([`crate::ingest`]), so it never fails half-written on them.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use prost::Message;
use tracegate_core::red::SpanSample;

use crate::batch_index::{index_decoded, index_request, BatchIndex, Part};
use crate::block_write::BlockWriter;
use crate::catalog::{any_service_key_entry, service_key_entry};
use crate::codec::{
    compress, derived_tags_of, kind_name, view_filter_text, write_filter_text, CodecError, FastMap, FastSet,
    SCOPE_NAME, SCOPE_VERSION,
};
use crate::db::{Partition, Shared, StoreError};
use crate::deps::{span_key, SpanLink};
use crate::summary::{staircase, tag_hash_seeded, ServiceSummary, Summary};

/// How the writer splits and compresses.
#[derive(Clone, Copy, Debug)]
pub struct WriteOptions {
    pub partition_secs: u64,
    /// Spans that start before this (Unix seconds) are past retention and are not stored.
    pub cutoff_secs: u64,
    pub compression_level: i32,
    /// The writer's clock (Unix seconds).
    pub now_secs: u64,
    /// Spans that start after this (Unix seconds) are filed in the partition of `now_secs`.
    ///
    /// A span is filed in the partition of its start time, and retention drops a partition
    /// once it has ended `retention` ago, so a span dated far in the future (a broken clock,
    /// or a start time of u64::MAX) made a partition that would outlive every other one by
    /// centuries. Past this limit (the exporter sets it [`crate::exporter::MAX_FUTURE_SKEW`]
    /// ahead of its clock) a span is filed under the time it arrived instead: it keeps its
    /// timestamps, is found by its trace id, and expires with what was written beside it.
    pub future_limit_secs: u64,
}

/// The store's settings for writing, from its config; [`WriteSettings::options`] turns them
/// into the options of one write at the current time.
#[derive(Clone, Copy, Debug)]
pub struct WriteSettings {
    pub partition_secs: u64,
    /// 0 keeps spans forever.
    pub retention_secs: u64,
    pub compression_level: i32,
}

impl WriteSettings {
    pub fn options(&self) -> WriteOptions {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        WriteOptions {
            partition_secs: self.partition_secs.max(1),
            cutoff_secs: if self.retention_secs == 0 { 0 } else { now.saturating_sub(self.retention_secs) },
            compression_level: self.compression_level,
            now_secs: now,
            future_limit_secs: now.saturating_add(crate::exporter::MAX_FUTURE_SKEW.as_secs()),
        }
    }
}

struct Group {
    partition: Partition,
    traces: Vec<([u8; 16], Vec<u32>)>,
    by_id: FastMap<[u8; 16], usize>,
}

/// One partition's block, summary and trace ids, ready to store.
struct Prepared {
    partition: Partition,
    block: Vec<u8>,
    summary: Summary,
    latest: u64,
    trace_ids: Vec<[u8; 16]>,
}

/// Stores a block's batches, each read in its own form.
pub fn write_parts(shared: &Shared, parts: &[Part], opts: WriteOptions) -> Result<usize, StoreError> {
    let mut batch = BatchIndex::default();
    for part in parts {
        match part {
            Part::Request(bytes) => index_request(&mut batch, bytes).map_err(CodecError::from)?,
            Part::Decoded(traces) => index_decoded(&mut batch, traces.resource_spans()),
        }
    }
    write_batch(shared, &batch, opts)
}

fn write_batch(shared: &Shared, batch: &BatchIndex<'_>, opts: WriteOptions) -> Result<usize, StoreError> {
    let mut groups: BTreeMap<u64, Group> = BTreeMap::new();
    let mut links = Vec::with_capacity(batch.spans.len());
    let mut stored = 0;
    let mut future = 0usize;
    // The partition of the previous span: a batch's spans mostly share one.
    let mut last: Option<(u64, u64)> = None;
    // RED metrics' keys, looked up here while each span's name is in cache beside its ids
    // (see `red_metrics`), counted once the blocks are stored.
    let mut red = shared.red.enabled().then(|| (shared.red.recorder.resolver(), Vec::with_capacity(batch.spans.len())));
    for (i, entry) in batch.spans.iter().enumerate() {
        let span = &entry.span;
        let mut start_secs = span.start_time_unix_nano / 1_000_000_000;
        if start_secs.saturating_add(opts.partition_secs) <= opts.cutoff_secs {
            continue;
        }
        let mut start_nanos = span.start_time_unix_nano;
        if start_secs > opts.future_limit_secs {
            // Filed (not re-dated) under the time it arrived; see `WriteOptions`.
            start_secs = opts.now_secs;
            start_nanos = opts.now_secs.saturating_mul(1_000_000_000);
            future += 1;
        }
        if let Some((resolver, resolved)) = &mut red {
            let duration = span.end_time_unix_nano.saturating_sub(span.start_time_unix_nano);
            resolved.push(resolver.resolve(SpanSample {
                service: batch.resources.get(batch.resource_of(entry) as usize).map_or("", |r| r.service),
                operation: span.name,
                kind: span.kind,
                status_code: span.status.map_or(0, |s| s.code),
                start_unix_nano: start_nanos,
                end_unix_nano: start_nanos.saturating_add(duration),
            }));
        }
        let pstart = match last {
            Some((k, end)) if (k..end).contains(&start_secs) => k,
            _ => {
                let k = match groups.range(..=start_secs).next_back() {
                    Some((k, g)) if start_secs < g.partition.end => *k,
                    _ => {
                        let p = shared.partition_for(start_secs, opts.partition_secs)?;
                        let k = p.start;
                        groups.entry(k).or_insert_with(|| Group { partition: p, traces: Vec::new(), by_id: FastMap::default() });
                        k
                    }
                };
                last = groups.get(&k).map(|g| (k, g.partition.end));
                k
            }
        };
        let Some(group) = groups.get_mut(&pstart) else { continue };
        let mut tid = [0u8; 16];
        if span.trace_id.len() == 16 {
            tid.copy_from_slice(span.trace_id);
        }
        let idx = *group.by_id.entry(tid).or_insert_with(|| {
            group.traces.push((tid, Vec::new()));
            group.traces.len() - 1
        });
        group.traces[idx].1.push(i as u32);
        links.push(SpanLink {
            key: span_key(span.trace_id, span.span_id),
            parent: (!span.parent_span_id.is_empty()).then(|| span_key(span.trace_id, span.parent_span_id)),
            service: batch.resource_of(entry),
            partition: pstart,
        });
        stored += 1;
    }
    // The recorder's lock is not held while the blocks are built.
    let resolved = red.map(|(_, resolved)| resolved).unwrap_or_default();
    let mut new_ops = BTreeSet::new();
    let mut prepared = Vec::with_capacity(groups.len());
    for group in groups.values() {
        prepared.push(build_block(batch, group, opts, &mut new_ops)?);
    }
    // Operations and catalogued keys first: a reader that finds a block finds them too.
    write_operations(shared, new_ops)?;
    for p in prepared {
        store_block(shared, p)?;
    }
    let services: Vec<&str> = batch.resources.iter().map(|r| r.service).collect();
    write_dependencies(shared, &groups, &services, &links, opts.partition_secs)?;
    if future > 0 {
        tracing::debug!(spans = future, "spans dated more than the allowed skew into the future were filed under the current time");
    }
    crate::red_metrics::count(shared, &resolved, &opts);
    Ok(stored)
}

/// One service's summary, its (operation name index << 8 | span kind) pairs with the latest
/// start of each, and its spans' (duration, start) for the summary's staircase.
type ServiceAcc = (ServiceSummary, FastMap<u64, u64>, Vec<(u64, u64)>);

fn build_block(batch: &BatchIndex<'_>, group: &Group, opts: WriteOptions, ops: &mut BTreeSet<Vec<u8>>) -> Result<Prepared, StoreError> {
    let mut services: Vec<ServiceAcc> = Vec::new();
    let mut slot_of_service: FastMap<&str, usize> = FastMap::default();
    // Summary slot of each resource of the batch, once its first span lands in this block.
    let mut slot_of_resource: Vec<Option<usize>> = vec![None; batch.resources.len()];
    // (service seed, kind, status code) whose derived tags are hashed already.
    let mut derived: FastSet<(u64, i32, i32)> = FastSet::default();
    // Batch scopes whose tags are hashed already.
    let mut scope_hashed = vec![false; batch.scopes.len()];
    let mut text = String::new();
    let mut writer = BlockWriter::new();
    for (tid, refs) in &group.traces {
        writer.add_trace(*tid, batch, refs).map_err(CodecError::from)?;
        for (j, &i) in refs.iter().enumerate() {
            let Some(entry) = batch.spans.get(i as usize) else { continue };
            let r = batch.resource_of(entry) as usize;
            let Some(res) = batch.resources.get(r) else { continue };
            let slot = match slot_of_resource.get(r).copied().flatten() {
                Some(slot) => slot,
                None => {
                    if let Some(resource) = &res.resource {
                        for kv in resource.attributes {
                            let kv = kv.map_err(CodecError::from)?;
                            catalogue(ops, res.service, kv.key);
                            if let Some(v) = kv.value {
                                if view_filter_text(&v.value, &mut text) {
                                    writer.tags.insert(tag_hash_seeded(res.seed, kv.key, &text));
                                }
                            }
                        }
                    } else if let Some(resource) = res.decoded {
                        for kv in &resource.attributes {
                            catalogue(ops, res.service, &kv.key);
                            if kv.value.as_ref().and_then(|v| v.value.as_ref()).is_some_and(|v| write_filter_text(v, &mut text)) {
                                writer.tags.insert(tag_hash_seeded(res.seed, &kv.key, &text));
                            }
                        }
                    }
                    let slot = *slot_of_service.entry(res.service).or_insert_with(|| {
                        let first = ServiceSummary {
                            name: res.service.to_string(),
                            min_start: u64::MAX,
                            min_duration: u64::MAX,
                            ..ServiceSummary::default()
                        };
                        services.push((first, FastMap::default(), Vec::new()));
                        services.len() - 1
                    });
                    if let Some(s) = slot_of_resource.get_mut(r) {
                        *s = Some(slot);
                    }
                    slot
                }
            };
            if let Some(done) = scope_hashed.get_mut(entry.scope as usize).filter(|d| !**d) {
                *done = true;
                let scope = batch.scopes.get(entry.scope as usize);
                let decoded = match scope.and_then(|s| s.scope) {
                    Some(bytes) => Some(Cow::Owned(InstrumentationScope::decode(bytes).map_err(CodecError::from)?)),
                    None => scope.and_then(|s| s.decoded).map(Cow::Borrowed),
                };
                if let Some(scope) = decoded {
                    for kv in hash_scope_tags(&scope, res.seed, &mut writer.tags, &mut text) {
                        catalogue(ops, res.service, &kv.key);
                    }
                }
            }
            let span = &entry.span;
            let (start, duration) = (span.start_time_unix_nano, span.end_time_unix_nano.saturating_sub(span.start_time_unix_nano));
            let Some((sum, op_set, spans_of)) = services.get_mut(slot) else { continue };
            sum.min_start = sum.min_start.min(start);
            sum.max_start = sum.max_start.max(start);
            sum.min_duration = sum.min_duration.min(duration);
            sum.max_duration = sum.max_duration.max(duration);
            spans_of.push((duration, start));
            let kind = if kind_name(span.kind).is_empty() { 0 } else { span.kind as u64 };
            let op_latest = op_set.entry(u64::from(writer.names.get(j).copied().unwrap_or(0)) << 8 | kind).or_insert(0);
            *op_latest = (*op_latest).max(start);
            let code = span.status.map_or(0, |s| s.code);
            if derived.insert((res.seed, span.kind, code)) {
                for (k, v) in derived_tags_of(span.kind, code) {
                    writer.tags.insert(tag_hash_seeded(res.seed, k, v));
                }
            }
        }
    }
    let service_of_seed: FastMap<u64, &str> = batch.resources.iter().map(|r| (r.seed, r.service)).collect();
    for (seed, k) in &writer.keys {
        if let Some(service) = service_of_seed.get(seed) {
            catalogue(ops, service, writer.string_at(*k));
        }
    }
    // By name, as format 2 has always listed them.
    services.sort_unstable_by(|a, b| a.0.name.cmp(&b.0.name));
    let summaries: Vec<ServiceSummary> = services
        .into_iter()
        .map(|(mut sum, op_set, spans_of)| {
            sum.latest_by_duration = staircase(spans_of);
            let mut op_set: Vec<((String, String), u64)> = op_set
                .into_iter()
                .map(|(op, latest)| ((writer.string_at((op >> 8) as u32).to_string(), kind_name((op & 0xff) as i32).to_string()), latest))
                .collect();
            op_set.sort_unstable();
            for ((name, kind), _) in &op_set {
                ops.insert(op_key(&sum.name, name, kind));
            }
            (sum.operations, sum.op_latest) = op_set.into_iter().unzip();
            sum
        })
        .collect();
    let latest = summaries.iter().map(|s| s.max_start).max().unwrap_or(0);
    let summary = Summary::new(summaries, &writer.tags);
    let block = compress(&writer.finish(), opts.compression_level).map_err(CodecError::from)?;
    let trace_ids = group.traces.iter().map(|(tid, _)| *tid).collect();
    Ok(Prepared { partition: group.partition.clone(), block, summary, latest, trace_ids })
}

/// Records that `service` carries `key` ([`crate::catalog`]).
fn catalogue(ops: &mut BTreeSet<Vec<u8>>, service: &str, key: &str) {
    ops.insert(service_key_entry(service, key));
    ops.insert(any_service_key_entry(key));
}

/// A scope's attributes, and its name and version as `otel.scope.name` /
/// `otel.scope.version` (the tags Jaeger's model gives them), into the block's tag set.
/// Returns the attributes.
fn hash_scope_tags<'s>(scope: &'s InstrumentationScope, seed: u64, tags: &mut FastSet<u64>, text: &mut String) -> &'s [KeyValue] {
    for (keys, value) in [(SCOPE_NAME, &scope.name), (SCOPE_VERSION, &scope.version)] {
        for key in keys.into_iter().filter(|_| !value.is_empty()) {
            tags.insert(tag_hash_seeded(seed, key, value));
        }
    }
    for kv in &scope.attributes {
        if kv.value.as_ref().and_then(|v| v.value.as_ref()).is_some_and(|v| write_filter_text(v, text)) {
            tags.insert(tag_hash_seeded(seed, &kv.key, text));
        }
    }
    &scope.attributes
}

fn store_block(shared: &Shared, p: Prepared) -> Result<(), StoreError> {
    let Prepared { partition, block, mut summary, latest, trace_ids } = p;
    // Raise the bound before taking a sequence number: a block that takes a higher number
    // afterwards reads a bound that already covers this one (see `Summary::bound`).
    shared.bound.fetch_max(latest, Ordering::SeqCst);
    let seq = shared.db.generate_id()?.to_be_bytes();
    summary.bound = shared.bound.load(Ordering::SeqCst);
    // The block first: a reader never finds an index entry whose block is missing.
    let mut skey = vec![b's'];
    skey.extend_from_slice(&seq);
    let _one_at_a_time = shared.block_insert.lock().unwrap_or_else(|p| p.into_inner());
    let pointer = partition.file.append(&block)?;
    partition.blocks.insert(seq, pointer)?;
    // The summary in the partition's summary file, sled holding where it is (format 7): sled
    // kept the pages it wrote in memory far past its cache size, and summaries were most of
    // what an idle gateway held after a long fill (`crate::block_file`).
    partition.blocks.insert(skey, partition.summaries.append(&summary.encode())?)?;
    // After the block, in the same tree (see `crate::trace_index`); merges into runs happen
    // here too, one writer at a time like the block inserts.
    partition.traces.add_block(&partition.blocks, &partition.file, u64::from_be_bytes(seq), trace_ids)?;
    crate::trace_index::relieve(&shared.partitions_between(0, u64::MAX))?;
    Ok(())
}

pub fn op_key(service: &str, name: &str, kind: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(3 + service.len() + name.len() + kind.len());
    k.push(b'o');
    k.extend_from_slice(service.as_bytes());
    k.push(0);
    k.extend_from_slice(name.as_bytes());
    k.push(0);
    k.extend_from_slice(kind.as_bytes());
    k
}

/// Most operation and catalog keys remembered as written. The set only saves rewriting
/// keys sled already has (rewriting one is harmless), so past the cap it starts over rather
/// than grow with clients that put ids into span names or attribute keys.
const KNOWN_OPS_CAP: usize = 100_000;

fn remember(known: &mut std::collections::HashSet<Vec<u8>>, fresh: &[Vec<u8>], cap: usize) {
    if known.len() + fresh.len() > cap {
        known.clear();
    }
    known.extend(fresh.iter().take(cap).cloned());
}

fn write_operations(shared: &Shared, ops: BTreeSet<Vec<u8>>) -> Result<(), StoreError> {
    let fresh: Vec<Vec<u8>> = {
        let mut known = shared.known_ops.lock().unwrap_or_else(|p| p.into_inner());
        // Nearly every operation of a batch is known: look up before cloning a key to insert.
        let fresh: Vec<Vec<u8>> = ops.into_iter().filter(|k| !known.contains(k)).collect();
        remember(&mut known, &fresh, KNOWN_OPS_CAP);
        fresh
    };
    if fresh.is_empty() {
        return Ok(());
    }
    let mut b = sled::Batch::default();
    for k in fresh {
        b.insert(k, &[] as &[u8]);
    }
    shared.meta.apply_batch(b)?;
    Ok(())
}

fn write_dependencies(
    shared: &Shared,
    groups: &BTreeMap<u64, Group>,
    services: &[&str],
    links: &[SpanLink],
    partition_secs: u64,
) -> Result<(), StoreError> {
    let edges = shared.deps.lock().unwrap_or_else(|p| p.into_inner()).record(services, links);
    let mut counts: HashMap<(u64, Arc<str>, Arc<str>), u64> = HashMap::new();
    for e in edges {
        *counts.entry(e).or_default() += 1;
    }
    for ((pstart, parent, child), n) in counts {
        let partition = match groups.get(&pstart) {
            Some(g) => g.partition.clone(),
            // The child came in an earlier batch; its partition may have been dropped since.
            None => shared.partition_for(pstart, partition_secs)?,
        };
        let mut key = vec![b'd'];
        key.extend_from_slice(parent.as_bytes());
        key.push(0);
        key.extend_from_slice(child.as_bytes());
        partition.index.update_and_fetch(key, |old| {
            let prev = old.and_then(|b| b.try_into().ok()).map(u64::from_le_bytes).unwrap_or(0);
            Some((prev + n).to_le_bytes().to_vec())
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::remember;

    #[test]
    fn the_set_of_written_keys_stays_within_its_cap() {
        let mut known = HashSet::new();
        for round in 0..10u8 {
            let fresh: Vec<Vec<u8>> = (0..7u8).map(|i| vec![round, i]).collect();
            remember(&mut known, &fresh, 20);
            assert!(known.len() <= 20, "{} keys after round {round}", known.len());
            assert!(fresh.iter().all(|k| known.contains(k)), "the newest keys are remembered");
        }
    }
}
