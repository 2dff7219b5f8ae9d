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
    /// The Collector's own-telemetry resource (Jaeger v2 sets `service.name`); accepted with a
    /// warning, since tracegate does not trace itself (see `telemetry_readers`).
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub resource: IndexMap<String, serde_yaml_ng::Value>,
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
    /// The Collector's `readers:` (a Prometheus pull reader sets `address`; folded in at
    /// validation, see `telemetry_readers`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub readers: Vec<serde_yaml_ng::Value>,
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
            readers: Vec::new(),
            address: super::Endpoint::new("127.0.0.1", 8888),
            tls: None,
            limits: Default::default(),
        }
    }
}
