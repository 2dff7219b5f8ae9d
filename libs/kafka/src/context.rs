//! [`LogContext`]: how librdkafka's own logs and errors reach tracegate's log.
//!
//! rdkafka's default context logs every librdkafka event at its own level and every client
//! error at ERROR. While a broker is down that is several ERROR lines a second per client
//! ("Connect ... failed", "AllBrokersDown"), for a condition the exporter already reports
//! through its retries and the engine's counters. This context keeps the first occurrence of
//! each kind of message and then at most one per `QUIET_FOR`, saying how many were suppressed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;

const QUIET_FOR: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct LogContext {
    /// Per kind of message: when it was last logged and how many were held back since.
    seen: Mutex<HashMap<String, (Instant, u64)>>,
}

impl LogContext {
    /// `Some(suppressed count)` when a message of this kind may be logged now.
    fn admit(&self, kind: &str) -> Option<u64> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match seen.get_mut(kind) {
            Some((last, held)) if now.duration_since(*last) < QUIET_FOR => {
                *held += 1;
                None
            }
            Some((last, held)) => {
                *last = now;
                Some(std::mem::take(held))
            }
            None => {
                seen.insert(kind.to_string(), (now, 0));
                Some(0)
            }
        }
    }
}

impl ClientContext for LogContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        let Some(suppressed) = self.admit(fac) else {
            return;
        };
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(facility = fac, suppressed, "librdkafka: {log_message}")
            }
            RDKafkaLogLevel::Warning => {
                tracing::warn!(facility = fac, suppressed, "librdkafka: {log_message}")
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(facility = fac, suppressed, "librdkafka: {log_message}")
            }
            RDKafkaLogLevel::Debug => {
                tracing::debug!(facility = fac, suppressed, "librdkafka: {log_message}")
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let kind = format!("{:?}", error.rdkafka_error_code());
        let Some(suppressed) = self.admit(&kind) else {
            return;
        };
        tracing::warn!(suppressed, "kafka client: {error}: {reason}");
    }
}

impl ConsumerContext for LogContext {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_of_a_kind_passes_and_repeats_are_held_back() {
        let ctx = LogContext::default();
        assert_eq!(ctx.admit("FAIL"), Some(0));
        assert_eq!(ctx.admit("FAIL"), None);
        assert_eq!(ctx.admit("FAIL"), None);
        assert_eq!(
            ctx.admit("CONNECT"),
            Some(0),
            "another kind is not held back by the first"
        );
    }
}
