//! The Collector-shaped config: `receivers`, `processors`, `exporters`, `extensions`,
//! `service` (pipelines, extensions, telemetry), plus value types components share.

mod duration;
mod endpoint;
mod problem;

pub use duration::{format_go_duration, parse_go_duration, DurationError, GoDuration};
pub use endpoint::Endpoint;
pub use problem::{ConfigProblem, Severity};
