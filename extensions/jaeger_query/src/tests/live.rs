//! The live tail over a real socket: the router served on 127.0.0.1:0, raw HTTP/1.1 requests,
//! traces written to a memory store while the stream is open.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use tokio::task::JoinHandle;
use tracegate_core::storage::{DependencyLink, Operation, StorageError, TraceId, TraceQuery, TraceReader};
use tracegate_core::{Exporter, Traces};
use tracegate_exporter_memory::MemoryStore;

use super::fixture::{backend, error_envelope, frontend, resource, span};
use crate::{router, ApiState};

/// A guard against a hang, not a timing assertion: every wait here normally takes ~1 s.
const PATIENCE: Duration = Duration::from_secs(30);

struct Server {
    addr: std::net::SocketAddr,
    state: Arc<ApiState>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

async fn serve(reader: Arc<dyn TraceReader>) -> Server {
    let state = Arc::new(ApiState { reader, max_clock_skew: Duration::ZERO, live: Default::default(), bounds: Default::default() });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = router(state.clone(), None);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
    });
    Server { addr, state, stop, task }
}

impl Server {
    /// Ends the live streams, then the server; the graceful stop must not wait on them.
    async fn shutdown(self) {
        self.state.live.close();
        let _ = self.stop.send(());
        tokio::time::timeout(PATIENCE, self.task).await.expect("server stops once live tails are closed").expect("join");
    }
}

async fn open(addr: std::net::SocketAddr, query: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET /api/live/traces?{query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    stream
}

/// Reads until `text` holds `needle`; fails naming it after PATIENCE.
async fn read_until(stream: &mut TcpStream, text: &mut String, needle: &str) {
    read_while(stream, text, needle, |t| !t.contains(needle)).await;
}

/// Reads while `more(text)`; fails naming `what` after PATIENCE or at the end of the stream.
async fn read_while(stream: &mut TcpStream, text: &mut String, what: &str, more: impl Fn(&str) -> bool) {
    let wait = async {
        let mut buf = [0u8; 8192];
        while more(text) {
            let n = stream.read(&mut buf).await.expect("read");
            assert!(n > 0, "stream ended before {what} arrived:\n{text}");
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    };
    tokio::time::timeout(PATIENCE, wait).await.unwrap_or_else(|_| panic!("no {what} after {PATIENCE:?}:\n{text}"));
}

fn now_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos() as u64
}

/// Spans `ids` of trace `0xee<id>` for one service, starting now; span 1 is the root.
fn trace(id: u8, service: Vec<KeyValue>, ids: std::ops::RangeInclusive<u8>) -> Traces {
    let tid = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xee, id];
    let t = now_nanos();
    let list = ids.map(|n| span(tid, n, if n == 1 { 0 } else { 1 }, "work", 2, t, 1_000)).collect();
    Traces::new(vec![resource(service, list)])
}

/// The `data:` events' trace ids and span counts, in order.
fn arrivals(text: &str) -> Vec<(String, usize)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .filter_map(|v| Some((v["traceID"].as_str()?.to_string(), v["spans"].as_array()?.len())))
        .collect()
}

#[tokio::test]
async fn streams_matching_traces_stored_after_it_opened_and_resends_grown_ones() {
    let store = MemoryStore::new(1000);
    // Stored before the stream opens: remembered, never sent.
    store.export(trace(1, frontend(), 1..=1)).await.expect("export");
    let server = serve(Arc::new(store.clone())).await;
    let mut stream = open(server.addr, "service=frontend").await;
    let mut text = String::new();
    read_until(&mut stream, &mut text, "event: ready").await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.to_ascii_lowercase().contains("content-type: text/event-stream"), "{text}");

    // Another service's trace first, then a matching one: only the matching one arrives.
    store.export(trace(2, backend(), 1..=2)).await.expect("export");
    store.export(trace(3, frontend(), 1..=2)).await.expect("export");
    read_until(&mut stream, &mut text, "\"traceID\":\"000000000000ee03\"").await;
    // Late spans of the same trace: it is sent again, whole.
    store.export(trace(3, frontend(), 3..=3)).await.expect("export");
    let grown = ("000000000000ee03".to_string(), 3);
    read_while(&mut stream, &mut text, "the grown trace", |t| !arrivals(t).contains(&grown)).await;
    let got = arrivals(&text);
    assert_eq!(got[..2], [("000000000000ee03".to_string(), 2), ("000000000000ee03".to_string(), 3)], "{text}");
    assert!(got.iter().all(|(id, _)| id == "000000000000ee03"), "the stored-before and non-matching traces are never sent: {got:?}");
    assert_eq!(server.state.live.open_streams(), 1);

    // Shutdown ends the stream (the response completes) and the server stops.
    let state = server.state.clone();
    server.shutdown().await;
    let mut rest = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut rest)).await.expect("stream ends at shutdown").expect("read");
    assert_eq!(state.live.open_streams(), 0);
}

#[tokio::test]
async fn bad_parameters_are_a_400_before_any_stream() {
    let store = MemoryStore::new(10);
    let server = serve(Arc::new(store.clone())).await;
    for (query, msg) in [
        ("", "parameter 'service' is required"),
        ("service=a&minDuration=10", "unable to parse param 'minDuration': time: missing unit in duration \"10\""),
        ("traceID=ab", "the live tail follows a search; it takes no 'traceID'"),
    ] {
        let mut stream = open(server.addr, query).await;
        let mut raw = String::new();
        tokio::time::timeout(PATIENCE, stream.read_to_string(&mut raw)).await.expect("answered").expect("read");
        assert!(raw.starts_with("HTTP/1.1 400"), "{query}: {raw}");
        assert!(raw.contains(&error_envelope(400, msg)), "{query}: {raw}");
        assert!(!raw.contains("text/event-stream"), "{query}: {raw}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_closed_server_refuses_new_tails() {
    let store = MemoryStore::new(10);
    let server = serve(Arc::new(store.clone())).await;
    server.state.live.close();
    let mut stream = open(server.addr, "service=frontend").await;
    let mut raw = String::new();
    tokio::time::timeout(PATIENCE, stream.read_to_string(&mut raw)).await.expect("answered").expect("read");
    assert!(raw.starts_with("HTTP/1.1 503"), "{raw}");
    server.shutdown().await;
}

/// The extension's shutdown ends open tails (the graceful stop would otherwise wait on them).
#[tokio::test]
async fn the_extension_shutdown_ends_open_tails() {
    use std::collections::HashMap;

    use tracegate_core::config::Endpoint;
    use tracegate_core::telemetry::ServiceStatus;
    use tracegate_core::{ComponentId, Extension, Host, Lifecycle};

    use crate::{Config, HttpConfig, JaegerQueryExtension};

    struct OneStore(HashMap<String, Arc<dyn Exporter>>, Arc<ServiceStatus>);
    impl Host for OneStore {
        fn exporter(&self, id: &ComponentId) -> Option<Arc<dyn Exporter>> {
            self.0.get(&id.to_string()).cloned()
        }
        fn extension(&self, _id: &ComponentId) -> Option<Arc<dyn Extension>> {
            None
        }
        fn extensions(&self) -> Vec<(ComponentId, Arc<dyn Extension>)> {
            Vec::new()
        }
        fn status(&self) -> Arc<ServiceStatus> {
            self.1.clone()
        }
    }

    let store: Arc<dyn Exporter> = Arc::new(MemoryStore::new(10));
    let host = OneStore(HashMap::from([("memory".to_string(), store)]), Arc::default());
    let config = Config { storage: "memory".into(), http: HttpConfig { endpoint: Endpoint::new("127.0.0.1", 0), ..Default::default() }, ..Default::default() };
    let ext = JaegerQueryExtension::new("jaeger_query".into(), config);
    ext.start(Arc::new(host)).await.expect("start");
    let addr = ext.local_addr().await.expect("bound");
    let mut stream = open(addr, "service=frontend").await;
    let mut text = String::new();
    read_until(&mut stream, &mut text, "event: ready").await;

    tokio::time::timeout(PATIENCE, ext.shutdown()).await.expect("shutdown returns").expect("shutdown");
    let mut rest = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut rest)).await.expect("the stream ends").expect("read");
    // The response ended cleanly (the last chunk), not by the connection being cut mid-stream.
    assert!(String::from_utf8_lossy(&rest).ends_with("0\r\n\r\n"), "{}", String::from_utf8_lossy(&rest));
}

/// A store that cannot search.
struct BrokenStore;

#[async_trait::async_trait]
impl TraceReader for BrokenStore {
    async fn get_trace(&self, _id: TraceId) -> Result<Option<Traces>, StorageError> {
        Ok(None)
    }
    async fn services(&self) -> Result<Vec<String>, StorageError> {
        Ok(Vec::new())
    }
    async fn operations(&self, _s: &str, _k: Option<&str>) -> Result<Vec<Operation>, StorageError> {
        Ok(Vec::new())
    }
    async fn find_trace_ids(&self, _q: &TraceQuery) -> Result<Vec<TraceId>, StorageError> {
        Err(StorageError::Backend("disk on fire".into()))
    }
    async fn dependencies(&self, _e: SystemTime, _l: Duration) -> Result<Vec<DependencyLink>, StorageError> {
        Ok(Vec::new())
    }
}

#[tokio::test]
async fn a_storage_error_is_a_problem_event_and_the_stream_goes_on() {
    let server = serve(Arc::new(BrokenStore)).await;
    let mut stream = open(server.addr, "service=frontend").await;
    let mut text = String::new();
    read_until(&mut stream, &mut text, "event: ready").await;
    assert!(text.contains("event: problem\ndata: storage error: disk on fire\n"), "{text}");
    server.shutdown().await;
}
