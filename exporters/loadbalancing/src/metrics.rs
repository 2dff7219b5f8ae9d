//! The load balancer's own metrics, after the Collector's `otelcol_loadbalancer_*`: how many
//! backends it routes to, how its resolver fares, and what backends that left handed on.
//! What each backend sends or fails is in the usual `tracegate_exporter_*` series, labelled
//! with the backend's exporter id.
//!
//! Each metric is one family per registry, shared by every instance
//! (`Metrics::component_counter`), and an instance takes its series by label: a reload starts
//! a changed exporter's new instance beside the old one, with the same id, and both count into
//! the same series. The backends gauge is set only by the newest instance of an id (the
//! crate's `lineage` module knows which), so the old one's last update or its shutdown cannot
//! overwrite it.

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts};
use tracegate_core::telemetry::Metrics;
use tracegate_core::ComponentId;

/// The families, shared by every load balancer of a service.
#[derive(Clone)]
pub struct Families {
    backends: IntGaugeVec,
    resolutions: IntCounterVec,
    updates: IntCounterVec,
    rerouted: IntCounterVec,
}

impl Families {
    /// `metrics`' families, registered there on first use; unexported (yet counting) in the
    /// impossible case that a name is taken by another family.
    #[allow(clippy::expect_used)]
    pub fn of(metrics: &Metrics) -> Self {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            metrics
                .component_counter(name, help, labels)
                .unwrap_or_else(|| IntCounterVec::new(Opts::new(name, help), labels).expect("static metric definition"))
        };
        let (name, help, labels) = ("tracegate_loadbalancer_backends", "Backends the load balancer routes to now.", &["exporter", "resolver"]);
        let backends = metrics
            .component_gauge(name, help, labels)
            .unwrap_or_else(|| IntGaugeVec::new(Opts::new(name, help), labels).expect("static metric definition"));
        Self {
            backends,
            resolutions: counter(
                "tracegate_loadbalancer_resolutions",
                "Resolutions of the backend list, by outcome.",
                &["exporter", "resolver", "success"],
            ),
            updates: counter(
                "tracegate_loadbalancer_backend_updates",
                "Resolutions that changed the backend list (each rebuilds the ring).",
                &["exporter", "resolver"],
            ),
            rerouted: counter(
                "tracegate_loadbalancer_rerouted_spans",
                "Spans a backend held when it left the ring, handed to the backends that own their traces now.",
                &["exporter"],
            ),
        }
    }
}

#[derive(Clone)]
pub struct LoadBalancerMetrics {
    families: Families,
    exporter: String,
    resolver: &'static str,
    /// `tracegate_loadbalancer_backends`: set through `BackendSet`, which
    /// knows whether its instance is the newest.
    pub backends: IntGauge,
    /// `tracegate_loadbalancer_resolutions{success="true"}`
    pub resolved: IntCounter,
    /// `tracegate_loadbalancer_resolutions{success="false"}`
    pub resolve_failed: IntCounter,
    /// `tracegate_loadbalancer_backend_updates`
    pub updates: IntCounter,
    /// `tracegate_loadbalancer_rerouted_spans`
    pub rerouted: IntCounter,
}

impl LoadBalancerMetrics {
    /// The series of exporter `id` with resolver `kind`.
    pub fn new(families: &Families, id: &ComponentId, kind: &'static str) -> Self {
        let exporter = id.to_string();
        Self {
            backends: families.backends.with_label_values(&[&exporter, kind]),
            resolved: families.resolutions.with_label_values(&[&exporter, kind, "true"]),
            resolve_failed: families.resolutions.with_label_values(&[&exporter, kind, "false"]),
            updates: families.updates.with_label_values(&[&exporter, kind]),
            rerouted: families.rerouted.with_label_values(&[&exporter]),
            families: families.clone(),
            exporter,
            resolver: kind,
        }
    }

    /// Takes the backends gauge out of the output (an instance replaced by one with another
    /// resolver: its series would stay at its last value for ever).
    pub fn remove_backends_series(&self) {
        let _ = self.families.backends.remove_label_values(&[&self.exporter, self.resolver]);
    }

    pub fn resolver(&self) -> &'static str {
        self.resolver
    }
}
