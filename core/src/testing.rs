//! Helpers for component crates' tests: a [`Host`] with no other components, the
//! [`RecordingConsumer`] every receiver and processor test feeds, a batch of
//! [`blank_spans`], and (with the `test-pki` feature) certificates made on the spot in [`pki`].

use std::sync::Arc;

use crate::component::{Exporter, Extension, Host};
use crate::data::{ResourceSpans, ScopeSpans, Span, Traces};
use crate::id::ComponentId;
use crate::telemetry::ServiceStatus;

#[path = "testing_recording.rs"]
mod recording;
pub use recording::RecordingConsumer;

#[cfg(any(test, feature = "test-pki"))]
#[path = "testing_pki.rs"]
pub mod pki;

/// A batch of `n` spans with every field at its default, in one resource and one scope: for
/// tests that count spans and care about nothing else.
pub fn blank_spans(n: usize) -> Traces {
    Traces::new(vec![ResourceSpans {
        scope_spans: vec![ScopeSpans {
            spans: vec![Span::default(); n],
            ..Default::default()
        }],
        ..Default::default()
    }])
}

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
    crate::factory::check_typed::<C>(Some(&raw)).map(|(typed, _)| typed)
}

/// The validated form `create` is given for a config built in code (`validate`, then
/// [`FromConfig`](crate::factory::FromConfig)).
///
/// # Panics
/// When the config is refused: that is a mistake in the test.
#[allow(clippy::panic)]
pub fn validated<C: crate::factory::ComponentConfig>(config: &C) -> crate::factory::Validated<C> {
    use crate::factory::FromConfig;
    let mut problems = config.validate();
    let refused = |p: &[crate::config::ConfigProblem]| p.iter().any(crate::config::ConfigProblem::is_error);
    if !refused(&problems) {
        if let Some(v) = crate::factory::Validated::<C>::from_config(config, &mut problems) {
            if !refused(&problems) {
                return v;
            }
        }
    }
    panic!("the test's config is refused: {problems:?}")
}

/// The validated form `create` would be given for this YAML ([`parse_config`] otherwise).
///
/// # Panics
/// On YAML that is not even syntactically valid: that is a mistake in the test.
#[allow(clippy::expect_used)]
pub fn validated_config<C: crate::factory::ComponentConfig>(
    yaml: &str,
) -> Result<crate::factory::Validated<C>, Vec<String>> {
    let raw: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).expect("test YAML must parse");
    let parsed = crate::factory::parse_typed::<C>(Some(&raw))
        .map_err(|ps| ps.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    Ok(parsed
        .typed
        .downcast_ref::<crate::factory::Validated<C>>()
        .expect("parse_typed yields the validated form")
        .clone())
}

/// [`parse_config`] with each problem rendered as `path: message`.
pub fn parse_config_messages<C: crate::factory::ComponentConfig>(
    yaml: &str,
) -> Result<C, Vec<String>> {
    parse_config::<C>(yaml).map_err(|ps| ps.iter().map(ToString::to_string).collect())
}
