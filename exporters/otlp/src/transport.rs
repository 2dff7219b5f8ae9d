//! The connector both OTLP exporters dial with: TCP, and rustls on top for `https://`
//! endpoints, built once from the exporter's `tls:` ([`TlsConfig`]) by core's
//! [`client_config`](tracegate_core::tls_client::client_config).
//!
//! hyper-rustls picks TLS or plain text by the URI's scheme on each connection, so one
//! connector type serves both; the gRPC exporter's URI says `https` exactly when it needs TLS.
//! ALPN is set here, by what the exporter speaks: gRPC needs `h2` negotiated.

use hyper_rustls::{FixedServerNameResolver, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use tracegate_core::tls_client::{client_config, server_name, TlsError};

use crate::config::TlsConfig;

/// Which HTTP versions the exporter speaks (and so offers through ALPN).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Speaks {
    /// OTLP/HTTP: HTTP/1.1.
    Http1,
    /// gRPC: HTTP/2 only.
    Http2,
}

/// The connector for `tls` (`None`: the endpoint is plain text and TLS is never used).
pub(crate) fn connector(tls: Option<&TlsConfig>, speaks: Speaks) -> Result<HttpsConnector<HttpConnector>, TlsError> {
    let mut http = HttpConnector::new();
    // Requests are written in one go; Nagle would only delay them.
    http.set_nodelay(true);
    // Let https:// URIs through to the TLS layer.
    http.enforce_http(false);
    let rustls = match tls.map(client_config).transpose()?.flatten() {
        Some(config) => config,
        // Plain text: a config that is never used (the scheme is http), and trusts nothing.
        None => rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
    };
    let builder = HttpsConnectorBuilder::new().with_tls_config(rustls).https_or_http();
    let builder = match tls.filter(|t| !t.server_name_override.is_empty()) {
        Some(t) => builder.with_server_name_resolver(FixedServerNameResolver::new(server_name(t, "")?)),
        None => builder,
    };
    Ok(match speaks {
        Speaks::Http1 => builder.enable_http1().wrap_connector(http),
        Speaks::Http2 => builder.enable_http2().wrap_connector(http),
    })
}
