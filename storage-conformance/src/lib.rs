//! One conformance suite for every trace store (sled, memory, Elasticsearch).
//!
//! Why a crate: the query API must answer the same way whichever backend sits behind it, and
//! the only way to keep backends honest is to run the same assertions against each. The rules
//! are Jaeger's storage integration tests: a trace matches when a single span meets every
//! condition (service, operation, every tag, start bounds, duration bounds); tags match span
//! attributes, resource (process) attributes and event (log) attributes, with non-string values
//! compared by their text (`200`, `true`); results are newest first, at most `limit` traces;
//! writing the same span twice stores it once.
//!
//! Each check is a public async fn taking a fresh [`Store`], so a backend's tests can call
//! [`run_all`] or, better, expand [`conformance_tests!`] to get one `#[tokio::test]` per check
//! and see exactly which rule fails.
//!
//! Data is written only through [`Exporter::export`] and read only through [`TraceReader`].

mod data;
mod find;
mod read;

use std::any::Any;
use std::future::Future;
use std::sync::Arc;

use tracegate_core::storage::TraceReader;
use tracegate_core::{Exporter, Traces};

pub use data::{batch, expected_keys, nanos, span_keys, Ids, TestSpan, Val};
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
    "services_are_sorted_and_distinct",
    "operations_by_service_and_span_kind",
    "dependencies_count_calls_between_services",
    "find_by_service",
    "find_by_operation",
    "find_by_span_tag",
    "find_by_resource_tag",
    "find_by_event_tag",
    "find_tags_must_match_one_span",
    "find_by_start_time",
    "find_by_duration",
    "find_combined_conditions",
    "find_limit_keeps_the_newest",
    "find_traces_returns_whole_traces",
];

/// Runs every check, each on a store fresh from `make()`.
pub async fn run_all<F, Fut, S>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
    S: Into<Store>,
{
    macro_rules! each {
        ($($name:ident),* $(,)?) => {
            $( $name(&make().await.into()).await; )*
        };
    }
    each!(
        get_trace_returns_every_span,
        get_trace_of_missing_id_is_none,
        writes_are_idempotent,
        services_are_sorted_and_distinct,
        operations_by_service_and_span_kind,
        dependencies_count_calls_between_services,
        find_by_service,
        find_by_operation,
        find_by_span_tag,
        find_by_resource_tag,
        find_by_event_tag,
        find_tags_must_match_one_span,
        find_by_start_time,
        find_by_duration,
        find_combined_conditions,
        find_limit_keeps_the_newest,
        find_traces_returns_whole_traces,
    );
}

/// Expands to one `#[tokio::test]` per check. `$make` is a path to an `async fn() -> S` with
/// `S: Into<Store>`. The calling crate needs `tokio` (with `macros` and `rt`) as a dev-dependency.
///
/// ```ignore
/// mod conformance {
///     tracegate_storage_conformance::conformance_tests!(super::fresh_store);
/// }
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($make:path) => {
        $crate::conformance_tests!(@each $make;
            get_trace_returns_every_span,
            get_trace_of_missing_id_is_none,
            writes_are_idempotent,
            services_are_sorted_and_distinct,
            operations_by_service_and_span_kind,
            dependencies_count_calls_between_services,
            find_by_service,
            find_by_operation,
            find_by_span_tag,
            find_by_resource_tag,
            find_by_event_tag,
            find_tags_must_match_one_span,
            find_by_start_time,
            find_by_duration,
            find_combined_conditions,
            find_limit_keeps_the_newest,
            find_traces_returns_whole_traces,
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
}
