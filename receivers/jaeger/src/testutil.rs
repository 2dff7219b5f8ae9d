//! What the unit tests share: a consumer that records batches, fails or blocks on purpose,
//! Jaeger batches, a receiver started on 127.0.0.1 port 0, and plain UDP/HTTP clients.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tracegate_core::config::Endpoint;
use tracegate_core::telemetry::Telemetry;
use tracegate_core::{ComponentId, Host, Lifecycle};
use tracegate_translator_jaeger::thrift::{Batch, Process, Span, Tag};

use crate::config::{Config, GrpcConfig, HttpConfig, UdpConfig};
use crate::drops::DropReason;
use crate::JaegerReceiver;

/// How long a test waits for something that should happen at once before it gives up.
const HANG_GUARD: Duration = Duration::from_secs(20);

pub use tracegate_core::testing::RecordingConsumer;

/// A batch of `service` with one span per name (trace id 0x0102..., span ids 1, 2, ...).
pub fn batch(service: &str, names: &[&str]) -> Batch {
    let spans = names
        .iter()
        .enumerate()
        .map(|(i, name)| Span {
            trace_id_high: 0x0102_0304_0506_0708,
            trace_id_low: 0x090a_0b0c_0d0e_0f10,
            span_id: i as i64 + 1,
            operation_name: name.to_string(),
            flags: 1,
            start_time: 1_700_000_000_000_000,
            duration: 1500,
            tags: vec![Tag::string("span.kind", "server"), Tag::long("http.status_code", 200)],
            ..Default::default()
        })
        .collect();
    Batch {
        process: Process { service_name: service.to_string(), tags: vec![Tag::string("hostname", "h1")] },
        spans,
        ..Default::default()
    }
}

pub fn local_udp() -> UdpConfig {
    UdpConfig { endpoint: Endpoint::new("127.0.0.1", 0), ..UdpConfig::default() }
}

/// Every protocol on 127.0.0.1 with OS-chosen ports.
pub fn local_config() -> Config {
    let mut c = Config::default();
    c.protocols.thrift_compact = Some(local_udp());
    c.protocols.thrift_binary = Some(local_udp());
    c.protocols.thrift_http = Some(HttpConfig { endpoint: Endpoint::new("127.0.0.1", 0), ..Default::default() });
    c.protocols.grpc = Some(GrpcConfig { endpoint: Endpoint::new("127.0.0.1", 0), ..Default::default() });
    c
}

pub fn host() -> Arc<dyn Host> {
    tracegate_core::testing::TestHost::new()
}

/// A started receiver with the consumer and telemetry it reports to. Tests call
/// `receiver.shutdown()` themselves before they end.
pub struct Running {
    pub receiver: JaegerReceiver,
    pub telemetry: Arc<Telemetry>,
    pub next: Arc<RecordingConsumer>,
}

impl Running {
    /// (accepted, refused) spans for one transport.
    pub fn counts(&self, transport: &str) -> (u64, u64) {
        let m = self.telemetry.metrics.receiver("jaeger", transport);
        (m.accepted.get(), m.refused.get())
    }

    /// `tracegate_receiver_dropped_packets` for one transport and reason, read from the
    /// exposition text a user would scrape.
    pub fn dropped(&self, transport: &str, reason: DropReason) -> u64 {
        let line = format!(
            "tracegate_receiver_dropped_packets{{reason=\"{}\",receiver=\"jaeger\",transport=\"{transport}\"}} ",
            reason.as_str()
        );
        let text = self.telemetry.metrics.render();
        text.lines().find_map(|l| l.strip_prefix(&line)).map_or(0, |v| v.trim().parse().unwrap())
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.receiver.addrs().thrift_http.expect("http started")
    }

    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.receiver.addrs().grpc.expect("grpc started"))
    }
}

pub async fn start_with_host(config: Config, next: Arc<RecordingConsumer>, host: Arc<dyn Host>) -> Running {
    let telemetry = Telemetry::new();
    let receiver = JaegerReceiver::new(ComponentId::new("jaeger", None), config, next.clone(), &telemetry);
    receiver.start(host).await.expect("receiver starts on port 0");
    Running { receiver, telemetry, next }
}

pub async fn start(config: Config, next: Arc<RecordingConsumer>) -> Running {
    start_with_host(config, next, host()).await
}

/// Sends one datagram to `to` from a fresh socket.
pub async fn send_udp(to: SocketAddr, datagram: &[u8]) {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let sent = socket.send_to(datagram, to).await.unwrap();
    assert_eq!(sent, datagram.len());
}

/// Polls `condition` until it holds. Only a guard against hanging forever: tests assert on
/// outcomes, never on how long they took.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..HANG_GUARD.as_millis() / 10 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("gave up waiting for {what}");
}

/// A plain HTTP/1.1 exchange with the receiver.
pub async fn http_call(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (http::StatusCode, http::HeaderMap, String) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = http::Request::builder().method("POST").uri(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client.request(req.body(Full::new(Bytes::from(body))).unwrap()).await.expect("HTTP exchange");
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.expect("response body").to_bytes();
    (parts.status, parts.headers, String::from_utf8_lossy(&body).into_owned())
}
