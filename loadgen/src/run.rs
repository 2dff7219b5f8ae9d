//! One run: build the batch pool, connect, drive `connections` sender tasks until the
//! duration or span budget is used up, and summarise.
//!
//! Senders take batches by ticket from a shared counter, so `--total-spans` is met exactly
//! (the last batch is a smaller "tail" batch) however many senders there are. Errors are
//! counted, never fatal: only failing to connect (or to scrape `--metrics-url`) at the start
//! ends a run early.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cli::{Compression, RunConfig, StopAfter};
use crate::gateway::Scraper;
use crate::pacer::Pacer;
use crate::pool::Pool;
use crate::sender::Sender;
use crate::stats::{finish_progress, spawn_progress, ErrorKind, Histogram, Stats, Summary};

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
        Some(rate) => cfg
            .batch_spans
            .min(usize::try_from(rate / 10).unwrap_or(usize::MAX).max(1)),
        None => cfg.batch_spans,
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
    let scraper = cfg
        .metrics_url
        .as_deref()
        .map(Scraper::new)
        .transpose()
        .map_err(RunError::Connect)?;
    let gateway_before = match &scraper {
        Some(s) => Some(s.scrape().await.map_err(RunError::Connect)?),
        None => None,
    };
    let mut senders = Vec::with_capacity(cfg.connections);
    for _ in 0..cfg.connections {
        senders.push(
            Sender::connect(cfg.protocol, &cfg.endpoint, gzip)
                .await
                .map_err(RunError::Connect)?,
        );
    }
    // Paced in spans, since UDP datagrams differ in size; every sender but the first may be
    // one batch ahead of schedule, so senders catch up after a slow response.
    let pacer = cfg
        .rate
        .map(|r| Pacer::new(r as f64, (cfg.connections - 1) as f64 * pool.mean_spans()));
    let start = Instant::now();
    let deadline = match cfg.stop {
        StopAfter::Duration(d) => Some(start + d),
        StopAfter::Spans(_) => None,
    };
    let stats = Arc::new(Stats::default());
    let shared = Arc::new(Shared {
        pool,
        next_ticket: AtomicU64::new(0),
        pacer,
        deadline,
        stop: AtomicBool::new(false),
        stats: stats.clone(),
    });
    let progress = cfg.progress.then(|| spawn_progress(stats.clone(), start));
    let interrupt = cfg.progress.then(|| {
        let shared = shared.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                shared.stop.store(true, Relaxed);
            }
        })
    });
    let workers: Vec<_> = senders
        .into_iter()
        .map(|s| tokio::spawn(send_loop(s, shared.clone())))
        .collect();
    let mut latency = Histogram::default();
    for w in workers {
        match w.await {
            Ok(h) => latency.merge(&h),
            Err(e) => stats.record_error(0, ErrorKind::Other, format!("sender task failed: {e}")),
        }
    }
    let elapsed = start.elapsed();
    progress
        .into_iter()
        .chain(interrupt)
        .for_each(|h| h.abort());
    if cfg.progress {
        finish_progress();
    }
    let mut summary = Summary::new(&stats, &latency, elapsed);
    summary.acknowledged = cfg.protocol.acknowledged();
    if let (Some(scraper), Some(before)) = (scraper, gateway_before) {
        if cfg.progress {
            eprintln!("waiting for the gateway's counters to settle...");
        }
        match scraper.settle(&before).await {
            Ok(counts) => summary.gateway = Some(counts),
            Err(e) => eprintln!("warning: {e}"),
        }
    }
    Ok(summary)
}

async fn send_loop(mut sender: Sender, shared: Arc<Shared>) -> Histogram {
    let mut latency = Histogram::default();
    while !shared.stop.load(Relaxed) {
        let Some((body, spans)) = shared.pool.body(shared.next_ticket.fetch_add(1, Relaxed)) else {
            break;
        };
        if let Some(pacer) = &shared.pacer {
            let at = pacer.reserve(spans);
            tokio::time::sleep_until(shared.deadline.map_or(at, |d| at.min(d)).into()).await;
        }
        // A ticket taken and not sent is harmless: only timed runs and Ctrl-C stop here.
        if shared.deadline.is_some_and(|d| Instant::now() >= d) || shared.stop.load(Relaxed) {
            break;
        }
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
            Err(_) => shared.stats.record_error(
                spans,
                ErrorKind::Other,
                format!("no answer within {REQUEST_TIMEOUT:?}"),
            ),
        }
    }
    latency
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "protocol_tests.rs"]
mod protocol_tests;
