//! Logging set-up from `service.telemetry.logs`.

use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogEncoding {
    #[default]
    Console,
    Json,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogsConfig {
    /// `error`, `warn`, `info`, `debug`, `trace`, or any `tracing` filter directive.
    pub level: String,
    pub encoding: LogEncoding,
}

impl Default for LogsConfig {
    fn default() -> Self {
        Self {
            level: "info".to_string(),
            encoding: LogEncoding::Console,
        }
    }
}

/// Libraries that log every request at `info` (rmcp, the MCP SDK, logs each MCP call's session
/// start and end): held at `warn` unless the level names them, so `info` stays readable.
const CHATTY_TARGETS: &[&str] = &["rmcp"];

/// Installs the global subscriber; `RUST_LOG`, when set, wins over the config's level.
/// Logs go to stderr so that stdout stays for command output.
pub fn init_logs(cfg: &LogsConfig) {
    let spec = std::env::var(EnvFilter::DEFAULT_ENV).ok().filter(|s| EnvFilter::try_new(s).is_ok()).unwrap_or_else(|| cfg.level.clone());
    let mut filter = EnvFilter::try_new(&spec).unwrap_or_else(|_| EnvFilter::new("info"));
    for target in CHATTY_TARGETS.iter().filter(|t| !spec.contains(*t)) {
        if let Ok(directive) = format!("{target}=warn").parse() {
            filter = filter.add_directive(directive);
        }
    }
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never in files or CI logs.
        .with_ansi(std::io::stderr().is_terminal());
    let result = match cfg.encoding {
        LogEncoding::Console => builder.try_init(),
        LogEncoding::Json => builder.json().flatten_event(true).try_init(),
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
}
