//! Storage formats: another format refused by name, older ones upgraded in place and still
//! read, and where format 4 keeps blocks (files, not sled).

use tracegate_core::storage::{TraceQuery, TraceReader};
use tracegate_core::Exporter;
use tracegate_storage_conformance::{batch, Ids, TestSpan};

use crate::db::Shared;
use crate::tests::{ago, answers, config};
use crate::{Config, SledExporter};

/// Rewrites a store's blocks as formats 2 and 3 kept them, in sled (a block's sequence number
/// -> its bytes), with the other values as formats 2 to 6 kept them, and deletes the block
/// files. Returns how many blocks moved.
fn move_blocks_into_sled(shared: &Shared) -> usize {
    move_values_into_sled(shared);
    let mut moved = 0;
    for p in shared.partitions_between(0, u64::MAX) {
        for entry in p.blocks.iter() {
            let (k, v) = entry.expect("entry");
            if k.len() == 8 {
                let block = p.file.resolve(&v).expect("block").into_owned();
                p.blocks.insert(k, block).expect("inline block");
                moved += 1;
            }
        }
        p.file.remove().expect("remove block file");
    }
    moved
}

/// Makes a store written now look as formats 2 to 6 left it: summaries, trace-id lists,
/// run chunks and filters stored in sled, not in the block file.
fn move_values_into_sled(shared: &Shared) {
    for p in shared.partitions_between(0, u64::MAX) {
        for entry in p.blocks.iter() {
            let (k, v) = entry.expect("entry");
            if k.len() != 8 && crate::block_file::pointer(&v).is_some() {
                let file = if k.first() == Some(&b's') { &p.summaries } else { &p.file };
                let value = file.resolve(&v).expect("value").into_owned();
                p.blocks.insert(k, value).expect("inline value");
            }
        }
    }
}

/// A database from before format 2 (no format key, but partitions) is refused with a message
/// naming both versions, not misread.
#[tokio::test]
async fn a_database_of_another_format_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("db");
    {
        let db = sled::open(&path).expect("sled");
        db.open_tree("b/000000000000-000000003600").expect("partition").insert(b"x", b"y").expect("insert");
        db.flush().expect("flush");
    }
    let err = SledExporter::open(Config { path: path.clone(), ..Config::default() }).err().expect("refused");
    let msg = err.to_string();
    assert!(msg.contains("storage format 1") && msg.contains(&format!("reads format {}", crate::codec::FORMAT_VERSION)), "{msg}");

    // A fresh database is stamped and reopens.
    let fresh = dir.path().join("fresh");
    drop(SledExporter::open(Config { path: fresh.clone(), ..Config::default() }).expect("create"));
    SledExporter::open(Config { path: fresh, ..Config::default() }).expect("reopen");
}

/// Format 4 keeps only a 13-byte pointer per block in sled, format 7 also per summary,
/// trace-id list, run chunk and filter; their bytes are in the partition's file. (sled kept
/// pages it wrote in memory far past its cache size, blocks for good: see
/// `crate::block_file` and docs/memory.md.)
#[tokio::test]
async fn blocks_are_in_files_and_sled_holds_only_where_they_are() {
    let dir = tempfile::tempdir().expect("temp dir");
    let exporter = SledExporter::open(config(dir.path())).expect("open");
    let mut ids = Ids::new(31);
    for _ in 0..3 {
        let t = ids.trace_id();
        let spans: Vec<TestSpan> = (0..50).map(|i| TestSpan::new(&mut ids, t, "api", &format!("op{i}"), ago(30))).collect();
        exporter.export(batch(&spans)).await.expect("export");
        exporter.flush().await.expect("a block per batch");
    }
    let shared = exporter.shared_for_test();
    let (mut blocks, mut summaries, mut file_bytes, mut summary_bytes) = (0, 0, 0, 0);
    for p in shared.partitions_between(0, u64::MAX) {
        for entry in p.blocks.iter() {
            let (k, v) = entry.expect("entry");
            if k.first() == Some(&b'R') {
                continue; // a run's marker: empty
            }
            assert!(crate::block_file::pointer(&v).is_some(), "key {k:?}: a pointer, not its {} bytes", v.len());
            blocks += usize::from(k.len() == 8);
            if k.first() == Some(&b's') {
                summaries += 1;
                summary_bytes += p.summaries.resolve(&v).expect("summary").len();
            } else {
                file_bytes += p.file.resolve(&v).expect("value").len();
            }
        }
    }
    assert_eq!((blocks, summaries), (3, 3));
    let on_disk = |sub: &str| -> u64 {
        std::fs::read_dir(dir.path().join("db").join(sub)).expect("dir").map(|e| e.expect("entry").metadata().expect("meta").len()).sum()
    };
    assert_eq!(on_disk("blocks"), file_bytes as u64, "the block files hold what sled points to, nothing else");
    assert_eq!(on_disk("summaries"), summary_bytes as u64, "the summary files hold the summaries, nothing else");
}

/// A format 3 database (blocks in sled) is upgraded in place at open: every query answers as
/// before, and new blocks go to files beside the old ones.
#[tokio::test]
async fn a_format_3_database_is_upgraded_and_answers_alike() {
    upgraded_and_answers_alike(3).await;
}

/// A format 4 database (blocks in files, without a page table) is the same, its blocks read
/// as one page each.
#[tokio::test]
async fn a_format_4_database_is_upgraded_and_answers_alike() {
    upgraded_and_answers_alike(4).await;
}

/// A format 5 database (doubles filed in summaries by their text) is the same; that its
/// doubles are still found is `matching::tests`.
#[tokio::test]
async fn a_format_5_database_is_upgraded_and_answers_alike() {
    upgraded_and_answers_alike(5).await;
}

/// A format 6 database (summaries and the trace index's values in sled) is the same.
#[tokio::test]
async fn a_format_6_database_is_upgraded_and_answers_alike() {
    upgraded_and_answers_alike(6).await;
}

async fn upgraded_and_answers_alike(format: u32) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut ids = Ids::new(32);
    let old: Vec<_> = (0..20).map(|_| ids.trace_id()).collect();
    let queries = [
        TraceQuery { service: "api".into(), limit: 50, ..Default::default() },
        TraceQuery { service: "db".into(), operation: Some("op1".into()), limit: 50, ..Default::default() },
    ];
    let before = {
        let exporter = SledExporter::open(config(dir.path())).expect("open");
        for t in &old {
            let spans: Vec<TestSpan> = (0..3).map(|i| TestSpan::new(&mut ids, *t, if i == 0 { "api" } else { "db" }, &format!("op{i}"), ago(30))).collect();
            exporter.export(batch(&spans)).await.expect("export");
        }
        exporter.flush().await.expect("flush");
        let shared = exporter.shared_for_test();
        if format < 4 {
            assert_eq!(move_blocks_into_sled(shared), 1);
        } else if format < 7 {
            move_values_into_sled(shared);
        }
        shared.meta.insert(b"format", &format.to_le_bytes()).expect("format");
        shared.db.flush().expect("flush");
        let before = answers(&exporter.reader(), &old, &queries).await;
        exporter.shutdown_for_test().await;
        before
    };
    let block_files = dir.path().join("db").join("blocks").read_dir().expect("dir").count();
    assert_eq!(block_files > 0, format >= 4, "blocks in files only since format 4");
    let exporter = SledExporter::open(config(dir.path())).unwrap_or_else(|e| panic!("a format {format} database opens: {e}"));
    let reader = exporter.reader();
    assert_eq!(answers(&reader, &old, &queries).await, before);
    let n = before.len();
    assert!(!before[n - 3].ends_with("-> []") && !before[n - 2].ends_with("-> []"), "the queries find traces: {before:#?}");
    let new = ids.trace_id();
    exporter.export(batch(&[TestSpan::new(&mut ids, new, "api", "op0", ago(20))])).await.expect("export");
    assert_eq!(reader.get_trace(new).await.expect("get").map(|t| t.span_count()), Some(1));
    assert_eq!(reader.get_trace(old[0]).await.expect("get").map(|t| t.span_count()), Some(3));
    let format = exporter.shared_for_test().meta.get(b"format").expect("meta").map(|v| v.to_vec());
    assert_eq!(format, Some(crate::codec::FORMAT_VERSION.to_le_bytes().to_vec()), "stamped with the format it is now written in");
}

/// A database of format 2 (a `t`+trace+seq key per trace and block, no trace-id lists) is
/// upgraded in place at open: its traces are still fetched by id, and new ones beside them.
#[tokio::test]
async fn a_format_2_database_is_upgraded_and_its_traces_still_found() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut ids = Ids::new(21);
    let old: Vec<_> = (0..30).map(|_| ids.trace_id()).collect();
    {
        let exporter = SledExporter::open(config(dir.path())).expect("open");
        for t in &old {
            let spans: Vec<TestSpan> = (0..3).map(|i| TestSpan::new(&mut ids, *t, "api", &format!("op{i}"), ago(30))).collect();
            exporter.export(batch(&spans)).await.expect("export");
        }
        exporter.flush().await.expect("flush");
        // Rewrite the trace index as format 2 wrote it.
        let shared = exporter.shared_for_test();
        move_values_into_sled(shared);
        let mut t_keys = 0;
        for p in shared.partitions_between(0, u64::MAX) {
            for entry in p.blocks.scan_prefix([b'i']) {
                let (k, v) = entry.expect("list");
                for tid in v.chunks_exact(16) {
                    let mut key = vec![b't'];
                    key.extend_from_slice(tid);
                    key.extend_from_slice(&k[1..9]);
                    p.index.insert(key, &[] as &[u8]).expect("t key");
                    t_keys += 1;
                }
                p.blocks.remove(k).expect("remove list");
            }
        }
        assert_eq!(t_keys, old.len(), "one block, a key per trace");
        assert_eq!(move_blocks_into_sled(shared), 1);
        shared.meta.insert(b"format", &2u32.to_le_bytes()).expect("format 2");
        shared.db.flush().expect("flush");
        exporter.shutdown_for_test().await;
    }
    let exporter = SledExporter::open(config(dir.path())).expect("a format 2 database opens");
    let new = ids.trace_id();
    exporter.export(batch(&[TestSpan::new(&mut ids, new, "api", "op0", ago(20))])).await.expect("export");
    let reader = exporter.reader();
    for t in old.iter().chain([&new]) {
        assert_eq!(reader.get_trace(*t).await.expect("get").map(|t| t.span_count()), Some(if *t == new { 1 } else { 3 }));
    }
    let format = exporter.shared_for_test().meta.get(b"format").expect("meta").map(|v| v.to_vec());
    assert_eq!(format, Some(crate::codec::FORMAT_VERSION.to_le_bytes().to_vec()), "stamped with the format it is now written in");
}
