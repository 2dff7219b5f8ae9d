//! The service-wide state that the health check extension reports.

use std::sync::Mutex;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceState {
    Starting,
    Ready,
    Stopping,
}

impl ServiceState {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceState::Starting => "starting",
            ServiceState::Ready => "ready",
            ServiceState::Stopping => "stopping",
        }
    }
}

#[derive(Debug)]
struct Inner {
    state: ServiceState,
    since: std::time::SystemTime,
    failed: Vec<(String, String)>,
}

/// Shared by the engine (writer) and health checks (readers).
#[derive(Debug)]
pub struct ServiceStatus {
    inner: Mutex<Inner>,
}

impl Default for ServiceStatus {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                state: ServiceState::Starting,
                since: std::time::SystemTime::now(),
                failed: Vec::new(),
            }),
        }
    }
}

impl ServiceStatus {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means a reader panicked; the data is still consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_state(&self, state: ServiceState) {
        let mut g = self.lock();
        g.state = state;
        g.since = std::time::SystemTime::now();
    }

    pub fn state(&self) -> ServiceState {
        self.lock().state
    }

    /// When the current state began.
    pub fn since(&self) -> std::time::SystemTime {
        self.lock().since
    }

    /// Records a component that failed at run time (e.g. a listener died).
    pub fn report_failure(&self, component: &str, error: &str) {
        self.lock()
            .failed
            .push((component.to_string(), error.to_string()));
    }

    pub fn failures(&self) -> Vec<(String, String)> {
        self.lock().failed.clone()
    }
}
