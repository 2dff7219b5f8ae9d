//! Disk full, on a real filesystem that fills up: a tmpfs this test mounts (it needs root or
//! CAP_SYS_ADMIN, and fails, never skips, without them). The store refuses retryably with one
//! log line per episode, keeps everything stored before, survives kill -9 during the episode,
//! and takes spans again by itself once space returns. Also the `max_disk_mib` cap, which
//! needs no mount.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use tracegate_core::config::GoDuration;
use tracegate_core::storage::TraceReader;
use tracegate_core::telemetry::Telemetry;
use tracegate_core::{ConsumeError, Exporter, Lifecycle, Traces};
use tracegate_exporter_sled::{Config, SledExporter};

const MIB: u64 = 1 << 20;

/// A tmpfs mounted on a fresh temporary directory, unmounted when dropped (also when the test
/// fails).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size_mib: u64) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Self { dir },
            Ok(o) => panic!(
                "this test mounts a {size_mib} MiB tmpfs to fill it, which needs root or CAP_SYS_ADMIN: mount said {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => panic!("this test mounts a tmpfs, which needs the `mount` command and root or CAP_SYS_ADMIN: {e}"),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn available(&self) -> u64 {
        let s = rustix::fs::statvfs(self.path()).expect("statvfs");
        s.f_bavail * s.f_frsize
    }

    /// Writes a file beside the store that leaves about `leave` bytes available.
    fn fill_leaving(&self, leave: u64) -> PathBuf {
        let path = self.path().join("filler");
        let size = self.available().saturating_sub(leave);
        let mut f = std::fs::File::create(&path).expect("filler");
        let chunk = vec![0x5au8; MIB as usize];
        let mut left = size;
        while left > 0 {
            let n = left.min(MIB) as usize;
            f.write_all(&chunk[..n]).expect("write filler");
            left -= n as u64;
        }
        f.sync_all().expect("sync filler");
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // sled's threads may hold a file a moment after the last handle is dropped.
        for _ in 0..50 {
            if Command::new("umount").arg(self.dir.path()).status().is_ok_and(|s| s.success()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// Every log line of this process, for counting what a disk-full episode logs.
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || LogSink(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber per test process");
        buf
    })
}

struct LogSink(Arc<Mutex<Vec<u8>>>);

impl Write for LogSink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log_lines_with(needle: &str, path: &Path) -> usize {
    let text = String::from_utf8_lossy(&logs().lock().unwrap()).into_owned();
    let path = path.display().to_string();
    text.lines().filter(|l| l.contains(needle) && l.contains(&path)).count()
}

fn now_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// A trace of `spans` spans, each carrying `payload` bytes of incompressible text, so the
/// disk fills in few batches. Trace ids are `n` big-endian.
fn trace(n: u64, spans: usize, payload: usize, start: u64) -> Traces {
    let mut rng = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut text = || {
        (0..payload)
            .map(|_| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                char::from(b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[(rng % 62) as usize])
            })
            .collect::<String>()
    };
    let string = |s: String| Some(AnyValue { value: Some(any_value::Value::StringValue(s)) });
    let spans = (0..spans)
        .map(|i| Span {
            trace_id: trace_id(n).to_vec(),
            span_id: (n * 1000 + i as u64 + 1).to_be_bytes().to_vec(),
            name: "fill".into(),
            start_time_unix_nano: start,
            end_time_unix_nano: start + 1_000_000,
            attributes: vec![KeyValue { key: "payload".into(), value: string(text()), ..Default::default() }],
            ..Default::default()
        })
        .collect();
    let resource = Resource {
        attributes: vec![KeyValue { key: "service.name".into(), value: string("disk-test".into()), ..Default::default() }],
        ..Default::default()
    };
    Traces::new(vec![ResourceSpans {
        resource: Some(resource),
        scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
        schema_url: String::new(),
    }])
}

fn trace_id(n: u64) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[8..].copy_from_slice(&n.to_be_bytes());
    id[0] = 0xd1;
    id
}

async fn span_count(reader: &dyn TraceReader, n: u64) -> Option<usize> {
    reader.get_trace(trace_id(n)).await.expect("get_trace").map(|t| t.span_count())
}

fn assert_retryable_disk_refusal(e: &ConsumeError) {
    assert!(matches!(e, ConsumeError::Retryable(_)), "a disk-full refusal is retryable (UNAVAILABLE / 503): {e:?}");
    assert!(e.to_string().contains("disk space"), "the refusal says why: {e}");
}

fn store_config(path: &Path) -> Config {
    Config { path: path.join("db"), min_free_mib: 8, ..Config::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_retryably_keeps_what_was_stored_and_resumes_when_space_returns() {
    let logs = logs();
    let fs = Tmpfs::mount(64);
    let config = store_config(fs.path());
    let db = config.path.clone();
    let telemetry = Telemetry::new();
    let exporter = SledExporter::open(config).expect("open the store on the tmpfs");
    exporter.report_to(&telemetry, "sled/disk");
    let reader = exporter.reader();
    let start = now_nanos();

    let mut stored = Vec::new();
    for n in 1..=20 {
        exporter.export(trace(n, 20, 64, start)).await.expect("room enough");
        stored.push((n, 20));
    }

    // Fill the disk beside the store until only 16 MiB are left, then write until refused.
    let filler = fs.fill_leaving(16 * MIB);
    let mut refusals = 0;
    let mut n = 100;
    while refusals == 0 {
        n += 1;
        assert!(n < 1000, "no refusal after ~{} MiB", (n - 100) / 4);
        match exporter.export(trace(n, 64, 4096, start)).await {
            Ok(()) => stored.push((n, 64)),
            Err(e) => {
                assert_retryable_disk_refusal(&e);
                refusals += 1;
            }
        }
    }
    assert!(stored.len() > 20, "batches were stored before the disk ran short");
    // Clients keep retrying: every one is refused, and none is logged again.
    for m in 0..30 {
        let e = exporter.export(trace(5000 + m, 8, 4096, start)).await.expect_err("still full");
        assert_retryable_disk_refusal(&e);
    }
    assert!(fs.available() > 0, "the store stopped before the disk was full");
    let metrics = telemetry.metrics.render();
    assert!(metrics.contains("tracegate_exporter_sled_disk_full{exporter=\"sled/disk\"} 1"), "{metrics}");
    assert!(metrics.contains(&format!("tracegate_exporter_sled_disk_full_refused_spans{{exporter=\"sled/disk\"}} {}", 64 + 30 * 8)), "{metrics}");

    // Nothing stored before the episode is damaged.
    for &(n, spans) in &stored {
        assert_eq!(span_count(&reader, n).await, Some(spans), "trace {n} stored before the disk filled");
    }

    // Space returns: the same exporter (no restart) takes spans again.
    std::fs::remove_file(&filler).expect("free the space");
    exporter.export(trace(9000, 64, 4096, start)).await.expect("ingest resumes once space returns");
    assert_eq!(span_count(&reader, 9000).await, Some(64));
    for &(n, spans) in &stored {
        assert_eq!(span_count(&reader, n).await, Some(spans), "trace {n} after the episode");
    }
    assert!(telemetry.metrics.render().contains("tracegate_exporter_sled_disk_full{exporter=\"sled/disk\"} 0"));
    assert_eq!(log_lines_with("disk full:", &db), 1, "one line when the episode starts:\n{}", String::from_utf8_lossy(&logs.lock().unwrap()));
    assert_eq!(log_lines_with("disk space is back", &db), 1, "one line when it ends");
    exporter.shutdown().await.expect("sled never met the full disk, so it still flushes");
}

const CHILD_DIR: &str = "TRACEGATE_SLED_DISK_FULL_CHILD_DIR";

/// Child half of the kill -9 test: stores traces 1..=20 and prints each once acknowledged,
/// fills the disk, prints `refused` at the first refusal, then keeps offering batches (as
/// clients keep retrying) until it is killed. Does nothing unless the parent set the variable.
#[tokio::test]
#[ignore = "run by kill_9_during_a_disk_full_episode_loses_nothing_stored in a child process"]
async fn disk_full_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else { return };
    let fs_dir = PathBuf::from(dir);
    let exporter = SledExporter::open(store_config(&fs_dir)).expect("open");
    let start = now_nanos();
    for n in 1..=20 {
        exporter.export(trace(n, 20, 512, start)).await.expect("room enough");
        println!("acked {n}");
    }
    let s = rustix::fs::statvfs(&fs_dir).expect("statvfs");
    let leave = 12 * MIB;
    let size = (s.f_bavail * s.f_frsize).saturating_sub(leave);
    std::fs::write(fs_dir.join("filler"), vec![0x5au8; size as usize]).expect("filler");
    let mut n = 100;
    loop {
        n += 1;
        match exporter.export(trace(n, 64, 4096, start)).await {
            Ok(()) => println!("acked {n}"),
            Err(e) => {
                println!("refused {e}");
                break;
            }
        }
    }
    loop {
        n += 1;
        let _ = exporter.export(trace(n, 64, 4096, start)).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_disk_full_episode_loses_nothing_stored() {
    let fs = Tmpfs::mount(48);
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args(["--exact", "disk_full_child", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, fs.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut acked = Vec::new();
    let mut refused = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read child output");
        if let Some(n) = line.strip_prefix("acked ") {
            acked.push(n.parse::<u64>().expect("trace number"));
        } else if let Some(why) = line.strip_prefix("refused ") {
            refused = Some(why.to_string());
            // Let it offer a few more batches, as retrying clients would, then kill it.
            std::thread::sleep(Duration::from_millis(200));
            child.kill().expect("SIGKILL the child");
            break;
        }
    }
    let _ = child.wait();
    let refused = refused.expect("the child filled the disk and was refused");
    assert!(refused.contains("disk space"), "{refused}");
    assert!(acked.len() > 20, "the child stored batches before the disk ran short: {acked:?}");

    std::fs::remove_file(fs.path().join("filler")).expect("free the space");
    let exporter = SledExporter::open(store_config(fs.path())).expect("the store opens after kill -9 during the episode");
    let reader = exporter.reader();
    for &n in &acked {
        let want = if n <= 20 { 20 } else { 64 };
        assert_eq!(span_count(&reader, n).await, Some(want), "acknowledged trace {n} after kill -9");
    }
    exporter.export(trace(9999, 10, 100, now_nanos())).await.expect("writes work after the restart");
    assert_eq!(span_count(&reader, 9999).await, Some(10));
    exporter.shutdown().await.expect("flush");
    drop(reader);
    drop(exporter);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_size_cap_refuses_past_it_and_retention_makes_room() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config {
        path: dir.path().join("db"),
        min_free_mib: 0,
        max_disk_mib: 16,
        // Blocks of ten batches, so that sled holds the spans soon (the cap counts sled's
        // files, not the write-ahead log).
        max_block_spans: 640,
        retention: GoDuration::from_secs(3600),
        partition: GoDuration::from_secs(60),
        ..Config::default()
    };
    let exporter = SledExporter::open(config).expect("open");
    let reader = exporter.reader();
    // 50 minutes old: past a one-hour retention twenty minutes from now.
    let old = now_nanos() - 50 * 60 * 1_000_000_000;
    let mut n = 0;
    let refusal = loop {
        n += 1;
        assert!(n < 2000, "no refusal after {n} batches of ~250 KiB");
        match exporter.export(trace(n, 64, 4096, old)).await {
            Ok(()) => {}
            Err(e) => break e,
        }
    };
    assert_retryable_disk_refusal(&refusal);
    assert!(span_count(&reader, 1).await.is_some(), "what was stored before the cap stays readable");

    let dropped = exporter.drop_expired(SystemTime::now() + Duration::from_secs(20 * 60)).expect("retention");
    assert!(dropped > 0);
    let recent = now_nanos();
    exporter.export(trace(100_000, 64, 4096, recent)).await.expect("retention made room under the cap");
    assert_eq!(span_count(&reader, 100_000).await, Some(64));
}

/// Without the reserve, the write-ahead log is what meets the full disk: its append fails part
/// way through a record. That batch is refused retryably; the batches acknowledged after space
/// returns follow the last whole record, so a restart replays every acknowledged batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_append_cut_short_by_a_full_disk_loses_nothing_acknowledged() {
    let fs = Tmpfs::mount(24);
    // Blocks are never cut in this test: only the log writes, so only the log meets the full disk.
    let config = Config {
        min_free_mib: 0,
        max_block_spans: 1_000_000,
        max_block_age: GoDuration::from_secs(3600),
        ..store_config(fs.path())
    };
    let start = now_nanos();
    let mut acked = Vec::new();
    {
        let exporter = SledExporter::open(config.clone()).expect("open");
        for n in 1..=5 {
            exporter.export(trace(n, 10, 100, start)).await.expect("room enough");
            acked.push((n, 10));
        }
        let filler = fs.fill_leaving(2 * MIB);
        let mut n = 100;
        let refusal = loop {
            n += 1;
            assert!(n < 200, "the log never met the full disk");
            match exporter.export(trace(n, 64, 4096, start)).await {
                Ok(()) => acked.push((n, 64)),
                Err(e) => break e,
            }
        };
        assert_retryable_disk_refusal(&refusal);
        std::fs::remove_file(&filler).expect("free the space");
        for n in 1000..1010 {
            exporter.export(trace(n, 10, 100, start)).await.expect("ingest resumes once space returns");
            acked.push((n, 10));
        }
        // Dropped without a shutdown, as a crash would leave it: only the log holds the spans.
    }
    let exporter = SledExporter::open(config).expect("reopen: the log is replayed");
    let reader = exporter.reader();
    for &(n, spans) in &acked {
        assert_eq!(span_count(&reader, n).await, Some(spans), "acknowledged trace {n} after the restart");
    }
    exporter.shutdown().await.expect("flush");
}
