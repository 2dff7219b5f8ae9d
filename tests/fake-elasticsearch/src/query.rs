//! The query DSL subset: parsed into [`Query`] first (anything else is a `parsing_exception`,
//! as Elasticsearch answers an unknown query), then evaluated against a document.
//!
//! Field semantics follow Elasticsearch with Jaeger's mapping in mind: every string field is a
//! `keyword` (so `match` is exact equality, documented as such), numbers compare as numbers,
//! and the object arrays Jaeger maps as `nested` ([`NESTED_PATHS`]) are separate hidden
//! documents: a query reaches their fields only inside a `nested` query on that path, where
//! every condition is evaluated against one nested object at a time. That is what makes "one
//! tag has this key AND this value" correct, and a client that forgets `nested` gets nothing,
//! as it would from a real cluster.

use serde_json::Value;

use crate::error::EsError;

/// Object arrays mapped as `nested` in Jaeger's span template.
pub const NESTED_PATHS: &[&str] = &["references", "tags", "process.tags", "logs", "logs.fields"];

#[derive(Debug, Clone)]
pub enum Query {
    MatchAll,
    Bool { must: Vec<Query>, should: Vec<Query>, must_not: Vec<Query>, minimum_should_match: Option<usize> },
    Term { field: String, value: Value },
    Terms { field: String, values: Vec<Value> },
    Range { field: String, gte: Option<f64>, gt: Option<f64>, lte: Option<f64>, lt: Option<f64> },
    Exists { field: String },
    Nested { path: String, query: Box<Query> },
}

fn single_entry<'a>(v: &'a Value, ctx: &str) -> Result<(&'a String, &'a Value), EsError> {
    let obj = v.as_object().ok_or_else(|| EsError::parsing(format!("[{ctx}] query malformed, no start_object")))?;
    if obj.len() != 1 {
        return Err(EsError::parsing(format!("[{ctx}] query doesn't support multiple fields")));
    }
    obj.iter().next().ok_or_else(|| EsError::parsing(format!("[{ctx}] query malformed, empty clause found")))
}

fn clauses(v: Option<&Value>) -> Result<Vec<Query>, EsError> {
    match v {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(Query::parse).collect(),
        Some(one @ Value::Object(_)) => Ok(vec![Query::parse(one)?]),
        Some(_) => Err(EsError::parsing("[bool] query malformed, expected an object or array")),
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

impl Query {
    pub fn parse(v: &Value) -> Result<Query, EsError> {
        let (kind, body) = single_entry(v, "query")?;
        match kind.as_str() {
            "match_all" => Ok(Query::MatchAll),
            "bool" => {
                let obj = body.as_object().ok_or_else(|| EsError::parsing("[bool] query malformed"))?;
                let mut must = clauses(obj.get("must"))?;
                must.extend(clauses(obj.get("filter"))?);
                let mut minimum_should_match = None;
                for key in obj.keys() {
                    match key.as_str() {
                        "must" | "filter" | "should" | "must_not" | "boost" => {}
                        "minimum_should_match" => {
                            let m = obj.get(key).and_then(number).ok_or_else(|| {
                                EsError::parsing("[bool] minimum_should_match must be an integer (the fake supports no percentages)")
                            })?;
                            minimum_should_match = Some(m.max(0.0) as usize);
                        }
                        other => return Err(EsError::parsing(format!("[bool] query does not support [{other}]"))),
                    }
                }
                Ok(Query::Bool { must, should: clauses(obj.get("should"))?, must_not: clauses(obj.get("must_not"))?, minimum_should_match })
            }
            "term" => {
                let (field, spec) = single_entry(body, "term")?;
                let value = match spec {
                    Value::Object(o) => o.get("value").cloned().ok_or_else(|| EsError::parsing("[term] query does not support this shape, expected [value]"))?,
                    other => other.clone(),
                };
                Ok(Query::Term { field: field.clone(), value })
            }
            "match" => {
                let (field, spec) = single_entry(body, "match")?;
                let value = match spec {
                    Value::Object(o) => o.get("query").cloned().ok_or_else(|| EsError::parsing("[match] query requires [query]"))?,
                    other => other.clone(),
                };
                Ok(Query::Term { field: field.clone(), value })
            }
            "terms" => {
                let (field, spec) = single_entry(body, "terms")?;
                let values = spec.as_array().cloned().ok_or_else(|| EsError::parsing("[terms] query requires an array of values"))?;
                Ok(Query::Terms { field: field.clone(), values })
            }
            "range" => {
                let (field, spec) = single_entry(body, "range")?;
                let o = spec.as_object().ok_or_else(|| EsError::parsing("[range] query malformed"))?;
                let mut q = Query::Range { field: field.clone(), gte: None, gt: None, lte: None, lt: None };
                if let Query::Range { gte, gt, lte, lt, .. } = &mut q {
                    for (k, v) in o {
                        let n = || number(v).ok_or_else(|| EsError::parsing(format!("[range] [{k}] must be a number")));
                        match k.as_str() {
                            "gte" => *gte = Some(n()?),
                            "gt" => *gt = Some(n()?),
                            "lte" => *lte = Some(n()?),
                            "lt" => *lt = Some(n()?),
                            other => return Err(EsError::parsing(format!("[range] query does not support [{other}]"))),
                        }
                    }
                }
                Ok(q)
            }
            "exists" => {
                let field = body.get("field").and_then(Value::as_str).ok_or_else(|| EsError::parsing("[exists] must be provided with a [field]"))?;
                Ok(Query::Exists { field: field.to_string() })
            }
            "nested" => {
                let path = body.get("path").and_then(Value::as_str).ok_or_else(|| EsError::parsing("[nested] requires 'path' field"))?;
                let inner = body.get("query").ok_or_else(|| EsError::parsing("[nested] requires 'query' field"))?;
                Ok(Query::Nested { path: path.to_string(), query: Box::new(Query::parse(inner)?) })
            }
            other => Err(EsError::parsing(format!("unknown query [{other}]"))),
        }
    }

    /// Whether `doc` (a `_source`) matches.
    pub fn matches(&self, doc: &Value) -> bool {
        self.eval(doc, "")
    }

    /// `scope` is the nested path `doc` is an object of ("" for the root document).
    fn eval(&self, doc: &Value, scope: &str) -> bool {
        match self {
            Query::MatchAll => true,
            Query::Bool { must, should, must_not, minimum_should_match } => {
                let min = minimum_should_match.unwrap_or(if must.is_empty() && !should.is_empty() { 1 } else { 0 });
                must.iter().all(|q| q.eval(doc, scope))
                    && !must_not.iter().any(|q| q.eval(doc, scope))
                    && should.iter().filter(|q| q.eval(doc, scope)).count() >= min
            }
            Query::Term { field, value } => values(doc, scope, field).iter().any(|v| equal(v, value)),
            Query::Terms { field, values: wanted } => {
                values(doc, scope, field).iter().any(|v| wanted.iter().any(|w| equal(v, w)))
            }
            Query::Range { field, gte, gt, lte, lt } => values(doc, scope, field).iter().filter_map(|v| number(v)).any(|n| {
                gte.is_none_or(|b| n >= b) && gt.is_none_or(|b| n > b) && lte.is_none_or(|b| n <= b) && lt.is_none_or(|b| n < b)
            }),
            Query::Exists { field } => values(doc, scope, field).iter().any(|v| !v.is_null()),
            Query::Nested { path, query } => {
                let Some(rel) = relative(scope, path) else { return false };
                nested_objects(doc, rel).iter().any(|obj| query.eval(obj, path))
            }
        }
    }
}

/// `path` relative to `scope`, if `path` lies inside it.
fn relative<'a>(scope: &str, path: &'a str) -> Option<&'a str> {
    if scope.is_empty() {
        return Some(path);
    }
    path.strip_prefix(scope)?.strip_prefix('.')
}

/// The objects at `rel` (arrays flattened).
fn nested_objects<'a>(doc: &'a Value, rel: &str) -> Vec<&'a Value> {
    let mut out = vec![doc];
    for part in rel.split('.') {
        let mut next = Vec::new();
        for v in out {
            match v.get(part) {
                Some(Value::Array(items)) => next.extend(items.iter()),
                Some(other) => next.push(other),
                None => {}
            }
        }
        out = next;
    }
    out
}

/// The leaf values of `field` (a full path) in `doc`, not descending into nested objects
/// other than the current scope's own fields.
pub fn values<'a>(doc: &'a Value, scope: &str, field: &str) -> Vec<&'a Value> {
    let Some(rel) = relative(scope, field) else { return Vec::new() };
    let mut out = vec![doc];
    let mut walked = scope.to_string();
    for part in rel.split('.') {
        if !walked.is_empty() && NESTED_PATHS.contains(&walked.as_str()) && walked != scope {
            return Vec::new();
        }
        let mut next = Vec::new();
        for v in out {
            match v.get(part) {
                Some(Value::Array(items)) => next.extend(items.iter()),
                Some(other) => next.push(other),
                None => {}
            }
        }
        out = next;
        walked = if walked.is_empty() { part.to_string() } else { format!("{walked}.{part}") };
    }
    if NESTED_PATHS.contains(&walked.as_str()) && walked != scope {
        return Vec::new();
    }
    out.into_iter().flat_map(|v| if let Value::Array(a) = v { a.iter().collect() } else { vec![v] }).collect()
}

pub fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), _) | (_, Value::Number(_)) => match (number(a), number(b)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
        (Value::Bool(x), Value::String(s)) | (Value::String(s), Value::Bool(x)) => s == if *x { "true" } else { "false" },
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn q(v: Value) -> Query {
        Query::parse(&v).expect("valid query")
    }

    fn doc() -> Value {
        json!({"operationName": "GET", "startTime": 100, "process": {"serviceName": "api", "tags": [{"key": "host", "value": "a"}]},
               "tags": [{"key": "k1", "value": "v1"}, {"key": "k2", "value": "v2"}], "tag": {"k1": "v1"}})
    }

    #[test]
    fn nested_matches_key_and_value_in_one_object() {
        let one = |k: &str, v: &str| {
            q(json!({"nested": {"path": "tags", "query": {"bool": {"must": [{"match": {"tags.key": k}}, {"match": {"tags.value": v}}]}}}}))
        };
        assert!(one("k1", "v1").matches(&doc()));
        assert!(!one("k1", "v2").matches(&doc()), "key of one tag and value of another must not match");
        let nested_process = q(json!({"nested": {"path": "process.tags", "query": {"term": {"process.tags.key": "host"}}}}));
        assert!(nested_process.matches(&doc()));
    }

    #[test]
    fn nested_fields_are_invisible_outside_nested_queries() {
        assert!(!q(json!({"term": {"tags.key": "k1"}})).matches(&doc()));
        assert!(q(json!({"term": {"tag.k1": "v1"}})).matches(&doc()), "object fields are plain fields");
    }

    #[test]
    fn bool_semantics() {
        let d = doc();
        assert!(q(json!({"bool": {"should": [{"term": {"operationName": "x"}}, {"term": {"operationName": "GET"}}]}})).matches(&d));
        assert!(!q(json!({"bool": {"should": [{"term": {"operationName": "x"}}]}})).matches(&d));
        // With a must clause, should is optional unless minimum_should_match says otherwise.
        assert!(q(json!({"bool": {"must": {"match_all": {}}, "should": [{"term": {"operationName": "x"}}]}})).matches(&d));
        assert!(!q(json!({"bool": {"must": {"match_all": {}}, "should": [{"term": {"operationName": "x"}}], "minimum_should_match": 1}})).matches(&d));
        assert!(!q(json!({"bool": {"must_not": {"exists": {"field": "startTime"}}}})).matches(&d));
        assert!(q(json!({"range": {"startTime": {"gte": 100, "lt": 101}}})).matches(&d));
        assert!(!q(json!({"range": {"startTime": {"gt": 100}}})).matches(&d));
        assert!(q(json!({"terms": {"process.serviceName": ["x", "api"]}})).matches(&d));
    }

    #[test]
    fn unknown_shapes_are_rejected() {
        let err = Query::parse(&json!({"wildcard": {"f": "x*"}})).expect_err("unknown");
        assert_eq!(err.kind, "parsing_exception");
        assert!(err.reason.contains("unknown query [wildcard]"), "{}", err.reason);
        assert!(Query::parse(&json!({"bool": {"must": [], "shold": []}})).is_err());
        assert!(Query::parse(&json!({"range": {"f": {"from": 1}}})).is_err());
    }
}
