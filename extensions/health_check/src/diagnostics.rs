//! `pprof`, `zpages` and `expvar`: the Collector's and Jaeger's debugging extensions (Go
//! profiles, in-process trace pages, Go runtime variables). tracegate has no Go runtime to
//! show, and these only affect diagnostics, so a config naming them is accepted with a warning
//! and the extension does nothing: a Jaeger v2 config keeps working, and nothing listens on
//! their ports. Any settings are accepted as they are.

use std::sync::Arc;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_yaml_ng::Value;
use tracegate_core::config::ConfigProblem;
use tracegate_core::factory::ComponentConfig;
use tracegate_core::{ComponentError, CreateContext, Extension, ExtensionFactory, Lifecycle, Stability};

/// Whatever the Collector's extension takes (`endpoint`, ...), unread.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AnySettings(pub IndexMap<String, Value>);

/// Does nothing, on purpose (see the module docs).
pub struct NotServed;

impl Lifecycle for NotServed {}
impl Extension for NotServed {}

macro_rules! diagnostics_extension {
    ($factory:ident, $config:ident, $type:literal, $what:literal) => {
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $config(pub AnySettings);

        impl ComponentConfig for $config {
            type Validated = Self;

            fn validate(&self) -> Vec<ConfigProblem> {
                vec![ConfigProblem::warning(
                    "",
                    concat!($what, " is not available in tracegate; it only affects diagnostics, so it is accepted and does nothing (use the metrics on service::telemetry and the health check instead)"),
                )]
            }
        }

        pub struct $factory;

        impl ExtensionFactory for $factory {
            const TYPE: &'static str = $type;
            const STABILITY: Stability = Stability::Development;
            type Config = $config;

            fn create(&self, _ctx: CreateContext, _config: $config) -> Result<Arc<dyn Extension>, ComponentError> {
                Ok(Arc::new(NotServed))
            }
        }

        tracegate_core::register_extension!($factory);
    };
}

diagnostics_extension!(PprofFactory, PprofConfig, "pprof", "pprof (Go profiling over HTTP)");
diagnostics_extension!(ZpagesFactory, ZpagesConfig, "zpages", "zpages (in-process debug pages)");
diagnostics_extension!(ExpvarFactory, ExpvarConfig, "expvar", "expvar (Go runtime variables)");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_with_one_warning_whatever_the_settings() {
        let raw: Value = serde_yaml_ng::from_str("{ endpoint: 0.0.0.0:1777, block_profile_fraction: 3 }").expect("yaml");
        let parsed = tracegate_core::factory::parse_typed::<PprofConfig>(Some(&raw)).ok().expect("accepted");
        assert_eq!(parsed.warnings.len(), 1);
        assert!(parsed.warnings[0].message.starts_with("pprof (Go profiling over HTTP) is not available"));
        let registry = tracegate_core::factory::Registry::builtin();
        for t in ["pprof", "zpages", "expvar", "healthcheckv2"] {
            assert!(registry.get(tracegate_core::Kind::Extension, t).is_some(), "{t}");
        }
    }
}
