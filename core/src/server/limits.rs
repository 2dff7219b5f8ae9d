//! [`ServerLimits`]: what one TCP listener lets a client hold, and [`ListenerGuard`], the
//! listener's shared state that enforces it.
//!
//! Why: before these limits a hostile (or broken) client could exhaust the gateway from any
//! port: connections that declare a large body, send most of it and hold it kept every byte
//! buffered (60 of them took RSS from 37 to 942 MiB); gRPC streams that never finish did the
//! same; idle or half-sent connections were never closed, so they used up the open-file limit
//! and every other port stopped accepting. Each listener now has, by default:
//!
//! - a cap on open connections (`max_connections`), so one port's flood cannot take every file
//!   descriptor: by default an eighth of the process's open-file limit (raised to the hard limit
//!   at start, see [`super::fd_limit`]);
//! - a bound on request bytes in flight across the listener (`max_request_bytes_in_flight`): a
//!   request that would pass it is refused at once with 503 / `RESOURCE_EXHAUSTED`, never
//!   buffered;
//! - header, body and idle timeouts (`read_header_timeout`, `read_timeout`, `idle_timeout`), as
//!   the Collector's `confighttp` spells them.
//!
//! Shedding is counted in `tracegate_server_shed_total{component,server,reason}` and logged at
//! most once per [`DEFAULT_LOG_INTERVAL`](crate::telemetry::DEFAULT_LOG_INTERVAL) per reason.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use prometheus::{IntCounter, IntCounterVec, Opts};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::config::{ConfigProblem, GoDuration};
use crate::telemetry::LogLimit;

/// Default of `read_header_timeout`: the Collector's `confighttp` default.
pub const DEFAULT_READ_HEADER_TIMEOUT: Duration = Duration::from_secs(60);
/// Default of `read_timeout` (the whole request, headers and body). The Collector sets none; a
/// minute lets a 20 MiB body through at 350 KB/s and still frees a stalled upload.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Default of `idle_timeout`: the Collector's `confighttp` default.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default of `max_request_bytes_in_flight`: three of the largest OTLP/HTTP bodies (20 MiB)
/// at once, far above what SDKs and Jaeger clients send together.
pub const DEFAULT_MAX_REQUEST_BYTES_IN_FLIGHT: u64 = 64 << 20;
/// The share of the open-file limit one listener may hold by default (1/8).
const DEFAULT_CONNECTION_SHARE: u64 = 8;
/// The default connection cap never goes below this, however low the open-file limit.
const MIN_DEFAULT_CONNECTIONS: u64 = 64;

/// The limits of one TCP listener; every field 0 / absent takes the default (see the module
/// docs). A component's server config embeds it with `#[serde(flatten)]` (the keys sit next to
/// `endpoint`, as in the Collector) and hands it to [`TcpPlan::limits`](super::TcpPlan::limits).
/// No `deny_unknown_fields` here: a flattened struct sees its neighbours' keys; the
/// enclosing config's `deny_unknown_fields` still refuses keys nobody takes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerLimits {
    /// How long a client may take to send a request's headers.
    #[serde(skip_serializing_if = "zero_duration")]
    pub read_header_timeout: GoDuration,
    /// How long a client may take to send a whole request, body included (a gRPC call's
    /// request stream too); a request still sending then is answered 408 / `DEADLINE_EXCEEDED`.
    #[serde(skip_serializing_if = "zero_duration")]
    pub read_timeout: GoDuration,
    /// How long a connection with no request open may stay silent before it is closed.
    #[serde(skip_serializing_if = "zero_duration")]
    pub idle_timeout: GoDuration,
    /// Connections open at once on this listener; more are closed as they arrive.
    #[serde(skip_serializing_if = "is_zero")]
    pub max_connections: u64,
    /// Request bytes held at once by all the requests in flight on this listener.
    #[serde(skip_serializing_if = "is_zero")]
    pub max_request_bytes_in_flight: u64,
}

fn zero_duration(d: &GoDuration) -> bool {
    d.is_zero()
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn or(d: GoDuration, default: Duration) -> Duration {
    if d.is_zero() {
        default
    } else {
        d.get()
    }
}

impl ServerLimits {
    pub fn read_header_timeout(&self) -> Duration {
        or(self.read_header_timeout, DEFAULT_READ_HEADER_TIMEOUT)
    }
    pub fn read_timeout(&self) -> Duration {
        or(self.read_timeout, DEFAULT_READ_TIMEOUT)
    }
    pub fn idle_timeout(&self) -> Duration {
        or(self.idle_timeout, DEFAULT_IDLE_TIMEOUT)
    }
    pub fn max_request_bytes_in_flight(&self) -> usize {
        let n = match self.max_request_bytes_in_flight {
            0 => DEFAULT_MAX_REQUEST_BYTES_IN_FLIGHT,
            n => n,
        };
        usize::try_from(n).unwrap_or(usize::MAX)
    }
    /// Problems of these limits on a listener whose largest request is `max_request` bytes
    /// (its `body_key`, e.g. `max_request_body_size`): a bound on bytes in flight below one
    /// largest request would refuse that request every time, so it is a config error, named
    /// at `max_request_bytes_in_flight` under `path`.
    pub fn validate(&self, max_request: u64, body_key: &str, path: &str) -> Vec<ConfigProblem> {
        let in_flight = self.max_request_bytes_in_flight() as u64;
        if in_flight >= max_request {
            return Vec::new();
        }
        let set = if self.max_request_bytes_in_flight == 0 { " (the default)" } else { "" };
        vec![ConfigProblem::new(
            "max_request_bytes_in_flight",
            format!(
                "{in_flight}{set} is smaller than {body_key} ({max_request} bytes): a request of that size could never be accepted; raise max_request_bytes_in_flight to at least {max_request} or lower {body_key}"
            ),
        )
        .under(path)]
    }

    /// The connection cap: as configured, or a share of the open-file limit.
    pub fn max_connections(&self) -> usize {
        let n = match self.max_connections {
            0 => (super::fd_limit::open_file_limit() / DEFAULT_CONNECTION_SHARE).max(MIN_DEFAULT_CONNECTIONS),
            n => n,
        };
        usize::try_from(n).unwrap_or(usize::MAX).min(Semaphore::MAX_PERMITS)
    }
}

/// Why a listener shed load (the `reason` label).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Shed {
    Connections,
    BytesInFlight,
    ReadTimeout,
    IdleTimeout,
}

impl Shed {
    fn as_str(self) -> &'static str {
        match self {
            Shed::Connections => "max_connections",
            Shed::BytesInFlight => "max_request_bytes_in_flight",
            Shed::ReadTimeout => "read_timeout",
            Shed::IdleTimeout => "idle_timeout",
        }
    }
}

/// The shed counter family. Process-wide so the one place every listener runs through can
/// count without each component handing it a metrics handle; every [`Metrics`] registry
/// registers it (see [`register_shed_metric`]).
///
/// [`Metrics`]: crate::telemetry::Metrics
#[allow(clippy::expect_used)]
static SHED_TOTAL: LazyLock<IntCounterVec> = LazyLock::new(|| {
    IntCounterVec::new(
        Opts::new(
            "tracegate_server_shed_total",
            "Connections and requests a listener refused or closed to protect itself, by reason (max_connections, max_request_bytes_in_flight, read_timeout, idle_timeout).",
        ),
        &["component", "server", "reason"],
    )
    .expect("static metric definition")
});

/// Adds the shed counter to `registry` (called by `Metrics::new`).
pub fn register_shed_metric(registry: &prometheus::Registry) {
    if let Err(e) = registry.register(Box::new(SHED_TOTAL.clone())) {
        tracing::debug!(error = %e, "shed metric not registered");
    }
}

/// One listener's limits and the state they are enforced with, shared by its accept loop,
/// its connections and its requests.
pub(crate) struct ListenerGuard {
    pub(crate) limits: ServerLimits,
    pub(crate) connections: Arc<Semaphore>,
    max_bytes: usize,
    bytes_in_flight: AtomicUsize,
    component: String,
    server: &'static str,
    counters: [IntCounter; 4],
    logs: [LogLimit; 4],
}

impl ListenerGuard {
    pub(crate) fn new(limits: ServerLimits, component: &str, server: &'static str) -> Arc<Self> {
        let counter = |s: Shed| SHED_TOTAL.with_label_values(&[component, server, s.as_str()]);
        Arc::new(Self {
            connections: Arc::new(Semaphore::new(limits.max_connections())),
            max_bytes: limits.max_request_bytes_in_flight(),
            bytes_in_flight: AtomicUsize::new(0),
            component: component.to_string(),
            server,
            counters: [
                counter(Shed::Connections),
                counter(Shed::BytesInFlight),
                counter(Shed::ReadTimeout),
                counter(Shed::IdleTimeout),
            ],
            logs: Default::default(),
            limits,
        })
    }

    /// Counts one shed, and logs it unless one was logged within the interval.
    pub(crate) fn shed(&self, why: Shed) {
        let i = why as usize;
        self.counters[i].inc();
        if let Some(unlogged) = self.logs[i].check() {
            // Idle and slow clients are routine; refusing work because a limit is full is news.
            match why {
                Shed::Connections | Shed::BytesInFlight => tracing::warn!(
                    component = %self.component,
                    server = self.server,
                    reason = why.as_str(),
                    not_logged_since_last = unlogged,
                    "listener at its limit; refusing (see tracegate_server_shed_total)"
                ),
                Shed::ReadTimeout | Shed::IdleTimeout => tracing::info!(
                    component = %self.component,
                    server = self.server,
                    reason = why.as_str(),
                    not_logged_since_last = unlogged,
                    "closed a slow or idle client"
                ),
            }
        }
    }

    /// Reserves `n` request bytes; false (nothing reserved) when that would pass the bound.
    pub(crate) fn try_reserve(&self, n: usize) -> bool {
        self.bytes_in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(n).filter(|total| *total <= self.max_bytes)
            })
            .is_ok()
    }

    pub(crate) fn release(&self, n: usize) {
        self.bytes_in_flight.fetch_sub(n, Ordering::AcqRel);
    }
}
