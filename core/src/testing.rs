//! Helpers for component crates' tests: a [`Host`] with no other components.

use std::sync::Arc;

use crate::component::{Exporter, Extension, Host};
use crate::id::ComponentId;
use crate::telemetry::ServiceStatus;

/// A host that knows no exporters or extensions and exposes a status the test controls.
#[derive(Default)]
pub struct TestHost {
    pub status: Arc<ServiceStatus>,
}

impl TestHost {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
}

impl Host for TestHost {
    fn exporter(&self, _id: &ComponentId) -> Option<Arc<dyn Exporter>> {
        None
    }

    fn extension(&self, _id: &ComponentId) -> Option<Arc<dyn Extension>> {
        None
    }

    fn extensions(&self) -> Vec<(ComponentId, Arc<dyn Extension>)> {
        Vec::new()
    }

    fn status(&self) -> Arc<ServiceStatus> {
        self.status.clone()
    }
}
