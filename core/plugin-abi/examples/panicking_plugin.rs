//! Test fixture (built by tests/e2e/test_plugins.py): a processor plugin, type "panicky",
//! that panics on any batch holding a span whose name contains "panic" and passes every
//! other batch on unchanged. It shows that a panic costs one batch, not the gateway.

use serde::{Deserialize, Serialize};
use tracegate_plugin_abi::{ExportTraceServiceRequest, PluginComponent, PluginError, PluginProcessor};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {}

pub struct Panicky;

impl PluginComponent for Panicky {
    const TYPE: &'static str = "panicky";
    type Config = Config;

    fn new(_config: Config) -> Result<Self, PluginError> {
        Ok(Self)
    }
}

impl PluginProcessor for Panicky {
    fn process(&self, request: ExportTraceServiceRequest) -> Result<ExportTraceServiceRequest, PluginError> {
        let names = request.resource_spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans);
        if let Some(span) = names.into_iter().find(|s| s.name.contains("panic")) {
            panic!("asked to panic by span {:?}", span.name);
        }
        Ok(request)
    }
}

tracegate_plugin_abi::export_plugin!(processor Panicky);
