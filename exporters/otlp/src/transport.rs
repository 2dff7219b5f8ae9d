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

/// The gRPC exporter's connector. tonic refuses an `https://` URI together with a connector of
/// one's own whenever its own TLS features are compiled into the build (any crate may turn
/// them on; the OTLP receiver's tests do), so the channel is handed the `http://` form of the
/// endpoint ([`channel_uri`]) and this connector puts `https` back before hyper-rustls, which
/// then does the TLS of `tls:`.
#[derive(Clone)]
pub(crate) struct GrpcConnector {
    inner: HttpsConnector<HttpConnector>,
    https: bool,
}

impl GrpcConnector {
    pub(crate) fn new(inner: HttpsConnector<HttpConnector>, https: bool) -> Self {
        Self { inner, https }
    }
}

/// `uri` with its scheme replaced (the URI is valid already; only the scheme changes).
fn with_scheme(uri: http::Uri, scheme: http::uri::Scheme) -> http::Uri {
    let mut parts = uri.into_parts();
    parts.scheme = Some(scheme);
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
    }
    http::Uri::from_parts(parts).unwrap_or_default()
}

/// What tonic's channel is given for `uri`: its `http://` form (see [`GrpcConnector`]).
pub(crate) fn channel_uri(uri: &http::Uri) -> http::Uri {
    with_scheme(uri.clone(), http::uri::Scheme::HTTP)
}

impl tonic::codegen::Service<http::Uri> for GrpcConnector {
    type Response = <HttpsConnector<HttpConnector> as tonic::codegen::Service<http::Uri>>::Response;
    type Error = <HttpsConnector<HttpConnector> as tonic::codegen::Service<http::Uri>>::Error;
    type Future = <HttpsConnector<HttpConnector> as tonic::codegen::Service<http::Uri>>::Future;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let uri = if self.https { with_scheme(uri, http::uri::Scheme::HTTPS) } else { uri };
        self.inner.call(uri)
    }
}
