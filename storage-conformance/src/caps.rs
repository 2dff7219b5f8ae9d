//! What a backend declares it cannot do, so the suite checks the documented behaviour of that
//! gap instead of skipping a check silently.
//!
//! Why opt-outs with an everything-on default: it is Jaeger's rule for its integration suite
//! (`internal/storage/integration/capabilities`): a new backend gets the whole battery until
//! someone deliberately excuses it from a rule, in code a reviewer sees, with a reason.
//! An excused check still runs: it asserts what the backend promises instead (no error and no
//! trace that does not match, or a clear `BadQuery`), and prints a line saying it was excused.

use tracegate_core::storage::{StorageError, TraceId, TraceQuery};

use crate::Store;

/// Rules of Jaeger v2's search semantics a backend may lack. [`Capabilities::default`] (and
/// [`Capabilities::ALL`]) claims them all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Instrumentation-scope attributes are stored and searchable. Without: such a condition
    /// must not fail and must not match a trace it should not (Jaeger's Elasticsearch and
    /// Badger stores drop scope attributes, as Jaeger's model has no place for them).
    pub scope_attributes: bool,
    /// Link attributes are stored and searchable. Without: as `scope_attributes` (Jaeger's
    /// model keeps links as references, without attributes).
    pub link_attributes: bool,
    /// A query with an empty service searches every service. Without: such a query is
    /// answered with [`StorageError::BadQuery`] (Jaeger's Cassandra and Badger, whose indexes
    /// are keyed by service).
    pub search_without_service: bool,
}

impl Capabilities {
    pub const ALL: Self = Self { scope_attributes: true, link_attributes: true, search_without_service: true };
}

impl Default for Capabilities {
    fn default() -> Self {
        Self::ALL
    }
}

/// Asserts the exact result when `capable`; otherwise that the search succeeds and returns
/// nothing outside `want`.
pub(crate) async fn expect_if(store: &Store, capable: bool, q: &TraceQuery, want: &[TraceId], why: &str) {
    let got = match store.reader.find_trace_ids(q).await {
        Ok(ids) => ids,
        Err(e) => panic!("find_trace_ids({q:?}) failed: {e}"),
    };
    if capable {
        assert_eq!(got, want, "{why}: {q:?}");
    } else {
        assert!(got.iter().all(|id| want.contains(id)), "{why} (backend excused): a trace that does not match: {q:?}");
        eprintln!("conformance: excused by the backend's capabilities: {why}");
    }
}

/// Asserts that a backend without `search_without_service` refuses the query plainly.
pub(crate) async fn expect_service_required(store: &Store, q: &TraceQuery) {
    match store.reader.find_trace_ids(q).await {
        Err(StorageError::BadQuery(_)) => {
            eprintln!("conformance: excused by the backend's capabilities: search without a service");
        }
        other => panic!("a backend declaring no search_without_service must answer BadQuery, got {other:?} for {q:?}"),
    }
}
