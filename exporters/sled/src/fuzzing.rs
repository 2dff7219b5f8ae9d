//! What the fuzz targets `sled_block`, `sled_summary` and `sled_trace_index` call (see `tracegate_core::fuzzing`
//! and docs/fuzzing.md), public so the tests replay the committed inputs through it.
//!
//! A store's files can be damaged (a disk error, a copy cut short, a file from a newer
//! version): reading a block or a summary must then be an error, never a panic, and never an
//! allocation out of proportion to the bytes.

use crate::block_read::Block;
use crate::run_filter::RunFilter;
use crate::summary::SummaryView;
use crate::trace_index::{chunk_seqs, ids_of, TraceId};

/// The fuzz target `sled_block`: the input is a block's decompressed bytes (zstd in front
/// would only make the fuzzer's mutations fail its checksum); it is also tried as a stored
/// value (format byte, length, zstd frame). Whatever parses is read as a search and a trace
/// fetch read it: every span walked, in the light and the full walk, with and without an
/// attribute-key mask, each trace rebuilt, each resource decoded, each key's values counted.
pub fn sled_block(data: &[u8]) {
    let _ = Block::decode(data);
    let Ok(block) = Block::parse(data.to_vec()) else { return };
    let _ = block.memory_size();
    let _ = block.walk_light(|_, _, _, _, _| Ok(true));
    let _ = block.walk_while(None, |_| Ok(true));
    let mut keys = Vec::new();
    let _ = block.walk_while(None, |row| {
        keys.extend(row.attrs.iter().take(2).map(|(k, _)| k.to_string()));
        Ok(keys.len() < 4)
    });
    let mask = block.key_mask(keys.iter().map(String::as_str));
    let _ = block.walk_while(Some(&mask), |_| Ok(true));
    for page in 0..block.page_count() {
        let _ = block.walk_page(Some(&mask), page, |_| Ok(true));
        let _ = block.walk_page(None, page, |_| Ok(true));
    }
    for key in &keys {
        for want in ["", "1", "true"] {
            let _ = block.count_values(key, &crate::matching::Want::new(want));
        }
    }
    let _ = block.traces(&block.ids);
    for resource in &block.resources {
        let _ = resource.attributes(&block);
    }
    for i in 0..block.scope_count() {
        let _ = block.scope(i);
    }
    let _ = block.rare_bytes();
}

/// The fuzz target `sled_summary`: a block summary in any of its layouts, read as a search
/// reads it: every service, one by name, its operations, its duration staircase, the tag
/// filter.
pub fn sled_summary(data: &[u8]) {
    let Some(view) = SummaryView::parse(data) else { return };
    let mut names = Vec::new();
    for service in view.services() {
        let Some(service) = service else { break };
        let _ = service.operation_latest("op");
        let _ = service.latest_with_duration(1_000_000);
        let _ = service.latest_with_duration(0);
        names.push(service.name.to_vec());
    }
    for name in names.iter().take(4) {
        if let Some(service) = view.service(&String::from_utf8_lossy(name)) {
            let _ = service.operation_latest(&String::from_utf8_lossy(name));
        }
    }
    for hash in [0, 1, u64::MAX, 0x9e37_79b9_7f4a_7c15] {
        let _ = view.may_have_tag(hash);
    }
}

/// The fuzz target `sled_trace_index`: the three values the trace index reads back from a
/// partition, a block's pending id list, a run's chunk and a run's filter. The input is a
/// run's first seq (8 bytes, big-endian), the id looked up (16 bytes), then the value. A chunk
/// answers at most one seq per 17 bytes (a 16-byte id and a 1-byte offset), each at or after
/// the run's seq; a list parses exactly when it is whole ids; a filter answers.
pub fn sled_trace_index(data: &[u8]) {
    let Some((head, value)) = data.split_at_checked(24) else { return };
    let (run, id) = head.split_at(8);
    let run = u64::from_be_bytes(run.try_into().unwrap_or_default());
    let id: TraceId = id.try_into().unwrap_or_default();
    let mut found = Vec::new();
    if chunk_seqs(value, run, &id, &mut found).is_some() {
        assert!(found.len() <= value.len() / 17, "{} seqs from {} bytes", found.len(), value.len());
        assert!(found.iter().all(|&seq| seq >= run), "a seq before its run {run}: {found:?}");
    }
    match ids_of(value) {
        Some(ids) => assert_eq!(ids.len() * 16, value.len(), "a list of {} ids from {} bytes", ids.len(), value.len()),
        None => assert!(!value.len().is_multiple_of(16), "whole ids refused ({} bytes)", value.len()),
    }
    // The run's filter (`F`+run), read from the same value: a damaged one answers, never
    // panics (a lookup then seeks the run as if it had none).
    if let Some(filter) = RunFilter::from_bytes(value) {
        filter.may_hold(&id);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use prost::Message;
    use tracegate_core::fuzzing::{replay, sample_request, write_seed};

    use super::*;
    use crate::block_write::BlockWriter;
    use crate::codec::compress;
    use crate::summary::{staircase, tag_hash, ServiceSummary, Summary};
    use crate::batch_index::index;

    #[test]
    fn committed_inputs_replay() {
        replay("sled_block", sled_block);
        replay("sled_summary", sled_summary);
        replay("sled_trace_index", sled_trace_index);
    }

    #[test]
    #[ignore = "writes fuzz/seeds; run by hand when a format changes"]
    fn write_fuzz_seeds() {
        let request = sample_request().encode_to_vec();
        let batch = index([request.as_slice()]).expect("index");
        let mut writer = BlockWriter::new();
        writer.add_trace([0x5b; 16], &batch, &[0, 1]).expect("trace");
        writer.add_trace([0x7c; 16], &batch, &[2]).expect("trace");
        let raw = writer.finish();
        assert_eq!(Block::parse(raw.clone()).expect("parses").ids.len(), 2);
        write_seed("sled_block", "sample", &raw);
        write_seed("sled_block", "sample-stored", &compress(&raw, 3).expect("zstd"));
        // The same traces with a page table (a page per trace), as format 5 writes a block
        // of more than one page.
        let mut writer = BlockWriter::paged_every(1);
        writer.add_trace([0x5b; 16], &batch, &[0, 1]).expect("trace");
        writer.add_trace([0x7c; 16], &batch, &[2]).expect("trace");
        let paged = writer.finish();
        let block = Block::parse(paged.clone()).expect("parses");
        assert_eq!(block.traces(&block.ids).expect("traces"), Block::parse(raw.clone()).expect("parses").traces(&block.ids).expect("traces"));
        write_seed("sled_block", "sample-paged", &paged);

        let service = ServiceSummary {
            name: "checkout".into(),
            min_start: 1_700_000_000_000_000_000,
            max_start: 1_700_000_000_000_500_000,
            min_duration: 1_000,
            max_duration: 5_000_000,
            operations: vec![("GET /cart".into(), "server".into()), ("SELECT".into(), "client".into())],
            op_latest: vec![1_700_000_000_000_500_000, 1_700_000_000_000_400_000],
            latest_by_duration: staircase(vec![(5_000_000, 1_700_000_000_000_100_000), (1_000, 1_700_000_000_000_500_000)]),
        };
        let tags: HashSet<u64> = [tag_hash("checkout", "http.route", "/cart")].into_iter().collect();
        write_seed("sled_summary", "sample", &Summary::new(vec![service], &tags).encode());

        // A run of three traces, the middle one in two blocks, as `merge` writes it; and the
        // same ids as a pending list.
        let run = 1_000u64;
        let ids: [TraceId; 3] = [[1; 16], [2; 16], [3; 16]];
        let mut chunk = Vec::new();
        for (id, seq) in [(ids[0], run), (ids[1], run + 1), (ids[1], run + 7), (ids[2], run + 300)] {
            chunk.extend_from_slice(&id);
            crate::codec::put_varint(&mut chunk, seq - run);
        }
        let head = |id: &TraceId| [&run.to_be_bytes()[..], id].concat();
        let mut found = Vec::new();
        assert!(chunk_seqs(&chunk, run, &ids[1], &mut found).is_some());
        assert_eq!(found, [run + 1, run + 7]);
        write_seed("sled_trace_index", "run-chunk", &[head(&ids[1]), chunk].concat());
        write_seed("sled_trace_index", "pending-list", &[head(&ids[2]), ids.concat()].concat());
        // The run's filter as `merge` stores it (a fuse filter: the kind, then its bytes).
        let filter = RunFilter::build(ids.iter()).to_bytes();
        assert!(RunFilter::from_bytes(&filter).is_some_and(|f| f.may_hold(&ids[0])));
        write_seed("sled_trace_index", "run-filter", &[head(&ids[0]), filter].concat());
    }
}
