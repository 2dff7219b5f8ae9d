//! The read side: [`SledReader`] implements the core `TraceReader` over the shared handle.
//!
//! Searches walk block summaries newest first (partitions newest first, blocks by descending
//! sequence), decompress only blocks whose summary can match, and check each span of the
//! queried service exactly: one span must meet every condition. A tag search first counts
//! the value in the tag's value column, page by page: a block without it is skipped after
//! decompression, and only the pages that hold it are walked, each up to its last candidate
//! ([`Block::walk_page`]: names and values are borrowed, no OTLP message is built). A trace's rank
//! is the start of its newest matching span. The walk stops once `limit` traces are found and no remaining
//! block or partition can hold a newer matching span (summaries carry each service's latest
//! start), so results are exact, not just "the first `limit` found".

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tracegate_core::storage::{DependencyLink, Operation, StorageError, TraceId, TraceQuery, TraceReader};
use tracegate_core::Traces;

use crate::catalog;
use crate::db::{Partition, Shared, StoreError};
use crate::block_read::SpanRow;
use crate::codec::CodecError;
use crate::matching::{BlockContext, Conditions};
use crate::summary::SummaryView;
use crate::summary_scan::SummaryScan;

/// Traces returned when a query says `limit: 0` (Jaeger's API default).
const DEFAULT_LIMIT: usize = 100;

#[derive(Clone)]
pub struct SledReader {
    pub(crate) shared: Arc<Shared>,
    /// Zero keeps everything.
    pub(crate) retention: Duration,
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl SledReader {
    pub(crate) fn oldest_secs(&self) -> u64 {
        if self.retention.is_zero() {
            0
        } else {
            secs(SystemTime::now()).saturating_sub(self.retention.as_secs())
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&SledReader) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StorageError> {
        let me = self.clone();
        let read = move || {
            // Every acknowledged span is visible to the next read (see `crate::ingest`).
            let shared = &me.shared;
            if let Err(e) = shared.ingest.seal_for_read(shared, &shared.settings.options()) {
                tracing::warn!(error = %e, "cannot write the open block before a read; the read may miss its spans");
            }
            f(&me)
        };
        match tokio::task::spawn_blocking(read).await {
            Ok(r) => r.map_err(|e| StorageError::Backend(e.to_string())),
            Err(e) => Err(StorageError::Backend(format!("read task failed: {e}"))),
        }
    }

    pub(crate) fn find_blocking(&self, q: &TraceQuery) -> Result<Vec<TraceId>, StoreError> {
        let limit = if q.limit == 0 { DEFAULT_LIMIT } else { q.limit };
        let cond = Conditions::new(q);
        let from = q.start_min.map(secs).unwrap_or(0).max(self.oldest_secs());
        let to = q.start_max.map(|t| secs(t).saturating_add(1)).unwrap_or(u64::MAX);
        let mut found: HashMap<TraceId, u64> = HashMap::new();
        // A key no span of the service carries: only blocks older than the catalog can match.
        let mut below = u64::MAX;
        for key in q.tags.keys() {
            if !catalog::may_carry(&self.shared.meta, &q.service, key)? {
                below = self.shared.catalog_from;
            }
        }
        if below == 0 {
            return Ok(Vec::new());
        }
        let mut stats = SearchStats::default();
        for p in self.shared.partitions_between(from, to) {
            // Every span of an older partition starts before this one's end.
            if found.len() >= limit && p.end.saturating_mul(1_000_000_000) <= kth_newest(&found, limit) {
                break;
            }
            self.search_partition(&p, &cond, limit, below, &mut found, &mut stats)?;
        }
        tracing::debug!(summaries = stats.summaries, walked = stats.walked, pages = stats.pages, spans = stats.spans, found = found.len(), "sled search");
        let mut ranked: Vec<(u64, TraceId)> = found.into_iter().map(|(id, t)| (t, id)).collect();
        ranked.sort_unstable_by(|a, b| b.cmp(a));
        Ok(ranked.into_iter().take(limit).map(|(_, id)| id).collect())
    }

    fn search_partition(
        &self,
        p: &Partition,
        cond: &Conditions,
        limit: usize,
        below: u64,
        found: &mut HashMap<TraceId, u64>,
        stats: &mut SearchStats,
    ) -> Result<(), StoreError> {
        let mut end = vec![b's'];
        end.extend_from_slice(&below.to_be_bytes());
        let entries = if below == u64::MAX { p.blocks.scan_prefix([b's']) } else { p.blocks.range(&[b's'][..]..&end[..]) };
        let mut summaries = SummaryScan::new(&p.summaries, self.shared.summary_cache, self.shared.store_id, p.start, entries);
        while let Some((key, value)) = summaries.next()? {
            stats.summaries += 1;
            let Some(summary) = SummaryView::parse(value) else { continue };
            // The start a span must beat to enter the top `limit`, once `limit` are found.
            let beat = (found.len() >= limit).then(|| kth_newest(found, limit));
            // No span in this block or any older one starts late enough to change the result.
            if beat.is_some_and(|k| summary.bound.min(cond.start.1) <= k) {
                break;
            }
            if !cond.block_may_match(&summary, beat) {
                continue;
            }
            let Some(block) = self.block(p, &key[1..])? else { continue };
            let context = BlockContext::new(cond, &block)?;
            stats.walked += 1;
            if !cond.needs_attributes() {
                block.walk_light(|trace, resource, start, end, name| {
                    stats.spans += 1;
                    if context.ours_resource(resource) && cond.times_and_name_match(start, end, name) {
                        let t = found.entry(block.ids[trace]).or_insert(0);
                        *t = (*t).max(start);
                    }
                    Ok(true)
                })?;
                continue;
            }
            let Some(candidates) = cond.candidates(&block, &context)? else { continue };
            let mut text = String::new();
            let wanted = block.key_mask(cond.tags.iter().map(|(k, _, _)| k.as_str()));
            let mut check = |row: &SpanRow<'_>| -> Result<(), CodecError> {
                stats.spans += 1;
                if context.ours(row) && cond.row_matches(row, &context, &mut text)? {
                    let t = found.entry(block.ids[row.trace]).or_insert(0);
                    *t = (*t).max(row.start);
                }
                Ok(())
            };
            let Some((key, want, pages)) = candidates else {
                block.walk_while(Some(&wanted), |row| check(row).map(|()| true))?;
                continue;
            };
            // Only the pages holding a candidate, each up to its last one.
            for (page, mut left) in pages.into_iter().enumerate().filter(|(_, n)| *n > 0) {
                stats.pages += 1;
                block.walk_page(Some(&wanted), page, |row| {
                    check(row)?;
                    let here = row.attrs.iter().chain(&row.event_attrs).filter(|(k, v)| *k == key && want.maybe(*v)).count();
                    left = left.saturating_sub(here);
                    Ok(left > 0)
                })?;
            }
        }
        Ok(())
    }
}

/// What a search read, for the debug log.
#[derive(Default)]
struct SearchStats {
    summaries: u64,
    walked: u64,
    /// Pages walked for candidates (see [`Block::walk_page`]).
    pages: u64,
    spans: u64,
}

/// The start time a newer span must beat to enter the top `limit` (0 while fewer are found).
pub(crate) fn kth_newest(found: &HashMap<TraceId, u64>, limit: usize) -> u64 {
    if found.len() < limit {
        return 0;
    }
    let mut starts: Vec<u64> = found.values().copied().collect();
    let k = limit - 1;
    *starts.select_nth_unstable_by(k, |a, b| b.cmp(a)).1
}

#[async_trait]
impl TraceReader for SledReader {
    async fn get_trace(&self, id: TraceId) -> Result<Option<Traces>, StorageError> {
        self.blocking(move |r| r.get_trace_blocking(id)).await
    }

    async fn services(&self) -> Result<Vec<String>, StorageError> {
        self.blocking(|r| {
            let mut out: Vec<String> = Vec::new();
            for key in r.shared.meta.scan_prefix([b'o']).keys() {
                let key = key?;
                let name = key[1..].split(|b| *b == 0).next().unwrap_or_default();
                let name = String::from_utf8_lossy(name);
                if out.last().is_none_or(|l| *l != name) {
                    out.push(name.into_owned());
                }
            }
            Ok(out)
        })
        .await
    }

    async fn operations(&self, service: &str, span_kind: Option<&str>) -> Result<Vec<Operation>, StorageError> {
        let mut prefix = vec![b'o'];
        prefix.extend_from_slice(service.as_bytes());
        prefix.push(0);
        let kind = span_kind.map(str::to_string);
        self.blocking(move |r| {
            let mut out = Vec::new();
            for key in r.shared.meta.scan_prefix(&prefix).keys() {
                let key = key?;
                let rest = &key[prefix.len()..];
                let Some(split) = rest.iter().rposition(|b| *b == 0) else { continue };
                let name = String::from_utf8_lossy(&rest[..split]).into_owned();
                let span_kind = String::from_utf8_lossy(&rest[split + 1..]).into_owned();
                if kind.as_ref().is_none_or(|k| *k == span_kind) {
                    out.push(Operation { name, span_kind });
                }
            }
            out.sort();
            Ok(out)
        })
        .await
    }

    async fn find_trace_ids(&self, query: &TraceQuery) -> Result<Vec<TraceId>, StorageError> {
        let q = query.clone();
        self.blocking(move |r| r.find_blocking(&q)).await
    }

    /// One search, then the results from the blocks it walked (see [`crate::fetch`]).
    async fn find_traces(&self, query: &TraceQuery) -> Result<Vec<Traces>, StorageError> {
        let q = query.clone();
        self.blocking(move |r| {
            let ids = r.find_blocking(&q)?;
            Ok(r.traces_blocking(&ids)?.into_iter().map(|(_, t)| t).collect())
        })
        .await
    }

    fn metrics(&self) -> Option<Arc<dyn tracegate_core::red::MetricsReader>> {
        self.shared.red.enabled().then(|| Arc::new(crate::red_metrics::SledMetrics { shared: self.shared.clone() }) as _)
    }

    async fn dependencies(&self, end: SystemTime, lookback: Duration) -> Result<Vec<DependencyLink>, StorageError> {
        let to = secs(end);
        let from = to.saturating_sub(lookback.as_secs());
        self.blocking(move |r| {
            let mut counts: HashMap<(String, String), u64> = HashMap::new();
            for p in r.shared.partitions_between(from, to.saturating_add(1)) {
                for entry in p.index.scan_prefix([b'd']) {
                    let (key, value) = entry?;
                    let mut parts = key[1..].splitn(2, |b| *b == 0);
                    let (Some(parent), Some(child)) = (parts.next(), parts.next()) else { continue };
                    let n = value.as_ref().try_into().map(u64::from_le_bytes).unwrap_or(0);
                    let k = (String::from_utf8_lossy(parent).into_owned(), String::from_utf8_lossy(child).into_owned());
                    *counts.entry(k).or_default() += n;
                }
            }
            let mut links: Vec<DependencyLink> = counts
                .into_iter()
                .map(|((parent, child), call_count)| DependencyLink { parent, child, call_count })
                .collect();
            links.sort_by(|a, b| (&a.parent, &a.child).cmp(&(&b.parent, &b.child)));
            Ok(links)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::{Duration, SystemTime};

    use tracegate_core::storage::{TraceId, TraceQuery, TraceReader};
    use tracegate_core::Exporter;
    use tracegate_storage_conformance::{batch, Ids, TestSpan, Val};

    use crate::matching::only_a_string;
    use crate::{Config, SledExporter};

    #[test]
    fn byte_prefilter_only_for_values_no_other_type_prints() {
        assert!(only_a_string("user-42"));
        for v in ["42", "-1", "0.25", "NaN", "true", "beef"] {
            assert!(!only_a_string(v), "{v}");
        }
    }

    fn leak(s: String) -> &'static str {
        s.leak()
    }

    /// One block holding every way a tag value can sit in it (attribute, repeated attribute,
    /// event attribute, resource, another service, a longer value with the same prefix): the
    /// value-column check and the walk that stops after the last candidate find exactly the
    /// traces a span-by-span check finds.
    #[tokio::test]
    async fn tag_search_finds_every_match_in_a_block_and_nothing_else() {
        let dir = tempfile::tempdir().expect("temp dir");
        let exporter = SledExporter::open(Config { path: dir.path().join("db"), ..Config::default() }).expect("open");
        let mut ids = Ids::new(3);
        let now = SystemTime::now() - Duration::from_secs(60);
        let mut spans = Vec::new();
        let mut traces: Vec<TraceId> = Vec::new();
        for i in 0..60u64 {
            let t = ids.trace_id();
            traces.push(t);
            let at = now + Duration::from_millis(i);
            let mut api = TestSpan::new(&mut ids, t, "api", "GET /", at).attr("user.id", Val::Str(leak(format!("user-{i}"))));
            // "shared" on the first and last traces only: a walk that stops early must not
            // stop before the last one.
            if i == 0 || i == 59 || i == 30 {
                api = api.attr("tenant", Val::Str("shared")).attr("http.status_code", Val::Int(503));
            } else {
                api = api.attr("http.status_code", Val::Int(200));
            }
            api = api.attr("cache.hit", Val::Bool(i == 7));
            if i == 7 {
                api = api.event("retry", vec![("cause", Val::Str("timeout-7"))]);
            }
            spans.push(api);
            let web = TestSpan::new(&mut ids, t, "web", "load", at).attr("user.id", Val::Str(leak(format!("web-user-{i}"))));
            spans.push(web.resource_attr("region", Val::Str("eu-west")));
        }
        exporter.export(batch(&spans)).await.expect("export");
        let reader = exporter.reader();
        let find = |service: &str, tags: &[(&str, &str)]| {
            let q = TraceQuery {
                service: service.into(),
                tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                limit: 100,
                ..Default::default()
            };
            let reader = reader.clone();
            async move { reader.find_trace_ids(&q).await.expect("find").into_iter().collect::<BTreeSet<TraceId>>() }
        };
        let set = |is: &[usize]| is.iter().map(|i| traces[*i]).collect::<BTreeSet<TraceId>>();
        assert_eq!(find("api", &[("user.id", "user-4")]).await, set(&[4]), "user-4 is not user-40..49");
        assert_eq!(find("api", &[("user.id", "user-59")]).await, set(&[59]));
        assert_eq!(find("api", &[("tenant", "shared")]).await, set(&[0, 30, 59]));
        assert_eq!(find("api", &[("tenant", "shared"), ("user.id", "user-59")]).await, set(&[59]));
        assert_eq!(find("api", &[("cause", "timeout-7")]).await, set(&[7]));
        assert_eq!(find("api", &[("user.id", "web-user-3")]).await, set(&[]), "another service's value");
        assert_eq!(find("web", &[("user.id", "web-user-3")]).await, set(&[3]));
        assert_eq!(find("web", &[("region", "eu-west")]).await.len(), 60, "a resource tag matches every span");
        assert_eq!(find("web", &[("region", "eu-west"), ("user.id", "web-user-58")]).await, set(&[58]));
        assert_eq!(find("api", &[("region", "eu-west")]).await, set(&[]));
        assert_eq!(find("api", &[("user.id", "nobody")]).await, set(&[]));
        // Typed values compare by their text, read from the value column as ints and bools.
        assert_eq!(find("api", &[("http.status_code", "503")]).await, set(&[0, 30, 59]));
        assert_eq!(find("api", &[("http.status_code", "503"), ("user.id", "user-30")]).await, set(&[30]));
        assert_eq!(find("api", &[("http.status_code", "0503")]).await, set(&[]), "no int prints as 0503");
        assert_eq!(find("api", &[("http.status_code", "404")]).await, set(&[]));
        assert_eq!(find("api", &[("cache.hit", "true")]).await, set(&[7]));
        assert_eq!(find("api", &[("cache.hit", "false")]).await.len(), 59);
    }
}
