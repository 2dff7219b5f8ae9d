//! The `service` section: pipelines, the extensions to run, telemetry, shutdown timeout.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::GoDuration;
use crate::telemetry::LogsConfig;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceSection {
    pub extensions: Vec<String>,
    pub pipelines: IndexMap<String, PipelineSection>,
    pub telemetry: TelemetrySection,
    /// How long shutdown waits for queues to drain before counting the rest as failed.
    pub shutdown_timeout: ShutdownTimeout,
    /// Reload when a `--config` file changes (checked every second), as on SIGHUP.
    pub watch_config: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ShutdownTimeout(pub GoDuration);

impl Default for ShutdownTimeout {
    fn default() -> Self {
        Self(GoDuration::from_secs(30))
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineSection {
    pub receivers: Vec<String>,
    pub processors: Vec<String>,
    pub exporters: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetrySection {
    pub metrics: MetricsSection,
    pub logs: LogsConfig,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricsLevel {
    /// No metrics endpoint.
    None,
    Basic,
    #[default]
    Normal,
    Detailed,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSection {
    pub level: MetricsLevel,
    /// Where `/metrics` is served.
    pub address: super::Endpoint,
    /// TLS for the metrics port (the Collector's `configtls` server settings); absent means plain.
    #[serde(deserialize_with = "super::de::null_as_default", skip_serializing_if = "Option::is_none")]
    pub tls: Option<super::TlsServerConfig>,
    /// Connection cap, timeouts and bytes-in-flight bound of the metrics port (see
    /// [`crate::server::ServerLimits`]).
    #[serde(flatten)]
    pub limits: crate::server::ServerLimits,
}

impl Default for MetricsSection {
    fn default() -> Self {
        Self {
            level: MetricsLevel::Normal,
            address: super::Endpoint::new("127.0.0.1", 8888),
            tls: None,
            limits: Default::default(),
        }
    }
}
