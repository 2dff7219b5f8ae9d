//! `jaeger.api_v2.SamplingManager/GetSamplingStrategy`: the gRPC form of the same answers,
//! served on the extension's own port (5779) and, through
//! [`RemoteSamplingExtension::grpc_service`](crate::RemoteSamplingExtension::grpc_service),
//! on the `jaeger` receiver's gRPC port (14250) as Jaeger's collector does.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
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

/// Serves the sampling service on `listener` until `shutdown` resolves, then stops accepting
/// and lets in-flight calls finish.
pub async fn serve(
    listener: TcpListener,
    service: SamplingService,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .add_service(service.into_server())
        .serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), shutdown)
        .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use tokio::sync::oneshot;

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
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, SamplingService::new(provider), async move {
            let _ = stopped.await;
        }));

        let mut client = SamplingManagerClient::connect(format!("http://{addr}")).await.unwrap();
        let ask = |service: &str| SamplingStrategyParameters { service_name: service.to_string() };
        let bar = client.get_sampling_strategy(ask("bar")).await.unwrap().into_inner();
        assert_eq!(bar, rate_limiting(5));
        let other = client.get_sampling_strategy(ask("other")).await.unwrap().into_inner();
        assert_eq!(other, probabilistic(0.5));

        drop(client);
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
}
