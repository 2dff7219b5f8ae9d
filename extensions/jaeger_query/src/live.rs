//! Live tail: `GET /api/live/traces` streams newly stored traces that match a search, as
//! server-sent events, so the UI's search page can show traces as they arrive (Jaeger has no
//! such thing).
//!
//! It takes `/api/traces`' parameters (service, operation, tags, min/maxDuration, limit) with
//! the same parsing and error texts, and answers 400 before any stream starts when they are
//! bad. The time window is not the client's: the stream follows "now".
//!
//! It is built on the [`TraceReader`](tracegate_core::storage::TraceReader) alone, so every
//! backend gets it without a write-side hook: each connection polls `find_traces` once a
//! second over a window of span start times `[now - SLACK, now + FUTURE]` and sends what it has
//! not sent yet. A trace is remembered by id and span count, so a trace that grows (its late
//! spans stored after the first batch) is sent again, whole. When the stream opens, what
//! already matches is remembered without being sent, then a `ready` event says the tail is
//! live. `SLACK` exists because spans are stored after they end, so a trace's start time is
//! older than its arrival; a trace whose spans all began more than `SLACK` before they were
//! stored is not seen.
//!
//! Bounds: at most [`MAX_STREAMS`] open streams per server (503 past that), at most `limit`
//! traces per poll (the newest; `limit` clamped to the extension's `max_limit`), and a remembered set of [`MAX_SEEN`] ids per stream. The poll
//! runs inside the response body stream, so a client that goes away drops it and nothing
//! keeps polling; [`LiveStreams::close`] (the extension's shutdown) ends every stream so the
//! server's graceful shutdown does not wait on them. A comment line every 15 s keeps proxies
//! from closing an idle stream.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream};
use tokio::sync::watch;
use tracegate_core::storage::{TraceId, TraceQuery};
use tracegate_core::Traces;

use crate::api::{error, parse_search, to_ui, ApiState, RawParams, SharedState};
use crate::params::Params;

/// How often each stream asks the store.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How far before "now" a span may have started and still be caught (see the module docs).
const SLACK: Duration = Duration::from_secs(300);
/// Clients whose clocks run ahead still get their traces.
const FUTURE: Duration = Duration::from_secs(3600);
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Open streams per server: each polls the store once a second.
pub(crate) const MAX_STREAMS: usize = 64;
/// Trace ids one stream remembers (the oldest are forgotten first).
const MAX_SEEN: usize = 10_000;

/// The server's open live streams: counted, and closed all at once at shutdown.
pub struct LiveStreams {
    closed: watch::Sender<bool>,
    open: Arc<AtomicUsize>,
}

impl Default for LiveStreams {
    fn default() -> Self {
        Self { closed: watch::Sender::new(false), open: Arc::new(AtomicUsize::new(0)) }
    }
}

impl LiveStreams {
    /// Ends every open stream and refuses new ones (idempotent).
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    /// Streams open right now.
    pub fn open_streams(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    fn admit(&self) -> Option<StreamSlot> {
        let taken = self.open.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < MAX_STREAMS).then_some(n + 1));
        taken.ok().map(|_| StreamSlot(self.open.clone()))
    }
}

/// One place among [`MAX_STREAMS`], given back when the stream is dropped.
struct StreamSlot(Arc<AtomicUsize>);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Trace ids already sent (or present when the stream opened), with their span counts.
#[derive(Default)]
struct Seen {
    spans: HashMap<TraceId, usize>,
    order: VecDeque<TraceId>,
}

impl Seen {
    /// True when the trace is new or has a different number of spans than last time.
    fn is_news(&mut self, id: TraceId, span_count: usize) -> bool {
        match self.spans.insert(id, span_count) {
            Some(before) => before != span_count,
            None => {
                self.order.push_back(id);
                if self.order.len() > MAX_SEEN {
                    if let Some(old) = self.order.pop_front() {
                        self.spans.remove(&old);
                    }
                }
                true
            }
        }
    }
}

struct Tail {
    state: Arc<ApiState>,
    query: TraceQuery,
    seen: Seen,
    pending: VecDeque<Event>,
    closed: watch::Receiver<bool>,
    primed: bool,
    /// The storage error last sent, so a store that stays down is reported once, not each poll.
    last_problem: Option<String>,
    _slot: StreamSlot,
}

fn span_count(traces: &Traces) -> usize {
    traces.resource_spans().iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum()
}

fn trace_id(traces: &Traces) -> Option<TraceId> {
    let span = traces.resource_spans().iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans).next()?;
    span.trace_id.as_slice().try_into().ok()
}

impl Tail {
    /// One look at the store: queues an event per new or grown trace (none while priming).
    async fn poll(&mut self) {
        let now = SystemTime::now();
        self.query.start_min = now.checked_sub(SLACK);
        self.query.start_max = now.checked_add(FUTURE);
        match self.state.reader.find_traces(&self.query).await {
            Ok(found) => {
                self.last_problem = None;
                // Oldest first, so the client sees arrivals in order.
                for traces in found.iter().rev() {
                    let Some(id) = trace_id(traces) else { continue };
                    if !self.seen.is_news(id, span_count(traces)) || !self.primed {
                        continue;
                    }
                    let ui = to_ui(traces, &self.state, true);
                    match serde_json::to_string(&ui) {
                        Ok(json) => self.pending.push_back(Event::default().data(json)),
                        Err(e) => tracing::error!("live tail: cannot serialize a trace: {e}"),
                    }
                }
            }
            // The client shows it and the stream keeps going: the store may recover.
            Err(e) => {
                let msg = e.to_string();
                if self.last_problem.as_ref() != Some(&msg) {
                    self.pending.push_back(Event::default().event("problem").data(msg.clone()));
                    self.last_problem = Some(msg);
                }
            }
        }
        if !self.primed {
            self.primed = true;
            self.pending.push_back(Event::default().event("ready").data("{}"));
        }
    }

    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            if *self.closed.borrow() {
                return None;
            }
            if self.primed {
                tokio::select! {
                    _ = tokio::time::sleep(POLL_INTERVAL) => {}
                    // A dropped sender (the state went away) ends the stream too.
                    changed = self.closed.changed() => match changed {
                        Ok(()) => continue,
                        Err(_) => return None,
                    },
                }
            }
            // A slow store must not hold shutdown either.
            let mut closed = self.closed.clone();
            tokio::select! {
                _ = self.poll() => {}
                _ = closed.changed() => return None,
            }
        }
    }
}

fn events(tail: Tail) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(tail, |mut tail| async move { tail.next_event().await.map(|e| (Ok(e), tail)) })
}

/// `GET /api/live/traces?service=...`: the event stream, or Jaeger's 400 envelope.
pub async fn live_traces(State(state): SharedState, Query(q): RawParams) -> Response {
    let params = Params(q);
    let mut search = match parse_search(&params, SystemTime::now()) {
        Ok(s) => s,
        Err(msg) => return error(StatusCode::BAD_REQUEST, msg),
    };
    search.query.limit = state.bounds.clamp_limit(search.query.limit).0;
    if !search.trace_ids.is_empty() {
        return error(StatusCode::BAD_REQUEST, "the live tail follows a search; it takes no 'traceID'");
    }
    if *state.live.closed.borrow() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the query service is shutting down");
    }
    let Some(slot) = state.live.admit() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("too many live tails are open (at most {MAX_STREAMS}); close one and retry"),
        );
    };
    let tail = Tail {
        closed: state.live.closed.subscribe(),
        state,
        query: search.query,
        seen: Seen::default(),
        pending: VecDeque::new(),
        primed: false,
        last_problem: None,
        _slot: slot,
    };
    Sse::new(events(tail)).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_is_news_when_new_or_grown_and_memory_is_bounded() {
        let mut seen = Seen::default();
        let id = |n: u32| {
            let mut t = [0u8; 16];
            t[12..].copy_from_slice(&n.to_be_bytes());
            t
        };
        assert!(seen.is_news(id(1), 3));
        assert!(!seen.is_news(id(1), 3));
        assert!(seen.is_news(id(1), 5), "a grown trace is sent again");
        for n in 2..=(MAX_SEEN as u32 + 1) {
            seen.is_news(id(n), 1);
        }
        assert_eq!(seen.spans.len(), MAX_SEEN);
        assert!(seen.is_news(id(1), 5), "the oldest id was forgotten");
    }

    #[test]
    fn streams_are_counted_and_capped() {
        let live = LiveStreams::default();
        let slots: Vec<_> = (0..MAX_STREAMS).map(|_| live.admit().expect("room")).collect();
        assert_eq!(live.open_streams(), MAX_STREAMS);
        assert!(live.admit().is_none());
        drop(slots);
        assert_eq!(live.open_streams(), 0);
    }
}
