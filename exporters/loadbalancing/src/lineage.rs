//! One load balancer across config reloads. A reload starts a changed exporter's new instance
//! before the old one stops (`tracegate_core::graph::reload`), so for a while two instances
//! with one id run in one process. This process-wide table, per telemetry (one per service),
//! says which instance of each id started last. The newest alone sets the backends gauge
//! ([`crate::metrics`]); the old one, when it stops, hands the backlog of the backends the
//! newest no longer routes to over to the newest's ring
//! ([`crate::backends::BackendSet::shutdown`]).
//!
//! A table rather than a lookup through the host: the host a component is given is the graph
//! as it was at its start, which does not know the instance a later reload creates.

use std::sync::{Arc, Mutex, MutexGuard, Weak};

use tracegate_core::telemetry::Telemetry;
use tracegate_core::ComponentId;

use crate::backends::BackendSet;

struct PerService {
    telemetry: Weak<Telemetry>,
    newest: Vec<(ComponentId, Weak<BackendSet>)>,
}

static SERVICES: Mutex<Vec<PerService>> = Mutex::new(Vec::new());

fn services() -> MutexGuard<'static, Vec<PerService>> {
    let mut all = SERVICES.lock().unwrap_or_else(|p| p.into_inner());
    all.retain(|s| s.telemetry.strong_count() > 0);
    all
}

fn of<'a>(all: &'a mut [PerService], telemetry: &Arc<Telemetry>) -> Option<&'a mut PerService> {
    all.iter_mut().find(|s| Weak::as_ptr(&s.telemetry) == Arc::as_ptr(telemetry))
}

/// Notes `set` as the newest started instance of `id`.
pub fn started(telemetry: &Arc<Telemetry>, id: &ComponentId, set: &Arc<BackendSet>) {
    let mut all = services();
    if of(&mut all, telemetry).is_none() {
        all.push(PerService { telemetry: Arc::downgrade(telemetry), newest: Vec::new() });
    }
    if let Some(s) = of(&mut all, telemetry) {
        s.newest.retain(|(other, alive)| other != id && alive.strong_count() > 0);
        s.newest.push((id.clone(), Arc::downgrade(set)));
    }
}

/// The newest started instance of `id`, if it is alive.
fn newest(telemetry: &Arc<Telemetry>, id: &ComponentId) -> Option<Arc<BackendSet>> {
    let mut all = services();
    let s = of(&mut all, telemetry)?;
    s.newest.iter().find(|(other, _)| other == id).and_then(|(_, set)| set.upgrade())
}

/// Whether `set` is the newest started instance of `id` (true when none started yet).
pub fn is_newest(telemetry: &Arc<Telemetry>, id: &ComponentId, set: &BackendSet) -> bool {
    newest(telemetry, id).is_none_or(|n| std::ptr::eq(Arc::as_ptr(&n), set))
}

/// The instance of `id` that started after `set`, if any is alive.
pub fn successor(telemetry: &Arc<Telemetry>, id: &ComponentId, set: &BackendSet) -> Option<Arc<BackendSet>> {
    newest(telemetry, id).filter(|n| !std::ptr::eq(Arc::as_ptr(n), set))
}
