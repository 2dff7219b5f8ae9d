//! One conformance suite for every trace store (sled, memory, Elasticsearch).
//!
//! Why a crate: the query API must answer the same way whichever backend sits behind it, and
//! the only way to keep backends honest is to run the same assertions against each. The rules
//! are Jaeger v2's (its memory store and storage integration tests), written out in
//! `tracegate_core::storage`: a trace matches when a single span meets every condition
//! (service, operation, every tag, start bounds, duration bounds); tags match attributes of the
//! span, its resource (process), its scope (and the scope's name and version), its events
//! (logs) and its links, with typed values compared by their text (`123`, `true`, `1.5`); an
//! empty service means any service; results are newest first, at most `limit` traces; spans
//! sharing a span id are all kept, while writing the same span twice stores it once.
//!
//! Each check is a public async fn taking a fresh [`Store`] (and, where a backend may lack the
//! rule, its [`Capabilities`]), so a backend's tests can call [`run_all`] or, better, expand
//! [`conformance_tests!`] to get one `#[tokio::test]` per check and see exactly which rule
//! fails. A backend that cannot follow a rule declares it in [`Capabilities`]; the check then
//! asserts the weaker promise instead of being skipped.
//!
//! Data is written only through [`Exporter::export`] and read only through [`TraceReader`].

mod anyservice;
mod attrs;
mod caps;
mod data;
mod duplicates;
mod find;
mod read;

use std::any::Any;
use std::future::Future;
use std::sync::Arc;

use tracegate_core::storage::TraceReader;
use tracegate_core::{Exporter, Traces};

pub use anyservice::*;
pub use attrs::*;
pub use caps::Capabilities;
pub use data::{batch, expected_keys, nanos, span_keys, Ids, TestLink, TestScope, TestSpan, Val};
pub use duplicates::*;
pub use find::*;
pub use read::*;

/// A fresh, empty store under test.
pub struct Store {
    pub exporter: Arc<dyn Exporter>,
    pub reader: Arc<dyn TraceReader>,
    /// Anything that must outlive the store (a temporary directory, a server).
    pub keep: Option<Box<dyn Any + Send + Sync>>,
}

impl From<(Arc<dyn Exporter>, Arc<dyn TraceReader>)> for Store {
    fn from((exporter, reader): (Arc<dyn Exporter>, Arc<dyn TraceReader>)) -> Self {
        Self { exporter, reader, keep: None }
    }
}

impl Store {
    /// Exports one batch, failing the test if the store refuses it.
    pub async fn write(&self, traces: Traces) {
        if let Err(e) = self.exporter.export(traces).await {
            panic!("export failed: {e}");
        }
    }
}

/// Every check's name, in the order [`run_all`] runs them.
pub const CHECKS: &[&str] = &[
    "get_trace_returns_every_span",
    "get_trace_of_missing_id_is_none",
    "writes_are_idempotent",
    "duplicate_span_ids_are_all_kept",
    "services_are_sorted_and_distinct",
    "operations_by_service_and_span_kind",
    "dependencies_count_calls_between_services",
    "find_by_service",
    "find_by_operation",
    "find_by_span_tag",
    "find_by_resource_tag",
    "find_by_event_tag",
    "find_by_scope_name_and_version",
    "find_by_typed_tag_values",
    "find_tags_must_match_one_span",
    "find_by_start_time",
    "find_by_duration",
    "find_combined_conditions",
    "find_limit_keeps_the_newest",
    "find_traces_returns_whole_traces",
    "find_by_scope_attribute",
    "find_by_link_attribute",
    "find_without_service_by_operation",
    "find_without_service_by_tag",
    "find_without_service_by_duration",
    "find_without_service_by_time_only",
];

/// Runs every check, each on a store fresh from `make()`, claiming every capability.
pub async fn run_all<F, Fut, S>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
    S: Into<Store>,
{
    run_all_with(make, Capabilities::ALL).await;
}

/// Runs every check, each on a store fresh from `make()`, for a backend with `caps`.
pub async fn run_all_with<F, Fut, S>(make: F, caps: Capabilities)
where
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
    S: Into<Store>,
{
    macro_rules! each {
        ($($name:ident),* ; $($gated:ident),* $(,)?) => {
            $( $name(&make().await.into()).await; )*
            $( $gated(&make().await.into(), &caps).await; )*
        };
    }
    each!(
        get_trace_returns_every_span,
        get_trace_of_missing_id_is_none,
        writes_are_idempotent,
        duplicate_span_ids_are_all_kept,
        services_are_sorted_and_distinct,
        operations_by_service_and_span_kind,
        dependencies_count_calls_between_services,
        find_by_service,
        find_by_operation,
        find_by_span_tag,
        find_by_resource_tag,
        find_by_event_tag,
        find_by_scope_name_and_version,
        find_by_typed_tag_values,
        find_tags_must_match_one_span,
        find_by_start_time,
        find_by_duration,
        find_combined_conditions,
        find_limit_keeps_the_newest,
        find_traces_returns_whole_traces;
        find_by_scope_attribute,
        find_by_link_attribute,
        find_without_service_by_operation,
        find_without_service_by_tag,
        find_without_service_by_duration,
        find_without_service_by_time_only,
    );
}

/// Expands to one `#[tokio::test]` per check. `$make` is a path to an `async fn() -> S` with
/// `S: Into<Store>`; `$caps`, when given, is the backend's [`Capabilities`] (by default all).
/// The calling crate needs `tokio` (with `macros` and `rt`) as a dev-dependency.
///
/// ```ignore
/// mod conformance {
///     tracegate_storage_conformance::conformance_tests!(super::fresh_store);
/// }
/// mod conformance_excused {
///     use tracegate_storage_conformance::Capabilities;
///     // Why: Jaeger's model has no place for scope attributes.
///     tracegate_storage_conformance::conformance_tests!(
///         super::fresh_store,
///         Capabilities { scope_attributes: false, ..Capabilities::ALL }
///     );
/// }
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($make:path) => {
        $crate::conformance_tests!($make, $crate::Capabilities::ALL);
    };
    ($make:path, $caps:expr) => {
        $crate::conformance_tests!(@each $make;
            get_trace_returns_every_span,
            get_trace_of_missing_id_is_none,
            writes_are_idempotent,
            duplicate_span_ids_are_all_kept,
            services_are_sorted_and_distinct,
            operations_by_service_and_span_kind,
            dependencies_count_calls_between_services,
            find_by_service,
            find_by_operation,
            find_by_span_tag,
            find_by_resource_tag,
            find_by_event_tag,
            find_by_scope_name_and_version,
            find_by_typed_tag_values,
            find_tags_must_match_one_span,
            find_by_start_time,
            find_by_duration,
            find_combined_conditions,
            find_limit_keeps_the_newest,
            find_traces_returns_whole_traces,
        );
        $crate::conformance_tests!(@gated $make, $caps;
            find_by_scope_attribute,
            find_by_link_attribute,
            find_without_service_by_operation,
            find_without_service_by_tag,
            find_without_service_by_duration,
            find_without_service_by_time_only,
        );
    };
    (@each $make:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let store: $crate::Store = $make().await.into();
                $crate::$name(&store).await;
            }
        )*
    };
    (@gated $make:path, $caps:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let store: $crate::Store = $make().await.into();
                let caps: $crate::Capabilities = $caps;
                $crate::$name(&store, &caps).await;
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    /// `CHECKS` names every check the macro expands, once.
    #[test]
    fn checks_are_listed_once() {
        let mut names = super::CHECKS.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), super::CHECKS.len());
        let source = include_str!("lib.rs");
        for name in super::CHECKS {
            assert_eq!(source.matches(&format!("            {name},")).count(), 1, "{name} in conformance_tests!");
        }
    }
}
