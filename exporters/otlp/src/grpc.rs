//! The `otlp` exporter: OTLP over gRPC with tonic.
//!
//! The channel connects lazily, as the Collector's does: a backend that is down when tracegate
//! starts is not a start-up failure, only a retryable export error until it comes up. The
//! channel is built on first use rather than in `create` because tonic spawns its connection
//! worker onto the Tokio runtime, and `create` may run outside one.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use http::uri::PathAndQuery;
use tonic::client::Grpc;
use tonic::metadata::MetadataMap;
use tonic::transport::{Channel, Endpoint};
use tracegate_core::auth::{add_client_headers, client_authenticator, ClientAuthenticator};
use tracegate_core::{ComponentError, ConsumeError, Exporter, Lifecycle, Traces};

use crate::classify;
use crate::config::GrpcSettings;
use crate::raw_codec::{RawCodec, EXPORT_PATH};
use crate::transport::{channel_uri, connector, GrpcConnector, Speaks};

/// Sends each batch as one `TraceService/Export` call.
pub struct OtlpGrpcExporter {
    id: String,
    settings: GrpcSettings,
    /// `headers:` as gRPC metadata, converted once.
    metadata: MetadataMap,
    /// TCP, with TLS when the endpoint is `https://`; built in `new` so a bad `tls:` fails create.
    connector: GrpcConnector,
    client: OnceLock<Grpc<Channel>>,
    /// The `auth:` extension's credentials, found at start.
    auth: OnceLock<Arc<dyn ClientAuthenticator>>,
}

impl OtlpGrpcExporter {
    /// Reads the files of `tls:`; a missing or bad one is a config error naming it.
    pub(crate) fn new(id: String, settings: GrpcSettings) -> Result<Self, ComponentError> {
        let metadata = MetadataMap::from_headers(settings.headers.clone());
        let connector = connector(settings.tls.as_ref(), Speaks::Http2)
            .map_err(|e| ComponentError::Config(format!("tls: {e}")))?;
        let connector = GrpcConnector::new(connector, settings.uri.scheme_str() == Some("https"));
        Ok(Self {
            id,
            settings,
            metadata,
            connector,
            client: OnceLock::new(),
            auth: OnceLock::new(),
        })
    }

    fn client(&self) -> Grpc<Channel> {
        self.client
            .get_or_init(|| {
                let endpoint = Endpoint::from(channel_uri(&self.settings.uri));
                // A constant that is a valid header value; the fallback is never taken.
                let endpoint = endpoint
                    .clone()
                    .user_agent(crate::USER_AGENT)
                    .unwrap_or(endpoint);
                let channel = endpoint.connect_with_connector_lazy(self.connector.clone());
                let mut client = Grpc::new(channel);
                if let Some(encoding) = self.settings.compression.grpc_encoding() {
                    client = client.send_compressed(encoding).accept_compressed(encoding);
                }
                client
            })
            .clone()
    }
}

#[async_trait]
impl Lifecycle for OtlpGrpcExporter {
    async fn start(
        &self,
        host: Arc<dyn tracegate_core::Host>,
    ) -> Result<(), ComponentError> {
        if let Some(auth) = client_authenticator(&*host, self.settings.auth.as_ref())? {
            let _ = self.auth.set(auth);
        }
        // Builds the channel now so the first batch does not pay for it; connects nothing.
        self.client();
        Ok(())
    }
}

#[async_trait]
impl Exporter for OtlpGrpcExporter {
    async fn export(&self, traces: Traces) -> Result<(), ConsumeError> {
        // A batch still in its received bytes is sent as they are (see `raw_codec`).
        let mut request = tonic::Request::new(traces.encode_request());
        *request.metadata_mut() = match self.auth.get() {
            Some(auth) => {
                let mut headers = self.settings.headers.clone();
                // No credentials now (an unreadable token file): retry, the file may be fixed.
                add_client_headers(&mut headers, auth.as_ref())
                    .map_err(|e| ConsumeError::retryable(format!("auth: {e}")))?;
                MetadataMap::from_headers(headers)
            }
            None => self.metadata.clone(),
        };
        let mut client = self.client();
        let grpc_error = |status: tonic::Status| classify::grpc_error(&self.settings.uri, &status);
        client
            .ready()
            .await
            .map_err(|e| grpc_error(tonic::Status::unavailable(format!("not connected: {e}"))))?;
        let response = client
            .unary(request, PathAndQuery::from_static(EXPORT_PATH), RawCodec)
            .await
            .map_err(grpc_error)?;
        if let Some(partial) = response.into_inner().partial_success {
            classify::log_partial_success(
                &self.id,
                &self.settings.uri,
                partial.rejected_spans,
                &partial.error_message,
            );
        }
        Ok(())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[cfg(test)]
#[path = "grpc_tests.rs"]
mod tests;
