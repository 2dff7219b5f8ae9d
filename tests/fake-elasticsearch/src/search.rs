//! `_search` bodies: `query`, `size`, `from`, `sort`, `search_after`, `aggs` (`terms` with
//! `size` and `order`, ordered by `_count`, `_key` or a `max` sub-aggregation; `max`).
//! Any other top-level key or aggregation type is a `parsing_exception`.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::error::EsError;
use crate::query::{values, Query};

/// A stored document as a search sees it.
pub struct Hit<'a> {
    pub index: &'a str,
    pub id: &'a str,
    pub source: &'a Value,
}

#[derive(Debug)]
enum Agg {
    Terms { field: String, size: usize, order: Vec<(String, bool)>, subs: Vec<(String, Agg)> },
    Max { field: String },
}

fn parse_aggs(v: &Value) -> Result<Vec<(String, Agg)>, EsError> {
    let obj = v.as_object().ok_or_else(|| EsError::parsing("[aggs] must be an object"))?;
    let mut out = Vec::new();
    for (name, spec) in obj {
        let spec = spec.as_object().ok_or_else(|| EsError::parsing(format!("aggregation [{name}] must be an object")))?;
        let mut kind = None;
        let mut subs = Vec::new();
        for (k, body) in spec {
            match k.as_str() {
                "aggs" | "aggregations" => subs = parse_aggs(body)?,
                "terms" | "max" => kind = Some((k.as_str(), body)),
                other => return Err(EsError::parsing(format!("Unknown aggregation type [{other}] did you mean [terms]?"))),
            }
        }
        let (kind, body) = kind.ok_or_else(|| EsError::parsing(format!("Missing definition for aggregation [{name}]")))?;
        let field = body.get("field").and_then(Value::as_str).ok_or_else(|| EsError::parsing(format!("[{kind}] requires [field]")))?.to_string();
        let agg = if kind == "max" {
            if !subs.is_empty() {
                return Err(EsError::new(400, "aggregation_initialization_exception", format!("Aggregator [{name}] of type [max] cannot accept sub-aggregations")));
            }
            Agg::Max { field }
        } else {
            let size = body.get("size").and_then(Value::as_u64).unwrap_or(10) as usize;
            let mut order = Vec::new();
            let mut push = |o: &Value| -> Result<(), EsError> {
                for (k, dir) in o.as_object().ok_or_else(|| EsError::parsing("[terms] order must be an object"))? {
                    let asc = match dir.as_str() {
                        Some("asc") => true,
                        Some("desc") => false,
                        _ => return Err(EsError::parsing(format!("Unknown terms order direction [{dir}]"))),
                    };
                    order.push((k.clone(), asc));
                }
                Ok(())
            };
            match body.get("order") {
                Some(Value::Array(items)) => items.iter().try_for_each(&mut push)?,
                Some(o) => push(o)?,
                None => {}
            }
            for key in body.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default() {
                if !matches!(key.as_str(), "field" | "size" | "order") {
                    return Err(EsError::parsing(format!("[terms] unknown field [{key}]")));
                }
            }
            for (k, _) in &order {
                if k != "_count" && k != "_key" && !subs.iter().any(|(n, a)| n == k && matches!(a, Agg::Max { .. })) {
                    return Err(EsError::new(400, "aggregation_execution_exception", format!("Invalid aggregation order path [{k}]")));
                }
            }
            Agg::Terms { field, size, order, subs }
        };
        out.push((name.clone(), agg));
    }
    Ok(out)
}

fn max_of(hits: &[&Hit], field: &str) -> Option<f64> {
    hits.iter().flat_map(|h| values(h.source, "", field)).filter_map(Value::as_f64).reduce(f64::max)
}

fn key_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn run_agg(agg: &Agg, hits: &[&Hit]) -> Value {
    match agg {
        Agg::Max { field } => json!({"value": max_of(hits, field)}),
        Agg::Terms { field, size, order, subs } => {
            let mut groups: BTreeMap<String, (Value, Vec<&Hit>)> = BTreeMap::new();
            for h in hits {
                let mut seen: Vec<String> = Vec::new();
                for v in values(h.source, "", field) {
                    let k = key_text(v);
                    if !seen.contains(&k) {
                        seen.push(k.clone());
                        groups.entry(k).or_insert_with(|| (v.clone(), Vec::new())).1.push(h);
                    }
                }
            }
            let mut buckets: Vec<(String, Value, Vec<&Hit>)> = groups.into_iter().map(|(k, (v, h))| (k, v, h)).collect();
            let order: Vec<(String, bool)> =
                if order.is_empty() { vec![("_count".into(), false), ("_key".into(), true)] } else { order.clone() };
            let sub_value = |name: &str, hits: &[&Hit]| -> Option<f64> {
                subs.iter().find(|(n, _)| n == name).and_then(|(_, a)| match a {
                    Agg::Max { field } => max_of(hits, field),
                    Agg::Terms { .. } => None,
                })
            };
            buckets.sort_by(|a, b| {
                for (k, asc) in &order {
                    let o = match k.as_str() {
                        "_count" => a.2.len().cmp(&b.2.len()),
                        "_key" => a.0.cmp(&b.0),
                        name => sub_value(name, &a.2).partial_cmp(&sub_value(name, &b.2)).unwrap_or(Ordering::Equal),
                    };
                    let o = if *asc { o } else { o.reverse() };
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                a.0.cmp(&b.0)
            });
            let out: Vec<Value> = buckets
                .into_iter()
                .take(*size)
                .map(|(_, key, hits)| {
                    let mut b = Map::new();
                    b.insert("key".into(), key);
                    b.insert("doc_count".into(), json!(hits.len()));
                    for (name, sub) in subs {
                        b.insert(name.clone(), run_agg(sub, &hits));
                    }
                    Value::Object(b)
                })
                .collect();
            json!({"doc_count_error_upper_bound": 0, "sum_other_doc_count": 0, "buckets": out})
        }
    }
}

fn sort_spec(v: Option<&Value>) -> Result<Vec<(String, bool)>, EsError> {
    let items = match v {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items.clone(),
        Some(other) => vec![other.clone()],
    };
    items
        .iter()
        .map(|item| match item {
            Value::String(f) => Ok((f.clone(), true)),
            Value::Object(o) if o.len() == 1 => {
                let (f, spec) = o.iter().next().ok_or_else(|| EsError::parsing("[sort] empty"))?;
                let dir = spec.as_str().or_else(|| spec.get("order").and_then(Value::as_str)).unwrap_or("asc");
                Ok((f.clone(), dir == "asc"))
            }
            _ => Err(EsError::parsing("[sort] malformed")),
        })
        .collect()
}

fn sort_key(h: &Hit, field: &str) -> Value {
    match field {
        "_id" => Value::String(h.id.to_string()),
        _ => values(h.source, "", field).first().map(|v| (*v).clone()).unwrap_or(Value::Null),
    }
}

fn cmp_values(a: &Value, b: &Value) -> Ordering {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => key_text(a).cmp(&key_text(b)),
    }
}

/// Only the fields at `paths` (dotted; a path naming an object keeps all of it).
fn filter_source(src: &Value, paths: &[String]) -> Value {
    fn keep(src: &Value, parts: &[&str]) -> Option<Value> {
        let Some((first, rest)) = parts.split_first() else { return Some(src.clone()) };
        match src {
            Value::Object(o) => {
                let inner = keep(o.get(*first)?, rest)?;
                Some(json!({ *first: inner }))
            }
            Value::Array(items) => Some(Value::Array(items.iter().filter_map(|i| keep(i, parts)).collect())),
            _ => None,
        }
    }
    fn merge(into: &mut Value, from: Value) {
        match (into, from) {
            (Value::Object(a), Value::Object(b)) => {
                for (k, v) in b {
                    match a.get_mut(&k) {
                        Some(existing) => merge(existing, v),
                        None => {
                            a.insert(k, v);
                        }
                    }
                }
            }
            (slot, v) => *slot = v,
        }
    }
    let mut out = json!({});
    for p in paths {
        let parts: Vec<&str> = p.split('.').collect();
        if let Some(v) = keep(src, &parts) {
            merge(&mut out, v);
        }
    }
    out
}

/// Runs a `_search` body over `docs`.
pub fn search(body: &Value, docs: Vec<Hit>) -> Result<Value, EsError> {
    let empty = Map::new();
    let obj = match body {
        Value::Null => &empty,
        Value::Object(o) => o,
        _ => return Err(EsError::parsing("request body must be an object")),
    };
    for key in obj.keys() {
        if !matches!(key.as_str(), "query" | "size" | "from" | "sort" | "search_after" | "aggs" | "aggregations" | "track_total_hits" | "_source") {
            return Err(EsError::parsing(format!("Unknown key for a START_OBJECT in [{key}].")));
        }
    }
    let query = obj.get("query").map(Query::parse).transpose()?.unwrap_or(Query::MatchAll);
    let aggs = obj.get("aggs").or_else(|| obj.get("aggregations")).map(parse_aggs).transpose()?.unwrap_or_default();
    let size = obj.get("size").and_then(Value::as_u64).unwrap_or(10) as usize;
    if size > 10_000 {
        return Err(EsError::illegal("Result window is too large, from + size must be less than or equal to: [10000]"));
    }
    let from = obj.get("from").and_then(Value::as_u64).unwrap_or(0) as usize;
    let sort = sort_spec(obj.get("sort"))?;
    let source_filter = match obj.get("_source") {
        None | Some(Value::Bool(true)) => None,
        Some(Value::Bool(false)) => Some(Vec::new()),
        Some(Value::String(s)) => Some(vec![s.clone()]),
        Some(Value::Array(a)) => Some(a.iter().map(|v| v.as_str().map(str::to_string).ok_or_else(|| EsError::parsing("[_source] entries must be strings"))).collect::<Result<_, _>>()?),
        Some(_) => return Err(EsError::parsing("[_source] the fake supports true, false, a field or a list of fields")),
    };
    let mut matched: Vec<Hit> = docs.into_iter().filter(|h| query.matches(h.source)).collect();
    let total = matched.len();
    let compare = |a: &Hit, b: &Hit| {
        for (f, asc) in &sort {
            let o = cmp_values(&sort_key(a, f), &sort_key(b, f));
            let o = if *asc { o } else { o.reverse() };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    };
    matched.sort_by(compare);
    if let Some(after) = obj.get("search_after") {
        let after = after.as_array().ok_or_else(|| EsError::parsing("[search_after] must be an array"))?;
        if after.len() != sort.len() || sort.is_empty() {
            return Err(EsError::illegal("search_after has the wrong number of sort values"));
        }
        matched.retain(|h| {
            for ((f, asc), a) in sort.iter().zip(after) {
                let o = cmp_values(&sort_key(h, f), a);
                let o = if *asc { o } else { o.reverse() };
                if o != Ordering::Equal {
                    return o == Ordering::Greater;
                }
            }
            false
        });
    }
    let refs: Vec<&Hit> = matched.iter().collect();
    let mut agg_out = Map::new();
    for (name, agg) in &aggs {
        agg_out.insert(name.clone(), run_agg(agg, &refs));
    }
    let hits: Vec<Value> = matched
        .iter()
        .skip(from)
        .take(size)
        .map(|h| {
            let source = match &source_filter {
                None => h.source.clone(),
                Some(paths) => filter_source(h.source, paths),
            };
            let mut v = json!({"_index": h.index, "_id": h.id, "_score": null, "_source": source});
            if !sort.is_empty() {
                v["sort"] = Value::Array(sort.iter().map(|(f, _)| sort_key(h, f)).collect());
            }
            v
        })
        .collect();
    let mut out = json!({"took": 1, "timed_out": false, "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
                         "hits": {"total": {"value": total, "relation": "eq"}, "max_score": null, "hits": hits}});
    if !aggs.is_empty() {
        out["aggregations"] = Value::Object(agg_out);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_ordered_by_max_sub_aggregation() {
        let docs = [
            json!({"traceID": "a", "startTime": 5}),
            json!({"traceID": "a", "startTime": 1}),
            json!({"traceID": "b", "startTime": 9}),
            json!({"traceID": "c", "startTime": 3}),
        ];
        let hits: Vec<Hit> = docs.iter().map(|d| Hit { index: "i", id: "x", source: d }).collect();
        let body = json!({"size": 0, "aggs": {"traceIDs": {"terms": {"field": "traceID", "size": 2, "order": {"startTime": "desc"}},
                                                             "aggs": {"startTime": {"max": {"field": "startTime"}}}}}});
        let out = search(&body, hits).expect("search");
        let keys: Vec<&str> = out["aggregations"]["traceIDs"]["buckets"].as_array().expect("buckets").iter().filter_map(|b| b["key"].as_str()).collect();
        assert_eq!(keys, ["b", "a"]);
        assert_eq!(out["aggregations"]["traceIDs"]["buckets"][1]["doc_count"], 2);
        assert_eq!(out["hits"]["hits"], json!([]));
    }

    #[test]
    fn sort_and_search_after_page_through() {
        let docs: Vec<Value> = (0..5).map(|i| json!({"n": i})).collect();
        let ids: Vec<String> = (0..5).map(|i| i.to_string()).collect();
        let hits = || docs.iter().zip(&ids).map(|(d, id)| Hit { index: "i", id, source: d }).collect::<Vec<_>>();
        let first = search(&json!({"size": 2, "sort": [{"n": "desc"}]}), hits()).expect("page 1");
        assert_eq!(first["hits"]["hits"][1]["sort"], json!([3]));
        let next = search(&json!({"size": 2, "sort": [{"n": "desc"}], "search_after": [3]}), hits()).expect("page 2");
        let ns: Vec<i64> = next["hits"]["hits"].as_array().expect("hits").iter().filter_map(|h| h["_source"]["n"].as_i64()).collect();
        assert_eq!(ns, [2, 1]);
    }

    #[test]
    fn source_filtering() {
        let doc = json!({"traceID": "t", "process": {"serviceName": "s", "tags": [1]}, "tags": [{"key": "k"}]});
        let hits = vec![Hit { index: "i", id: "1", source: &doc }];
        let out = search(&json!({"_source": ["traceID", "process.serviceName"]}), hits).expect("search");
        assert_eq!(out["hits"]["hits"][0]["_source"], json!({"traceID": "t", "process": {"serviceName": "s"}}));
    }

    #[test]
    fn unknown_aggregation_and_keys_are_rejected() {
        let err = search(&json!({"aggs": {"x": {"cardinality": {"field": "f"}}}}), Vec::new()).expect_err("unknown agg");
        assert!(err.reason.contains("cardinality"));
        let err = search(&json!({"query": {"match_all": {}}, "highlight": {}}), Vec::new()).expect_err("unknown key");
        assert_eq!(err.kind, "parsing_exception");
    }
}
