//! Metric families a component defines for itself (`tracegate_processor_tail_sampling_*`,
//! `tracegate_loadbalancer_*`), beside the engine's own in [`super::Metrics`].
//!
//! Each is registered once per registry, the first time any instance asks for it, and handed
//! to every later instance, which takes its series by label values (the component's id, ...).
//! A reload creates a changed component again while the old instance's series are still
//! registered: a family registered per instance, with its id as a constant label, would fail
//! to register for the new instance (whose numbers would then go unexported) and leave the
//! old one's frozen in the output. A shared family goes on counting whichever instance counts.

use std::collections::HashMap;
use std::sync::Mutex;

use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};

use super::Metrics;

#[derive(Clone)]
enum Family {
    Counter(IntCounterVec),
    Gauge(IntGaugeVec),
}

/// The component families of one registry, by name, with their label names.
#[derive(Default)]
pub(super) struct ComponentFamilies {
    by_name: Mutex<HashMap<String, (Vec<String>, Family)>>,
}

impl ComponentFamilies {
    fn get_or_register(&self, registry: &Registry, name: &str, labels: &[&str], make: impl FnOnce() -> Option<Family>) -> Option<Family> {
        let mut by_name = self.by_name.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((known, family)) = by_name.get(name) {
            // Other label names would make `with_label_values` panic: refuse instead.
            return (known.iter().map(String::as_str).eq(labels.iter().copied())).then(|| family.clone());
        }
        let family = make()?;
        let registered = match &family {
            Family::Counter(c) => registry.register(Box::new(c.clone())),
            Family::Gauge(g) => registry.register(Box::new(g.clone())),
        };
        if let Err(e) = registered {
            tracing::warn!("metric {name} is not exported: {e}");
            return None;
        }
        by_name.insert(name.to_string(), (labels.iter().map(|l| (*l).to_string()).collect(), family.clone()));
        Some(family)
    }
}

impl Metrics {
    /// The counter family `name` with `labels`, registered on first use (see the module docs).
    /// `None` when the name is taken with other labels or by a gauge, or is not a valid name.
    pub fn component_counter(&self, name: &str, help: &str, labels: &[&str]) -> Option<IntCounterVec> {
        let make = || IntCounterVec::new(Opts::new(name, help), labels).ok().map(Family::Counter);
        match self.component_families.get_or_register(self.registry(), name, labels, make)? {
            Family::Counter(c) => Some(c),
            Family::Gauge(_) => None,
        }
    }

    /// The gauge family `name` with `labels`, as [`Metrics::component_counter`].
    pub fn component_gauge(&self, name: &str, help: &str, labels: &[&str]) -> Option<IntGaugeVec> {
        let make = || IntGaugeVec::new(Opts::new(name, help), labels).ok().map(Family::Gauge);
        match self.component_families.get_or_register(self.registry(), name, labels, make)? {
            Family::Gauge(g) => Some(g),
            Family::Counter(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_family_asked_for_twice_is_one_family_and_counts_on() {
        let metrics = Metrics::new();
        let first = metrics.component_counter("tracegate_processor_x_things", "Things.", &["processor"]).unwrap();
        first.with_label_values(&["x"]).inc_by(2);
        // The instance a reload creates while the first is still registered.
        let second = metrics.component_counter("tracegate_processor_x_things", "Things.", &["processor"]).unwrap();
        second.with_label_values(&["x"]).inc();
        assert!(metrics.render().contains("tracegate_processor_x_things{processor=\"x\"} 3"), "{}", metrics.render());
        assert!(metrics.component_counter("tracegate_processor_x_things", "Things.", &["other"]).is_none());
        assert!(metrics.component_gauge("tracegate_processor_x_things", "Things.", &["processor"]).is_none());
        let g = metrics.component_gauge("tracegate_processor_x_held", "Held.", &["processor"]).unwrap();
        g.with_label_values(&["x"]).set(7);
        assert!(metrics.render().contains("tracegate_processor_x_held{processor=\"x\"} 7"));
    }
}
