//! Tenants' spans kept apart: written through the exporter as batches of a tenant, read back
//! through the reader the query service gets, and still there after a restart.

use std::sync::Arc;
use std::time::SystemTime;

use tracegate_core::{Exporter, Lifecycle};
use tracegate_storage_conformance::{batch, Ids, TestSpan};

use crate::{Config, SledExporter};

fn tenant(name: &str) -> Option<Arc<str>> {
    Some(Arc::from(name))
}

#[tokio::test]
async fn each_tenant_reads_only_its_own_spans_and_untenanted_data_stays_where_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config { path: dir.path().join("db"), ..Config::default() };
    let exporter = SledExporter::open(config.clone()).unwrap();
    let mut ids = Ids::new(7);
    let (a, g, u) = (ids.trace_id(), ids.trace_id(), ids.trace_id());
    let now = SystemTime::now();
    exporter.export(batch(&[TestSpan::new(&mut ids, a, "acme-svc", "a", now)]).with_tenant(tenant("acme"))).await.unwrap();
    exporter.export(batch(&[TestSpan::new(&mut ids, g, "globex-svc", "g", now)]).with_tenant(tenant("globex"))).await.unwrap();
    exporter.export(batch(&[TestSpan::new(&mut ids, u, "plain-svc", "u", now)])).await.unwrap();

    let reader = exporter.store_reader();
    let (acme, globex) = (reader.tenant("acme").unwrap(), reader.tenant("globex").unwrap());
    assert_eq!(reader.services().await.unwrap(), ["plain-svc"]);
    assert_eq!(acme.services().await.unwrap(), ["acme-svc"]);
    assert_eq!(globex.services().await.unwrap(), ["globex-svc"]);
    assert!(acme.get_trace(a).await.unwrap().is_some());
    assert!(globex.get_trace(a).await.unwrap().is_none(), "another tenant's trace is not found");
    assert!(reader.get_trace(a).await.unwrap().is_none(), "nor in the untenanted store");
    assert!(dir.path().join("db/tenants/acme").is_dir());
    assert!(reader.tenant("../escape").is_err(), "a name unfit for a directory opens nothing");
    exporter.shutdown().await.unwrap();
    drop((reader, acme, globex, exporter));

    let reopened = SledExporter::open(config).unwrap();
    let reader = reopened.store_reader();
    assert_eq!(reader.tenant("acme").unwrap().services().await.unwrap(), ["acme-svc"]);
    assert_eq!(reader.services().await.unwrap(), ["plain-svc"]);
    reopened.shutdown().await.unwrap();
}
