//! The [`Host`] the service hands to components at start.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::component::{Exporter, Extension, Host};
use crate::id::ComponentId;
use crate::telemetry::ServiceStatus;

pub struct ServiceHost {
    pub(crate) exporters: BTreeMap<ComponentId, Arc<dyn Exporter>>,
    pub(crate) extensions: BTreeMap<ComponentId, Arc<dyn Extension>>,
    pub(crate) status: Arc<ServiceStatus>,
}

impl Host for ServiceHost {
    fn exporter(&self, id: &ComponentId) -> Option<Arc<dyn Exporter>> {
        self.exporters.get(id).cloned()
    }

    fn extension(&self, id: &ComponentId) -> Option<Arc<dyn Extension>> {
        self.extensions.get(id).cloned()
    }

    fn extensions(&self) -> Vec<(ComponentId, Arc<dyn Extension>)> {
        self.extensions
            .iter()
            .map(|(id, x)| (id.clone(), x.clone()))
            .collect()
    }

    fn status(&self) -> Arc<ServiceStatus> {
        self.status.clone()
    }
}
