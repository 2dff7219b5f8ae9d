//! What each component looked up on its [`Host`], so a reload knows who depends on what.
//!
//! Why record rather than declare: components find each other by id or by capability at
//! start (`jaeger_query` its store, an exporter its queue's `file_storage` or its
//! authenticator, the `jaeger` receiver the `remote_sampling` strategies), and they keep what
//! they found. A reload that replaces the found component must replace the finder too, or it
//! keeps serving the stopped instance. Every lookup goes through the four methods of
//! [`Host`] (capability lookups included, see [`crate::capability`]), so a host that notes
//! them knows every dependency without any component saying so. Listing the extensions (what
//! a lookup by capability does first) counts as depending on all of them: a replaced, added
//! or removed extension may change what such a lookup finds.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::component::{Exporter, Extension, Host};
use crate::id::ComponentId;
use crate::telemetry::ServiceStatus;

/// One component's lookups.
#[derive(Default)]
pub struct Lookups {
    ids: Mutex<BTreeSet<ComponentId>>,
    listed_extensions: AtomicBool,
}

impl Lookups {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// True when the component found (or asked for) one of `ids`, or listed the extensions
    /// while `extensions_changed`.
    pub fn depends_on(&self, ids: &BTreeSet<ComponentId>, extensions_changed: bool) -> bool {
        if extensions_changed && self.listed_extensions.load(Ordering::Relaxed) {
            return true;
        }
        let seen = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        seen.iter().any(|id| ids.contains(id))
    }

    fn note(&self, id: &ComponentId) {
        self.ids.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone());
    }
}

/// A [`Host`] that notes every lookup in `lookups`.
pub struct RecordingHost {
    pub inner: Arc<dyn Host>,
    pub lookups: Arc<Lookups>,
}

impl Host for RecordingHost {
    fn exporter(&self, id: &ComponentId) -> Option<Arc<dyn Exporter>> {
        self.lookups.note(id);
        self.inner.exporter(id)
    }

    fn extension(&self, id: &ComponentId) -> Option<Arc<dyn Extension>> {
        self.lookups.note(id);
        self.inner.extension(id)
    }

    fn extensions(&self) -> Vec<(ComponentId, Arc<dyn Extension>)> {
        self.lookups.listed_extensions.store(true, Ordering::Relaxed);
        self.inner.extensions()
    }

    fn status(&self) -> Arc<ServiceStatus> {
        self.inner.status()
    }
}

/// `host`, noting lookups in `lookups`.
pub fn recording(host: Arc<dyn Host>, lookups: &Arc<Lookups>) -> Arc<dyn Host> {
    Arc::new(RecordingHost { inner: host, lookups: lookups.clone() })
}
