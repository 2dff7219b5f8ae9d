//! Routing: one fallback handler that reads method and path, because index names (comma lists,
//! patterns) sit in the first path segment the way Elasticsearch's REST layer parses them.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

use crate::error::EsError;
use crate::search::search;
use crate::store::Faults;
use crate::Shared;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

fn reply(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [("content-type", "application/json"), ("x-elastic-product", "Elasticsearch")], body.to_string()).into_response()
}

fn error(e: EsError) -> Response {
    reply(e.status, e.body())
}

/// Query parameters; any parameter the fake does not know is refused, as Elasticsearch does.
fn params(uri: &Uri) -> Result<Vec<(String, String)>, EsError> {
    let mut out = Vec::new();
    for pair in uri.query().unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, "true"));
        if !matches!(k, "ignore_unavailable" | "refresh" | "allow_no_indices" | "filter_path" | "rest_total_hits_as_int" | "typed_keys" | "timeout") {
            return Err(EsError::illegal(format!("request [{}] contains unrecognized parameter: [{k}]", uri.path())));
        }
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

fn json_body(body: &[u8]) -> Result<Value, EsError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|e| EsError::new(400, "x_content_parse_exception", format!("failed to parse request body: {e}")))
}

async fn handle(State(shared): State<Arc<Shared>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_string();
    shared.requests.lock().unwrap_or_else(|p| p.into_inner()).push(format!("{method} {path}"));
    if let Some(control) = path.strip_prefix("/_fake/") {
        return fake_control(&shared, &method, control, &body);
    }
    if !shared.options.authorization.is_empty() {
        let given = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
        if !shared.options.authorization.iter().any(|a| a == given) {
            return error(EsError::new(401, "security_exception", "missing authentication credentials for REST request"));
        }
    }
    {
        let mut c = shared.cluster();
        if c.faults.request_429 > 0 {
            c.faults.request_429 -= 1;
            return error(EsError::new(429, "es_rejected_execution_exception", "rejected execution (injected)"));
        }
        if c.faults.request_503 > 0 {
            c.faults.request_503 -= 1;
            return error(EsError::new(503, "unavailable_shards_exception", "primary shard is not active (injected)"));
        }
    }
    if !body.is_empty() {
        let ct = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
        let mime = ct.split(';').next().unwrap_or("").trim();
        if !matches!(mime, "application/json" | "application/x-ndjson") {
            return error(EsError::new(406, "media_type_header_exception", format!("Content-Type header [{ct}] is not supported")));
        }
    }
    match route(&shared, &method, &uri, &body) {
        Ok(v) => reply(200, v),
        Err(e) => error(e),
    }
}

fn route(shared: &Shared, method: &Method, uri: &Uri, body: &[u8]) -> Result<Value, EsError> {
    let params = params(uri)?;
    let ignore_unavailable = params.iter().any(|(k, v)| k == "ignore_unavailable" && v == "true");
    let segments: Vec<&str> = uri.path().split('/').filter(|s| !s.is_empty()).collect();
    let is = |m: &[Method]| m.contains(method);
    let (get_post, put) = (&[Method::GET, Method::POST][..], &[Method::PUT, Method::POST][..]);
    match segments.as_slice() {
        [] if is(&[Method::GET]) => {
            let v = &shared.options.version;
            let mut info = json!({"name": "fake-es", "cluster_name": "tracegate-fake", "version": {"number": v, "build_flavor": "default",
                      "lucene_version": "9.8.0", "minimum_wire_compatibility_version": "7.17.0"}, "tagline": "You Know, for Search"});
            if let Some(d) = &shared.options.distribution {
                info["version"]["distribution"] = json!(d);
                info["tagline"] = json!("The OpenSearch Project: https://opensearch.org/");
            }
            Ok(info)
        }
        [kind @ ("_index_template" | "_template"), name] if is(put) => shared.cluster().put_template(kind, name, json_body(body)?),
        ["_bulk"] if is(put) => shared.cluster().bulk(None, body),
        [index, "_bulk"] if is(put) => shared.cluster().bulk(Some(index), body),
        ["_search"] if is(get_post) => run_search(shared, "_all", true, &json_body(body)?),
        [indices, "_search"] if is(get_post) => run_search(shared, indices, ignore_unavailable, &json_body(body)?),
        ["_msearch"] if is(get_post) => msearch(shared, None, body),
        [indices, "_msearch"] if is(get_post) => msearch(shared, Some(indices), body),
        ["_refresh"] | [_, "_refresh"] if is(get_post) => Ok(json!({"_shards": {"total": 1, "successful": 1, "failed": 0}})),
        ["_aliases"] if is(&[Method::POST]) => shared.cluster().update_aliases(&json_body(body)?),
        _ => Err(EsError::illegal(format!("no handler found for uri [{}] and method [{method}] (not in the fake's subset)", uri.path()))),
    }
}

fn run_search(shared: &Shared, indices: &str, ignore_unavailable: bool, body: &Value) -> Result<Value, EsError> {
    let c = shared.cluster();
    let names = c.resolve(indices, ignore_unavailable)?;
    search(body, c.hits(&names))
}

/// `_msearch`: header/body line pairs; each search answers on its own (an error is that
/// response's `error`, the request as a whole succeeds).
fn msearch(shared: &Shared, default: Option<&str>, body: &[u8]) -> Result<Value, EsError> {
    let text = std::str::from_utf8(body).map_err(|_| EsError::illegal("msearch body is not UTF-8"))?;
    if !text.ends_with('\n') {
        return Err(EsError::illegal("The msearch request must be terminated by a newline [\\n]"));
    }
    let lines: Vec<&str> = text.lines().collect();
    if lines.is_empty() || !lines.len().is_multiple_of(2) {
        return Err(EsError::illegal("msearch body must be header/body line pairs"));
    }
    let mut responses = Vec::new();
    for pair in lines.chunks(2) {
        let header: Value = serde_json::from_str(pair[0]).map_err(|e| EsError::illegal(format!("Malformed msearch header: {e}")))?;
        let body: Value = serde_json::from_str(pair[1]).map_err(|e| EsError::new(400, "x_content_parse_exception", format!("Malformed msearch body: {e}")))?;
        let index = match header.get("index") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","),
            _ => default.unwrap_or("_all").to_string(),
        };
        let ignore = header.get("ignore_unavailable").and_then(Value::as_bool).unwrap_or(false);
        responses.push(match run_search(shared, &index, ignore, &body) {
            Ok(mut v) => {
                v["status"] = json!(200);
                v
            }
            Err(e) => e.body(),
        });
    }
    Ok(json!({"took": 1, "responses": responses}))
}

fn fake_control(shared: &Shared, method: &Method, control: &str, body: &[u8]) -> Response {
    match (method.clone(), control) {
        (Method::POST, "faults") => match serde_json::from_slice::<Faults>(body) {
            Ok(f) => {
                shared.cluster().faults = f;
                reply(200, json!({"acknowledged": true}))
            }
            Err(e) => error(EsError::illegal(format!("faults: {e}"))),
        },
        (Method::GET, "faults") => reply(200, serde_json::to_value(shared.cluster().faults.clone()).unwrap_or_default()),
        (Method::GET, "templates") => {
            let c = shared.cluster();
            let t: Vec<Value> = c.templates.iter().map(|((k, n), b)| json!({"api": k, "name": n, "body": b})).collect();
            reply(200, Value::Array(t))
        }
        (Method::GET, "indices") => reply(200, json!(shared.cluster().indices.keys().collect::<Vec<_>>())),
        _ => error(EsError::illegal(format!("unknown control endpoint [/_fake/{control}]"))),
    }
}

#[cfg(test)]
mod tests {
    use crate::{FakeElasticsearch, Options};

    async fn raw(addr: std::net::SocketAddr, req: String) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.write_all(req.as_bytes()).await.expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        out
    }

    fn post(path: &str, ct: &str, body: &str) -> String {
        format!("POST {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: {ct}\r\ncontent-length: {}\r\n\r\n{body}", body.len())
    }

    #[tokio::test]
    async fn http_surface() {
        let fake = FakeElasticsearch::start(Options { version: "7.17.9".into(), ..Options::default() }).await.expect("start");
        let info = raw(fake.addr(), "GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".into()).await;
        assert!(info.contains("\"number\":\"7.17.9\""), "{info}");
        let bulk = raw(fake.addr(), post("/_bulk", "application/x-ndjson", "{\"index\":{\"_index\":\"a\",\"_id\":\"1\"}}\n{\"f\":\"v\"}\n")).await;
        assert!(bulk.starts_with("HTTP/1.1 200") && bulk.contains("\"errors\":false"), "{bulk}");
        let bad = raw(fake.addr(), post("/_bulk", "application/x-ndjson", "garbage\n")).await;
        assert!(bad.starts_with("HTTP/1.1 400") && bad.contains("illegal_argument_exception"), "{bad}");
        let unknown = raw(fake.addr(), post("/a/_search", "application/json", "{\"query\":{\"fuzzy\":{\"f\":\"v\"}}}")).await;
        assert!(unknown.starts_with("HTTP/1.1 400") && unknown.contains("unknown query [fuzzy]"), "{unknown}");
        let found = raw(fake.addr(), post("/a*/_search", "application/json", "{\"query\":{\"term\":{\"f\":\"v\"}}}")).await;
        assert!(found.contains("\"total\":{\"relation\":\"eq\",\"value\":1}") || found.contains("\"value\":1"), "{found}");
        let missing = raw(fake.addr(), post("/nope/_search", "application/json", "{}")).await;
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        let ms = "{\"index\":\"nope\",\"ignore_unavailable\":true}\n{\"query\":{\"match_all\":{}}}\n{\"index\":\"a\"}\n{\"size\":1}\n";
        let ms = raw(fake.addr(), post("/_msearch", "application/x-ndjson", ms)).await;
        assert!(ms.contains("\"responses\"") && ms.contains("\"_id\":\"1\""), "{ms}");
        let param = raw(fake.addr(), post("/a/_search?scroll=1m", "application/json", "{}")).await;
        assert!(param.starts_with("HTTP/1.1 400"), "{param}");
        fake.stop().await;
    }

    #[tokio::test]
    async fn authentication_and_injected_429() {
        let options = Options { authorization: vec!["ApiKey abc".into()], ..Options::default() };
        let fake = FakeElasticsearch::start(options).await.expect("start");
        let anon = raw(fake.addr(), "GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".into()).await;
        assert!(anon.starts_with("HTTP/1.1 401"), "{anon}");
        fake.set_faults(crate::Faults { request_429: 1, ..Default::default() });
        let get = "GET / HTTP/1.1\r\nhost: x\r\nauthorization: ApiKey abc\r\nconnection: close\r\n\r\n".to_string();
        assert!(raw(fake.addr(), get.clone()).await.starts_with("HTTP/1.1 429"));
        assert!(raw(fake.addr(), get).await.starts_with("HTTP/1.1 200"));
        fake.stop().await;
    }
}
