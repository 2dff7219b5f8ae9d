//! The query service's own metrics: what the bounds of [`crate::bounds`] did. Named as the
//! project names a component's own metrics (`tracegate_<kind>_<type>_<what>`, like
//! `tracegate_exporter_elasticsearch_dropped_documents`), with the extension id as a constant
//! label and the route (`/api/traces`, `/api/v3/traces/{trace_id}`, ...) as `endpoint`.
//!
//! - `tracegate_extension_jaeger_query_refused_requests{extension,endpoint,reason}`: `busy`
//!   (503: every slot and queue place taken, or the queue wait ran out) or `too_large` (422: one
//!   trace over `max_response_bytes`).
//! - `tracegate_extension_jaeger_query_timed_out_requests{extension,endpoint}`: 504 after
//!   `query_timeout`.
//! - `tracegate_extension_jaeger_query_truncated_answers{extension,endpoint,reason}`: answers
//!   served with fewer traces than asked, `max_limit` (the limit was clamped) or
//!   `max_response_bytes` (the answer was cut).
//! - `tracegate_extension_jaeger_query_queries_running{extension}` and `..._queries_waiting`:
//!   slots held (abandoned work included, see `bounds`) and queries queued for one.

use prometheus::{IntCounterVec, IntGauge, Opts, Registry};

const PREFIX: &str = "tracegate_extension_jaeger_query_";

#[derive(Clone)]
pub struct QueryMetrics {
    refused: IntCounterVec,
    timed_out: IntCounterVec,
    truncated: IntCounterVec,
    pub(crate) running: IntGauge,
    pub(crate) waiting: IntGauge,
}

impl QueryMetrics {
    /// Metrics for the extension `extension`, not yet in any registry.
    #[allow(clippy::expect_used)]
    pub fn new(extension: &str) -> Self {
        let opts = |name: &str, help: &str| Opts::new(format!("{PREFIX}{name}"), help).const_label("extension", extension);
        let counter = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(opts(name, help), labels).expect("static metric definition")
        };
        let gauge = |name: &str, help: &str| IntGauge::with_opts(opts(name, help)).expect("static metric definition");
        Self {
            refused: counter(
                "refused_requests",
                "Expensive query requests refused: busy (503, no query slot or queue place) or too_large (422, one trace over max_response_bytes).",
                &["endpoint", "reason"],
            ),
            timed_out: counter(
                "timed_out_requests",
                "Query requests answered 504 because they ran past query_timeout.",
                &["endpoint"],
            ),
            truncated: counter(
                "truncated_answers",
                "Answers served with fewer traces than asked: limit clamped to max_limit, or cut at max_response_bytes.",
                &["endpoint", "reason"],
            ),
            running: gauge("queries_running", "Query slots held by expensive queries (abandoned store work included)."),
            waiting: gauge("queries_waiting", "Expensive queries waiting for a query slot."),
        }
    }

    /// Adds every family to `registry`; one that cannot be (the same extension id twice) is
    /// logged and still counted, only not exported.
    pub fn register(&self, registry: &Registry) {
        let collectors: [Box<dyn prometheus::core::Collector>; 5] = [
            Box::new(self.refused.clone()),
            Box::new(self.timed_out.clone()),
            Box::new(self.truncated.clone()),
            Box::new(self.running.clone()),
            Box::new(self.waiting.clone()),
        ];
        for c in collectors {
            if let Err(e) = registry.register(c) {
                tracing::warn!("jaeger_query: a metric is not exported: {e}");
            }
        }
    }

    pub(crate) fn refused(&self, endpoint: &str, reason: &str) {
        self.refused.with_label_values(&[endpoint, reason]).inc();
    }

    pub(crate) fn timed_out(&self, endpoint: &str) {
        self.timed_out.with_label_values(&[endpoint]).inc();
    }

    pub(crate) fn truncated(&self, endpoint: &str, reason: &str) {
        self.truncated.with_label_values(&[endpoint, reason]).inc();
    }

    /// The current value of a counter, for tests.
    #[cfg(test)]
    pub(crate) fn count(&self, family: &str, labels: &[&str]) -> u64 {
        let vec = match family {
            "refused" => &self.refused,
            "timed_out" => &self.timed_out,
            _ => &self.truncated,
        };
        vec.with_label_values(labels).get()
    }
}
