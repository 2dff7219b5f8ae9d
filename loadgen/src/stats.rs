//! Counters shared by the senders, the latency histogram, live progress and the final summary.

use std::fmt;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::gateway::GatewayCounts;

/// Why a request failed, in the categories a gateway's backpressure produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// gRPC UNAVAILABLE, HTTP 502/503/504, or the connection went away.
    Unavailable,
    /// gRPC RESOURCE_EXHAUSTED or HTTP 429.
    Throttled,
    Other,
}

/// Run-wide counters, updated lock-free by every sender.
#[derive(Default)]
pub struct Stats {
    pub spans_sent: AtomicU64,
    /// Spans the server acknowledged but reported as rejected (OTLP partial success).
    pub spans_rejected: AtomicU64,
    /// Spans in requests that failed.
    pub spans_failed: AtomicU64,
    pub requests: AtomicU64,
    pub unavailable: AtomicU64,
    pub throttled: AtomicU64,
    pub other: AtomicU64,
    /// The most recent error text, so a failing run says why.
    pub last_error: Mutex<Option<String>>,
}

impl Stats {
    pub fn record_ok(&self, spans: u64, rejected: u64) {
        self.requests.fetch_add(1, Relaxed);
        self.spans_sent
            .fetch_add(spans.saturating_sub(rejected), Relaxed);
        self.spans_rejected.fetch_add(rejected, Relaxed);
    }

    pub fn record_error(&self, spans: u64, kind: ErrorKind, message: String) {
        self.requests.fetch_add(1, Relaxed);
        self.spans_failed.fetch_add(spans, Relaxed);
        let counter = match kind {
            ErrorKind::Unavailable => &self.unavailable,
            ErrorKind::Throttled => &self.throttled,
            ErrorKind::Other => &self.other,
        };
        counter.fetch_add(1, Relaxed);
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(message);
        }
    }

    fn errors_line(&self) -> String {
        format!(
            "errors: unavailable {} throttled {} other {}",
            self.unavailable.load(Relaxed),
            self.throttled.load(Relaxed),
            self.other.load(Relaxed)
        )
    }
}

/// Log-linear latency histogram in microseconds: 32 sub-buckets per power of two, so a
/// quantile is within ~3% of the truth, in fixed memory however long the run.
#[derive(Clone)]
pub struct Histogram {
    buckets: Vec<u64>,
    count: u64,
}

const SUB: u32 = 5; // log2 of the sub-buckets per power of two

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: vec![0; (64 - SUB as usize + 1) << SUB],
            count: 0,
        }
    }
}

impl Histogram {
    fn index(us: u64) -> usize {
        if us < (1 << SUB) {
            return us as usize;
        }
        let shift = 63 - us.leading_zeros() - SUB;
        (((shift + 1) << SUB) as usize) + ((us >> shift) as usize & ((1 << SUB) - 1))
    }

    /// The lower edge of a bucket, what a quantile reports.
    fn value(index: usize) -> u64 {
        let sub = 1usize << SUB;
        if index < sub {
            return index as u64;
        }
        let shift = (index / sub - 1) as u32;
        ((sub + index % sub) as u64) << shift
    }

    pub fn record(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        if let Some(b) = self.buckets.get_mut(Self::index(us)) {
            *b += 1;
            self.count += 1;
        }
    }

    pub fn merge(&mut self, other: &Histogram) {
        self.buckets
            .iter_mut()
            .zip(&other.buckets)
            .for_each(|(a, b)| *a += b);
        self.count += other.count;
    }

    /// The latency below which `q` of the requests fall; zero when nothing was recorded.
    pub fn quantile(&self, q: f64) -> Duration {
        let rank = ((self.count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Duration::from_micros(Self::value(i));
            }
        }
        Duration::ZERO
    }
}

/// Prints one progress line a second on stderr until the returned handle is aborted.
pub fn spawn_progress(stats: Arc<Stats>, start: Instant) -> tokio::task::JoinHandle<()> {
    let tty = std::io::stderr().is_terminal();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(
            (start + Duration::from_secs(1)).into(),
            Duration::from_secs(1),
        );
        let (mut last_at, mut last_spans) = (start, 0);
        loop {
            let now = tick.tick().await.into_std();
            let spans = stats.spans_sent.load(Relaxed);
            let secs = now.duration_since(last_at).as_secs_f64().max(1e-9);
            let rate = (spans - last_spans) as f64 / secs;
            (last_at, last_spans) = (now, spans);
            let line = format!(
                "[{:>7.1}s] sent {spans} spans, {rate:.0} spans/s, {}",
                now.duration_since(start).as_secs_f64(),
                stats.errors_line()
            );
            let mut err = std::io::stderr().lock();
            // Progress is best effort: a closed stderr must not stop the run.
            let _ = if tty {
                write!(err, "\r{line}\x1b[K")
            } else {
                writeln!(err, "{line}")
            };
            let _ = err.flush();
        }
    })
}

/// Ends the overwritten progress line so the summary starts on its own line.
pub fn finish_progress() {
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
}

/// What a run did, printed as text or JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub elapsed: Duration,
    pub spans_sent: u64,
    pub spans_rejected: u64,
    pub spans_failed: u64,
    pub requests: u64,
    pub unavailable: u64,
    pub throttled: u64,
    pub other: u64,
    pub p50: Duration,
    pub p99: Duration,
    pub last_error: Option<String>,
    /// False for UDP: `spans_sent` were handed to the kernel, nobody confirmed them.
    pub acknowledged: bool,
    /// What the gateway counted during the run (`--metrics-url`).
    pub gateway: Option<GatewayCounts>,
}

impl Summary {
    pub fn new(stats: &Stats, latency: &Histogram, elapsed: Duration) -> Self {
        Self {
            elapsed,
            spans_sent: stats.spans_sent.load(Relaxed),
            spans_rejected: stats.spans_rejected.load(Relaxed),
            spans_failed: stats.spans_failed.load(Relaxed),
            requests: stats.requests.load(Relaxed),
            unavailable: stats.unavailable.load(Relaxed),
            throttled: stats.throttled.load(Relaxed),
            other: stats.other.load(Relaxed),
            p50: latency.quantile(0.50),
            p99: latency.quantile(0.99),
            last_error: stats.last_error.lock().ok().and_then(|e| e.clone()),
            acknowledged: true,
            gateway: None,
        }
    }

    pub fn spans_per_sec(&self) -> f64 {
        self.spans_sent as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn to_json(&self) -> serde_json::Value {
        let ms = |d: Duration| d.as_micros() as f64 / 1000.0;
        let gateway = self.gateway.as_ref().map(|g| {
            serde_json::json!({
                "accepted_spans": g.accepted_spans,
                "refused_spans": g.refused_spans,
                "dropped_packets": g.dropped_packets,
                "dropped_packets_total": g.dropped_total(),
            })
        });
        serde_json::json!({
            "acknowledged": self.acknowledged,
            "gateway": gateway,
            "elapsed_secs": self.elapsed.as_secs_f64(),
            "spans_sent": self.spans_sent,
            "spans_per_sec": self.spans_per_sec(),
            "spans_rejected": self.spans_rejected,
            "spans_failed": self.spans_failed,
            "requests": self.requests,
            "errors": { "unavailable": self.unavailable, "throttled": self.throttled, "other": self.other },
            "latency_p50_ms": ms(self.p50),
            "latency_p99_ms": ms(self.p99),
            "last_error": self.last_error,
        })
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| d.as_micros() as f64 / 1000.0;
        writeln!(f, "elapsed:        {:.2}s", self.elapsed.as_secs_f64())?;
        if self.acknowledged {
            writeln!(f, "spans sent:     {}", self.spans_sent)?;
            writeln!(f, "spans/s:        {:.0}", self.spans_per_sec())?;
            writeln!(f, "requests:       {}", self.requests)?;
            writeln!(
                f,
                "spans failed:   {} (rejected by server: {})",
                self.spans_failed, self.spans_rejected
            )?;
        } else {
            writeln!(
                f,
                "spans sent:     {} (UDP: handed to the kernel, not acknowledged)",
                self.spans_sent
            )?;
            writeln!(f, "spans/s:        {:.0}", self.spans_per_sec())?;
            writeln!(f, "datagrams:      {}", self.requests)?;
            writeln!(f, "spans failed:   {} (send errors)", self.spans_failed)?;
        }
        write!(
            f,
            "errors:         unavailable {}, throttled {}, other {}",
            self.unavailable, self.throttled, self.other
        )?;
        if self.acknowledged {
            write!(
                f,
                "\nlatency:        p50 {:.2}ms, p99 {:.2}ms",
                ms(self.p50),
                ms(self.p99)
            )?;
        }
        match &self.gateway {
            Some(g) => {
                let share = 100.0 * g.accepted_spans as f64 / self.spans_sent.max(1) as f64;
                write!(f, "\ngateway:        accepted {} of {} spans sent ({share:.2}%), refused {}", g.accepted_spans, self.spans_sent, g.refused_spans)?;
                let drops: Vec<String> = g.dropped_packets.iter().map(|(reason, n)| format!("{reason} {n}")).collect();
                let drops = if drops.is_empty() { "none counted".to_owned() } else { drops.join(", ") };
                write!(f, "\ngateway drops:  {drops} (packets dropped before decoding)")?;
            }
            None if !self.acknowledged => write!(
                f,
                "\ndelivery:       unknown; check the gateway's tracegate_receiver_accepted_spans and tracegate_receiver_dropped_packets (or pass --metrics-url)"
            )?,
            None => {}
        }
        if let Some(e) = &self.last_error {
            write!(f, "\nlast error:     {e}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_are_within_a_few_percent() {
        let mut h = Histogram::default();
        for us in 1..=10_000u64 {
            h.record(Duration::from_micros(us));
        }
        let p50 = h.quantile(0.5).as_micros() as f64;
        let p99 = h.quantile(0.99).as_micros() as f64;
        assert!((p50 - 5000.0).abs() / 5000.0 < 0.04, "p50 {p50}");
        assert!((p99 - 9900.0).abs() / 9900.0 < 0.04, "p99 {p99}");
        assert_eq!(Histogram::default().quantile(0.5), Duration::ZERO);
        h.record(Duration::MAX); // clamps instead of panicking
    }

    #[test]
    fn bucket_edges_round_trip() {
        for us in [0u64, 1, 31, 32, 33, 64, 1000, 123_456, u64::MAX] {
            let v = Histogram::value(Histogram::index(us));
            assert!(
                v <= us && (us - v) as f64 <= us as f64 / 32.0,
                "{us} -> {v}"
            );
        }
    }

    #[test]
    fn json_summary_has_the_fields_scripts_read() {
        let stats = Stats::default();
        stats.record_ok(1000, 10);
        stats.record_error(1000, ErrorKind::Throttled, "resource exhausted".into());
        let s = Summary::new(&stats, &Histogram::default(), Duration::from_secs(2));
        let j = s.to_json();
        assert_eq!(j["spans_sent"], 990);
        assert_eq!(j["spans_per_sec"], 495.0);
        assert_eq!(j["requests"], 2);
        assert_eq!(j["errors"]["throttled"], 1);
        assert_eq!(j["last_error"], "resource exhausted");
        assert_eq!(j["acknowledged"], true);
        assert!(j["gateway"].is_null());
    }

    #[test]
    fn udp_summary_says_delivery_is_the_gateways_to_tell() {
        let stats = Stats::default();
        stats.record_ok(5000, 0);
        let mut s = Summary::new(&stats, &Histogram::default(), Duration::from_secs(1));
        s.acknowledged = false;
        let text = s.to_string();
        assert!(
            text.contains("not acknowledged")
                && text.contains("tracegate_receiver_dropped_packets"),
            "{text}"
        );
        assert!(!text.contains("latency"));
        let mut dropped = std::collections::BTreeMap::new();
        dropped.insert("queue_full".to_owned(), 2);
        s.gateway = Some(GatewayCounts {
            accepted_spans: 4900,
            refused_spans: 0,
            dropped_packets: dropped,
        });
        let text = s.to_string();
        assert!(
            text.contains("accepted 4900 of 5000 spans sent (98.00%)")
                && text.contains("queue_full 2"),
            "{text}"
        );
        assert_eq!(s.to_json()["gateway"]["dropped_packets_total"], 2);
    }
}
