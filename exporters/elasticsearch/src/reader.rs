//! The read side (`TraceReader`), following Jaeger's `spanstore/reader.go` queries:
//!
//! - services / operations: `terms` aggregations over the service indices of the last
//!   `max_lookback` (operations also by `spanKind`, which these service documents carry);
//! - find: one `bool` query (startTime range, `process.serviceName`, `operationName`,
//!   duration range, and per tag a `should` over nested `tags`, `process.tags`, `logs.fields`
//!   and the `tag.<key>` / `process.tag.<key>` object fields), with a `traceIDs` terms
//!   aggregation ordered by each trace's newest matching `startTime`, then one `_msearch`
//!   loading every span of those traces. Tag values match exactly (Jaeger sends a regexp).
//!   An empty service leaves the service term out: any service (Jaeger 2.x). The scope's
//!   name and version are the span tags `otel.scope.name` / `otel.scope.version` (the Jaeger
//!   translation); `scope.name` / `scope.version`, Jaeger v2 memory's spelling, search those.
//!   Scope and link attributes are not searchable: Jaeger's document has no place for them
//!   (the translation drops them, as Jaeger's does), which the conformance test declares.
//! - dependencies are computed on read: a bounded scan (`max_dependency_spans`) of the spans
//!   started in the window, counting parent service -> child service over CHILD_OF references.
//!   Jaeger instead runs a separate Spark job into `jaeger-dependencies-*`; this needs none.
//!
//! Indices are the daily ones the time range covers (or the `-read` alias), asked with
//! `ignore_unavailable` so days without data are not errors.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use reqwest::Method;
use serde_json::{json, Value};
use tracegate_core::storage::{DependencyLink, Operation, StorageError, TraceId, TraceQuery, TraceReader};
use tracegate_core::Traces;
use tracegate_translator_jaeger::{proto, proto_to_otlp};

use crate::doc::{day_of_micros, legacy_trace_id_hex, parse_hex, span_from_doc, trace_id_hex};
use crate::exporter::Shared;

/// Traces a search returns when the query sets no limit (Jaeger's default).
const DEFAULT_LIMIT: usize = 100;
/// Hits per search request (Elasticsearch's default `max_result_window`).
const PAGE: usize = 10_000;
/// Beyond this many days a search names the index pattern instead of each day.
const MAX_DAYS_LISTED: i64 = 90;

#[derive(Clone)]
pub struct EsReader {
    shared: Arc<Shared>,
}

fn micros(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

fn backend(e: impl std::fmt::Display) -> StorageError {
    StorageError::Backend(e.to_string())
}

fn buckets<'a>(v: &'a Value, path: &str) -> &'a [Value] {
    v.pointer(path).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn key_str(b: &Value) -> String {
    match &b["key"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn match_q(field: &str, value: &str) -> Value {
    json!({"match": {field: {"query": value}}})
}

fn trace_id_query(id: &[u8]) -> Value {
    let hex = trace_id_hex(id);
    if !hex.starts_with('0') {
        return json!({"term": {"traceID": hex}});
    }
    // Jaeger < 1.16 wrote ids without leading zeros; its reader still finds both.
    json!({"bool": {"should": [{"term": {"traceID": hex}}, {"term": {"traceID": legacy_trace_id_hex(id)}}]}})
}

impl EsReader {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// The indices of `kind` covering `[start, end]` (µs), comma-separated.
    fn indices(&self, kind: &str, start: i64, end: i64) -> String {
        let prefix = &self.shared.indices.prefix;
        if self.shared.indices.use_aliases {
            return format!("{prefix}jaeger-{kind}-read");
        }
        let day = 86_400_000_000i64;
        let (first, last) = (start.div_euclid(day), end.max(start).div_euclid(day));
        if last - first > MAX_DAYS_LISTED {
            return format!("{prefix}jaeger-{kind}-*");
        }
        (first..=last).rev().map(|d| format!("{prefix}jaeger-{kind}-{}", day_of_micros(d * day))).collect::<Vec<_>>().join(",")
    }

    fn lookback(&self) -> (i64, i64) {
        let now = micros(SystemTime::now());
        (now - self.shared.config.max_lookback.get().as_micros() as i64, now)
    }

    async fn search(&self, indices: &str, body: &Value) -> Result<Value, StorageError> {
        let path = format!("/{indices}/_search?ignore_unavailable=true");
        self.shared.client.json(Method::POST, &path, body).await.map_err(backend)
    }

    /// Every span document of each trace, in the order of `ids`; traces without spans are
    /// left out.
    async fn load(&self, ids: &[TraceId]) -> Result<Vec<Traces>, StorageError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let (start, end) = self.lookback();
        let indices = self.indices("span", start, end);
        let sort = json!([{"startTime": "asc"}, {"spanID": "asc"}]);
        let mut body = Vec::new();
        for id in ids {
            let header = json!({"index": indices, "ignore_unavailable": true});
            let search = json!({"query": trace_id_query(id), "size": PAGE, "sort": sort});
            body.extend_from_slice(format!("{header}\n{search}\n").as_bytes());
        }
        let answer = self.shared.client.ndjson("/_msearch", body).await.map_err(backend)?;
        let responses = buckets(&answer, "/responses");
        let mut out = Vec::new();
        for (id, response) in ids.iter().zip(responses) {
            if let Some(e) = response.get("error") {
                return Err(backend(format!("trace search failed: {e}")));
            }
            let mut hits: Vec<Value> = buckets(response, "/hits/hits").to_vec();
            let total = response.pointer("/hits/total/value").and_then(Value::as_u64).unwrap_or(0) as usize;
            // A trace larger than one page: continue after the last span seen.
            while hits.len() < total {
                let Some(after) = hits.last().and_then(|h| h.get("sort")).cloned() else { break };
                let page = self.search(&indices, &json!({"query": trace_id_query(id), "size": PAGE, "sort": sort, "search_after": after})).await?;
                let more = buckets(&page, "/hits/hits");
                if more.is_empty() {
                    break;
                }
                hits.extend(more.iter().cloned());
            }
            let dots = &self.shared.config.tags_as_fields.dot_replacement;
            let spans: Vec<proto::Span> = hits.iter().filter_map(|h| span_from_doc(h.get("_source")?, dots)).collect();
            if !spans.is_empty() {
                out.push(Traces::new(proto_to_otlp(proto::Batch { spans, process: None })));
            }
        }
        Ok(out)
    }

    fn find_query(&self, q: &TraceQuery) -> Value {
        let (lookback_start, now) = self.lookback();
        let start = q.start_min.map_or(lookback_start, micros);
        let end = q.start_max.map_or(now, micros);
        let mut must = vec![json!({"range": {"startTime": {"gte": start, "lte": end}}})];
        if !q.service.is_empty() {
            must.push(match_q("process.serviceName", &q.service));
        }
        if let Some(op) = q.operation.as_deref().filter(|o| !o.is_empty()) {
            must.push(match_q("operationName", op));
        }
        if q.duration_min.is_some() || q.duration_max.is_some() {
            let mut range = serde_json::Map::new();
            if let Some(d) = q.duration_min {
                range.insert("gte".into(), json!(d.as_micros() as u64));
            }
            if let Some(d) = q.duration_max {
                range.insert("lte".into(), json!(d.as_micros() as u64));
            }
            must.push(json!({"range": {"duration": range}}));
        }
        let dots = &self.shared.config.tags_as_fields.dot_replacement;
        for (k, v) in &q.tags {
            let k = match k.as_str() {
                "scope.name" => "otel.scope.name",
                "scope.version" => "otel.scope.version",
                other => other,
            };
            let nested = |path: &str| {
                json!({"nested": {"path": path, "query": {"bool": {"must": [match_q(&format!("{path}.key"), k), match_q(&format!("{path}.value"), v)]}}}})
            };
            let object_key = k.replace('.', dots);
            must.push(json!({"bool": {"should": [
                match_q(&format!("tag.{object_key}"), v),
                match_q(&format!("process.tag.{object_key}"), v),
                nested("tags"), nested("process.tags"), nested("logs.fields"),
            ]}}));
        }
        json!({"bool": {"must": must}})
    }
}

#[async_trait]
impl TraceReader for EsReader {
    async fn get_trace(&self, id: TraceId) -> Result<Option<Traces>, StorageError> {
        Ok(self.load(&[id]).await?.into_iter().next())
    }

    async fn services(&self) -> Result<Vec<String>, StorageError> {
        let (start, end) = self.lookback();
        let body = json!({"size": 0, "aggs": {"distinct_services": {"terms": {"field": "serviceName", "size": PAGE}}}});
        let answer = self.search(&self.indices("service", start, end), &body).await?;
        let mut names: Vec<String> = buckets(&answer, "/aggregations/distinct_services/buckets").iter().map(key_str).collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    async fn operations(&self, service: &str, span_kind: Option<&str>) -> Result<Vec<Operation>, StorageError> {
        let (start, end) = self.lookback();
        let mut must = vec![json!({"term": {"serviceName": service}})];
        let mut must_not = Vec::new();
        match span_kind {
            Some("") => must_not.push(json!({"exists": {"field": "spanKind"}})),
            Some(kind) => must.push(json!({"term": {"spanKind": kind}})),
            None => {}
        }
        let body = json!({"size": 0, "query": {"bool": {"must": must, "must_not": must_not}},
            "aggs": {"distinct_operations": {"terms": {"field": "operationName", "size": PAGE},
                     "aggs": {"span_kinds": {"terms": {"field": "spanKind", "size": 10}}}}}});
        let answer = self.search(&self.indices("service", start, end), &body).await?;
        let mut ops = Vec::new();
        for b in buckets(&answer, "/aggregations/distinct_operations/buckets") {
            let name = key_str(b);
            let kinds = buckets(b, "/span_kinds/buckets");
            let with_kind: u64 = kinds.iter().filter_map(|k| k["doc_count"].as_u64()).sum();
            ops.extend(kinds.iter().map(|k| Operation { name: name.clone(), span_kind: key_str(k) }));
            if b["doc_count"].as_u64().unwrap_or(0) > with_kind {
                ops.push(Operation { name, span_kind: String::new() });
            }
        }
        ops.sort();
        ops.dedup();
        Ok(ops)
    }

    async fn find_trace_ids(&self, q: &TraceQuery) -> Result<Vec<TraceId>, StorageError> {
        let (lookback_start, now) = self.lookback();
        let start = q.start_min.map_or(lookback_start, micros);
        let end = q.start_max.map_or(now, micros);
        if start > end {
            return Err(StorageError::BadQuery("start_min is after start_max".into()));
        }
        let limit = if q.limit == 0 { DEFAULT_LIMIT } else { q.limit };
        let body = json!({"size": 0, "query": self.find_query(q),
            "aggs": {"traceIDs": {"terms": {"field": "traceID", "size": limit, "order": {"startTime": "desc"}},
                                  "aggs": {"startTime": {"max": {"field": "startTime"}}}}}});
        let answer = self.search(&self.indices("span", start, end), &body).await?;
        Ok(buckets(&answer, "/aggregations/traceIDs/buckets").iter().filter_map(|b| parse_hex::<16>(&key_str(b))).collect())
    }

    async fn find_traces(&self, q: &TraceQuery) -> Result<Vec<Traces>, StorageError> {
        let ids = self.find_trace_ids(q).await?;
        self.load(&ids).await
    }

    async fn dependencies(&self, end: SystemTime, lookback: Duration) -> Result<Vec<DependencyLink>, StorageError> {
        let (to, from) = (micros(end), micros(end) - lookback.as_micros() as i64);
        let indices = self.indices("span", from, to);
        let sort = json!([{"startTime": "asc"}, {"spanID": "asc"}, {"traceID": "asc"}]);
        let max = self.shared.config.max_dependency_spans;
        let mut services: HashMap<(String, String), String> = HashMap::new();
        let mut parents: Vec<(String, String, String)> = Vec::new(); // (trace, parent span, child service)
        let mut after: Option<Value> = None;
        let mut seen = 0usize;
        while seen < max {
            let mut body = json!({"size": PAGE.min(max - seen), "sort": sort, "query": {"range": {"startTime": {"gte": from, "lte": to}}},
                                  "_source": ["traceID", "spanID", "references", "process.serviceName"]});
            if let Some(a) = &after {
                body["search_after"] = a.clone();
            }
            let page = self.search(&indices, &body).await?;
            let hits = buckets(&page, "/hits/hits");
            if hits.is_empty() {
                break;
            }
            seen += hits.len();
            after = hits.last().and_then(|h| h.get("sort")).cloned();
            for h in hits {
                let s = &h["_source"];
                let (Some(trace), Some(span)) = (s["traceID"].as_str(), s["spanID"].as_str()) else { continue };
                let service = s.pointer("/process/serviceName").and_then(Value::as_str).unwrap_or("").to_string();
                if let Some(parent) = s["references"].as_array().and_then(|r| r.iter().find(|r| r["refType"] == "CHILD_OF")) {
                    if let Some(p) = parent["spanID"].as_str() {
                        parents.push((trace.to_string(), p.to_string(), service.clone()));
                    }
                }
                services.insert((trace.to_string(), span.to_string()), service);
            }
            if after.is_none() {
                break;
            }
        }
        let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
        for (trace, parent, child) in parents {
            if let Some(p) = services.get(&(trace, parent)) {
                if *p != child {
                    *counts.entry((p.clone(), child)).or_default() += 1;
                }
            }
        }
        Ok(counts.into_iter().map(|((parent, child), call_count)| DependencyLink { parent, child, call_count }).collect())
    }
}
