//! Bounds on query answers (issue 15): before them `limit=100000000` cost 400 s of CPU and
//! 1.5 GB, and 8 concurrent reads of a 143 MB answer took the gateway from 88 to 1478 MiB, so
//! the query port could take the memory and the CPU that ingest needs.
//!
//! - **Count**: `limit` (v1) and `query.search_depth` (v3) above `max_limit` are clamped to it.
//!   Jaeger has no such bound and its UI asks for up to 1500 traces, hence the default. The
//!   answer is not refused, since a user who asked for "everything" still wants the newest
//!   traces; when the clamped answer is full (so more may have matched) v1 adds a note to its
//!   `errors` list (an entry without `code` or `traceID`, as Jaeger's "trace not found"
//!   entries are shaped) and both APIs send a `Warning: 299 - "..."` header (the form the
//!   Kubernetes API uses for warnings), since api_v3's protobuf JSON has no place for one.
//! - **Bytes**: answers are written trace by trace into a buffer that never grows past
//!   `max_response_bytes` (see [`crate::answer`]). A search that would exceed it stops adding
//!   traces (newest first, so what is served is a prefix of the full answer) and says so in a
//!   note and a `Warning` header. One trace that does not fit on its own answers 422 with the
//!   reason (Prometheus answers 422 when a query would exceed its limits; 413 is about request
//!   bodies); the Jaeger UI shows that message. Only JSON is bounded this way: the store's
//!   decoded traces for one answer (at most `max_limit` of them) are held while it is written.
//! - **Time**: an expensive query has `query_timeout` from the moment it gets a slot; past it
//!   the client gets 504 (the gateway's upstream, the store, did not answer in time) with the
//!   reason, and the query is abandoned: rendering stops at the next trace, and a store call
//!   on a blocking thread (sled) runs to its end but its result is dropped.
//! - **Concurrency**: searches, traces by id and dependencies (v1 and v3) take one of
//!   `max_concurrent_queries` slots; up to `max_queued_queries` more wait at most
//!   `max_queue_wait` for one (first come, first served); the rest get 503 with `Retry-After`
//!   and the reason. Services and operations lists are cheap and never wait. The work runs in
//!   a task of its own that keeps the slot until the store call has really returned, so
//!   abandoned work still counts: repeated timeouts cannot pile up store work past the limit.
//!
//! Worst case memory for answers is thus about `max_concurrent_queries x (max_response_bytes
//! + the store's traces for one answer)`. The live tail (`/api/live/traces`) has its own cap
//! (64 streams) and gets the `max_limit` clamp, not the slots.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracegate_core::storage::StorageError;

use crate::config::{ByteSize, Config};
use crate::metrics::QueryMetrics;

/// The store's default number of traces when `limit` is 0 (Jaeger's, at the API).
pub const STORE_DEFAULT_LIMIT: usize = 100;

/// The bounds one query service applies (count, bytes, time, concurrency; what each does and
/// why is in the module docs of `src/bounds.rs`), shared by every request.
pub struct QueryBounds {
    pub max_limit: usize,
    pub max_response_bytes: usize,
    pub query_timeout: Duration,
    max_concurrent: usize,
    max_queued: usize,
    max_queue_wait: Duration,
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    pub(crate) metrics: QueryMetrics,
}

impl Default for QueryBounds {
    fn default() -> Self {
        Self::new(&Config::default(), QueryMetrics::new("jaeger_query"))
    }
}

/// Why an expensive query has no answer; each API writes it in its own error shape.
#[derive(Debug)]
pub enum Unanswered {
    /// 503 with `Retry-After`: no slot.
    Busy { message: String, retry_after: Duration },
    /// 504: past `query_timeout`.
    TimedOut(String),
    /// 422: one trace is over the byte budget.
    TooLarge(String),
    /// 404: no trace of that id.
    NotFound,
    /// 404: a search matched nothing (api_v3; Jaeger's HTTP gateway says "No traces found").
    NoMatch,
    /// 400 or 500, as the store says.
    Storage(StorageError),
    /// 500: the query's task failed (a panic in a store or in rendering).
    Failed(String),
    /// What the work reports when its [`Budget`] expired; [`QueryBounds::run`] turns it into
    /// [`Unanswered::TimedOut`].
    Expired,
}

impl From<StorageError> for Unanswered {
    fn from(e: StorageError) -> Self {
        Unanswered::Storage(e)
    }
}

impl Unanswered {
    /// The answer, in the envelope of the API that refuses (`error` builds it, `storage`
    /// answers a store's error): the statuses and messages are the same for every API.
    pub fn into_response(
        self,
        error: impl Fn(StatusCode, String) -> Response,
        storage: impl FnOnce(StorageError) -> Response,
    ) -> Response {
        match self {
            Unanswered::Busy { message, retry_after } => {
                let mut response = error(StatusCode::SERVICE_UNAVAILABLE, message);
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after.as_secs()));
                response
            }
            Unanswered::TimedOut(msg) => error(StatusCode::GATEWAY_TIMEOUT, msg),
            Unanswered::TooLarge(msg) => error(StatusCode::UNPROCESSABLE_ENTITY, msg),
            Unanswered::NotFound => error(StatusCode::NOT_FOUND, "trace not found".into()),
            Unanswered::NoMatch => error(StatusCode::NOT_FOUND, "No traces found".into()),
            Unanswered::Storage(e) => storage(e),
            Unanswered::Failed(msg) => error(StatusCode::INTERNAL_SERVER_ERROR, msg),
            // `run` never hands this out; answer as it would.
            Unanswered::Expired => error(StatusCode::GATEWAY_TIMEOUT, "the query ran past query_timeout".into()),
        }
    }
}

/// What the work of one query can see of its budget: it stops at the next trace when the
/// deadline has passed or the request was abandoned (timed out, or the client went away).
#[derive(Clone)]
pub struct Budget {
    pub deadline: Instant,
    abandoned: Arc<AtomicBool>,
    pub max_bytes: usize,
}

impl Budget {
    pub fn expired(&self) -> bool {
        self.abandoned.load(Ordering::Relaxed) || Instant::now() >= self.deadline
    }
}

/// Marks the budget abandoned when the request's future ends, answered or not.
struct AbandonOnDrop(Arc<AtomicBool>);

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A query slot; given back (and counted out) when the work that holds it ends.
struct Slot {
    _permit: OwnedSemaphorePermit,
    running: prometheus::IntGauge,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.running.dec();
    }
}

/// One place in the queue, given back when the wait ends either way.
struct Waiting<'a>(&'a QueryBounds);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::AcqRel);
        self.0.metrics.waiting.dec();
    }
}

impl QueryBounds {
    pub fn new(config: &Config, metrics: QueryMetrics) -> Self {
        let max_concurrent = config.max_concurrent_queries.max(1);
        Self {
            max_limit: config.max_limit.max(1),
            max_response_bytes: config.max_response_bytes.as_usize(),
            query_timeout: config.query_timeout.get(),
            max_concurrent,
            max_queued: config.max_queued_queries,
            max_queue_wait: config.max_queue_wait.get(),
            slots: Arc::new(Semaphore::new(max_concurrent)),
            waiting: AtomicUsize::new(0),
            metrics,
        }
    }

    /// The limit to ask the store for, and whether the client's was clamped. 0 (the store's
    /// default, 100) stays 0 unless `max_limit` is below that default.
    pub fn clamp_limit(&self, requested: usize) -> (usize, bool) {
        match requested {
            0 if self.max_limit < STORE_DEFAULT_LIMIT => (self.max_limit, false),
            n if n > self.max_limit => (self.max_limit, true),
            n => (n, false),
        }
    }

    /// The note for a clamped limit whose answer came back full.
    pub fn clamp_note(&self, requested: usize) -> String {
        format!(
            "limit {requested} is above this server's max_limit of {max}: the newest {max} traces are returned and more may match; narrow the search (time range, operation, tags) to see the others",
            max = self.max_limit
        )
    }

    fn retry_after(&self) -> Duration {
        Duration::from_secs(self.max_queue_wait.as_secs_f64().ceil().max(1.0) as u64)
    }

    /// A slot, at once or after waiting in the queue; [`Unanswered::Busy`] when there is none.
    async fn admit(&self) -> Result<Slot, Unanswered> {
        let slot = |permit| {
            self.metrics.running.inc();
            Slot { _permit: permit, running: self.metrics.running.clone() }
        };
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(slot(permit));
        }
        let retry_after = self.retry_after();
        let queued = self.waiting.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.max_queued).then_some(n + 1));
        if queued.is_err() {
            let message = format!(
                "the query service is busy: {} expensive queries are running (max_concurrent_queries) and {} waiting (max_queued_queries); retry in {} s",
                self.max_concurrent,
                self.max_queued,
                retry_after.as_secs()
            );
            return Err(Unanswered::Busy { message, retry_after });
        }
        self.metrics.waiting.inc();
        let _waiting = Waiting(self);
        match tokio::time::timeout(self.max_queue_wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(slot(permit)),
            _ => Err(Unanswered::Busy {
                message: format!(
                    "the query service is busy: no query slot came free within max_queue_wait ({}) ({} expensive queries run at once, max_concurrent_queries); retry in {} s",
                    tracegate_core::config::format_go_duration(self.max_queue_wait),
                    self.max_concurrent,
                    retry_after.as_secs()
                ),
                retry_after,
            }),
        }
    }

    /// Runs one expensive query: a slot first (or [`Unanswered::Busy`]), then `work` in a
    /// task of its own that keeps the slot until the work has ended, waited for at most
    /// `query_timeout` ([`Unanswered::TimedOut`]). `endpoint` labels the metrics, which count
    /// busy, timed-out and too-large outcomes here.
    pub(crate) async fn run<T, F>(&self, endpoint: &str, work: impl FnOnce(Budget) -> F) -> Result<T, Unanswered>
    where
        F: Future<Output = Result<T, Unanswered>> + Send + 'static,
        T: Send + 'static,
    {
        let slot = self.admit().await.inspect_err(|_| self.metrics.refused(endpoint, "busy"))?;
        let abandoned = Arc::new(AtomicBool::new(false));
        let _abandon = AbandonOnDrop(abandoned.clone());
        let deadline = Instant::now() + self.query_timeout;
        let fut = work(Budget { deadline, abandoned, max_bytes: self.max_response_bytes });
        let task = tokio::spawn(async move {
            let _slot = slot;
            fut.await
        });
        let outcome = match tokio::time::timeout_at(deadline.into(), task).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(e)) => Err(Unanswered::Failed(format!("the query failed: {e}"))),
            Err(_) => Err(Unanswered::Expired),
        };
        match outcome {
            Err(Unanswered::Expired) => {
                self.metrics.timed_out(endpoint);
                let timeout = tracegate_core::config::format_go_duration(self.query_timeout);
                tracing::warn!(endpoint, "a query ran past query_timeout ({timeout}) and was abandoned");
                Err(Unanswered::TimedOut(format!(
                    "the query ran past this server's query_timeout of {timeout} and was abandoned; narrow it (a shorter time range, an operation or tags, a smaller limit) or raise query_timeout"
                )))
            }
            Err(Unanswered::TooLarge(msg)) => {
                self.metrics.refused(endpoint, "too_large");
                Err(Unanswered::TooLarge(msg))
            }
            other => other,
        }
    }

    /// The message for one trace over the byte budget.
    pub(crate) fn too_large(&self, trace_id: &str, spans: usize) -> Unanswered {
        Unanswered::TooLarge(format!(
            "trace {trace_id} ({spans} spans) does not fit in this server's max_response_bytes of {}; raise max_response_bytes to read it",
            ByteSize(self.max_response_bytes as u64)
        ))
    }

    /// The note for a search answer cut at the byte budget.
    pub(crate) fn cut_note(&self, served: usize, found: usize) -> String {
        format!(
            "answer cut at this server's max_response_bytes of {}: {served} of {found} traces returned (the newest); narrow the search or lower the limit to see the others",
            ByteSize(self.max_response_bytes as u64)
        )
    }
}

/// A `Warning` header value (RFC 7234's `299 - "text"`), quotes in the text made single.
pub fn warning_header(text: &str) -> String {
    let clean: String = text.chars().map(|c| if c == '"' || c == '\\' || c.is_control() { '\'' } else { c }).collect();
    format!("299 - \"{clean}\"")
}
