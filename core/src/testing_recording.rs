//! [`RecordingConsumer`]: the `next` consumer of a receiver's or processor's tests. One for
//! every crate, so a test reads the same way wherever it is.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, Span};
use tokio::sync::{Notify, Semaphore};

use crate::component::{ConsumeError, Consumer};
use crate::data::Traces;

/// How long [`RecordingConsumer::wait_entered`] waits for what should happen at once.
const HANG_GUARD: Duration = Duration::from_secs(20);

/// Records every batch; answers with `error` when set. With a gate, each `consume` first
/// signals `entered` and then waits for a permit, so a test can hold a batch in flight.
pub struct RecordingConsumer {
    batches: Mutex<Vec<Traces>>,
    error: Option<ConsumeError>,
    gate: Option<Semaphore>,
    pub entered: Notify,
}

impl RecordingConsumer {
    fn build(error: Option<ConsumeError>, gate: Option<Semaphore>) -> Arc<Self> {
        Arc::new(Self { batches: Mutex::new(Vec::new()), error, gate, entered: Notify::new() })
    }

    /// Takes every batch.
    pub fn ok() -> Arc<Self> {
        Self::build(None, None)
    }

    /// Refuses every batch with `error`.
    pub fn failing(error: ConsumeError) -> Arc<Self> {
        Self::build(Some(error), None)
    }

    /// Every `consume` blocks until [`Self::open`] is called.
    pub fn gated() -> Arc<Self> {
        Self::build(None, Some(Semaphore::new(0)))
    }

    /// Lets every blocked and later `consume` through.
    pub fn open(&self) {
        if let Some(g) = &self.gate {
            g.add_permits(Semaphore::MAX_PERMITS / 2);
        }
    }

    /// Waits until a `consume` is blocked at the gate.
    ///
    /// # Panics
    /// After 20 s without one: the test would otherwise hang.
    #[allow(clippy::expect_used)]
    pub async fn wait_entered(&self) {
        tokio::time::timeout(HANG_GUARD, self.entered.notified()).await.expect("a batch to reach the pipeline");
    }

    /// The batches taken, in arrival order.
    pub fn batches(&self) -> Vec<Traces> {
        self.batches.lock().map(|b| b.clone()).unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Every span taken, flattened, with its resource.
    pub fn spans(&self) -> Vec<(ResourceSpans, Span)> {
        let mut out = Vec::new();
        for t in self.batches() {
            for rs in t.resource_spans() {
                for ss in &rs.scope_spans {
                    out.extend(ss.spans.iter().map(|s| (rs.clone(), s.clone())));
                }
            }
        }
        out
    }

    /// Span names in arrival order.
    pub fn span_names(&self) -> Vec<String> {
        self.spans().into_iter().map(|(_, s)| s.name).collect()
    }
}

#[async_trait]
impl Consumer for RecordingConsumer {
    async fn consume(&self, traces: Traces) -> Result<(), ConsumeError> {
        if let Some(gate) = &self.gate {
            self.entered.notify_one();
            let _permit = gate.acquire().await;
        }
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        self.batches.lock().unwrap_or_else(|p| p.into_inner()).push(traces);
        Ok(())
    }
}
