//! A fake Elasticsearch for tests: the documented subset of the REST API that the
//! `elasticsearch` exporter and reader use, kept in memory.
//!
//! No Elasticsearch or OpenSearch can be installed where tracegate's tests run, so this stands
//! in for one. It is meant to be honest rather than permissive: it implements `GET /`, index
//! templates (`_index_template` and legacy `_template`), `_bulk` (NDJSON `index`/`create`
//! with per-item results), `_search` and `_msearch` over comma lists and `*` patterns (with
//! `ignore_unavailable`), `_aliases` (add), `_refresh`, the query DSL in [`query`] and the
//! aggregations in [`search`], and it answers anything else the way Elasticsearch answers a
//! request it cannot parse (400 `parsing_exception` / `illegal_argument_exception`), so a
//! client cannot pass its tests by sending something a real cluster would refuse. A document
//! written to an index created under a template is checked against that template's mapping
//! (numbers where `long`/`date`, scalars where `keyword`, objects where `nested`), and `_source`
//! filtering returns only the fields asked for.
//!
//! Differences from a real cluster, on purpose: documents are searchable immediately (as if
//! refreshed after every write); every string is a `keyword` (`match` is exact equality);
//! Jaeger's nested paths are fixed ([`query::NESTED_PATHS`]) rather than read from templates.
//!
//! Fault injection: [`Faults`] (through [`FakeElasticsearch::set_faults`] or `POST
//! /_fake/faults` with the same fields as JSON; `GET /_fake/faults` shows what is left) makes the
//! next requests or bulk items fail.

pub mod error;
pub mod query;
pub mod search;
mod server;
pub mod store;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;

pub use error::EsError;
pub use store::{Cluster, Faults};

/// How the fake presents itself.
#[derive(Clone, Debug)]
pub struct Options {
    /// The version `GET /` reports, e.g. "8.11.1" or "7.17.9".
    pub version: String,
    /// Accepted `Authorization` header values; empty means no authentication.
    pub authorization: Vec<String>,
    /// `version.distribution` in `GET /`: `Some("opensearch")` presents as OpenSearch (which
    /// reports its own version numbers, e.g. "2.11.0"); `None` as Elasticsearch.
    pub distribution: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self { version: "8.11.1".into(), authorization: Vec::new(), distribution: None }
    }
}

pub(crate) struct Shared {
    pub options: Options,
    pub cluster: Mutex<Cluster>,
    pub requests: Mutex<Vec<String>>,
}

impl Shared {
    pub fn cluster(&self) -> MutexGuard<'_, Cluster> {
        // A poisoned lock only means a handler panicked; the maps are still usable for a test.
        self.cluster.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running fake on 127.0.0.1; stop it with [`FakeElasticsearch::stop`].
pub struct FakeElasticsearch {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl FakeElasticsearch {
    /// Serves on 127.0.0.1 at `port` (0 for any free port).
    pub async fn start_on(port: u16, options: Options) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared { options, cluster: Mutex::default(), requests: Mutex::default() });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = server::router(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Self { addr, shared, stop: Some(tx), task: Some(task) })
    }

    pub async fn start(options: Options) -> std::io::Result<Self> {
        Self::start_on(0, options).await
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_faults(&self, faults: Faults) {
        self.shared.cluster().faults = faults;
    }

    /// Faults not yet consumed.
    pub fn faults(&self) -> Faults {
        self.shared.cluster().faults.clone()
    }

    /// Documents of the indices `names` resolves to, as (index, id, source), sorted.
    pub fn documents(&self, names: &str) -> Vec<(String, String, Value)> {
        let c = self.shared.cluster();
        let indices = c.resolve(names, true).unwrap_or_default();
        c.hits(&indices).into_iter().map(|h| (h.index.to_string(), h.id.to_string(), h.source.clone())).collect()
    }

    pub fn index_names(&self) -> Vec<String> {
        self.shared.cluster().indices.keys().cloned().collect()
    }

    /// Templates installed, as ((`_index_template` | `_template`), name) -> body.
    pub fn templates(&self) -> Vec<((String, String), Value)> {
        self.shared.cluster().templates.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Adds an alias (as `POST _aliases` would).
    pub fn add_alias(&self, index: &str, alias: &str) -> Result<(), EsError> {
        let body = serde_json::json!({"actions": [{"add": {"index": index, "alias": alias}}]});
        self.shared.cluster().update_aliases(&body).map(|_| ())
    }

    /// "METHOD /path" of every request served, in order.
    pub fn requests(&self) -> Vec<String> {
        self.shared.requests.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for FakeElasticsearch {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}
