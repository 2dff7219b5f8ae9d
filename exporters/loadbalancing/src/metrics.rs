//! The load balancer's own metrics, after the Collector's `otelcol_loadbalancer_*`: how many
//! backends it routes to, and how its resolver fares. What each backend sends or fails is in
//! the usual `tracegate_exporter_*` series, labelled with the backend's exporter id.

use prometheus::core::Collector;
use prometheus::{IntCounter, IntGauge, Opts, Registry};
use tracegate_core::ComponentId;

#[derive(Clone)]
pub struct LoadBalancerMetrics {
    /// `tracegate_loadbalancer_backends`
    pub backends: IntGauge,
    /// `tracegate_loadbalancer_resolutions{success="true"}`
    pub resolved: IntCounter,
    /// `tracegate_loadbalancer_resolutions{success="false"}`
    pub resolve_failed: IntCounter,
    /// `tracegate_loadbalancer_backend_updates`
    pub updates: IntCounter,
}

const RESOLUTIONS_HELP: &str = "Resolutions of the backend list, by outcome.";

impl LoadBalancerMetrics {
    /// Registers the series for exporter `id` with resolver `kind`. A series that cannot be
    /// registered (the same id built twice in one process, as tests do) still counts, unseen.
    #[allow(clippy::expect_used)]
    pub fn new(registry: &Registry, id: &ComponentId, kind: &str) -> Self {
        let opts = |name: &str, help: &str| {
            Opts::new(name, help).const_label("exporter", id.to_string()).const_label("resolver", kind)
        };
        let register = |c: Box<dyn Collector>| {
            if let Err(e) = registry.register(c) {
                tracing::debug!(exporter = %id, "loadbalancer metric not registered: {e}");
            }
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::with_opts(opts(name, help)).expect("static metric definition");
            register(Box::new(g.clone()));
            g
        };
        let counter = |o: Opts| {
            let c = IntCounter::with_opts(o).expect("static metric definition");
            register(Box::new(c.clone()));
            c
        };
        Self {
            backends: gauge("tracegate_loadbalancer_backends", "Backends the load balancer routes to now."),
            resolved: counter(opts("tracegate_loadbalancer_resolutions", RESOLUTIONS_HELP).const_label("success", "true")),
            resolve_failed: counter(opts("tracegate_loadbalancer_resolutions", RESOLUTIONS_HELP).const_label("success", "false")),
            updates: counter(opts(
                "tracegate_loadbalancer_backend_updates",
                "Resolutions that changed the backend list (each rebuilds the ring).",
            )),
        }
    }
}
