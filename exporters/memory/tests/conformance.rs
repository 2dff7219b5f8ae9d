//! The shared storage conformance suite against the memory store.

use std::sync::Arc;

use tracegate_core::storage::TraceReader;
use tracegate_core::Exporter;
use tracegate_exporter_memory::MemoryStore;
use tracegate_storage_conformance::Store;

async fn fresh_store() -> Store {
    let store = MemoryStore::new(100_000);
    let reader: Arc<dyn TraceReader> = Arc::new(store.clone());
    let exporter: Arc<dyn Exporter> = Arc::new(store);
    Store::from((exporter, reader))
}

tracegate_storage_conformance::conformance_tests!(fresh_store);
