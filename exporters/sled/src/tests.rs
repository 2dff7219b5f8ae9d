//! Behaviour a user notices: the conformance suite, retention, reopening, kill -9 with
//! `sync_on_write`, and one database handle per path.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tracegate_core::config::GoDuration;
use tracegate_core::factory::Registry;
use tracegate_core::storage::TraceReader;
use tracegate_core::{Exporter, Kind};
use tracegate_storage_conformance::{batch, Ids, Store, TestSpan};

use crate::{Config, SledExporter};

pub(crate) fn config(dir: &std::path::Path) -> Config {
    Config { path: dir.join("db"), ..Config::default() }
}

async fn fresh_store() -> Store {
    let dir = tempfile::tempdir().expect("temp dir");
    let exporter = SledExporter::open(config(dir.path())).expect("open");
    let reader: Arc<dyn TraceReader> = Arc::new(exporter.reader());
    Store { exporter: Arc::new(exporter), reader, keep: Some(Box::new(dir)) }
}

mod conformance {
    tracegate_storage_conformance::conformance_tests!(super::fresh_store);
}

#[test]
fn registered_as_a_builtin_exporter() {
    let stability = Registry::builtin().get(Kind::Exporter, "sled").map(|f| f.stability());
    assert_eq!(stability, Some(tracegate_core::Stability::Alpha));
}

pub(crate) fn ago(secs: u64) -> SystemTime {
    SystemTime::now() - Duration::from_secs(secs)
}

#[tokio::test]
async fn retention_drops_old_partitions_and_keeps_new_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = Config { retention: GoDuration::from_secs(3600), partition: GoDuration::from_secs(60), ..config(dir.path()) };
    let exporter = SledExporter::open(cfg).expect("open");
    let mut ids = Ids::new(1);
    let (old, new) = (ids.trace_id(), ids.trace_id());
    exporter.export(batch(&[TestSpan::new(&mut ids, old, "api", "GET /", ago(50 * 60))])).await.expect("export");
    exporter.export(batch(&[TestSpan::new(&mut ids, new, "api", "GET /", ago(60))])).await.expect("export");
    let reader = exporter.reader();
    assert!(reader.get_trace(old).await.expect("get").is_some());

    // Twenty minutes from now the 50-minute-old partition is past a one-hour retention.
    let dropped = exporter.drop_expired(SystemTime::now() + Duration::from_secs(20 * 60)).expect("sweep");
    assert_eq!(dropped, 1);
    let block_files = std::fs::read_dir(dir.path().join("db").join("blocks")).expect("blocks dir").count();
    assert_eq!(block_files, 1, "the dropped partition's block file is deleted with it");
    assert!(reader.get_trace(old).await.expect("get").is_none(), "expired trace is gone");
    assert!(reader.get_trace(new).await.expect("get").is_some(), "recent trace is kept");
    let q = tracegate_core::storage::TraceQuery { service: "api".into(), limit: 10, ..Default::default() };
    assert_eq!(reader.find_trace_ids(&q).await.expect("find"), vec![new]);
    // Nothing left to drop, and spans older than retention are not written at all.
    assert_eq!(exporter.drop_expired(SystemTime::now()).expect("sweep"), 0);
    let ancient = ids.trace_id();
    exporter.export(batch(&[TestSpan::new(&mut ids, ancient, "api", "GET /", ago(2 * 3600))])).await.expect("export");
    assert!(reader.get_trace(ancient).await.expect("get").is_none());
}

#[tokio::test]
async fn data_survives_closing_and_reopening() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut ids = Ids::new(2);
    let t = ids.trace_id();
    {
        let exporter = SledExporter::open(config(dir.path())).expect("open");
        exporter.export(batch(&[TestSpan::new(&mut ids, t, "api", "GET /", ago(60))])).await.expect("export");
        exporter.shutdown_for_test().await;
    }
    let exporter = SledExporter::open(config(dir.path())).expect("reopen");
    let reader = exporter.reader();
    assert_eq!(reader.get_trace(t).await.expect("get").map(|t| t.span_count()), Some(1));
    assert_eq!(reader.services().await.expect("services"), ["api"]);
}

#[test]
fn a_directory_locked_by_another_handle_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A handle outside the registry stands for another process: sled's lock is per open file.
    let other = sled::Config::new().path(dir.path().join("db")).open().expect("sled");
    let refused = SledExporter::open(config(dir.path())).err().expect("the lock is held");
    assert!(refused.to_string().contains("another process holds its lock"), "{refused}");
    drop(other);
}

#[test]
fn a_database_made_with_another_segment_size_still_opens() {
    let dir = tempfile::tempdir().expect("temp dir");
    drop(sled::Config::new().path(dir.path().join("db")).segment_size(512 * 1024).open().expect("sled"));
    assert!(SledExporter::open(config(dir.path())).is_ok());
}

#[tokio::test]
async fn a_second_exporter_on_the_same_path_shares_the_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let a = SledExporter::open(config(dir.path())).expect("open");
    let b = SledExporter::open(Config { path: dir.path().join("./db"), ..config(dir.path()) }).expect("open again");
    let mut ids = Ids::new(3);
    let t = ids.trace_id();
    a.export(batch(&[TestSpan::new(&mut ids, t, "api", "GET /", ago(5))])).await.expect("export");
    let reader = b.store_reader();
    assert!(reader.get_trace(t).await.expect("get").is_some());
}

const CHILD_DIR: &str = "TRACEGATE_SLED_KILL_TEST_DIR";

/// Child half of the kill -9 test: writes batches with `sync_on_write` and prints each trace
/// id once `export` has acknowledged it. Does nothing unless the parent set the variable.
#[tokio::test]
#[ignore = "run by sync_on_write_survives_kill_9 in a child process"]
async fn kill_9_child_writer() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else { return };
    let exporter =
        SledExporter::open(Config { sync_on_write: true, ..config(std::path::Path::new(&dir)) }).expect("open");
    let mut ids = Ids::new(4);
    loop {
        let t = ids.trace_id();
        let spans: Vec<TestSpan> = (0..20).map(|_| TestSpan::new(&mut ids, t, "api", "GET /", ago(5))).collect();
        exporter.export(batch(&spans)).await.expect("export");
        println!("acked {}", t.iter().map(|b| format!("{b:02x}")).collect::<String>());
    }
}

#[tokio::test]
async fn sync_on_write_survives_kill_9() {
    let dir = tempfile::tempdir().expect("temp dir");
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args(["--exact", "tests::kill_9_child_writer", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut acked = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read child output");
        if let Some(hex) = line.strip_prefix("acked ") {
            acked.push(hex.to_string());
            if acked.len() == 30 {
                child.kill().expect("SIGKILL the child");
                break;
            }
        }
    }
    child.wait().expect("reap child");
    assert_eq!(acked.len(), 30, "the child acknowledged writes before it was killed");

    let exporter = SledExporter::open(config(dir.path())).expect("reopen after kill -9");
    let reader = exporter.reader();
    for hex in &acked {
        let mut id = [0u8; 16];
        for (i, b) in id.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex");
        }
        let spans = reader.get_trace(id).await.expect("get").map(|t| t.span_count());
        assert_eq!(spans, Some(20), "acknowledged trace {hex} is complete after kill -9");
    }
}

/// A batch as the OTLP receiver hands it on: its request bytes, checked, not decoded.
fn as_bytes(bytes: Vec<u8>) -> tracegate_core::Traces {
    let bytes = bytes::Bytes::from(bytes);
    let summary = tracegate_pdata::validate::validate_request(&bytes).expect("a valid request");
    tracegate_core::Traces::from_checked(bytes, summary)
}

/// Everything a user can ask a store, as text, for comparing two stores.
pub(crate) async fn answers(reader: &dyn TraceReader, traces: &[[u8; 16]], queries: &[tracegate_core::storage::TraceQuery]) -> Vec<String> {
    let mut out = vec![format!("{:?}", reader.services().await.expect("services"))];
    for service in reader.services().await.expect("services") {
        out.push(format!("{service}: {:?}", reader.operations(&service, None).await.expect("operations")));
    }
    for t in traces {
        out.push(format!("{:?}", reader.get_trace(*t).await.expect("get").map(|t| t.resource_spans().to_vec())));
    }
    for q in queries {
        out.push(format!("{q:?} -> {:?}", reader.find_trace_ids(q).await.expect("find")));
    }
    let deps = reader.dependencies(SystemTime::now() + Duration::from_secs(60), Duration::from_secs(3600)).await;
    out.push(format!("{:?}", deps.expect("dependencies")));
    out
}

#[tokio::test]
async fn a_byte_batch_and_the_same_decoded_batch_answer_every_query_alike() {
    use tracegate_storage_conformance::Val;
    let mut ids = Ids::new(5);
    let mut spans = Vec::new();
    let mut traces = Vec::new();
    for n in 0..6u64 {
        let t = ids.trace_id();
        traces.push(t);
        let root = TestSpan::new(&mut ids, t, "frontend", "GET /cart", ago(100 + n)).attr("user.id", Val::Str("u-7"));
        let mut child = TestSpan::new(&mut ids, t, if n % 2 == 0 { "cart" } else { "payments" }, "load", ago(99 + n))
            .child_of(&root)
            .duration(Duration::from_millis(5 * (n + 1)))
            .attr("http.status_code", Val::Int(200 + n as i64))
            .attr("cache.hit", Val::Bool(n % 3 == 0))
            .resource_attr("k8s.pod.name", Val::Str("cart-1"))
            .event("retry", vec![("attempt", Val::Int(n as i64))]);
        child.error = n == 4;
        // Children first, as SDKs export them.
        spans.push(child);
        spans.push(root);
    }
    let decoded = batch(&spans);
    let bytes = as_bytes(decoded.encode_request().to_vec());
    let (a, b) = (fresh_store().await, fresh_store().await);
    a.exporter.export(decoded).await.expect("export decoded");
    b.exporter.export(bytes).await.expect("export bytes");

    let q = |service: &str, f: &dyn Fn(&mut tracegate_core::storage::TraceQuery)| {
        let mut q = tracegate_core::storage::TraceQuery { service: service.into(), limit: 20, ..Default::default() };
        f(&mut q);
        q
    };
    let tag = |k: &str, v: &str| {
        let (k, v) = (k.to_string(), v.to_string());
        move |q: &mut tracegate_core::storage::TraceQuery| {
            q.tags.insert(k.clone(), v.clone());
        }
    };
    let queries = [
        q("frontend", &|_| {}),
        q("cart", &|q| q.operation = Some("load".into())),
        q("frontend", &tag("user.id", "u-7")),
        q("payments", &tag("http.status_code", "203")),
        q("cart", &tag("cache.hit", "true")),
        q("cart", &tag("attempt", "2")),
        q("cart", &tag("k8s.pod.name", "cart-1")),
        q("cart", &tag("error", "true")),
        q("cart", &tag("span.kind", "server")),
        q("payments", &|q| q.duration_min = Some(Duration::from_millis(20))),
    ];
    let (want, got) = (answers(&*a.reader, &traces, &queries).await, answers(&*b.reader, &traces, &queries).await);
    assert_eq!(got, want);
    // The comparison means something only if the queries found things.
    let found = |i: usize| !want[i].ends_with("-> []");
    let first_query = want.len() - queries.len() - 1;
    assert!((first_query..first_query + queries.len()).all(found), "{want:#?}");
    assert!(want.last().is_some_and(|d| d.contains("frontend") && d.contains("payments")), "{want:#?}");
}

/// Bytes the views cannot read in place (here a `resource` that occurs twice, which prost
/// merges) and bytes in an order no prost encoder writes (fields reversed, unknown fields)
/// are stored as prost reads them.
#[tokio::test]
async fn unusual_encodings_are_stored_as_prost_reads_them() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
    use prost::Message;

    let mut ids = Ids::new(6);
    let t = ids.trace_id();
    let decoded = batch(&[TestSpan::new(&mut ids, t, "api", "GET /", ago(30))]);
    let rs = decoded.resource_spans()[0].clone();
    // The same ResourceSpans again with only a second resource: concatenated, prost merges
    // the two resources (attributes appended).
    let extra = KeyValue { key: "region".into(), value: Some(AnyValue { value: Some(Value::StringValue("eu".into())) }), key_strindex: 0 };
    let more = ResourceSpans { resource: Some(Resource { attributes: vec![extra], ..Default::default() }), ..Default::default() };
    let mut merged = rs.encode_to_vec();
    merged.extend(more.encode_to_vec());
    // The span's fields in reverse order, plus an unknown field.
    let mut span_bytes = Vec::new();
    let span = &rs.scope_spans[0].spans[0];
    let fields: Vec<Vec<u8>> = {
        let mut one = Vec::new();
        span.encode(&mut one).expect("encode");
        let mut out = Vec::new();
        let mut rest = one.as_slice();
        while !rest.is_empty() {
            let before = rest;
            let (tag, wire) = prost::encoding::decode_key(&mut rest).expect("key");
            prost::encoding::skip_field(wire, tag, &mut rest, Default::default()).expect("skip");
            out.push(before[..before.len() - rest.len()].to_vec());
        }
        out
    };
    for f in fields.iter().rev() {
        span_bytes.extend(f);
    }
    prost::encoding::uint64::encode(99, &7, &mut span_bytes);
    let mut reordered = ResourceSpans { scope_spans: vec![Default::default()], ..rs.clone() }.encode_to_vec();
    // Scope spans = { spans: [span_bytes] }.
    let mut scope = Vec::new();
    prost::encoding::bytes::encode(2, &span_bytes, &mut scope);
    let mut tail = Vec::new();
    prost::encoding::bytes::encode(2, &scope, &mut tail);
    reordered.extend(tail);

    for rs_bytes in [merged, reordered] {
        let mut request = Vec::new();
        prost::encoding::bytes::encode(1, &rs_bytes, &mut request);
        let prost_read = ExportTraceServiceRequest::decode(request.as_slice()).expect("prost decodes");
        let (a, b) = (fresh_store().await, fresh_store().await);
        a.exporter.export(prost_read.into()).await.expect("export decoded");
        b.exporter.export(as_bytes(request)).await.expect("export bytes");
        let queries = [tracegate_core::storage::TraceQuery { service: "api".into(), limit: 5, ..Default::default() }];
        let want = answers(&*a.reader, &[t], &queries).await;
        assert_eq!(answers(&*b.reader, &[t], &queries).await, want);
        assert!(want[3].ends_with(&format!("-> [{t:?}]")), "{want:#?}");
    }
}

/// Blocks in a database's partitions (their keys are the 8-byte sequence numbers; summaries and
/// the trace index have prefixed keys).
fn blocks_stored(exporter: &SledExporter) -> usize {
    let shared = exporter.shared_for_test();
    shared.partitions_between(0, u64::MAX).iter().map(|p| p.blocks.iter().keys().filter(|k| k.as_ref().is_ok_and(|k| k.len() == 8)).count()).sum()
}

/// Many small acknowledged batches wait in the write-ahead log and become one block (not a
/// block each, which packed worse and searched slower); a read sees them all at once; and the
/// log is cut back once its records are in a flushed block.
#[tokio::test]
async fn small_batches_share_a_block_and_reads_see_them_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let exporter = SledExporter::open(config(dir.path())).expect("open");
    let mut ids = Ids::new(9);
    let mut traces = Vec::new();
    for _ in 0..40 {
        let t = ids.trace_id();
        traces.push(t);
        let spans: Vec<TestSpan> = (0..5).map(|i| TestSpan::new(&mut ids, t, "api", &format!("op{i}"), ago(30))).collect();
        exporter.export(batch(&spans)).await.expect("export");
    }
    assert_eq!(blocks_stored(&exporter), 0, "acknowledged batches wait in the log for their block to fill");
    let wal = dir.path().join("db").join("wal");
    assert!(std::fs::read_dir(&wal).expect("log dir").count() >= 1);

    let reader = exporter.reader();
    for t in &traces {
        assert_eq!(reader.get_trace(*t).await.expect("get").map(|t| t.span_count()), Some(5), "a read sees every acknowledged span");
    }
    assert_eq!(blocks_stored(&exporter), 1, "forty batches became one block");

    exporter.flush().await.expect("flush");
    let log_bytes: u64 = std::fs::read_dir(&wal).expect("log dir").map(|e| e.expect("entry").metadata().expect("meta").len()).sum();
    assert_eq!(log_bytes, 0, "once the block is flushed, the log holds nothing");
    drop(reader);
    exporter.shutdown_for_test().await;
    let reopened = SledExporter::open(config(dir.path())).expect("reopen");
    assert_eq!(blocks_stored(&reopened), 1, "nothing is replayed twice");
    assert_eq!(reopened.reader().find_trace_ids(&tracegate_core::storage::TraceQuery { service: "api".into(), limit: 100, ..Default::default() }).await.expect("find").len(), 40);
}
