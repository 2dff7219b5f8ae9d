//! The `otlp` and `otlphttp` configs, in the Collector's otlpexporter / otlphttpexporter shape.
//!
//! `sending_queue`, `retry_on_failure` and `timeout` are absent on purpose: the engine owns
//! them and strips them before these types see the config. Each config resolves into the
//! settings its exporter runs with ([`GrpcSettings`], [`HttpSettings`]), once, when the config
//! is validated: that resolution is the validation, and its result is what `create` is given,
//! so what validation accepts is exactly what `create` builds from.

use std::collections::BTreeMap;

use http::{HeaderMap, HeaderName, HeaderValue, Uri};
use serde::{Deserialize, Serialize};
use tracegate_core::config::{validate_auth, AuthConfig, ConfigProblem};
use tracegate_core::factory::{ComponentConfig, FromConfig};

use crate::compression::Compression;

/// `tls:`: the Collector's `configtls.ClientConfig`, shared by every exporter that dials out.
pub use tracegate_core::config::TlsClientConfig as TlsConfig;

/// `exporters: { otlp: ... }`: OTLP over gRPC.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcConfig {
    /// `host:port`, `http://host:port` (plain text) or `https://host:port` (TLS).
    pub endpoint: String,
    pub tls: TlsConfig,
    /// Sent as metadata with every request.
    pub headers: BTreeMap<String, String>,
    pub compression: Compression,
    /// Credentials from an authenticator extension (the Collector's `configauth`), added to
    /// every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthConfig>,
}

/// `encoding:` of the HTTP exporter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    #[default]
    Proto,
    Json,
}

/// `exporters: { otlphttp: ... }`: OTLP over HTTP.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Base URL; traces go to `<endpoint>/v1/traces`.
    pub endpoint: String,
    /// The full traces URL, overriding `endpoint`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traces_endpoint: Option<String>,
    pub tls: TlsConfig,
    pub headers: BTreeMap<String, String>,
    pub compression: Compression,
    pub encoding: Encoding,
    /// Credentials from an authenticator extension (the Collector's `configauth`), added to
    /// every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthConfig>,
}

/// What the gRPC exporter runs with: the validated form of [`GrpcConfig`].
#[derive(Clone, Debug)]
pub struct GrpcSettings {
    /// `http://host:port` for h2c, `https://host:port` for TLS (then `tls` is set).
    pub uri: Uri,
    pub tls: Option<TlsConfig>,
    pub headers: HeaderMap,
    pub compression: Compression,
    pub auth: Option<AuthConfig>,
}

/// What the HTTP exporter runs with: the validated form of [`HttpConfig`].
#[derive(Clone, Debug)]
pub struct HttpSettings {
    pub url: Uri,
    /// The TLS settings for an `https://` URL (unused for `http://`).
    pub tls: TlsConfig,
    pub headers: HeaderMap,
    pub compression: Compression,
    pub encoding: Encoding,
    pub auth: Option<AuthConfig>,
}

impl FromConfig<GrpcConfig> for GrpcSettings {
    fn from_config(config: &GrpcConfig, problems: &mut Vec<ConfigProblem>) -> Option<Self> {
        let uri = match grpc_target(config.endpoint.trim(), config.tls.insecure) {
            Ok((uri, GrpcTransport::Plain)) => Some((uri, None)),
            Ok((uri, GrpcTransport::TlsByScheme | GrpcTransport::TlsByDefault)) => {
                let tls = TlsConfig {
                    // `https://` asks for TLS even with `insecure: true`, as in the Collector.
                    insecure: false,
                    ..config.tls.clone()
                };
                with_scheme(&uri, "https")
                    .map(|uri| (uri, Some(tls)))
                    .map_err(|e| problems.push(ConfigProblem::new("endpoint", e)))
                    .ok()
            }
            Err(e) => {
                problems.push(ConfigProblem::new("endpoint", e));
                None
            }
        };
        if uri.as_ref().is_some_and(|(_, tls)| tls.is_some()) {
            problems.extend(tls_problems(&config.tls));
        }
        let headers = header_map(&config.headers, problems);
        problems.extend(validate_auth(config.auth.as_ref(), "auth"));
        match uri {
            Some((uri, tls)) if !problems.iter().any(ConfigProblem::is_error) => Some(GrpcSettings {
                uri,
                tls,
                headers,
                compression: config.compression,
                auth: config.auth.clone(),
            }),
            _ => None,
        }
    }
}

impl ComponentConfig for GrpcConfig {
    type Validated = GrpcSettings;
}

impl FromConfig<HttpConfig> for HttpSettings {
    fn from_config(config: &HttpConfig, problems: &mut Vec<ConfigProblem>) -> Option<Self> {
        let endpoint = config.endpoint.trim();
        let custom = config
            .traces_endpoint
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        // As in the Collector, `traces_endpoint` alone is enough; the base URL is then unused.
        let url = match custom {
            Some(url) => http_url(url).map_err(|e| ConfigProblem::new("traces_endpoint", e)),
            None if endpoint.is_empty() => Err(ConfigProblem::new(
                "endpoint",
                "an endpoint is required (the backend's base URL, e.g. \"http://collector:4318\"), or set traces_endpoint",
            )),
            // The base URL is checked on its own so messages quote what the user wrote.
            None => http_url(endpoint)
                .and_then(|_| http_url(&traces_url(endpoint)))
                .map_err(|e| ConfigProblem::new("endpoint", e)),
        };
        let url = url.map_err(|p| problems.push(p)).ok();
        if url.as_ref().is_some_and(|u| u.scheme_str() == Some("https")) {
            problems.extend(tls_problems(&config.tls));
        }
        let headers = header_map(&config.headers, problems);
        problems.extend(validate_auth(config.auth.as_ref(), "auth"));
        match url {
            Some(url) if !problems.iter().any(ConfigProblem::is_error) => Some(HttpSettings {
                url,
                tls: config.tls.clone(),
                headers,
                compression: config.compression,
                encoding: config.encoding,
                auth: config.auth.clone(),
            }),
            _ => None,
        }
    }
}

impl ComponentConfig for HttpConfig {
    type Validated = HttpSettings;
}

fn tls_problems(tls: &TlsConfig) -> Vec<ConfigProblem> {
    tls.validate().into_iter().map(|p| p.under("tls")).collect()
}

#[derive(Debug, PartialEq)]
enum GrpcTransport {
    Plain,
    /// `https://` asks for TLS whatever `tls.insecure` says, as in the Collector.
    TlsByScheme,
    /// No scheme and `tls.insecure: false`: the Collector's default is TLS.
    TlsByDefault,
}

/// Parses a gRPC client endpoint the way the Collector's configgrpc reads it.
fn grpc_target(endpoint: &str, insecure: bool) -> Result<(Uri, GrpcTransport), String> {
    if endpoint.is_empty() {
        return Err(
            "an endpoint is required (host:port of the OTLP/gRPC backend, e.g. \"collector:4317\")"
                .into(),
        );
    }
    let bad = |why: &str| {
        format!("invalid endpoint \"{endpoint}\": {why} (expected host:port or http://host:port, e.g. \"collector:4317\")")
    };
    let (authority, transport) = match endpoint.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => (rest, GrpcTransport::Plain),
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => {
            (rest, GrpcTransport::TlsByScheme)
        }
        Some((scheme, _)) => return Err(bad(&format!("unsupported scheme \"{scheme}\""))),
        None if insecure => (endpoint, GrpcTransport::Plain),
        None => (endpoint, GrpcTransport::TlsByDefault),
    };
    let authority = authority.strip_suffix('/').unwrap_or(authority);
    if authority.contains('/') {
        return Err(bad("a gRPC endpoint has no path"));
    }
    let (host, port) = authority
        .rsplit_once(':')
        .ok_or_else(|| bad("missing port"))?;
    if host.is_empty() {
        return Err(bad("missing host"));
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(bad("an IPv6 host must be in brackets"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => {}
        _ => return Err(bad("port must be a number from 1 to 65535")),
    }
    let uri = Uri::try_from(format!("http://{authority}")).map_err(|e| bad(&e.to_string()))?;
    Ok((uri, transport))
}

/// `uri` with its scheme replaced (the authority was checked when it was parsed).
fn with_scheme(uri: &Uri, scheme: &str) -> Result<Uri, String> {
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
    Uri::try_from(format!("{scheme}://{authority}")).map_err(|e| e.to_string())
}

/// `<endpoint>/v1/traces`, joined as the Collector joins it (no doubled slash).
fn traces_url(base: &str) -> String {
    if base.ends_with('/') {
        format!("{base}v1/traces")
    } else {
        format!("{base}/v1/traces")
    }
}

fn http_url(url: &str) -> Result<Uri, String> {
    let example = "e.g. \"http://collector:4318\"";
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("invalid URL \"{url}\": {e} ({example})"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => {
            return Err(format!(
                "invalid URL \"{url}\": unsupported scheme \"{other}\" ({example})"
            ))
        }
        None => {
            return Err(format!(
                "invalid URL \"{url}\": missing http:// ({example})"
            ))
        }
    }
    match uri.authority() {
        Some(a) if !a.host().is_empty() => Ok(uri),
        _ => Err(format!("invalid URL \"{url}\": missing host ({example})")),
    }
}

/// Checks header names and values once, at config time, so sending cannot fail on them.
fn header_map(headers: &BTreeMap<String, String>, problems: &mut Vec<ConfigProblem>) -> HeaderMap {
    let mut map = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let path = format!("headers::{name}");
        let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
            problems.push(ConfigProblem::new(
                path,
                format!("\"{name}\" is not a valid header name"),
            ));
            continue;
        };
        match HeaderValue::from_str(value) {
            Ok(v) => {
                map.insert(header, v);
            }
            Err(_) => problems.push(ConfigProblem::new(
                path,
                "header values must be visible ASCII (no control characters or line breaks)",
            )),
        }
    }
    map
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
