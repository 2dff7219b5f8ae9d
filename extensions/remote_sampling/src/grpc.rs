//! `jaeger.api_v2.SamplingManager/GetSamplingStrategy` on the extension's own port (5779):
//! the translator's [`SamplingManagerService`] over the strategies this extension offers
//! ([`Served`]), the same service the `jaeger` receiver mounts on 14250 when it finds them
//! through the host (`host.capabilities::<dyn SamplingStrategies>()`).

use std::sync::Arc;

use tonic::service::Routes;
use tracegate_core::sampling::{SamplingStrategies, SamplingStrategy};
use tracegate_translator_jaeger::sampling::SamplingManagerService;

use crate::provider::StrategySource;

/// A [`StrategySource`] (the file provider or adaptive sampling, which keep Jaeger's wire
/// messages) as core's [`SamplingStrategies`] capability.
#[derive(Clone)]
pub struct Served(pub Arc<dyn StrategySource>);

impl SamplingStrategies for Served {
    fn strategy_for(&self, service: &str) -> SamplingStrategy {
        SamplingStrategy::from(&self.0.strategy_for(service))
    }
}

/// The extension's own gRPC port's routes, for `ServerSet::grpc`.
pub fn routes(strategies: Arc<dyn SamplingStrategies>) -> axum::Router {
    Routes::new(SamplingManagerService::new(strategies).into_server()).prepare().into_axum_router()
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
    use crate::proto::SamplingStrategyParameters;
    use crate::strategies::{probabilistic, rate_limiting};

    #[tokio::test]
    async fn the_generated_client_gets_the_strategies() {
        let (_dir, provider) = provider_with(
            r#"{"default_strategy": {"type": "probabilistic", "param": 0.5},
                "service_strategies": [{"service": "bar", "type": "ratelimiting", "param": 5}]}"#,
        );
        let mut servers = ServerSet::new("remote_sampling", Arc::new(ServiceStatus::default()));
        servers.grpc("grpc", &Endpoint::new("127.0.0.1", 0), routes(Arc::new(Served(provider))));
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
