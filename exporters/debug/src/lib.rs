//! debug exporter: writes spans to the log
