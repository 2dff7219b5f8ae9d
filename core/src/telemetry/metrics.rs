//! The metric families, and per-component handles with their labels already bound so the hot
//! path touches one atomic per update.

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use super::PipelineMemory;

/// All of tracegate's own metrics, in one registry.
pub struct Metrics {
    registry: Registry,
    receiver_accepted: IntCounterVec,
    receiver_refused: IntCounterVec,
    receiver_dropped_packets: IntCounterVec,
    exporter_sent: IntCounterVec,
    exporter_send_failed: IntCounterVec,
    exporter_enqueue_failed: IntCounterVec,
    exporter_dropped: IntCounterVec,
    exporter_queue_size: IntGaugeVec,
    exporter_queue_capacity: IntGaugeVec,
    processor_incoming: IntCounterVec,
    processor_outgoing: IntCounterVec,
    processor_dropped: IntCounterVec,
    processor_refused: IntCounterVec,
    server_auth_failures: IntCounterVec,
    tenancy_refusals: IntCounterVec,
    config_reloads: IntCounterVec,
    pipeline_held: IntGauge,
    /// Families components define for themselves (`super::families`).
    pub(super) component_families: super::families::ComponentFamilies,
}

fn counter(reg: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("static metric definition");
    reg.register(Box::new(c.clone()))
        .expect("metric registered once");
    c
}

fn gauge(reg: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("static metric definition");
    reg.register(Box::new(g.clone()))
        .expect("metric registered once");
    g
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    #[allow(clippy::expect_used)]
    pub fn new() -> Self {
        let r = Registry::new();
        Self {
            receiver_accepted: counter(&r, "tracegate_receiver_accepted_spans", "Spans a receiver pushed into the pipeline.", &["receiver", "transport"]),
            receiver_refused: counter(&r, "tracegate_receiver_refused_spans", "Spans a receiver could not push into the pipeline (or could not decode).", &["receiver", "transport"]),
            receiver_dropped_packets: counter(&r, "tracegate_receiver_dropped_packets", "Datagrams or request bodies a receiver dropped before decoding them into spans, by reason (malformed, too_large, queue_full, kernel_buffer_full, ...).", &["receiver", "transport", "reason"]),
            exporter_sent: counter(&r, "tracegate_exporter_sent_spans", "Spans an exporter delivered.", &["exporter"]),
            exporter_send_failed: counter(&r, "tracegate_exporter_send_failed_spans", "Spans an exporter gave up on (permanent error, retries exhausted, or not drained at shutdown).", &["exporter"]),
            exporter_enqueue_failed: counter(&r, "tracegate_exporter_enqueue_failed_spans", "Spans refused or dropped because the sending queue was full.", &["exporter"]),
            exporter_dropped: counter(&r, "tracegate_exporter_dropped_spans", "Spans an exporter accepted but dropped on purpose instead of delivering them, by reason (past_retention: older than a store's retention).", &["exporter", "reason"]),
            exporter_queue_size: gauge(&r, "tracegate_exporter_queue_size", "What the sending queue holds (waiting and being exported), in the unit of its sizer (bytes by default).", &["exporter"]),
            exporter_queue_capacity: gauge(&r, "tracegate_exporter_queue_capacity", "Capacity of the sending queue, in the unit of its sizer (bytes by default).", &["exporter"]),
            processor_incoming: counter(&r, "tracegate_processor_incoming_spans", "Spans a processor received.", &["processor", "pipeline"]),
            processor_outgoing: counter(&r, "tracegate_processor_outgoing_spans", "Spans a processor passed on.", &["processor", "pipeline"]),
            processor_dropped: counter(&r, "tracegate_processor_dropped_spans", "Spans a processor dropped on purpose (sampling, filtering) or lost.", &["processor", "pipeline"]),
            processor_refused: counter(&r, "tracegate_processor_refused_spans", "Spans a processor refused with a retryable error (memory limiter): not lost, the sender retries.", &["processor", "pipeline"]),
            server_auth_failures: counter(&r, "tracegate_server_auth_failures", "Calls a listener refused because its authenticator did not accept their credentials, by reason (missing, invalid, unavailable).", &["component", "server", "reason"]),
            tenancy_refusals: counter(&r, "tracegate_tenancy_refused_requests", "Requests refused because they named no allowed tenant (crate::tenancy), by component and reason (missing, unknown, extra, mismatch).", &["component", "reason"]),
            config_reloads: counter(&r, "tracegate_config_reloads_total", "Config reloads (SIGHUP, or a changed --config file with service.watch_config), by result: applied, unchanged, rejected (invalid config, nothing changed), failed (a part could not start; the previous config was restored).", &["result"]),
            component_families: Default::default(),
            pipeline_held: {
                let g = IntGauge::new("tracegate_pipeline_held_bytes", "Span data the pipelines hold now (requests being answered, in-memory sending queues), in OTLP protobuf bytes: what memory_limiter judges.").expect("static metric definition");
                r.register(Box::new(g.clone())).expect("metric registered once");
                g
            },
            registry: {
                // Counted by every listener in core::server (see register_shed_metric).
                crate::server::register_shed_metric(&r);
                r
            },
        }
    }

    /// The engine's count of the bytes the pipelines hold (see [`PipelineMemory`]).
    pub fn pipeline_memory(&self) -> PipelineMemory {
        PipelineMemory::new(self.pipeline_held.clone())
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let encoder = prometheus::TextEncoder::new();
        if let Err(e) = encoder.encode_utf8(&self.registry.gather(), &mut out) {
            tracing::warn!("cannot render metrics: {e}");
        }
        out
    }

    pub fn receiver(&self, receiver: &str, transport: &str) -> ReceiverMetrics {
        ReceiverMetrics {
            accepted: self
                .receiver_accepted
                .with_label_values(&[receiver, transport]),
            refused: self
                .receiver_refused
                .with_label_values(&[receiver, transport]),
            dropped_malformed: self.receiver_dropped_packets(receiver, transport, "malformed"),
            dropped_too_large: self.receiver_dropped_packets(receiver, transport, "too_large"),
        }
    }

    /// Counts input that never became spans (so `refused_spans` cannot count it).
    pub fn receiver_dropped_packets(
        &self,
        receiver: &str,
        transport: &str,
        reason: &str,
    ) -> IntCounter {
        self.receiver_dropped_packets
            .with_label_values(&[receiver, transport, reason])
    }

    /// Counts the calls listener `server` of `component` refused for `reason`.
    pub fn server_auth_failures(&self, component: &str, server: &str, reason: &str) -> IntCounter {
        self.server_auth_failures
            .with_label_values(&[component, server, reason])
    }

    /// Counts the requests `component` refused for want of an allowed tenant, for `reason`.
    pub fn tenancy_refusals(&self, component: &str, reason: &str) -> IntCounter {
        self.tenancy_refusals.with_label_values(&[component, reason])
    }

    /// `tracegate_config_reloads_total{result}`.
    pub fn config_reloads(&self, result: &str) -> IntCounter {
        self.config_reloads.with_label_values(&[result])
    }

    pub fn exporter(&self, exporter: &str) -> ExporterMetrics {
        ExporterMetrics {
            sent: self.exporter_sent.with_label_values(&[exporter]),
            send_failed: self.exporter_send_failed.with_label_values(&[exporter]),
            enqueue_failed: self.exporter_enqueue_failed.with_label_values(&[exporter]),
            queue_size: self.exporter_queue_size.with_label_values(&[exporter]),
            queue_capacity: self.exporter_queue_capacity.with_label_values(&[exporter]),
            dropped: DroppedSpans { family: self.exporter_dropped.clone(), exporter: exporter.to_string() },
        }
    }

    pub fn processor(&self, processor: &str, pipeline: &str) -> ProcessorMetrics {
        ProcessorMetrics {
            incoming: self
                .processor_incoming
                .with_label_values(&[processor, pipeline]),
            outgoing: self
                .processor_outgoing
                .with_label_values(&[processor, pipeline]),
            dropped: self
                .processor_dropped
                .with_label_values(&[processor, pipeline]),
            refused: self
                .processor_refused
                .with_label_values(&[processor, pipeline]),
        }
    }
}

/// One receiver's counters for one transport.
#[derive(Clone)]
pub struct ReceiverMetrics {
    pub accepted: IntCounter,
    pub refused: IntCounter,
    /// Request bodies or datagrams that could not be decoded (their spans are unknown).
    pub dropped_malformed: IntCounter,
    /// Request bodies or datagrams over the size limit.
    pub dropped_too_large: IntCounter,
}

impl ReceiverMetrics {
    /// Counts a batch by the outcome of pushing it into the pipeline.
    pub fn record<T, E>(&self, spans: usize, outcome: &Result<T, E>) {
        match outcome {
            Ok(_) => self.accepted.inc_by(spans as u64),
            Err(_) => self.refused.inc_by(spans as u64),
        }
    }
}

#[derive(Clone)]
pub struct ExporterMetrics {
    pub sent: IntCounter,
    pub send_failed: IntCounter,
    pub enqueue_failed: IntCounter,
    pub queue_size: IntGauge,
    pub queue_capacity: IntGauge,
    /// `tracegate_exporter_dropped_spans` of this exporter, by reason.
    pub dropped: DroppedSpans,
}

/// One exporter's `tracegate_exporter_dropped_spans`, its reasons known only at run time.
#[derive(Clone)]
pub struct DroppedSpans {
    family: IntCounterVec,
    exporter: String,
}

impl DroppedSpans {
    pub fn reason(&self, reason: &str) -> IntCounter {
        self.family.with_label_values(&[self.exporter.as_str(), reason])
    }
}

#[derive(Clone)]
pub struct ProcessorMetrics {
    pub incoming: IntCounter,
    pub outgoing: IntCounter,
    pub dropped: IntCounter,
    /// Refused by the processor itself (not by what follows it), for the sender to retry.
    pub refused: IntCounter,
}
