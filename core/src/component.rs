//! The contracts between the engine and components.
//!
//! Modelled on the Collector's `component.Component` and `consumer.Traces`:
//! - everything has a [`Lifecycle`]: `start` once, then `shutdown`, which must be safe without
//!   `start` and idempotent (the engine calls it on every component it created, even when
//!   start-up failed half way);
//! - data flows through [`Consumer::consume`]; a receiver is created with the `next` consumer,
//!   a processor is itself a consumer created with its `next`;
//! - an [`Exporter`] only exports: the engine wraps its own queue, retry and timeout around it,
//!   so every exporter gets the same backpressure semantics without writing them.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::data::Traces;
use crate::id::ComponentId;
use crate::telemetry::ServiceStatus;

/// What a consumer does with the data it is given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// True when the consumer changes the batch in place (it must call `Traces::make_mut`).
    pub mutates_data: bool,
}

/// Why a batch was not accepted. Receivers map these onto their protocol:
/// retryable -> gRPC UNAVAILABLE / HTTP 503, throttled -> RESOURCE_EXHAUSTED / 429,
/// permanent -> INVALID_ARGUMENT / 400.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ConsumeError {
    /// Try again later; nothing was lost on this side.
    #[error("{0}")]
    Retryable(String),
    /// The data can never be accepted (malformed, rejected by the backend); never retried.
    #[error("{0}")]
    Permanent(String),
    /// Slow down: the backend asked to wait at least `retry_after`.
    #[error("{message}")]
    Throttled {
        retry_after: Option<Duration>,
        message: String,
    },
}

impl ConsumeError {
    pub fn retryable(msg: impl Into<String>) -> Self {
        Self::Retryable(msg.into())
    }

    pub fn permanent(msg: impl Into<String>) -> Self {
        Self::Permanent(msg.into())
    }

    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Permanent(_))
    }

    /// The server's requested wait, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Throttled { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Errors of a component's life (creation, start, shutdown), not of data.
#[derive(Debug, thiserror::Error)]
pub enum ComponentError {
    #[error("cannot listen on {endpoint}: {source}")]
    Bind {
        endpoint: String,
        source: std::io::Error,
    },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("{0}")]
    Other(String),
}

impl ComponentError {
    pub fn other(msg: impl std::fmt::Display) -> Self {
        Self::Other(msg.to_string())
    }
}

/// Something that accepts batches of spans.
#[async_trait]
pub trait Consumer: Send + Sync {
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    async fn consume(&self, traces: Traces) -> Result<(), ConsumeError>;
}

/// Start and stop. `shutdown` is safe without `start` and safe to call twice.
#[async_trait]
pub trait Lifecycle: Send + Sync {
    async fn start(&self, _host: Arc<dyn Host>) -> Result<(), ComponentError> {
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ComponentError> {
        Ok(())
    }
}

/// Brings data in from outside; created with the `next` consumer it feeds.
pub trait Receiver: Lifecycle {}

/// Sits in one pipeline; created with its `next` consumer.
pub trait Processor: Lifecycle + Consumer {}

/// What an exporter did with a batch it accepted besides delivering it: the spans it
/// dropped on purpose (a store skipping spans older than its retention, ...), by reason.
/// The engine counts those in `tracegate_exporter_dropped_spans{exporter,reason}` instead of
/// `tracegate_exporter_sent_spans`, so "sent" means delivered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportReport {
    /// `(reason, spans)`; a reason is a short snake_case word, e.g. `past_retention`.
    pub dropped: Vec<(&'static str, u64)>,
}

impl ExportReport {
    /// Adds `spans` dropped for `reason` (nothing when 0).
    pub fn with_dropped(mut self, reason: &'static str, spans: u64) -> Self {
        if spans > 0 {
            self.dropped.push((reason, spans));
        }
        self
    }

    /// Every dropped span, whatever the reason.
    pub fn dropped_spans(&self) -> u64 {
        self.dropped.iter().map(|(_, n)| n).sum()
    }
}

/// Sends data out. Called by the engine's queue workers, never directly by a receiver.
#[async_trait]
pub trait Exporter: Lifecycle {
    async fn export(&self, traces: Traces) -> Result<(), ConsumeError>;

    /// [`export`](Self::export), also saying which spans were dropped on purpose rather
    /// than delivered (see [`ExportReport`]). The engine calls this one. The default reports
    /// none; an exporter that drops spans overrides it (and has `export` call it).
    async fn export_reporting(&self, traces: Traces) -> Result<ExportReport, ConsumeError> {
        self.export(traces).await.map(|()| ExportReport::default())
    }

    /// The concrete exporter, for tests and custom builds that inspect the one they made.
    /// Not a way for components to find each other: that is [`offers`](Self::offers) and
    /// `Host::capability` (see [`crate::capability`]).
    fn as_any(&self) -> &dyn std::any::Any;

    /// True when a successful `export` means the batch survives a crash of this process: a
    /// store that synced it (sled with `sync_on_write`, the default). The engine then answers
    /// the sender of a batch only after the export instead of when an in-memory queue took it
    /// (see `queue::exporter`), so "acknowledged" means "stored". Forwarding exporters (otlp,
    /// kafka, ...) keep `false`: they promise what their sending queue promises.
    fn durable_on_success(&self) -> bool {
        false
    }

    /// True when the exporter keeps sending queues of its own behind `export`, one per
    /// destination with its own retries (the `loadbalancing` exporter: one per backend). The
    /// engine then queues nothing in front of it: each batch is exported in its sender's task,
    /// as for a durable exporter (see `queue::exporter`), and the sender is told what those
    /// queues said. A queue in front would acknowledge first, then retry a whole batch when
    /// one destination refused its part, sending the parts the others took twice.
    fn queues_per_destination(&self) -> bool {
        false
    }

    /// What this exporter offers other components (a storage exporter offers its
    /// `dyn TraceStore` under its id); see [`crate::capability`]. None by default.
    fn offers(self: Arc<Self>) -> crate::capability::Offers {
        crate::capability::Offers::default()
    }
}

/// Runs beside the pipelines (health, query API, remote sampling, ...).
pub trait Extension: Lifecycle {
    /// Other extensions this one needs started first.
    fn dependencies(&self) -> Vec<ComponentId> {
        Vec::new()
    }

    /// What this extension offers other components (a storage extension's backends, a
    /// `file_storage` directory, sampling strategies); see [`crate::capability`]. None by
    /// default.
    fn offers(self: Arc<Self>) -> crate::capability::Offers {
        crate::capability::Offers::default()
    }
}

/// What a component can see of the running service. Components find what others offer with
/// the typed lookups [`capability`](#method.capability) and [`capabilities`](#method.capabilities)
/// (see [`crate::capability`]).
pub trait Host: Send + Sync {
    /// An exporter by id, whether or not it is in a pipeline yet.
    fn exporter(&self, id: &ComponentId) -> Option<Arc<dyn Exporter>>;
    /// An extension by id.
    fn extension(&self, id: &ComponentId) -> Option<Arc<dyn Extension>>;
    /// Every running extension, in start order (to find one by type).
    fn extensions(&self) -> Vec<(ComponentId, Arc<dyn Extension>)>;
    /// The service-wide status (starting, ready, stopping; failed components).
    fn status(&self) -> Arc<ServiceStatus>;
}
