//! The `jaeger_storage` extension's life: every backend is opened when the extension is
//! created (a sled database, a memory store, an Elasticsearch client), once, whatever the
//! number of readers and writers; `start` starts their background work (sled's block sealing
//! and retention, Elasticsearch's templates), `shutdown` flushes and closes them. Each backend
//! is offered to other components as `dyn TraceStore` under its name (see
//! `tracegate_core::capability`): `jaeger_query` reads it, `jaeger_storage_exporter` writes it.

use std::sync::Arc;

use async_trait::async_trait;
use tracegate_core::capability::Offers;
use tracegate_core::storage::TraceStore;
use tracegate_core::{ComponentError, ComponentId, CreateContext, Exporter, ExporterFactory, Extension, Host, Lifecycle};

use crate::config::{Backend, Config};

/// One opened backend.
struct Opened {
    name: String,
    kind: String,
    /// The store's own exporter: its lifecycle is the backend's.
    exporter: Arc<dyn Exporter>,
    store: Arc<dyn TraceStore>,
}

pub struct JaegerStorageExtension {
    id: String,
    backends: Vec<Opened>,
}

impl JaegerStorageExtension {
    /// Opens every backend; a backend that cannot be opened (a sled directory in use, ...) is
    /// an error naming it.
    pub fn open(ctx: &CreateContext, config: &Config) -> Result<Self, ComponentError> {
        let mut backends = Vec::new();
        for (name, backend) in &config.backends {
            // Metrics of the store are labelled `<kind>/<backend>` (`sled/some_store`).
            let store_ctx = CreateContext::new(ComponentId::new(backend.kind(), Some(name.clone())), ctx.telemetry.clone());
            let fail = |e: ComponentError| ComponentError::Config(format!("backend \"{name}\" ({}): {e}", backend.kind()));
            let exporter = match backend {
                Backend::Sled(c) => tracegate_exporter_sled::SledExporterFactory.create(store_ctx, c.clone()),
                Backend::Memory(c) => tracegate_exporter_memory::MemoryExporterFactory.create(store_ctx, c.clone()),
                Backend::Elasticsearch(c) | Backend::Opensearch(c) => {
                    tracegate_exporter_elasticsearch::ElasticsearchExporterFactory.create(store_ctx, c.clone())
                }
                Backend::Unsupported(_) | Backend::NotOne(_) => {
                    Err(ComponentError::Config("not a storage kind tracegate has (validation should have said so)".into()))
                }
            }
            .map_err(fail)?;
            let store = exporter.clone().offers().own::<dyn TraceStore>().ok_or_else(|| fail(ComponentError::other("the store offers no TraceStore")))?;
            backends.push(Opened { name: name.clone(), kind: backend.kind().to_string(), exporter, store });
        }
        Ok(Self { id: ctx.id.to_string(), backends })
    }

    /// The backends' names, in config order.
    pub fn names(&self) -> Vec<&str> {
        self.backends.iter().map(|b| b.name.as_str()).collect()
    }
}

#[async_trait]
impl Lifecycle for JaegerStorageExtension {
    async fn start(&self, host: Arc<dyn Host>) -> Result<(), ComponentError> {
        for b in &self.backends {
            b.exporter
                .start(host.clone())
                .await
                .map_err(|e| ComponentError::Config(format!("backend \"{}\" ({}): {e}", b.name, b.kind)))?;
            tracing::info!(extension = %self.id, backend = %b.name, kind = %b.kind, "trace storage backend ready");
        }
        Ok(())
    }

    /// Closes every backend (a sled store flushes); safe without start and twice, as each
    /// store's own shutdown is.
    async fn shutdown(&self) -> Result<(), ComponentError> {
        let mut first_error = None;
        for b in &self.backends {
            if let Err(e) = b.exporter.shutdown().await {
                tracing::warn!(extension = %self.id, backend = %b.name, "shutdown: {e}");
                first_error.get_or_insert(ComponentError::other(format!("backend \"{}\": {e}", b.name)));
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Extension for JaegerStorageExtension {
    /// Each backend's store under the backend's name.
    fn offers(self: Arc<Self>) -> Offers {
        self.backends.iter().fold(Offers::new(), |o, b| o.named::<dyn TraceStore>(b.name.clone(), b.store.clone()))
    }
}
