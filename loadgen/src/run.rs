//! One run: build the batch pool, connect, drive `connections` sender tasks until the
//! duration or span budget is used up, and summarise.
//!
//! Senders take batches by ticket from a shared counter, so `--total-spans` is met exactly
//! (the last batch is a smaller "tail" batch) however many senders there are. Errors are
//! counted, never fatal: only failing to connect at the start ends a run early.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::cli::{Compression, Protocol, RunConfig, StopAfter};
use crate::generator::{generate_request, EncodedBatch, SpanShape};
use crate::pacer::Pacer;
use crate::sender::Sender;
use crate::stats::{finish_progress, spawn_progress, ErrorKind, Histogram, Stats, Summary};

/// Distinct batches kept in memory; with id patching they only add variety in attribute
/// values, so a handful is enough.
const POOL_BATCHES: usize = 16;
/// Upper bound on the pool's memory, for large `--span-size`.
const POOL_BYTES: usize = 256 << 20;
/// A request that takes longer than this counts as an error so a hung server cannot stall
/// the run.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// A sender rests this long after UNAVAILABLE (or a refused connection): a gateway that is
/// down fails in microseconds, and spinning on it would only burn CPU and inflate counts.
const UNAVAILABLE_PAUSE: Duration = Duration::from_millis(50);

#[derive(Debug)]
pub enum RunError {
    Connect(String),
    Setup(String),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Connect(m) => write!(f, "{m}"),
            RunError::Setup(m) => write!(f, "cannot prepare batches: {m}"),
        }
    }
}

/// Shrinks batches at low rates so pacing stays smooth (at least ~10 requests a second).
pub fn effective_batch_spans(cfg: &RunConfig) -> usize {
    match cfg.rate {
        Some(rate) => cfg.batch_spans.min(usize::try_from(rate / 10).unwrap_or(usize::MAX).max(1)),
        None => cfg.batch_spans,
    }
}

/// Pre-encoded batches and the rule that maps a ticket to one of them.
struct Pool {
    batches: Vec<EncodedBatch>,
    /// A smaller last batch so `--total-spans` is met exactly.
    tail: Option<EncodedBatch>,
    /// Tickets below this get full batches; `None` for a timed run.
    full_batches: Option<u64>,
    /// Trace ids are patched per send unless the bytes are already compressed.
    patch: bool,
}

impl Pool {
    fn build(cfg: &RunConfig, batch_spans: usize) -> Result<Self, String> {
        let shape = SpanShape { spans_per_trace: cfg.spans_per_trace, attributes: cfg.attributes, span_size: cfg.span_size };
        let (full_batches, tail_spans) = match cfg.stop {
            StopAfter::Spans(n) => (Some(n / batch_spans as u64), (n % batch_spans as u64) as usize),
            StopAfter::Duration(_) => (None, 0),
        };
        let wanted = full_batches.map_or(POOL_BATCHES, |f| usize::try_from(f).unwrap_or(POOL_BATCHES).min(POOL_BATCHES));
        // HTTP bodies are compressed once here; gRPC leaves compression to tonic.
        let precompress = cfg.compression == Compression::Gzip && cfg.protocol == Protocol::Http;
        let finish = |b: EncodedBatch| if precompress { b.gzipped().map_err(|e| e.to_string()) } else { Ok(b) };
        let mut rng = StdRng::from_rng(&mut rand::rng());
        let mut batches = Vec::with_capacity(wanted);
        let mut bytes = 0;
        while batches.len() < wanted && (bytes < POOL_BYTES || batches.is_empty()) {
            let batch = finish(EncodedBatch::encode(&generate_request(&shape, batch_spans, &mut rng)))?;
            bytes += batch.bytes.len();
            batches.push(batch);
        }
        if let (Some(target), Some(first)) = (cfg.span_size, batches.first()) {
            let natural = first.bytes.len() / batch_spans.max(1);
            if cfg.progress && !precompress && natural > target + target / 10 {
                eprintln!("note: spans are ~{natural} bytes without padding, above --span-size {target}");
            }
        }
        let tail = (tail_spans > 0)
            .then(|| finish(EncodedBatch::encode(&generate_request(&shape, tail_spans, &mut rng))))
            .transpose()?;
        Ok(Self { batches, tail, full_batches, patch: !precompress })
    }

    /// The body for ticket `k`, or `None` once the span budget is spent.
    fn body(&self, k: u64) -> Option<(bytes::Bytes, u64)> {
        let batch = match self.full_batches {
            Some(full) if k == full => return self.tail.as_ref().map(|t| (t.bytes.clone(), t.spans)),
            Some(full) if k > full => return None,
            _ => self.batches.get((k % self.batches.len().max(1) as u64) as usize)?,
        };
        let round = k / self.batches.len() as u64;
        let body = if self.patch { batch.patched(round) } else { batch.bytes.clone() };
        Some((body, batch.spans))
    }
}

struct Shared {
    pool: Pool,
    next_ticket: AtomicU64,
    pacer: Option<Pacer>,
    deadline: Option<Instant>,
    stop: AtomicBool,
    stats: Arc<Stats>,
}

pub async fn run(cfg: &RunConfig) -> Result<Summary, RunError> {
    let batch_spans = effective_batch_spans(cfg);
    let pool_cfg = cfg.clone();
    let pool = tokio::task::spawn_blocking(move || Pool::build(&pool_cfg, batch_spans))
        .await
        .map_err(|e| RunError::Setup(e.to_string()))?
        .map_err(RunError::Setup)?;
    let gzip = cfg.compression == Compression::Gzip;
    let mut senders = Vec::with_capacity(cfg.connections);
    for _ in 0..cfg.connections {
        senders.push(Sender::connect(cfg.protocol, &cfg.endpoint, gzip).await.map_err(RunError::Connect)?);
    }
    let pacer = cfg.rate.map(|r| {
        let burst = u32::try_from(cfg.connections).unwrap_or(u32::MAX);
        Pacer::new(r as f64 / batch_spans as f64, burst)
    });
    let start = Instant::now();
    let deadline = match cfg.stop {
        StopAfter::Duration(d) => Some(start + d),
        StopAfter::Spans(_) => None,
    };
    let stats = Arc::new(Stats::default());
    let shared = Arc::new(Shared { pool, next_ticket: AtomicU64::new(0), pacer, deadline, stop: AtomicBool::new(false), stats: stats.clone() });
    let progress = cfg.progress.then(|| spawn_progress(stats.clone(), start));
    let interrupt = cfg.progress.then(|| {
        let shared = shared.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                shared.stop.store(true, Relaxed);
            }
        })
    });
    let workers: Vec<_> = senders.into_iter().map(|s| tokio::spawn(send_loop(s, shared.clone()))).collect();
    let mut latency = Histogram::default();
    for w in workers {
        match w.await {
            Ok(h) => latency.merge(&h),
            Err(e) => stats.record_error(0, ErrorKind::Other, format!("sender task failed: {e}")),
        }
    }
    let elapsed = start.elapsed();
    progress.into_iter().chain(interrupt).for_each(|h| h.abort());
    if cfg.progress {
        finish_progress();
    }
    Ok(Summary::new(&stats, &latency, elapsed))
}

async fn send_loop(mut sender: Sender, shared: Arc<Shared>) -> Histogram {
    let mut latency = Histogram::default();
    while !shared.stop.load(Relaxed) {
        if let Some(pacer) = &shared.pacer {
            let at = pacer.reserve();
            tokio::time::sleep_until(shared.deadline.map_or(at, |d| at.min(d)).into()).await;
        }
        if shared.deadline.is_some_and(|d| Instant::now() >= d) || shared.stop.load(Relaxed) {
            break;
        }
        let Some((body, spans)) = shared.pool.body(shared.next_ticket.fetch_add(1, Relaxed)) else { break };
        let sent_at = Instant::now();
        let result = tokio::time::timeout(REQUEST_TIMEOUT, sender.send(body)).await;
        latency.record(sent_at.elapsed());
        match result {
            Ok(Ok(outcome)) => shared.stats.record_ok(spans, outcome.rejected),
            Ok(Err(e)) => {
                let pause = e.kind == ErrorKind::Unavailable;
                shared.stats.record_error(spans, e.kind, e.message);
                if pause {
                    tokio::time::sleep(UNAVAILABLE_PAUSE).await;
                }
            }
            Err(_) => shared.stats.record_error(spans, ErrorKind::Other, format!("no answer within {REQUEST_TIMEOUT:?}")),
        }
    }
    latency
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
