//! One store per tenant (see `tracegate_core::tenancy`): spans of a batch that carries a
//! tenant are written to, and read from, a database of that tenant's own under
//! `<path>/tenants/<tenant>/`, with the exporter's settings.
//!
//! Why whole stores and not a tenant column or key prefix in one: every index, summary, key
//! catalog, dependency counter and RED metric of the store is then a tenant's without a
//! change to any of them, a search can never walk another tenant's blocks, and retention or
//! deleting a tenant is a directory. The cost is a sled instance (its cache, its background
//! thread) per tenant, which is why their number is bounded: the receivers admit only the
//! tenants listed in their `tenancy:`, and this module opens at most [`MAX_TENANTS`] and only
//! names fit for a directory. Untenanted batches (tenancy off) stay in the store at `path`,
//! so data written before tenancy was turned on keeps working there.
//!
//! Stores are opened lazily, on a tenant's first write or read, and started (their
//! background sealing and retention) as they open; they stop with the exporter.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tracegate_core::storage::{DependencyLink, Operation, StorageError, TraceId, TraceQuery, TraceReader};
use tracegate_core::tenancy::is_valid_tenant_name;
use tracegate_core::Traces;

use crate::config::Config;
use crate::exporter::SledExporter;
use crate::read::SledReader;

/// Most tenant stores one exporter opens; each is a sled instance with its own cache.
pub const MAX_TENANTS: usize = 256;

/// The tenants' stores of one exporter.
pub(crate) struct TenantStores {
    config: Config,
    open: Mutex<HashMap<Arc<str>, Arc<SledExporter>>>,
}

impl TenantStores {
    pub(crate) fn new(config: &Config) -> Self {
        Self { config: config.clone(), open: Mutex::new(HashMap::new()) }
    }

    /// `tenant`'s store, opened (and started) now if this is its first use.
    pub(crate) fn get(&self, tenant: &str) -> Result<Arc<SledExporter>, StorageError> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(store) = open.get(tenant) {
            return Ok(store.clone());
        }
        if !is_valid_tenant_name(tenant) {
            return Err(StorageError::BadQuery(format!("\"{tenant}\" is not a tenant name this store accepts")));
        }
        if open.len() >= MAX_TENANTS {
            return Err(StorageError::Backend(format!(
                "{MAX_TENANTS} tenant stores are open; tenant \"{tenant}\" cannot have one (list fewer tenants)"
            )));
        }
        let mut config = self.config.clone();
        config.path = self.config.path.join("tenants").join(tenant);
        let store = SledExporter::open_tenant(config)
            .map_err(|e| StorageError::Backend(format!("cannot open the store of tenant \"{tenant}\": {e}")))?;
        store.start_background();
        tracing::info!(tenant, path = %self.config.path.join("tenants").join(tenant).display(), "opened a tenant's store");
        let store = Arc::new(store);
        open.insert(Arc::from(tenant), store.clone());
        Ok(store)
    }

    /// Every store opened so far (to stop them).
    pub(crate) fn opened(&self) -> Vec<Arc<SledExporter>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }
}

/// The exporter's reader: the untenanted store's, and the way to each tenant's.
pub(crate) struct StoreReader {
    pub(crate) base: SledReader,
    pub(crate) tenants: Arc<TenantStores>,
}

#[async_trait]
impl TraceReader for StoreReader {
    async fn get_trace(&self, id: TraceId) -> Result<Option<Traces>, StorageError> {
        self.base.get_trace(id).await
    }

    async fn services(&self) -> Result<Vec<String>, StorageError> {
        self.base.services().await
    }

    async fn operations(&self, service: &str, span_kind: Option<&str>) -> Result<Vec<Operation>, StorageError> {
        self.base.operations(service, span_kind).await
    }

    async fn find_trace_ids(&self, query: &TraceQuery) -> Result<Vec<TraceId>, StorageError> {
        self.base.find_trace_ids(query).await
    }

    async fn find_traces(&self, query: &TraceQuery) -> Result<Vec<Traces>, StorageError> {
        self.base.find_traces(query).await
    }

    async fn dependencies(&self, end: SystemTime, lookback: Duration) -> Result<Vec<DependencyLink>, StorageError> {
        self.base.dependencies(end, lookback).await
    }

    fn metrics(&self) -> Option<Arc<dyn tracegate_core::red::MetricsReader>> {
        self.base.metrics()
    }

    fn tenant(&self, tenant: &str) -> Result<Arc<dyn TraceReader>, StorageError> {
        Ok(Arc::new(self.tenants.get(tenant)?.reader()))
    }
}
