//! `jaeger.api_v2.SamplingManager/GetSamplingStrategy`: the gRPC form of the same answers,
//! served on the extension's own port (5779) and, through
//! [`RemoteSamplingExtension::grpc_service`](crate::RemoteSamplingExtension::grpc_service),
//! on the `jaeger` receiver's gRPC port (14250) as Jaeger's collector does.

use std::sync::Arc;

use tonic::service::Routes;
use tonic::{Request, Response, Status};

use crate::proto::sampling_manager_server::{SamplingManager, SamplingManagerServer};
use crate::proto::{SamplingStrategyParameters, SamplingStrategyResponse};
use crate::provider::StrategySource;

/// Answers `GetSamplingStrategy` from the provider's current strategies.
#[derive(Clone)]
pub struct SamplingService {
    provider: Arc<dyn StrategySource>,
}

impl SamplingService {
    pub fn new(provider: Arc<dyn StrategySource>) -> Self {
        Self { provider }
    }

    pub fn into_server(self) -> SamplingManagerServer<Self> {
        SamplingManagerServer::new(self)
    }

    /// The extension's own gRPC port's routes, for `ServerSet::grpc`.
    pub fn routes(self) -> axum::Router {
        Routes::new(self.into_server()).prepare().into_axum_router()
    }
}

#[tonic::async_trait]
impl SamplingManager for SamplingService {
    async fn get_sampling_strategy(
        &self,
        request: Request<SamplingStrategyParameters>,
    ) -> Result<Response<SamplingStrategyResponse>, Status> {
        let service = request.into_inner().service_name;
        Ok(Response::new(self.provider.strategy_for(&service)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use tracegate_core::config::Endpoint;
    use tracegate_core::server::ServerSet;
    use tracegate_core::telemetry::ServiceStatus;

    use super::*;
    use crate::http::tests::provider_with;
    use crate::proto::sampling_manager_client::SamplingManagerClient;
    use crate::strategies::{probabilistic, rate_limiting};

    #[tokio::test]
    async fn the_generated_client_gets_the_strategies() {
        let (_dir, provider) = provider_with(
            r#"{"default_strategy": {"type": "probabilistic", "param": 0.5},
                "service_strategies": [{"service": "bar", "type": "ratelimiting", "param": 5}]}"#,
        );
        let mut servers = ServerSet::new("remote_sampling", Arc::new(ServiceStatus::default()));
        servers.grpc("grpc", &Endpoint::new("127.0.0.1", 0), SamplingService::new(provider).routes());
        let servers = servers.start().await.unwrap();
        let addr = servers.local_addr("grpc").unwrap();

        let mut client = SamplingManagerClient::connect(format!("http://{addr}")).await.unwrap();
        let ask = |service: &str| SamplingStrategyParameters { service_name: service.to_string() };
        let bar = client.get_sampling_strategy(ask("bar")).await.unwrap().into_inner();
        assert_eq!(bar, rate_limiting(5));
        let other = client.get_sampling_strategy(ask("other")).await.unwrap().into_inner();
        assert_eq!(other, probabilistic(0.5));

        drop(client);
        servers.stop().await;
    }
}
