//! The read side: [`SledReader`] implements the core `TraceReader` over the shared handle.
//!
//! Searches walk block summaries newest first (partitions newest first, blocks by descending
//! sequence), decompress only blocks whose summary can match, and check each span of the
//! queried service exactly: one span must meet every condition. A block whose bytes lack a
//! string tag value is skipped after decompression; otherwise its spans are walked in place
//! ([`Block::walk`]: names and values are borrowed, no OTLP message is built). A trace's rank
//! is the start of its newest matching span. The walk stops once `limit` traces are found and no remaining
//! block or partition can hold a newer matching span (summaries carry each service's latest
//! start), so results are exact, not just "the first `limit` found".

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use prost::Message;
use tracegate_core::storage::{DependencyLink, Operation, StorageError, TraceId, TraceQuery, TraceReader};
use tracegate_core::Traces;

use crate::block_read::{Attr, Block, SpanRow, Val};
use crate::codec::{derived_tags_of, value_text, CodecError};
use crate::db::{Partition, Shared, StoreError};
use crate::summary::{tag_hash, SummaryView};

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

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

impl SledReader {
    fn oldest_secs(&self) -> u64 {
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
        match tokio::task::spawn_blocking(move || f(&me)).await {
            Ok(r) => r.map_err(|e| StorageError::Backend(e.to_string())),
            Err(e) => Err(StorageError::Backend(format!("read task failed: {e}"))),
        }
    }

    pub(crate) fn get_trace_blocking(&self, id: TraceId) -> Result<Option<Traces>, StoreError> {
        let mut out: Vec<ResourceSpans> = Vec::new();
        let mut seen_spans = HashSet::new();
        let mut prefix = vec![b't'];
        prefix.extend_from_slice(&id);
        for p in self.shared.partitions_between(self.oldest_secs(), u64::MAX) {
            for entry in p.index.scan_prefix(&prefix).keys() {
                let key = entry?;
                let Some(seq) = key.get(17..25) else { continue };
                let Some(stored) = p.blocks.get(seq)? else { continue };
                for mut rs in Block::decode(&stored)?.trace(&id)? {
                    // Idempotence: a span written twice (a retried batch) is returned once.
                    for ss in &mut rs.scope_spans {
                        ss.spans.retain(|s| seen_spans.insert(s.span_id.clone()));
                    }
                    rs.scope_spans.retain(|ss| !ss.spans.is_empty());
                    if !rs.scope_spans.is_empty() {
                        out.push(rs);
                    }
                }
            }
        }
        Ok((!out.is_empty()).then(|| Traces::new(out)))
    }

    pub(crate) fn find_blocking(&self, q: &TraceQuery) -> Result<Vec<TraceId>, StoreError> {
        let limit = if q.limit == 0 { DEFAULT_LIMIT } else { q.limit };
        let cond = Conditions::new(q);
        let from = q.start_min.map(secs).unwrap_or(0).max(self.oldest_secs());
        let to = q.start_max.map(|t| secs(t).saturating_add(1)).unwrap_or(u64::MAX);
        let mut found: HashMap<TraceId, u64> = HashMap::new();
        for p in self.shared.partitions_between(from, to) {
            // Every span of an older partition starts before this one's end.
            if found.len() >= limit && p.end.saturating_mul(1_000_000_000) <= kth_newest(&found, limit) {
                break;
            }
            self.search_partition(&p, &cond, limit, &mut found)?;
        }
        let mut ranked: Vec<(u64, TraceId)> = found.into_iter().map(|(id, t)| (t, id)).collect();
        ranked.sort_unstable_by(|a, b| b.cmp(a));
        Ok(ranked.into_iter().take(limit).map(|(_, id)| id).collect())
    }

    fn search_partition(
        &self,
        p: &Partition,
        cond: &Conditions,
        limit: usize,
        found: &mut HashMap<TraceId, u64>,
    ) -> Result<(), StoreError> {
        for entry in p.blocks.scan_prefix([b's']).rev() {
            let (key, value) = entry?;
            let Some(summary) = SummaryView::parse(&value) else { continue };
            // No span in this block or any older one starts late enough to change the result.
            if found.len() >= limit && summary.bound.min(cond.start.1) <= kth_newest(found, limit) {
                break;
            }
            if !cond.block_may_match(&summary, found, limit) {
                continue;
            }
            let Some(stored) = p.blocks.get(&key[1..])? else { continue };
            let block = Block::decode(&stored)?;
            let Some(mut candidates) = cond.candidates(&block)? else { continue };
            let ours: Vec<bool> = block.resources.iter().map(|r| r.service == cond.service).collect();
            // Which tag each resource carries, once per block rather than once per span.
            let resource_tags: Vec<bool> = block
                .resources
                .iter()
                .flat_map(|r| {
                    let attrs = r.resource.as_ref().map(|r| r.attributes.as_slice()).unwrap_or_default();
                    cond.tags.iter().map(move |(key, want, _)| kv_is(attrs, key, want))
                })
                .collect();
            let mut text = String::new();
            let wanted = block.key_mask(cond.tags.iter().map(|(k, _, _)| k.as_str()));
            block.walk_while(Some(&wanted), |row| {
                let tags = resource_tags.get(row.resource * cond.tags.len()..).unwrap_or_default();
                if ours[row.resource] && cond.row_matches(row, tags, &mut text)? {
                    let t = found.entry(block.ids[row.trace]).or_insert(0);
                    *t = (*t).max(row.start);
                }
                // Past the last attribute that could carry the value: no later span matches.
                if let Some((key, want, left)) = &mut candidates {
                    let here = row.attrs.iter().chain(&row.event_attrs).filter(|(k, v)| k == key && maybe_str(*v, want)).count();
                    *left = left.saturating_sub(here);
                    return Ok(*left > 0);
                }
                Ok(true)
            })?;
        }
        Ok(())
    }
}

/// The start time a newer span must beat to enter the top `limit` (0 while fewer are found).
fn kth_newest(found: &HashMap<TraceId, u64>, limit: usize) -> u64 {
    if found.len() < limit {
        return 0;
    }
    let mut starts: Vec<u64> = found.values().copied().collect();
    let k = limit - 1;
    *starts.select_nth_unstable_by(k, |a, b| b.cmp(a)).1
}

struct Conditions {
    service: String,
    operation: Option<String>,
    tags: Vec<(String, String, u64)>,
    /// Tags whose value can only match a string attribute (key, value): a block is checked
    /// against their value columns before its spans are walked.
    byte_needles: Vec<(String, String)>,
    start: (u64, u64),
    duration: (u64, u64),
}

impl Conditions {
    fn new(q: &TraceQuery) -> Self {
        Self {
            service: q.service.clone(),
            operation: q.operation.clone(),
            tags: q.tags.iter().map(|(k, v)| (k.clone(), v.clone(), tag_hash(&q.service, k, v))).collect(),
            byte_needles: q
                .tags
                .iter()
                .filter(|(k, v)| only_a_string(k, v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            start: (q.start_min.map(nanos).unwrap_or(0), q.start_max.map(nanos).unwrap_or(u64::MAX)),
            duration: (
                q.duration_min.map(|d| d.as_nanos() as u64).unwrap_or(0),
                q.duration_max.map(|d| d.as_nanos() as u64).unwrap_or(u64::MAX),
            ),
        }
    }

    /// Whether the block can match, from the value columns of the string-only tags (a
    /// Bloom filter false positive ends here, with no span walked): `None` when it cannot.
    /// Otherwise the tag with the fewest attributes that may carry its value, and that
    /// count, so the walk stops once it has passed them all; no such tag when the queried
    /// service's resource has one of them (then any span of it may match).
    #[allow(clippy::type_complexity)]
    fn candidates<'c>(&'c self, block: &Block) -> Result<Option<Option<(&'c str, &'c str, usize)>>, CodecError> {
        let mut fewest: Option<(&str, &str, usize)> = None;
        let mut in_resource = false;
        for (key, want) in &self.byte_needles {
            // Resources keep the client's protobuf bytes; they are checked as values.
            if block.resources.iter().any(|r| {
                r.service == self.service && kv_is(r.resource.as_ref().map(|r| r.attributes.as_slice()).unwrap_or_default(), key, want)
            }) {
                in_resource = true;
                continue;
            }
            let n = block.count_str_values(key, want)?;
            if n == 0 {
                return Ok(None);
            }
            if fewest.is_none_or(|(_, _, m)| n < m) {
                fewest = Some((key, want, n));
            }
        }
        Ok(Some(if in_resource { None } else { fewest }))
    }

    fn block_may_match(&self, s: &SummaryView<'_>, found: &HashMap<TraceId, u64>, limit: usize) -> bool {
        let Some(svc) = s.service(&self.service) else { return false };
        let newest_possible = svc.max_start.min(self.start.1);
        (found.len() < limit || newest_possible > kth_newest(found, limit))
            && svc.max_start >= self.start.0
            && svc.min_start <= self.start.1
            && svc.max_duration >= self.duration.0
            && svc.min_duration <= self.duration.1
            && self.operation.as_ref().is_none_or(|op| svc.has_operation(op))
            && self.tags.iter().all(|(_, _, h)| s.may_have_tag(*h))
    }

    /// Whether this span (of the queried service) meets every condition; `in_resource[i]`
    /// says whether its resource carries tag `i`.
    fn row_matches(&self, row: &SpanRow<'_>, in_resource: &[bool], text: &mut String) -> Result<bool, CodecError> {
        let duration = row.end.saturating_sub(row.start);
        if !((self.start.0..=self.start.1).contains(&row.start)
            && (self.duration.0..=self.duration.1).contains(&duration)
            && self.operation.as_ref().is_none_or(|op| op == row.name))
        {
            return Ok(false);
        }
        for (i, (key, want, _)) in self.tags.iter().enumerate() {
            let found = any_attr_is(&row.attrs, key, want, text)?
                || in_resource.get(i).copied().unwrap_or(false)
                || any_attr_is(&row.event_attrs, key, want, text)?
                || derived_tags_of(row.kind, row.status.map(|s| s.0).unwrap_or(0)).any(|(k, v)| k == key && v == want);
            if !found {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

fn any_attr_is(attrs: &[Attr<'_>], key: &str, want: &str, text: &mut String) -> Result<bool, CodecError> {
    for (k, v) in attrs {
        if *k == key && val_is(*v, want, text)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether [`Block::count_str_values`] counted this value for `want`.
fn maybe_str(v: Val<'_>, want: &str) -> bool {
    match v {
        Val::Str(s) => s == want,
        Val::Other(_) => true,
        _ => false,
    }
}

/// `value_text(v) == want` without building the value.
fn val_is(v: Val<'_>, want: &str, text: &mut String) -> Result<bool, CodecError> {
    use std::fmt::Write;
    text.clear();
    Ok(match v {
        Val::None => false,
        Val::Str(s) => s == want,
        Val::Bool(b) => want == if b { "true" } else { "false" },
        Val::Int(i) => {
            let _ = write!(text, "{i}");
            text == want
        }
        Val::Double(d) => {
            let _ = write!(text, "{d}");
            text == want
        }
        Val::Other(bytes) => value_text(&AnyValue::decode(bytes)?).is_some_and(|t| t == want),
    })
}

/// True when no derived tag and no non-string attribute has `value` as its text (see
/// `codec::value_text`): then the value's bytes appear verbatim in any span data that has it.
fn only_a_string(key: &str, value: &str) -> bool {
    let derived = matches!(key, "span.kind" | "otel.status_code" | "error");
    let hex = value.len().is_multiple_of(2) && value.bytes().all(|b| b.is_ascii_hexdigit());
    !derived && !hex && value.parse::<i64>().is_err() && value.parse::<f64>().is_err() && !matches!(value, "true" | "false")
}

fn kv_is(kvs: &[KeyValue], key: &str, want: &str) -> bool {
    kvs.iter().any(|kv| kv.key == key && kv.value.as_ref().and_then(value_text).is_some_and(|t| t == want))
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
        if query.service.is_empty() {
            return Err(StorageError::BadQuery("service is required".into()));
        }
        let q = query.clone();
        self.blocking(move |r| r.find_blocking(&q)).await
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

    use super::only_a_string;
    use crate::{Config, SledExporter};

    #[test]
    fn byte_prefilter_only_for_values_no_other_type_prints() {
        assert!(only_a_string("user.id", "user-42"));
        for (k, v) in [("n", "42"), ("n", "-1"), ("d", "0.25"), ("d", "NaN"), ("b", "true"), ("x", "beef"), ("error", "yes")] {
            assert!(!only_a_string(k, v), "{k}={v}");
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
                api = api.attr("tenant", Val::Str("shared"));
            }
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
    }
}
