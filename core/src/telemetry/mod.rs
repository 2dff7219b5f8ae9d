//! Self-telemetry: Prometheus metrics named after the Collector's, the logging set-up, and the
//! service status the health check reports.

mod families;
mod held;
mod log_limit;
mod logs;
mod metrics;
mod server;
mod status;

use std::sync::Arc;

pub use held::{Held, PipelineMemory};
pub use log_limit::{LogLimit, DEFAULT_LOG_INTERVAL};
pub use logs::{init_logs, LogEncoding, LogsConfig};
pub use metrics::{DroppedSpans, ExporterMetrics, Metrics, ProcessorMetrics, ReceiverMetrics};
pub use server::serve_metrics;
pub use status::{ServiceState, ServiceStatus};

/// Everything a component needs to report about itself.
pub struct Telemetry {
    pub metrics: Metrics,
    pub status: Arc<ServiceStatus>,
}

impl Telemetry {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            metrics: Metrics::new(),
            status: Arc::new(ServiceStatus::default()),
        })
    }
}
