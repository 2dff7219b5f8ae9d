//! What to say about a part of a Collector or Jaeger v2 config that tracegate does not have:
//! the nearest thing it does have, so `tracegate validate` on a config brought from there
//! answers one line per part with a way forward rather than only "unknown".

use crate::id::Kind;

/// Advice for a component type this build does not know, when there is some.
pub(crate) fn unknown_type(kind: Kind, type_name: &str) -> Option<&'static str> {
    Some(match (kind, type_name) {
        (Kind::Exporter, "prometheus" | "prometheusremotewrite") => {
            "span metrics need no exporter here: the sled and memory stores count them as they write, and serve them on service::telemetry's /metrics as the spanmetrics connector names them (traces_span_metrics_*) and to the Monitor tab"
        }
        (Kind::Exporter, "jaeger") => "Jaeger's own exporter was removed from the Collector; send OTLP with the otlp exporter (Jaeger takes OTLP)",
        (Kind::Exporter, "zipkin") => "use the otlp exporter towards a collector, or store spans here (sled, elasticsearch) and read them through jaeger_query",
        (Kind::Exporter, "storage_exporter") => "Jaeger's storage exporter is jaeger_storage_exporter: { trace_storage: <backend> }",
        (Kind::Receiver, "spanmetrics") => "span metrics come from the stores (sled, memory), not from a connector; remove the metrics pipeline",
        (Kind::Extension, "health_check_v2") => "use healthcheckv2 or health_check",
        (Kind::Processor, "spanmetrics") => "span metrics come from the stores (sled, memory); remove the processor",
        _ => return None,
    })
}

/// Advice for a top-level key this build does not know.
pub(crate) fn unknown_top_level(key: &str) -> Option<&'static str> {
    match key {
        "connectors" => Some(
            "connectors are not available: the spanmetrics connector's work is done by the sled and memory stores (span_metrics), which serve the Monitor tab and the traces_span_metrics_* series on service::telemetry's /metrics; remove connectors and the pipelines that use them",
        ),
        _ => None,
    }
}
