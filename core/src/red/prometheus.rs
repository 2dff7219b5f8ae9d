//! The RED metrics for Prometheus, under the names the OpenTelemetry Collector's spanmetrics
//! connector gets through its Prometheus exporter (namespace `traces.span.metrics`, the
//! default since connector v0.85), so dashboards and alerts written for it work unchanged:
//!
//! - `traces_span_metrics_calls_total` (counter)
//! - `traces_span_metrics_duration_milliseconds` (histogram: `_bucket`, `_sum`, `_count`),
//!   with the connector's default bounds in milliseconds
//!
//! labelled `service_name`, `span_name`, `span_kind` (`SPAN_KIND_SERVER`, ...) and
//! `status_code` (`STATUS_CODE_UNSET` / `_OK` / `_ERROR`). Past the recorder's cardinality
//! limit new keys are counted in one series labelled only `otel_metric_overflow="true"`, as
//! the connector's `aggregation_cardinality_limit` does. Counts are cumulative since start.

use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::{Bucket, Counter, Histogram, LabelPair, Metric, MetricFamily, MetricType};

use super::aggregate::Recorder;

/// The connector's default explicit bucket bounds, in milliseconds.
pub const BOUNDS_MS: [f64; 16] = [2.0, 4.0, 6.0, 8.0, 10.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1000.0, 1400.0, 2000.0, 5000.0, 10_000.0, 15_000.0];

pub const CALLS: &str = "traces_span_metrics_calls_total";
pub const DURATION: &str = "traces_span_metrics_duration_milliseconds";
const LABELS: [&str; 4] = ["service_name", "span_name", "span_kind", "status_code"];

/// The connector's `traceutil.SpanKindStr`.
pub fn span_kind_str(kind: u8) -> &'static str {
    match kind {
        1 => "SPAN_KIND_INTERNAL",
        2 => "SPAN_KIND_SERVER",
        3 => "SPAN_KIND_CLIENT",
        4 => "SPAN_KIND_PRODUCER",
        5 => "SPAN_KIND_CONSUMER",
        _ => "SPAN_KIND_UNSPECIFIED",
    }
}

/// The connector's `traceutil.StatusCodeStr`.
pub fn status_code_str(code: usize) -> &'static str {
    match code {
        1 => "STATUS_CODE_OK",
        2 => "STATUS_CODE_ERROR",
        _ => "STATUS_CODE_UNSET",
    }
}

/// Exposes a [`Recorder`]'s cumulative counts; register it in the telemetry registry.
pub struct SpanMetricsCollector {
    recorder: Arc<Recorder>,
    descs: Vec<Desc>,
}

impl SpanMetricsCollector {
    pub fn new(recorder: Arc<Recorder>) -> Result<Self, prometheus::Error> {
        let labels: Vec<String> = LABELS.iter().map(|s| s.to_string()).collect();
        let descs = vec![
            Desc::new(CALLS.into(), "Calls of spans, as the spanmetrics connector counts them".into(), labels.clone(), Default::default())?,
            Desc::new(DURATION.into(), "Span durations, as the spanmetrics connector measures them".into(), labels, Default::default())?,
        ];
        Ok(Self { recorder, descs })
    }
}

fn label(name: &str, value: &str) -> LabelPair {
    let mut l = LabelPair::default();
    l.set_name(name.to_string());
    l.set_value(value.to_string());
    l
}

impl Collector for SpanMetricsCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut calls = Vec::new();
        let mut durations = Vec::new();
        {
            let state = self.recorder.state.lock().unwrap_or_else(|p| p.into_inner());
            for (key, per_status) in state.keys.iter().zip(&state.totals) {
                for (code, totals) in per_status.iter().enumerate() {
                    let Some(t) = totals else { continue };
                    let labels = if key.overflow {
                        vec![label("otel_metric_overflow", "true")]
                    } else {
                        vec![
                            label("service_name", &key.service),
                            label("span_name", &key.operation),
                            label("span_kind", span_kind_str(key.kind)),
                            label("status_code", status_code_str(code)),
                        ]
                    };
                    let mut c = Counter::default();
                    c.set_value(t.calls as f64);
                    let mut m = Metric::from_label(labels.clone());
                    m.set_counter(c);
                    calls.push(m);
                    let mut h = Histogram::default();
                    h.set_sample_count(t.calls);
                    h.set_sample_sum(t.sum_ms);
                    let mut cumulative = 0;
                    let buckets = BOUNDS_MS
                        .iter()
                        .zip(&t.buckets)
                        .map(|(bound, n)| {
                            cumulative += n;
                            let mut b = Bucket::default();
                            b.set_upper_bound(*bound);
                            b.set_cumulative_count(cumulative);
                            b
                        })
                        .collect();
                    h.set_bucket(buckets);
                    let mut m = Metric::from_label(labels);
                    m.set_histogram(h);
                    durations.push(m);
                }
            }
        }
        if calls.is_empty() {
            return Vec::new();
        }
        let family = |name: &str, help: &str, kind, metrics| {
            let mut f = MetricFamily::default();
            f.set_name(name.to_string());
            f.set_help(help.to_string());
            f.set_field_type(kind);
            f.set_metric(metrics);
            f
        };
        vec![
            family(CALLS, "Calls of spans, as the spanmetrics connector counts them", MetricType::COUNTER, calls),
            family(DURATION, "Span durations, as the spanmetrics connector measures them", MetricType::HISTOGRAM, durations),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::red::aggregate::SpanSample;

    #[test]
    fn the_text_exposition_has_the_connector_names_labels_and_overflow() {
        let recorder = Arc::new(Recorder::new(1));
        let span = |op: &'static str, ms: u64, code| SpanSample {
            service: "shop",
            operation: op,
            kind: 2,
            status_code: code,
            start_unix_nano: 0,
            end_unix_nano: ms * 1_000_000,
        };
        recorder.record([span("GET /", 3, 0), span("GET /", 30, 2), span("other", 1, 0)]);
        let registry = prometheus::Registry::new();
        let registered = SpanMetricsCollector::new(recorder).map(|c| registry.register(Box::new(c)));
        assert!(matches!(registered, Ok(Ok(()))), "{registered:?}");
        let text = prometheus::TextEncoder::new().encode_to_string(&registry.gather()).unwrap_or_default();
        for line in [
            r#"traces_span_metrics_calls_total{service_name="shop",span_name="GET /",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET"} 1"#,
            r#"traces_span_metrics_calls_total{service_name="shop",span_name="GET /",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_ERROR"} 1"#,
            r#"traces_span_metrics_calls_total{otel_metric_overflow="true"} 1"#,
            r#"traces_span_metrics_duration_milliseconds_bucket{service_name="shop",span_name="GET /",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET",le="4"} 1"#,
            r#"traces_span_metrics_duration_milliseconds_bucket{service_name="shop",span_name="GET /",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_ERROR",le="10"} 0"#,
            r#"traces_span_metrics_duration_milliseconds_bucket{service_name="shop",span_name="GET /",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_ERROR",le="50"} 1"#,
            r#"traces_span_metrics_duration_milliseconds_sum{service_name="shop",span_name="GET /",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_ERROR"} 30"#,
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }
}
