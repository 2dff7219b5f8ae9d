//! What a user sees when they write an `otlp` or `otlphttp` section.

use tracegate_core::factory::{parse_typed, ParsedConfig};

use super::*;

fn parse<C: ComponentConfig>(yaml: &str) -> Result<ParsedConfig, Vec<ConfigProblem>> {
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).unwrap();
    parse_typed::<C>(Some(&value))
}

fn grpc(yaml: &str) -> Result<GrpcSettings, Vec<ConfigProblem>> {
    let parsed = parse::<GrpcConfig>(yaml)?;
    Ok(parsed.typed.downcast_ref::<GrpcSettings>().unwrap().clone())
}

fn http(yaml: &str) -> Result<HttpSettings, Vec<ConfigProblem>> {
    let parsed = parse::<HttpConfig>(yaml)?;
    Ok(parsed.typed.downcast_ref::<HttpSettings>().unwrap().clone())
}

/// The single problem's path and message.
fn problem<T: std::fmt::Debug>(r: Result<T, Vec<ConfigProblem>>) -> (String, String) {
    let problems = r.unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    (problems[0].path.clone(), problems[0].message.clone())
}

#[test]
fn grpc_collector_config_parses_with_gzip_by_default() {
    let s =
        grpc("{ endpoint: collector:4317, tls: { insecure: true }, headers: { x-tenant: acme } }")
            .unwrap();
    assert_eq!(s.uri.to_string(), "http://collector:4317/");
    assert_eq!(s.compression, Compression::Gzip);
    assert_eq!(s.headers.get("x-tenant").unwrap(), "acme");

    let s = grpc("{ endpoint: 'http://[::1]:4317', compression: zstd }").unwrap();
    assert_eq!(s.uri.authority().unwrap().as_str(), "[::1]:4317");
    assert_eq!(s.compression, Compression::Zstd);
}

#[test]
fn grpc_endpoint_is_required() {
    for yaml in ["{}", "{ endpoint: '' }", "{ tls: { insecure: true } }"] {
        let (path, msg) = problem(grpc(yaml));
        assert_eq!(path, "endpoint");
        assert!(msg.contains("required"), "{msg}");
    }
}

#[test]
fn grpc_bad_endpoints_say_why() {
    for (endpoint, why) in [
        ("collector", "missing port"),
        ("collector:http", "port must be a number"),
        ("collector:0", "port must be a number"),
        (":4317", "missing host"),
        ("unix:///tmp/sock", "unsupported scheme \"unix\""),
        ("http://collector:4317/v1", "has no path"),
        ("::1:4317", "IPv6"),
    ] {
        let (path, msg) = problem(grpc(&format!(
            "{{ endpoint: '{endpoint}', tls: {{ insecure: true }} }}"
        )));
        assert_eq!(path, "endpoint");
        assert!(
            msg.contains(why) && msg.contains(endpoint),
            "{endpoint}: {msg}"
        );
    }
}

#[test]
fn grpc_tls_follows_the_collector() {
    // No scheme and no `insecure`: TLS, as the Collector's default.
    let s = grpc("{ endpoint: collector:4317 }").unwrap();
    assert_eq!(s.uri.to_string(), "https://collector:4317/");
    assert!(s.tls.is_some());
    // `https://` asks for TLS even with insecure: true.
    let s = grpc("{ endpoint: 'https://collector:4317', tls: { insecure: true } }").unwrap();
    assert!(s.tls.is_some_and(|t| !t.insecure));
    let s = grpc("{ endpoint: 'http://collector:4317' }").unwrap();
    assert!(s.tls.is_none() && s.uri.scheme_str() == Some("http"));
    let (path, msg) = problem(grpc("{ endpoint: collector:4317, tls: { cert_file: c.crt } }"));
    assert_eq!(path, "tls::key_file");
    assert!(msg.contains("needs both cert_file and key_file"), "{msg}");
}

#[test]
fn grpc_unknown_keys_and_engine_keys_are_not_ours() {
    let (_, msg) = problem(grpc("{ endpoint: 'http://c:4317', sending_queue: {} }"));
    assert!(msg.contains("unknown field `sending_queue`"), "{msg}");
    let (path, _) = problem(grpc("{ endpoint: 'http://c:4317', compression: lz4 }"));
    assert_eq!(path, "compression");
}

#[test]
fn bad_headers_are_named() {
    let (path, msg) = problem(grpc(
        "{ endpoint: 'http://c:4317', headers: { 'bad header': x } }",
    ));
    assert_eq!(path, "headers::bad header");
    assert!(msg.contains("not a valid header name"), "{msg}");
    let (path, _) = problem(http(
        "{ endpoint: 'http://c:4318', headers: { x-ok: \"a\\nb\" } }",
    ));
    assert_eq!(path, "headers::x-ok");
}

#[test]
fn http_traces_url_is_joined_like_the_collector() {
    let s = http("{ endpoint: 'http://collector:4318' }").unwrap();
    assert_eq!(s.url.to_string(), "http://collector:4318/v1/traces");
    assert_eq!(
        (s.compression, s.encoding),
        (Compression::Gzip, Encoding::Proto)
    );
    let s = http("{ endpoint: 'http://collector:4318/otlp/', encoding: json }").unwrap();
    assert_eq!(s.url.to_string(), "http://collector:4318/otlp/v1/traces");
    assert_eq!(s.encoding, Encoding::Json);
    let s = http("{ endpoint: 'http://a:4318', traces_endpoint: 'http://x/custom' }").unwrap();
    assert_eq!(s.url.to_string(), "http://x/custom");
    let s = http("{ traces_endpoint: 'http://x/custom', tls: { insecure: true } }").unwrap();
    assert_eq!(s.url.to_string(), "http://x/custom");
}

#[test]
fn http_endpoint_problems() {
    let (path, msg) = problem(http("{ compression: none }"));
    assert_eq!(path, "endpoint");
    assert!(msg.contains("required"), "{msg}");
    let (path, msg) = problem(http("{ endpoint: 'collector:4318' }"));
    assert_eq!(path, "endpoint");
    assert!(msg.contains("missing http://"), "{msg}");
    assert!(http("{ endpoint: 'https://collector:4318' }").is_ok());
    let (path, _) = problem(http("{ endpoint: 'https://collector:4318', tls: { min_version: '1.0' } }"));
    assert_eq!(path, "tls");
    let (path, msg) = problem(http(
        "{ endpoint: 'http://a:4318', traces_endpoint: 'http://bad host/' }",
    ));
    assert_eq!(path, "traces_endpoint");
    assert!(msg.contains("invalid URL"), "{msg}");
    let (path, _) = problem(http("{ endpoint: 'http://a:4318', encoding: thrift }"));
    assert_eq!(path, "encoding");
}

#[test]
fn effective_config_shows_defaults() {
    let parsed = parse::<HttpConfig>("{ endpoint: 'http://a:4318' }").unwrap();
    let text = serde_yaml_ng::to_string(&parsed.effective).unwrap();
    assert!(
        text.contains("compression: gzip") && text.contains("encoding: proto"),
        "{text}"
    );
    assert!(!text.contains("traces_endpoint"), "{text}");
}
