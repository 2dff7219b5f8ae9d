//! The agent's UDP ports: `Agent.emitBatch` datagrams in compact (6831) or binary (6832)
//! Thrift.
//!
//! Shaped like Jaeger's `TBufferedServer` + `ThriftProcessor`: one task only reads datagrams
//! into a bounded queue, and `workers` tasks decode, translate and forward them. Reading must
//! never wait on the pipeline, or the kernel's socket buffer overflows and drops silently;
//! with the queue in between, overload is dropped here instead, where it is counted
//! (`reason="queue_full"`). UDP has no way to push back, so a batch the pipeline refuses is
//! dropped and counted too.
//!
//! A datagram is read into a buffer one byte larger than `max_packet_size`: the kernel
//! truncates what does not fit, so filling the extra byte is how an oversized datagram shows.
//!
//! The receiver's `ServerSet` binds the port ([`configure`] sizes its buffer) and runs
//! [`UdpPort::serve`]; at stop the reader lets go of the socket at once and the workers finish
//! the queue within the set's drain time (then they are aborted, and the rest is dropped).

use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinSet;
use tracegate_core::server::StopSignal;
use tracegate_translator_jaeger::{decode_emit_batch_binary, decode_emit_batch_compact, thrift_to_otlp};
use tracing::Instrument;

use crate::config::UdpConfig;
use crate::drops::{DropReason, Drops};
use crate::ingest::Ingest;
use crate::kernel_drops::{self, KernelDrops};

/// Which Thrift protocol a port speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThriftProtocol {
    Compact,
    Binary,
}

impl ThriftProtocol {
    /// The `transport` label of this port's metrics.
    pub fn transport(self) -> &'static str {
        match self {
            ThriftProtocol::Compact => "udp_thrift_compact",
            ThriftProtocol::Binary => "udp_thrift_binary",
        }
    }

    fn decode(self, datagram: &[u8]) -> Result<tracegate_translator_jaeger::thrift::Batch, String> {
        let decoded = match self {
            ThriftProtocol::Compact => decode_emit_batch_compact(datagram),
            ThriftProtocol::Binary => decode_emit_batch_binary(datagram),
        };
        decoded.map_err(|e| e.to_string())
    }
}

/// Applies `socket_buffer_size` to a bound port, when it is set.
pub fn configure(config: &UdpConfig, socket: &UdpSocket) -> std::io::Result<()> {
    if config.socket_buffer_size == 0 {
        return Ok(());
    }
    let sock = socket2::SockRef::from(socket);
    sock.set_recv_buffer_size(config.socket_buffer_size)?;
    // Linux silently caps the size at net.core.rmem_max; say so, or bursts drop unexplained.
    if let Ok(reported) = sock.recv_buffer_size() {
        let granted = granted_buffer_size(reported);
        if granted < config.socket_buffer_size {
            tracing::warn!(
                endpoint = %config.endpoint,
                requested = config.socket_buffer_size,
                granted,
                "the kernel capped socket_buffer_size (at net.core.rmem_max); bursts beyond it are dropped \
                 and counted as reason=\"kernel_buffer_full\"; raise net.core.rmem_max to get the size asked for"
            );
        }
    }
    Ok(())
}

/// The buffer size a request was granted, from what `SO_RCVBUF` reports: Linux doubles the
/// size it grants (the other half is for its bookkeeping) and reports the doubled figure.
fn granted_buffer_size(reported: usize) -> usize {
    if cfg!(target_os = "linux") {
        reported / 2
    } else {
        reported
    }
}

/// One UDP port's reader and workers, before it serves.
pub struct UdpPort {
    max_packet_size: usize,
    workers: usize,
    worker: Arc<Worker>,
    queue: mpsc::Sender<Vec<u8>>,
    queued: mpsc::Receiver<Vec<u8>>,
}

/// What every worker of one port shares.
struct Worker {
    protocol: ThriftProtocol,
    ingest: Ingest,
    drops: Arc<Drops>,
}

impl UdpPort {
    pub fn new(config: &UdpConfig, protocol: ThriftProtocol, ingest: Ingest, drops: Arc<Drops>) -> Self {
        let (queue, queued) = mpsc::channel(config.queue_size.max(1));
        Self {
            max_packet_size: config.max_packet_size,
            workers: config.workers.max(1),
            worker: Arc::new(Worker { protocol, ingest, drops }),
            queue,
            queued,
        }
    }

    /// How many datagrams wait for a worker, for as long as the port serves.
    pub fn queue_depth(&self) -> impl Fn() -> usize + Send + Sync + 'static {
        let queue = self.queue.downgrade();
        move || queue.upgrade().map_or(0, |tx| tx.max_capacity() - tx.capacity())
    }

    /// Reads `socket` until `stop`, releases it, then lets the workers finish the queue.
    /// Dropping this future (the set's drain deadline) aborts the workers.
    pub async fn serve(self, socket: UdpSocket, stop: StopSignal) -> Result<(), String> {
        let Self { max_packet_size, workers, worker, queue, queued } = self;
        let kernel = KernelDrops::for_socket(&socket);
        let queued = Arc::new(Mutex::new(queued));
        let mut tasks = JoinSet::new();
        for _ in 0..workers {
            tasks.spawn(work_loop(worker.clone(), queued.clone()).instrument(tracing::Span::current()));
        }
        // Returns when stopped, dropping the socket and the queue's only sender, so the
        // workers end once the queue is empty.
        read_loop(socket, max_packet_size, queue, worker.drops.clone(), kernel, stop).await;
        while let Some(done) = tasks.join_next().await {
            if let Err(e) = done {
                tracing::warn!(error = %e, "UDP worker task ended abnormally");
            }
        }
        Ok(())
    }
}

async fn read_loop(
    socket: UdpSocket,
    max_packet_size: usize,
    queue: mpsc::Sender<Vec<u8>>,
    drops: Arc<Drops>,
    mut kernel: Option<KernelDrops>,
    mut stop: StopSignal,
) {
    // No datagram exceeds 64 KiB, so a larger setting needs no larger buffer.
    let max_packet_size = max_packet_size.min(u16::MAX as usize);
    let mut buf = vec![0u8; max_packet_size + 1];
    let buffer_size = socket2::SockRef::from(&socket).recv_buffer_size().map_or(0, granted_buffer_size);
    let count_kernel_drops = |kernel: &mut Option<KernelDrops>| {
        if let Some(k) = kernel {
            drops.kernel_dropped(k.poll(), buffer_size);
        }
    };
    let mut poll = tokio::time::interval(kernel_drops::POLL_INTERVAL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let received = tokio::select! {
            biased;
            _ = stop.stopped() => break,
            // Before the read, so that a flood (the read always ready) cannot starve it.
            _ = poll.tick(), if kernel.is_some() => {
                count_kernel_drops(&mut kernel);
                continue;
            }
            received = socket.recv_from(&mut buf) => received,
        };
        let (len, peer) = match received {
            Ok(r) => r,
            Err(e) => {
                // An unconnected UDP socket rarely fails a read, and one failure must not close
                // the port; the pause keeps a persistent error from spinning a core.
                drops.log_socket_error(&e);
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if len > max_packet_size {
            drops.drop_packet(DropReason::TooLarge, || {
                format!("datagram from {peer} is larger than max_packet_size ({max_packet_size} bytes)")
            });
            continue;
        }
        match queue.try_send(buf[..len].to_vec()) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => drops.drop_packet(DropReason::QueueFull, || {
                format!("the queue of {} datagrams is full; raise queue_size or workers", queue.max_capacity())
            }),
            Err(mpsc::error::TrySendError::Closed(_)) => break,
        }
    }
    // What the kernel dropped since the last poll, before the socket closes.
    count_kernel_drops(&mut kernel);
}

async fn work_loop(worker: Arc<Worker>, queue: Arc<Mutex<mpsc::Receiver<Vec<u8>>>>) {
    loop {
        // The lock is held only while waiting for the next datagram, not while handling it.
        let next = queue.lock().await.recv().await;
        let Some(datagram) = next else { break };
        worker.handle(&datagram).await;
    }
}

impl Worker {
    async fn handle(&self, datagram: &[u8]) {
        let batch = match self.protocol.decode(datagram) {
            Ok(batch) => batch,
            Err(e) => {
                self.drops.drop_packet(DropReason::Malformed, || {
                    format!("cannot decode {}-byte emitBatch: {e}", datagram.len())
                });
                return;
            }
        };
        if let Err(e) = self.ingest.deliver(thrift_to_otlp(batch)).await {
            self.drops.log_refusal(&e);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use tracegate_core::server::{RunningServers, ServerSet};
    use tracegate_core::telemetry::{ServiceStatus, Telemetry};
    use tracegate_core::{ConsumeError, Lifecycle};
    use tracegate_translator_jaeger::{encode_emit_batch_binary, encode_emit_batch_compact};

    use super::*;
    use crate::testutil::{batch, eventually, local_config, local_udp, send_udp, start, RecordingConsumer};

    const COMPACT: &str = "udp_thrift_compact";
    const BINARY: &str = "udp_thrift_binary";

    fn service_name(t: &tracegate_core::Traces) -> String {
        let attrs = &t.resource_spans()[0].resource.as_ref().unwrap().attributes;
        let kv = attrs.iter().find(|kv| kv.key == "service.name").unwrap();
        match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s)) => s.clone(),
            other => panic!("service.name is {other:?}"),
        }
    }

    #[tokio::test]
    async fn compact_and_binary_datagrams_arrive_as_otlp() {
        let run = start(local_config(), RecordingConsumer::ok()).await;
        let addrs = run.receiver.addrs();
        send_udp(addrs.thrift_compact.unwrap(), &encode_emit_batch_compact(&batch("compact-svc", &["c1", "c2"]))).await;
        eventually("the compact batch", || run.next.batches().len() == 1).await;
        send_udp(addrs.thrift_binary.unwrap(), &encode_emit_batch_binary(&batch("binary-svc", &["b1"]))).await;
        eventually("the binary batch", || run.next.batches().len() == 2).await;

        let batches = run.next.batches();
        assert_eq!(service_name(&batches[0]), "compact-svc");
        assert_eq!(service_name(&batches[1]), "binary-svc");
        assert_eq!(run.next.span_names(), ["c1", "c2", "b1"]);
        let span = &batches[0].resource_spans()[0].scope_spans[0].spans[0];
        assert_eq!(span.trace_id, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
        assert_eq!(span.span_id, 1u64.to_be_bytes());
        assert_eq!((run.counts(COMPACT), run.counts(BINARY)), ((2, 0), (1, 0)));
        run.receiver.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn oversized_and_malformed_datagrams_are_dropped_and_counted() {
        let good = encode_emit_batch_compact(&batch("svc", &["fits"]));
        let mut config = local_config();
        config.protocols.thrift_compact.as_mut().unwrap().max_packet_size = good.len();
        let run = start(config, RecordingConsumer::ok()).await;
        let to = run.receiver.addrs().thrift_compact.unwrap();

        let mut too_big = good.clone();
        too_big.push(0);
        send_udp(to, &too_big).await;
        send_udp(to, &[0xff; 16]).await;
        send_udp(to, &good).await;
        // The wrong protocol for the port is malformed too, and must not disturb the rest.
        let binary_port = run.receiver.addrs().thrift_binary.unwrap();
        send_udp(binary_port, &good).await;
        send_udp(binary_port, &encode_emit_batch_binary(&batch("svc", &["binary"]))).await;
        eventually("the drops to be counted", || {
            run.dropped(COMPACT, DropReason::TooLarge) == 1
                && run.dropped(COMPACT, DropReason::Malformed) == 1
                && run.dropped(BINARY, DropReason::Malformed) == 1
        })
        .await;
        eventually("the good datagrams", || run.next.batches().len() == 2).await;
        let mut names = run.next.span_names();
        names.sort();
        assert_eq!(names, ["binary", "fits"], "the datagram exactly at the limit is accepted");
        assert_eq!((run.counts(COMPACT), run.counts(BINARY)), ((1, 0), (1, 0)));
        run.receiver.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts() {
        let mut config = local_config();
        let compact = config.protocols.thrift_compact.as_mut().unwrap();
        (compact.workers, compact.queue_size) = (1, 1);
        let next = RecordingConsumer::gated();
        let run = start(config, next.clone()).await;
        let to = run.receiver.addrs().thrift_compact.unwrap();

        send_udp(to, &encode_emit_batch_compact(&batch("svc", &["held"]))).await;
        next.wait_entered().await; // the only worker is now blocked in the pipeline
        send_udp(to, &encode_emit_batch_compact(&batch("svc", &["queued"]))).await;
        send_udp(to, &encode_emit_batch_compact(&batch("svc", &["dropped"]))).await;
        eventually("the queue-full drop", || run.dropped(COMPACT, DropReason::QueueFull) == 1).await;

        next.open();
        eventually("the held and queued batches", || next.span_names() == ["held", "queued"]).await;
        assert_eq!(run.counts(COMPACT), (2, 0));
        run.receiver.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn a_refused_batch_is_dropped_and_counted_as_refused() {
        let run = start(local_config(), RecordingConsumer::failing(ConsumeError::retryable("full"))).await;
        let to = run.receiver.addrs().thrift_binary.unwrap();
        send_udp(to, &encode_emit_batch_binary(&batch("svc", &["a", "b", "c"]))).await;
        eventually("the refusal to be counted", || run.counts(BINARY) == (0, 3)).await;
        run.receiver.shutdown().await.unwrap();
    }

    /// A flood the reader cannot keep up with overflows the socket's kernel buffer; the kernel
    /// drops the rest before the reader sees it. Those drops must show in the metrics: every
    /// datagram sent is either delivered or counted.
    #[tokio::test] // one thread: the reader cannot run while the test sends without awaiting
    async fn datagrams_the_kernel_drops_are_counted() {
        const SENT: u64 = 500;
        let mut config = local_config();
        // The smallest buffer Linux allows: a few datagrams fill it.
        config.protocols.thrift_compact.as_mut().unwrap().socket_buffer_size = 1;
        let run = start(config, RecordingConsumer::ok()).await;
        let to = run.receiver.addrs().thrift_compact.unwrap();
        let datagram = encode_emit_batch_compact(&batch("svc", &["flood"]));
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for _ in 0..SENT {
            sender.send_to(&datagram, to).unwrap();
        }
        eventually("every datagram delivered or counted as dropped by the kernel", || {
            run.counts(COMPACT).0 + run.dropped(COMPACT, DropReason::KernelBufferFull) == SENT
        })
        .await;
        let kernel = run.dropped(COMPACT, DropReason::KernelBufferFull);
        assert!(kernel > 0 && kernel < SENT, "{kernel} of {SENT} dropped by the kernel");
        run.receiver.shutdown().await.unwrap();
    }

    #[test]
    fn the_default_buffer_is_8_mib_and_the_granted_size_is_reported_undoubled() {
        assert_eq!(UdpConfig::default().socket_buffer_size, 8 * 1024 * 1024);
        if cfg!(target_os = "linux") {
            assert_eq!(granted_buffer_size(2 * 212_992), 212_992);
        }
    }

    /// One compact port on its own server set: the running set and the queue depth.
    async fn serve_port(config: &UdpConfig, next: Arc<RecordingConsumer>) -> (RunningServers, impl Fn() -> usize) {
        let telemetry = Telemetry::new();
        let ingest = Ingest::new(next, telemetry.metrics.receiver("jaeger", COMPACT));
        let drops = Arc::new(Drops::new(&telemetry, "jaeger", COMPACT));
        let port = UdpPort::new(config, ThriftProtocol::Compact, ingest, drops);
        let depth = port.queue_depth();
        let mut servers = ServerSet::new("jaeger", Arc::new(ServiceStatus::default()));
        let cfg = config.clone();
        servers.udp(COMPACT, &config.endpoint, move |socket| configure(&cfg, socket), move |socket, stop| port.serve(socket, stop));
        (servers.start().await.unwrap(), depth)
    }

    #[tokio::test]
    async fn stop_forwards_queued_datagrams_and_releases_the_port() {
        let config = UdpConfig { workers: 1, ..local_udp() };
        let next = RecordingConsumer::gated();
        let (servers, queued) = serve_port(&config, next.clone()).await;
        let addr = servers.local_addr(COMPACT).unwrap();
        send_udp(addr, &encode_emit_batch_compact(&batch("svc", &["1"]))).await;
        next.wait_entered().await;
        send_udp(addr, &encode_emit_batch_compact(&batch("svc", &["2"]))).await;
        send_udp(addr, &encode_emit_batch_compact(&batch("svc", &["3"]))).await;
        eventually("two queued datagrams", || queued() == 2).await;

        let stopping = tokio::spawn(servers.stop());
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        assert!(!stopping.is_finished(), "stop returned with datagrams still queued");
        next.open();
        stopping.await.unwrap();
        assert_eq!(next.span_names(), ["1", "2", "3"]);
        drop(UdpSocket::bind(addr).await.expect("the port is free after stop"));
    }

    #[tokio::test]
    async fn socket_buffer_size_sets_so_rcvbuf() {
        let config = UdpConfig { socket_buffer_size: 32 * 1024, ..local_udp() };
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        configure(&config, &socket).unwrap();
        let size = socket2::SockRef::from(&socket).recv_buffer_size().unwrap();
        // Linux reports twice the requested size (it adds room for its bookkeeping).
        assert!((32 * 1024..=64 * 1024).contains(&size), "SO_RCVBUF is {size}");
    }
}
