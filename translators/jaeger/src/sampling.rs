//! Jaeger remote sampling on the wire: `jaeger.api_v2.SamplingStrategyResponse` to and from
//! core's [`SamplingStrategy`], and [`SamplingManagerService`], the
//! `SamplingManager/GetSamplingStrategy` gRPC service over any [`SamplingStrategies`]
//! capability. Both the `remote_sampling` extension's own port (5779) and the `jaeger`
//! receiver's gRPC port (14250, as Jaeger's collector) serve it, so neither crate needs the
//! other.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use tracegate_core::sampling::{OperationStrategy, PerOperation, SamplingStrategies, SamplingStrategy, StrategyType};

use crate::proto::sampling_manager_server::{SamplingManager, SamplingManagerServer};
use crate::proto::{
    OperationSamplingStrategy, PerOperationSamplingStrategies, ProbabilisticSamplingStrategy, RateLimitingSamplingStrategy,
    SamplingStrategyParameters, SamplingStrategyResponse, SamplingStrategyType,
};

impl From<&SamplingStrategy> for SamplingStrategyResponse {
    fn from(s: &SamplingStrategy) -> Self {
        let strategy_type = match s.strategy_type {
            StrategyType::Probabilistic => SamplingStrategyType::Probabilistic,
            StrategyType::RateLimiting => SamplingStrategyType::RateLimiting,
        };
        Self {
            strategy_type: strategy_type as i32,
            probabilistic_sampling: s.probabilistic.map(|sampling_rate| ProbabilisticSamplingStrategy { sampling_rate }),
            rate_limiting_sampling: s.rate_limiting.map(|max_traces_per_second| RateLimitingSamplingStrategy { max_traces_per_second }),
            operation_sampling: s.per_operation.as_ref().map(|p| PerOperationSamplingStrategies {
                default_sampling_probability: p.default_probability,
                default_lower_bound_traces_per_second: p.default_lower_bound_traces_per_second,
                default_upper_bound_traces_per_second: p.default_upper_bound_traces_per_second,
                per_operation_strategies: p
                    .operations
                    .iter()
                    .map(|o| OperationSamplingStrategy {
                        operation: o.operation.clone(),
                        probabilistic_sampling: o.probability.map(|sampling_rate| ProbabilisticSamplingStrategy { sampling_rate }),
                    })
                    .collect(),
            }),
        }
    }
}

impl From<&SamplingStrategyResponse> for SamplingStrategy {
    fn from(r: &SamplingStrategyResponse) -> Self {
        // An unknown enum value reads as the proto3 default, PROBABILISTIC, as Go's client does.
        let strategy_type = match SamplingStrategyType::try_from(r.strategy_type) {
            Ok(SamplingStrategyType::RateLimiting) => StrategyType::RateLimiting,
            _ => StrategyType::Probabilistic,
        };
        Self {
            strategy_type,
            probabilistic: r.probabilistic_sampling.as_ref().map(|p| p.sampling_rate),
            rate_limiting: r.rate_limiting_sampling.as_ref().map(|p| p.max_traces_per_second),
            per_operation: r.operation_sampling.as_ref().map(|p| PerOperation {
                default_probability: p.default_sampling_probability,
                default_lower_bound_traces_per_second: p.default_lower_bound_traces_per_second,
                default_upper_bound_traces_per_second: p.default_upper_bound_traces_per_second,
                operations: p
                    .per_operation_strategies
                    .iter()
                    .map(|o| OperationStrategy {
                        operation: o.operation.clone(),
                        probability: o.probabilistic_sampling.as_ref().map(|p| p.sampling_rate),
                    })
                    .collect(),
            }),
        }
    }
}

/// Answers `GetSamplingStrategy` from a [`SamplingStrategies`] capability.
#[derive(Clone)]
pub struct SamplingManagerService {
    strategies: Arc<dyn SamplingStrategies>,
}

impl SamplingManagerService {
    pub fn new(strategies: Arc<dyn SamplingStrategies>) -> Self {
        Self { strategies }
    }

    /// The tonic server, for a port's `Routes`.
    pub fn into_server(self) -> SamplingManagerServer<Self> {
        SamplingManagerServer::new(self)
    }
}

#[tonic::async_trait]
impl SamplingManager for SamplingManagerService {
    async fn get_sampling_strategy(
        &self,
        request: Request<SamplingStrategyParameters>,
    ) -> Result<Response<SamplingStrategyResponse>, Status> {
        let service = request.into_inner().service_name;
        Ok(Response::new(SamplingStrategyResponse::from(&self.strategies.strategy_for(&service))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_survives_the_round_trip() {
        let strategies = [
            SamplingStrategy { probabilistic: Some(0.25), ..Default::default() },
            SamplingStrategy { strategy_type: StrategyType::RateLimiting, rate_limiting: Some(7), ..Default::default() },
            SamplingStrategy {
                probabilistic: Some(0.1),
                per_operation: Some(PerOperation {
                    default_probability: 0.1,
                    default_lower_bound_traces_per_second: 0.5,
                    default_upper_bound_traces_per_second: 2.0,
                    operations: vec![
                        OperationStrategy { operation: "GET /".into(), probability: Some(1.0) },
                        OperationStrategy { operation: "bare".into(), probability: None },
                    ],
                }),
                ..Default::default()
            },
        ];
        for s in strategies {
            let wire = SamplingStrategyResponse::from(&s);
            assert_eq!(SamplingStrategy::from(&wire), s);
        }
    }

    #[test]
    fn the_wire_form_is_jaegers() {
        let wire = SamplingStrategyResponse::from(&SamplingStrategy {
            strategy_type: StrategyType::RateLimiting,
            rate_limiting: Some(5),
            ..Default::default()
        });
        assert_eq!(wire.strategy_type, SamplingStrategyType::RateLimiting as i32);
        assert_eq!(wire.rate_limiting_sampling.map(|r| r.max_traces_per_second), Some(5));
        assert_eq!(wire.probabilistic_sampling, None);
    }
}
