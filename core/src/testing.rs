//! Helpers for component crates' tests: a [`Host`] with no other components, the
//! [`RecordingConsumer`] every receiver and processor test feeds, and (with the `test-pki`
//! feature) certificates made on the spot in [`pki`].

use std::sync::Arc;

use crate::component::{Exporter, Extension, Host};
use crate::id::ComponentId;
use crate::telemetry::ServiceStatus;

#[path = "testing_recording.rs"]
mod recording;
pub use recording::RecordingConsumer;

#[cfg(any(test, feature = "test-pki"))]
#[path = "testing_pki.rs"]
pub mod pki;

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

/// A host that knows the extensions (an authenticator, ...) and exporters (a store a query
/// service reads) a test hands it.
#[derive(Default)]
pub struct ExtensionsHost {
    pub status: Arc<ServiceStatus>,
    pub extensions: Vec<(ComponentId, Arc<dyn Extension>)>,
    pub exporters: Vec<(ComponentId, Arc<dyn Exporter>)>,
}

impl ExtensionsHost {
    /// A host with the extension `id` (an id as configs write it, e.g. `basicauth/ui`).
    ///
    /// # Panics
    /// On an id that does not parse: that is a mistake in the test.
    #[allow(clippy::expect_used)]
    pub fn with(mut self, id: &str, extension: Arc<dyn Extension>) -> Self {
        let id = ComponentId::parse(id).expect("a test's extension id must parse");
        self.extensions.push((id, extension));
        self
    }

    /// A host with the exporter `id` too.
    ///
    /// # Panics
    /// On an id that does not parse: that is a mistake in the test.
    #[allow(clippy::expect_used)]
    pub fn with_exporter(mut self, id: &str, exporter: Arc<dyn Exporter>) -> Self {
        let id = ComponentId::parse(id).expect("a test's exporter id must parse");
        self.exporters.push((id, exporter));
        self
    }
}

impl Host for ExtensionsHost {
    fn exporter(&self, id: &ComponentId) -> Option<Arc<dyn Exporter>> {
        self.exporters.iter().find(|(e, _)| e == id).map(|(_, x)| x.clone())
    }

    fn extension(&self, id: &ComponentId) -> Option<Arc<dyn Extension>> {
        self.extensions.iter().find(|(e, _)| e == id).map(|(_, x)| x.clone())
    }

    fn extensions(&self) -> Vec<(ComponentId, Arc<dyn Extension>)> {
        self.extensions.clone()
    }

    fn status(&self) -> Arc<ServiceStatus> {
        self.status.clone()
    }
}

/// Parses a component config from YAML text the way the engine does (defaults, unknown
/// fields, `validate`), for component crates' config tests.
///
/// # Panics
/// On YAML that is not even syntactically valid: that is a mistake in the test.
#[allow(clippy::expect_used)]
pub fn parse_config<C: crate::factory::ComponentConfig>(
    yaml: &str,
) -> Result<C, Vec<crate::config::ConfigProblem>> {
    let raw: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).expect("test YAML must parse");
    let parsed = crate::factory::parse_typed::<C>(Some(&raw))?;
    Ok(parsed
        .typed
        .downcast_ref::<C>()
        .expect("parse_typed yields the requested type")
        .clone())
}

/// [`parse_config`] with each problem rendered as `path: message`.
pub fn parse_config_messages<C: crate::factory::ComponentConfig>(
    yaml: &str,
) -> Result<C, Vec<String>> {
    parse_config::<C>(yaml).map_err(|ps| ps.iter().map(ToString::to_string).collect())
}
