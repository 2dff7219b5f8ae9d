//! [`Switch`]: the indirection between a receiver and the pipelines it feeds, so a reload can
//! give a running receiver new pipelines without closing its listener; and the [`Gate`] all
//! switches of a service pass, which a reload closes while it rewires the graph.
//!
//! Why a gate and not only an atomic swap: a reload must be able to stop old processors
//! (flushing what they hold into their exporters) and, for a store that one process can open
//! once (sled locks its directory), stop the old exporter before opening the new one. While
//! that happens nothing may enter the old chain, and nothing may be refused either. Closing
//! the gate waits for every batch already inside the graph to be answered, then holds new
//! batches at the door (they wait, as with `when_full: block`) until the new graph is in
//! place. A batch crossing the gate costs one uncontended read-lock acquisition.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use tokio::sync::{RwLock as AsyncRwLock, RwLockWriteGuard};

use crate::component::{Capabilities, ConsumeError, Consumer};
use crate::data::Traces;

/// Shared by every [`Switch`] of one service.
#[derive(Default)]
pub struct Gate(AsyncRwLock<()>);

impl Gate {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Waits until no batch is inside the graph, then holds new ones until the guard drops.
    pub async fn close(&self) -> RwLockWriteGuard<'_, ()> {
        self.0.write().await
    }
}

pub struct Switch {
    gate: Arc<Gate>,
    target: RwLock<Arc<dyn Consumer>>,
}

impl Switch {
    pub fn new(gate: Arc<Gate>, target: Arc<dyn Consumer>) -> Arc<Self> {
        Arc::new(Self { gate, target: RwLock::new(target) })
    }

    /// Sends later batches to `target`; batches already past the switch finish where they are.
    pub fn set(&self, target: Arc<dyn Consumer>) {
        *self.target.write().unwrap_or_else(|p| p.into_inner()) = target;
    }

    fn current(&self) -> Arc<dyn Consumer> {
        self.target.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[async_trait]
impl Consumer for Switch {
    fn capabilities(&self) -> Capabilities {
        self.current().capabilities()
    }

    async fn consume(&self, traces: Traces) -> Result<(), ConsumeError> {
        let _inside = self.gate.0.read().await;
        let target = self.current();
        target.consume(traces).await
    }
}

/// Stands in for a pipeline that a failed reload could not rebuild: the sender is told to
/// retry, so nothing it sent is lost while the previous graph is restored.
pub struct Unavailable;

#[async_trait]
impl Consumer for Unavailable {
    async fn consume(&self, _traces: Traces) -> Result<(), ConsumeError> {
        Err(ConsumeError::retryable("the pipeline is being reloaded; retry"))
    }
}
