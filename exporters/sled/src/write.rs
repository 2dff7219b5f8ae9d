//! The write path: one batch becomes, per time partition it touches, one compressed block
//! (spans grouped by trace), one search summary, one trace-index key per trace, and counts of
//! new service dependencies. Runs on a blocking thread (sled calls block).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;

use crate::block_write::BlockWriter;
use crate::codec::{compress, derived_tags, kind_name, service_of, start_and_duration, write_value_text, FastMap, FastSet, SpanRef};
use crate::db::{Partition, Shared, StoreError};
use crate::deps::{span_key, SpanLink};
use crate::summary::{service_seed, tag_hash_seeded, ServiceSummary, Summary};

/// How the writer splits and compresses.
#[derive(Clone, Copy, Debug)]
pub struct WriteOptions {
    pub partition_secs: u64,
    /// Spans that start before this (Unix seconds) are past retention and are not stored.
    pub cutoff_secs: u64,
    pub compression_level: i32,
}

/// (operation, span kind) pairs of one service.
type OpSet<'b> = FastSet<(&'b str, &'static str)>;

struct Group {
    partition: Partition,
    traces: Vec<([u8; 16], Vec<SpanRef>)>,
    by_id: FastMap<[u8; 16], usize>,
}

/// Stores a batch; returns the number of spans stored (spans past retention are skipped).
pub fn write_batch(shared: &Shared, batch: &[ResourceSpans], opts: WriteOptions) -> Result<usize, StoreError> {
    let mut groups: BTreeMap<u64, Group> = BTreeMap::new();
    let mut links = Vec::new();
    let mut stored = 0;
    for (r, rs) in batch.iter().enumerate() {
        let service: Arc<str> = Arc::from(service_of(rs));
        for (s, ss) in rs.scope_spans.iter().enumerate() {
            for (i, span) in ss.spans.iter().enumerate() {
                let start_secs = span.start_time_unix_nano / 1_000_000_000;
                if start_secs.saturating_add(opts.partition_secs) <= opts.cutoff_secs {
                    continue;
                }
                let pstart = match groups.range(..=start_secs).next_back() {
                    Some((k, g)) if start_secs < g.partition.end => *k,
                    _ => {
                        let p = shared.partition_for(start_secs, opts.partition_secs)?;
                        let k = p.start;
                        groups.entry(k).or_insert_with(|| Group { partition: p, traces: Vec::new(), by_id: FastMap::default() });
                        k
                    }
                };
                let Some(group) = groups.get_mut(&pstart) else { continue };
                let mut tid = [0u8; 16];
                if span.trace_id.len() == 16 {
                    tid.copy_from_slice(&span.trace_id);
                }
                let idx = *group.by_id.entry(tid).or_insert_with(|| {
                    group.traces.push((tid, Vec::new()));
                    group.traces.len() - 1
                });
                group.traces[idx].1.push((r, s, i));
                links.push(SpanLink {
                    key: span_key(&span.trace_id, &span.span_id),
                    parent: (!span.parent_span_id.is_empty()).then(|| span_key(&span.trace_id, &span.parent_span_id)),
                    service: service.clone(),
                    partition: pstart,
                });
                stored += 1;
            }
        }
    }
    let mut new_ops = BTreeSet::new();
    for group in groups.values() {
        write_group(shared, batch, group, opts, &mut new_ops)?;
    }
    write_operations(shared, new_ops)?;
    write_dependencies(shared, &groups, &links, opts.partition_secs)?;
    Ok(stored)
}

fn write_group(
    shared: &Shared,
    batch: &[ResourceSpans],
    group: &Group,
    opts: WriteOptions,
    ops: &mut BTreeSet<Vec<u8>>,
) -> Result<(), StoreError> {
    let mut services: BTreeMap<&str, (ServiceSummary, OpSet)> = BTreeMap::new();
    let mut tags: FastSet<u64> = FastSet::default();
    let mut resources_seen: FastMap<usize, u64> = FastMap::default();
    let mut text = String::new();
    let mut writer = BlockWriter::new();
    for (tid, refs) in &group.traces {
        writer.add_trace(*tid, batch, refs);
        for &(r, s, i) in refs {
            let rs = &batch[r];
            let service = service_of(rs);
            let span = &rs.scope_spans[s].spans[i];
            let seed = *resources_seen.entry(r).or_insert_with(|| {
                let seed = service_seed(service);
                for kv in rs.resource.iter().flat_map(|res| res.attributes.iter()) {
                    hash_kv(seed, kv, &mut text, &mut tags);
                }
                seed
            });
            let (start, duration) = start_and_duration(span);
            let entry = services.entry(service).or_insert_with(|| {
                let first = ServiceSummary {
                    name: service.to_string(),
                    min_start: start,
                    max_start: start,
                    min_duration: duration,
                    max_duration: duration,
                    operations: Vec::new(),
                };
                (first, FastSet::default())
            });
            let sum = &mut entry.0;
            sum.min_start = sum.min_start.min(start);
            sum.max_start = sum.max_start.max(start);
            sum.min_duration = sum.min_duration.min(duration);
            sum.max_duration = sum.max_duration.max(duration);
            entry.1.insert((span.name.as_str(), kind_name(span.kind)));
            for kv in span.attributes.iter().chain(span.events.iter().flat_map(|e| e.attributes.iter())) {
                hash_kv(seed, kv, &mut text, &mut tags);
            }
            for (k, v) in derived_tags(span) {
                tags.insert(tag_hash_seeded(seed, k, v));
            }
        }
    }
    let summaries: Vec<ServiceSummary> = services
        .into_values()
        .map(|(mut sum, op_set)| {
            let mut op_set: Vec<(String, String)> = op_set.into_iter().map(|(n, k)| (n.to_string(), k.to_string())).collect();
            op_set.sort_unstable();
            for (name, kind) in &op_set {
                ops.insert(op_key(&sum.name, name, kind));
            }
            sum.operations = op_set;
            sum
        })
        .collect();
    let latest = summaries.iter().map(|s| s.max_start).max().unwrap_or(0);
    let mut summary = Summary::new(summaries, &tags);
    let block = compress(&writer.finish(), opts.compression_level).map_err(crate::codec::CodecError::from)?;
    // Raise the bound before taking a sequence number: a block that takes a higher number
    // afterwards reads a bound that already covers this one (see `Summary::bound`).
    shared.bound.fetch_max(latest, Ordering::SeqCst);
    let seq = shared.db.generate_id()?.to_be_bytes();
    summary.bound = shared.bound.load(Ordering::SeqCst);
    // The block first: a reader never finds an index entry whose block is missing.
    group.partition.blocks.insert(seq, block)?;
    let mut skey = vec![b's'];
    skey.extend_from_slice(&seq);
    group.partition.blocks.insert(skey, summary.encode())?;
    let mut index = sled::Batch::default();
    for (tid, _) in &group.traces {
        let mut key = Vec::with_capacity(25);
        key.push(b't');
        key.extend_from_slice(tid);
        key.extend_from_slice(&seq);
        index.insert(key, &[] as &[u8]);
    }
    group.partition.index.apply_batch(index)?;
    Ok(())
}

fn hash_kv(seed: u64, kv: &KeyValue, text: &mut String, tags: &mut FastSet<u64>) {
    match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => {
            tags.insert(tag_hash_seeded(seed, &kv.key, s));
        }
        Some(v) if write_value_text(v, text) => {
            tags.insert(tag_hash_seeded(seed, &kv.key, text));
        }
        _ => {}
    }
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

fn write_operations(shared: &Shared, ops: BTreeSet<Vec<u8>>) -> Result<(), StoreError> {
    let fresh: Vec<Vec<u8>> = {
        let mut known = shared.known_ops.lock().unwrap_or_else(|p| p.into_inner());
        ops.into_iter().filter(|k| known.insert(k.clone())).collect()
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
    links: &[SpanLink],
    partition_secs: u64,
) -> Result<(), StoreError> {
    let edges = shared.deps.lock().unwrap_or_else(|p| p.into_inner()).record(links);
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
