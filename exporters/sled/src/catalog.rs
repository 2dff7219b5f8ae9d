//! The key catalog: which attribute keys each service has ever written, so a search for a
//! key that no span carries answers at once instead of reading every block summary.
//!
//! A tag search whose key is absent has to prove a negative: without the catalog it reads the
//! summary of every block in the window (~1200 at 10M spans) and decompresses the few whose
//! filter gives a false positive. Keys have low cardinality (tens per service, unlike their
//! values), so the catalog is a handful of `meta` keys: `k`+service+0+key for a service and
//! `K`+key for any service, written with the operations (deduplicated in memory the same
//! way), before the blocks that carry them, so a reader never sees a block whose keys are not
//! catalogued yet.
//!
//! Keys of span, event and link attributes, resources and scopes are catalogued. Tags no
//! attribute carries (`span.kind`, `error`, `otel.status_code`, the scope's name and version)
//! are not, and the catalog never rules them out. Blocks written before the catalog existed
//! (a database from an earlier build) are not covered: `catalog_from` in `meta` is the first
//! block sequence number written with it, and a search still reads the summaries below it.

use crate::codec::{SCOPE_NAME, SCOPE_VERSION};

/// `meta` key of the first block sequence number (u64 BE) whose keys are all catalogued.
pub const CATALOG_FROM: &[u8] = b"catalog_from";

pub fn service_key_entry(service: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + service.len() + key.len());
    k.push(b'k');
    k.extend_from_slice(service.as_bytes());
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

pub fn any_service_key_entry(key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + key.len());
    k.push(b'K');
    k.extend_from_slice(key.as_bytes());
    k
}

/// Whether the catalog can rule out `key`: false for the tags derived from span fields.
pub fn catalogued(key: &str) -> bool {
    !matches!(key, "span.kind" | "error" | "otel.status_code") && !SCOPE_NAME.contains(&key) && !SCOPE_VERSION.contains(&key)
}

/// Whether some span of `service` (any service when empty) may carry a tag under `key`.
pub fn may_carry(meta: &sled::Tree, service: &str, key: &str) -> Result<bool, sled::Error> {
    if !catalogued(key) {
        return Ok(true);
    }
    let entry = if service.is_empty() { any_service_key_entry(key) } else { service_key_entry(service, key) };
    meta.contains_key(entry)
}

/// The first block sequence number covered by the catalog; set on first open by this build.
pub fn catalog_from(db: &sled::Db, meta: &sled::Tree) -> Result<u64, sled::Error> {
    if let Some(v) = meta.get(CATALOG_FROM)? {
        if let Ok(b) = <[u8; 8]>::try_from(v.as_ref()) {
            return Ok(u64::from_be_bytes(b));
        }
    }
    // Every block written from now on takes a larger id.
    let from = db.generate_id()?;
    meta.insert(CATALOG_FROM, &from.to_be_bytes())?;
    Ok(from)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::{Duration, SystemTime};

    use tracegate_core::storage::{TraceQuery, TraceReader};
    use tracegate_core::Exporter;
    use tracegate_storage_conformance::{batch, Ids, TestSpan, Val};

    use super::CATALOG_FROM;
    use crate::{Config, SledExporter};

    fn query(service: &str, key: &str, value: &str) -> TraceQuery {
        TraceQuery { service: service.into(), tags: BTreeMap::from([(key.into(), value.into())]), limit: 10, ..Default::default() }
    }

    /// A key only one service carries is found there and nowhere else; blocks written before
    /// the catalog existed are still searched for any key.
    #[tokio::test]
    async fn searches_for_a_key_no_span_carries_answer_empty_and_older_blocks_are_still_read() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = Config { path: dir.path().join("db"), ..Config::default() };
        let mut ids = Ids::new(40);
        let t = ids.trace_id();
        let at = SystemTime::now() - Duration::from_secs(30);
        let api = TestSpan::new(&mut ids, t, "api", "GET /", at).attr("user.id", Val::Str("u-1"));
        let web = TestSpan::new(&mut ids, t, "web", "load", at).resource_attr("region", Val::Str("eu"));
        {
            let exporter = SledExporter::open(config.clone()).expect("open");
            exporter.export(batch(&[api, web])).await.expect("export");
            let reader = exporter.reader();
            assert_eq!(reader.find_trace_ids(&query("api", "user.id", "u-1")).await.expect("find"), vec![t]);
            assert_eq!(reader.find_trace_ids(&query("", "user.id", "u-1")).await.expect("find"), vec![t]);
            assert_eq!(reader.find_trace_ids(&query("web", "region", "eu")).await.expect("find"), vec![t]);
            assert!(reader.find_trace_ids(&query("web", "user.id", "u-1")).await.expect("find").is_empty());
            assert!(reader.find_trace_ids(&query("api", "no.such.key", "x")).await.expect("find").is_empty());
            assert_eq!(
                reader.find_trace_ids(&query("api", "span.kind", "server")).await.expect("find"),
                vec![t],
                "derived tags are never ruled out"
            );
            // As a database from before the catalog: no catalogued keys, and the catalog
            // starting after the block written above.
            let meta = &exporter.shared_for_test().meta;
            for prefix in [b"k", b"K"] {
                for key in meta.scan_prefix(prefix).keys() {
                    meta.remove(key.expect("key")).expect("remove");
                }
            }
            assert!(
                reader.find_trace_ids(&query("api", "user.id", "u-1")).await.expect("find").is_empty(),
                "the catalog is trusted for blocks it covers: no summary is read"
            );
            meta.insert(CATALOG_FROM, &u64::MAX.to_be_bytes()[..]).expect("insert");
            exporter.shutdown_for_test().await;
        }
        let exporter = SledExporter::open(config).expect("reopen");
        let reader = exporter.reader();
        assert_eq!(reader.find_trace_ids(&query("api", "user.id", "u-1")).await.expect("find"), vec![t], "pre-catalog block");
    }
}
