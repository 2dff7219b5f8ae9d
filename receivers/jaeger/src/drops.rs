//! Accounting for input that never became spans: a `tracegate_receiver_dropped_packets`
//! counter family and a log that speaks at most once per interval per reason.
//!
//! A malformed or oversized datagram has no span count (it was never decoded), so
//! `tracegate_receiver_refused_spans` cannot say it happened; core's
//! `tracegate_receiver_dropped_packets` family can.
//!
//! The log is rate-limited because a misconfigured client can send thousands of bad packets a
//! second; one line per reason per interval, with the count of the ones not logged, says the
//! same without flooding.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus::IntCounter;
use tracegate_core::telemetry::Telemetry;

/// Why a datagram or body was dropped before it reached the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    Malformed,
    TooLarge,
    QueueFull,
    /// The kernel dropped the datagram: the socket's receive buffer was full (UDP only; read
    /// from the kernel's counter by [`crate::kernel_drops`]).
    KernelBufferFull,
}

impl DropReason {
    pub const ALL: [DropReason; 4] =
        [DropReason::Malformed, DropReason::TooLarge, DropReason::QueueFull, DropReason::KernelBufferFull];

    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::TooLarge => "too_large",
            DropReason::QueueFull => "queue_full",
            DropReason::KernelBufferFull => "kernel_buffer_full",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One transport's drop counters and rate-limited log, labels bound once.
pub struct Drops {
    counters: [IntCounter; 4],
    log: RateLimitedLog,
}

impl Drops {
    pub fn new(telemetry: &Arc<Telemetry>, receiver: &str, transport: &'static str) -> Self {
        let counters = DropReason::ALL
            .map(|r| telemetry.metrics.receiver_dropped_packets(receiver, transport, r.as_str()));
        Self { counters, log: RateLimitedLog::new(LOG_INTERVAL) }
    }

    /// Counts one dropped packet and logs why, unless this reason was logged recently.
    pub fn drop_packet(&self, reason: DropReason, detail: impl FnOnce() -> String) {
        self.counters[reason.index()].inc();
        if let Some(suppressed) = self.log.should_log(reason.index()) {
            // The task's span already names the receiver and transport.
            tracing::warn!(reason = reason.as_str(), suppressed, "dropped a packet: {}", detail());
        }
    }

    /// Counts `n` datagrams the kernel dropped (its receive buffer was full) and logs it,
    /// rate-limited like the other reasons.
    pub fn kernel_dropped(&self, n: u64, buffer_size: usize) {
        if n == 0 {
            return;
        }
        let reason = DropReason::KernelBufferFull;
        self.counters[reason.index()].inc_by(n);
        if let Some(suppressed) = self.log.should_log(reason.index()) {
            tracing::warn!(
                reason = reason.as_str(),
                dropped = n,
                suppressed,
                "the kernel dropped {n} datagrams: the socket's receive buffer ({buffer_size} bytes) was full; \
                 raise socket_buffer_size (and net.core.rmem_max) or workers"
            );
        }
    }

    /// Logs (rate-limited) that the pipeline refused a batch this transport cannot push back
    /// on; the spans are already counted as refused by [`crate::ingest::Ingest`].
    pub fn log_refusal(&self, error: &tracegate_core::ConsumeError) {
        if let Some(suppressed) = self.log.should_log(REFUSED_SLOT) {
            tracing::warn!(suppressed, error = %error, "the pipeline refused a batch; its spans are dropped");
        }
    }

    /// Logs (rate-limited) a failed socket read, which carries no datagram to count.
    pub fn log_socket_error(&self, error: &std::io::Error) {
        if let Some(suppressed) = self.log.should_log(SOCKET_ERROR_SLOT) {
            tracing::warn!(suppressed, error = %error, "cannot read from the UDP socket");
        }
    }

    pub fn count(&self, reason: DropReason) -> u64 {
        self.counters[reason.index()].get()
    }
}

/// The log's slots after the four drop reasons: refusals by the pipeline, socket errors.
const REFUSED_SLOT: usize = 4;
const SOCKET_ERROR_SLOT: usize = 5;
const SLOTS: usize = 6;

/// How often each reason may be logged.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Lets one line per slot through per interval and counts the ones it held back.
pub struct RateLimitedLog {
    interval: Duration,
    slots: Mutex<[(Option<Instant>, u64); SLOTS]>,
}

impl RateLimitedLog {
    pub fn new(interval: Duration) -> Self {
        Self { interval, slots: Mutex::new([(None, 0); SLOTS]) }
    }

    /// `Some(n)` when the caller should log now, `n` being how many were held back since the
    /// last line; `None` when it should stay quiet.
    pub fn should_log(&self, slot: usize) -> Option<u64> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let (last, held) = slots.get_mut(slot)?;
        let now = Instant::now();
        match last {
            Some(t) if now.duration_since(*t) < self.interval => {
                *held += 1;
                None
            }
            _ => {
                *last = Some(now);
                Some(std::mem::take(held))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_once_per_interval_per_reason_and_reports_the_held_back() {
        let log = RateLimitedLog::new(Duration::from_secs(3600));
        assert_eq!(log.should_log(0), Some(0));
        assert_eq!(log.should_log(0), None);
        assert_eq!(log.should_log(0), None);
        assert_eq!(log.should_log(1), Some(0), "another reason has its own budget");
        let log = RateLimitedLog::new(Duration::ZERO);
        assert_eq!(log.should_log(2), Some(0));
        assert_eq!(log.should_log(2), Some(0));
        assert_eq!(log.should_log(SLOTS), None, "an unknown slot is quiet, not a panic");
    }

    #[test]
    fn drops_are_counted_per_receiver_and_reason() {
        let telemetry = Telemetry::new();
        let a = Drops::new(&telemetry, "jaeger", "udp_thrift_compact");
        let b = Drops::new(&telemetry, "jaeger/2", "udp_thrift_compact");
        a.drop_packet(DropReason::TooLarge, || "big".into());
        b.drop_packet(DropReason::Malformed, || "bad".into());
        b.drop_packet(DropReason::Malformed, || "bad".into());
        let text = telemetry.metrics.render();
        assert!(text.contains(r#"tracegate_receiver_dropped_packets{reason="too_large",receiver="jaeger",transport="udp_thrift_compact"} 1"#), "{text}");
        assert!(text.contains(r#"tracegate_receiver_dropped_packets{reason="malformed",receiver="jaeger/2",transport="udp_thrift_compact"} 2"#), "{text}");
        // A second Telemetry gets its own family, not the first one's counts.
        let other = Telemetry::new();
        let c = Drops::new(&other, "jaeger", "udp_thrift_compact");
        assert_eq!(c.count(DropReason::TooLarge), 0);
    }
}
