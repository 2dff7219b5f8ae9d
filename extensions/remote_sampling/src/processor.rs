//! The `adaptive_sampling` processor (Jaeger v2's name): counts the root spans passing
//! through into the `remote_sampling` extension's adaptive sampling, and passes every batch
//! on untouched.
//!
//! Which spans count, following Jaeger's aggregator (`HandleRootSpan`):
//! - only root spans (no parent span id), with a service name and an operation name;
//! - a span with Jaeger's `sampler.type` / `sampler.param` tags (set by Jaeger clients on the
//!   root span of a sampled trace) counts as that sampler says: `probabilistic` samples add to
//!   the operation's rate; `lowerbound`, `ratelimiting` and `const` only make the operation
//!   known; an unknown type or a non-numeric param is not counted;
//! - a span without a `sampler.type` tag (OpenTelemetry SDKs do not set it) counts as a
//!   probabilistic sample taken at the probability currently served for its operation. That is
//!   what an OTel SDK with the `jaeger_remote` sampler does; an SDK sampling on its own terms
//!   is counted too, which only lowers the probability served for its operations, and it does
//!   not ask for that. (Jaeger ignores such spans, so their operations never get a rate.)
//!
//! The processor finds the extension at `start`: a pipeline with `adaptive_sampling` and no
//! `remote_sampling` extension in `adaptive` mode fails to start, saying so.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use serde::{Deserialize, Serialize};
use tracegate_core::component::{ComponentError, ConsumeError, Consumer, Host, Lifecycle, Processor};
use tracegate_core::data::Traces;
use tracegate_core::factory::{ComponentConfig, CreateContext, ProcessorFactory, Stability};

use crate::adaptive::throughput::SamplerType;
use tracegate_core::sampling::SamplingStrategies;

use crate::adaptive::{AdaptiveSampling, RootSpan};

const SAMPLER_TYPE: &str = "sampler.type";
const SAMPLER_PARAM: &str = "sampler.param";
const SERVICE_NAME: &str = "service.name";

/// No settings, as in Jaeger: the options live in the extension's `adaptive` section.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdaptiveSamplingConfig {}

impl ComponentConfig for AdaptiveSamplingConfig {
    type Validated = Self;
}

pub struct AdaptiveSamplingProcessor {
    id: String,
    next: Arc<dyn Consumer>,
    sampling: OnceLock<Arc<AdaptiveSampling>>,
}

impl AdaptiveSamplingProcessor {
    pub fn new(id: String, next: Arc<dyn Consumer>) -> Self {
        Self { id, next, sampling: OnceLock::new() }
    }

    /// Uses `sampling` directly (tests, embedding) instead of finding it at `start`.
    pub fn with_sampling(id: String, next: Arc<dyn Consumer>, sampling: Arc<AdaptiveSampling>) -> Self {
        let p = Self::new(id, next);
        let _ = p.sampling.set(sampling);
        p
    }

    fn record(&self, sampling: &AdaptiveSampling, traces: &Traces) {
        let mut roots = Vec::new();
        for rs in traces.resource_spans() {
            let service = rs
                .resource
                .as_ref()
                .and_then(|r| string_attr(&r.attributes, SERVICE_NAME))
                .unwrap_or_default();
            if service.is_empty() {
                continue;
            }
            for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
                let is_root = span.parent_span_id.iter().all(|b| *b == 0);
                if !is_root || span.name.is_empty() {
                    continue;
                }
                let counted = match find(&span.attributes, SAMPLER_TYPE) {
                    None => Some((SamplerType::Probabilistic, sampling.probability_for(service, &span.name))),
                    Some(tag) => sampler_of(tag, find(&span.attributes, SAMPLER_PARAM)),
                };
                if let Some((sampler, probability)) = counted {
                    roots.push(RootSpan { service, operation: &span.name, sampler, probability });
                }
            }
        }
        if !roots.is_empty() {
            sampling.record(roots);
        }
    }
}

fn find<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref()).and_then(|v| v.value.as_ref())
}

fn string_attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match find(attributes, key) {
        Some(Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

/// Jaeger's `getSamplerParams`: a known type and a numeric param (a float, an int, or a
/// string that parses as one), else not counted.
fn sampler_of(kind: &Value, param: Option<&Value>) -> Option<(SamplerType, f64)> {
    let Value::StringValue(kind) = kind else { return None };
    let sampler = SamplerType::parse(kind)?;
    let probability = match param? {
        Value::DoubleValue(v) => *v,
        Value::IntValue(v) => *v as f64,
        Value::StringValue(s) => s.trim().parse().ok()?,
        Value::BoolValue(b) => f64::from(u8::from(*b)),
        _ => return None,
    };
    Some((sampler, probability))
}

#[async_trait]
impl Consumer for AdaptiveSamplingProcessor {
    async fn consume(&self, traces: Traces) -> Result<(), ConsumeError> {
        if let Some(sampling) = self.sampling.get() {
            self.record(sampling, &traces);
        }
        self.next.consume(traces).await
    }
}

#[async_trait]
impl Lifecycle for AdaptiveSamplingProcessor {
    async fn start(&self, host: Arc<dyn Host>) -> Result<(), ComponentError> {
        if self.sampling.get().is_some() {
            return Ok(());
        }
        if let Some((id, sampling)) = host.capabilities::<AdaptiveSampling>().into_iter().next() {
            let _ = self.sampling.set(sampling);
            tracing::info!(processor = %self.id, extension = %id, "counting root spans for adaptive sampling");
            return Ok(());
        }
        let file_mode = host.capabilities::<dyn SamplingStrategies>().into_iter().next().map(|(id, _)| id);
        Err(ComponentError::Config(match file_mode {
            Some(id) => format!(
                "processor {}: cannot load adaptive sampling components from `remote_sampling` extension: \
                 extension \"{id}\" serves strategies from a file; configure it with `adaptive:` instead of `file:`",
                self.id
            ),
            None => format!(
                "processor {}: cannot load adaptive sampling components from `remote_sampling` extension: \
                 no remote_sampling extension is running; add one with `adaptive:` and list it in service::extensions",
                self.id
            ),
        }))
    }
}

impl Processor for AdaptiveSamplingProcessor {}

/// Builds [`AdaptiveSamplingProcessor`]s for the `adaptive_sampling` type.
pub struct AdaptiveSamplingFactory;

impl ProcessorFactory for AdaptiveSamplingFactory {
    const TYPE: &'static str = "adaptive_sampling";
    const STABILITY: Stability = Stability::Alpha;
    type Config = AdaptiveSamplingConfig;

    fn create(&self, ctx: CreateContext, _config: AdaptiveSamplingConfig, next: Arc<dyn Consumer>) -> Result<Arc<dyn Processor>, ComponentError> {
        Ok(Arc::new(AdaptiveSamplingProcessor::new(ctx.id.to_string(), next)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::{Duration, Instant};

    use opentelemetry_proto::tonic::common::v1::AnyValue;
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use tracegate_core::data::{ResourceSpans, ScopeSpans, Span};
    use tracegate_core::testing::TestHost;
    use tracegate_core::{ComponentId, Extension};

    use super::*;
    use crate::config::{AdaptiveConfig, Config, FileConfig};
    use crate::RemoteSamplingExtension;

    struct Sink;

    #[async_trait]
    impl Consumer for Sink {
        async fn consume(&self, _t: Traces) -> Result<(), ConsumeError> {
            Ok(())
        }
    }

    fn kv(key: &str, value: Value) -> KeyValue {
        KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
    }

    fn span(name: &str, parent: &[u8], tags: Vec<KeyValue>) -> Span {
        Span { name: name.into(), parent_span_id: parent.to_vec(), attributes: tags, ..Default::default() }
    }

    fn batch(service: &str, spans: Vec<Span>) -> Traces {
        Traces::new(vec![ResourceSpans {
            resource: Some(Resource { attributes: vec![kv(SERVICE_NAME, Value::StringValue(service.into()))], ..Default::default() }),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }])
    }

    fn jaeger_tags(kind: &str, param: Value) -> Vec<KeyValue> {
        vec![kv(SAMPLER_TYPE, Value::StringValue(kind.into())), kv(SAMPLER_PARAM, param)]
    }

    fn adaptive() -> Arc<AdaptiveSampling> {
        let cfg = AdaptiveConfig { calculation_delay: Default::default(), ..AdaptiveConfig::default() };
        Arc::new(AdaptiveSampling::new(cfg, Instant::now()))
    }

    #[tokio::test]
    async fn counts_root_spans_as_jaeger_does_and_passes_the_batch_on_untouched() {
        let sampling = adaptive();
        let p = AdaptiveSamplingProcessor::with_sampling("adaptive_sampling".into(), Arc::new(Sink), sampling.clone());
        let spans = vec![
            span("GET", &[], jaeger_tags("probabilistic", Value::DoubleValue(0.001))),
            span("GET", &[0; 8], jaeger_tags("probabilistic", Value::StringValue("0.001".into()))),
            span("GET", &[1; 8], jaeger_tags("probabilistic", Value::DoubleValue(0.001))), // a child
            span("PUT", &[], jaeger_tags("lowerbound", Value::IntValue(0))),
            span("BAD", &[], jaeger_tags("probabilistic", Value::StringValue("x".into()))),
            span("ODD", &[], jaeger_tags("adaptive", Value::DoubleValue(0.5))),
            span("OTEL", &[], vec![]),
            span("", &[], vec![]),
        ];
        p.consume(batch("svc", spans)).await.unwrap();
        p.consume(batch("", vec![span("GET", &[], vec![])])).await.unwrap();
        let counts = sampling.current_throughput();
        let svc = &counts["svc"];
        assert_eq!(svc["GET"].count, 2, "two probabilistic roots, the child is not counted");
        assert_eq!(svc["PUT"].count, 0, "a lower-bound root makes the operation known only");
        assert_eq!(svc["OTEL"].count, 1, "an OTel root counts at the served probability");
        assert!(svc["OTEL"].probabilities.contains("0.001000"));
        assert!(!svc.contains_key("BAD") && !svc.contains_key("ODD") && !svc.contains_key(""));
        assert_eq!(counts.len(), 1, "spans without a service are not counted");
    }

    struct HostWith(Vec<Arc<dyn Extension>>);

    impl Host for HostWith {
        fn exporter(&self, _: &ComponentId) -> Option<Arc<dyn tracegate_core::Exporter>> {
            None
        }
        fn extension(&self, _: &ComponentId) -> Option<Arc<dyn Extension>> {
            None
        }
        fn extensions(&self) -> Vec<(ComponentId, Arc<dyn Extension>)> {
            self.0.iter().map(|e| (ComponentId::new("remote_sampling", None), e.clone())).collect()
        }
        fn status(&self) -> Arc<tracegate_core::telemetry::ServiceStatus> {
            TestHost::new().status.clone()
        }
    }

    #[tokio::test]
    async fn start_finds_the_adaptive_extension_or_says_what_is_missing() {
        let p = AdaptiveSamplingProcessor::new("adaptive_sampling".into(), Arc::new(Sink));
        let err = p.start(TestHost::new()).await.unwrap_err().to_string();
        assert!(err.contains("no remote_sampling extension is running"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        std::fs::write(&path, "{}").unwrap();
        let file_cfg = Config { file: Some(FileConfig { path, ..Default::default() }), ..Default::default() };
        let file_ext: Arc<dyn Extension> = Arc::new(RemoteSamplingExtension::with_id("remote_sampling".into(), &tracegate_core::testing::validated(&file_cfg)).unwrap());
        let err = p.start(Arc::new(HostWith(vec![file_ext.clone()]))).await.unwrap_err().to_string();
        assert!(err.contains("serves strategies from a file; configure it with `adaptive:`"), "{err}");

        let no_delay = AdaptiveConfig { calculation_delay: Default::default(), ..AdaptiveConfig::default() };
        let cfg = Config { adaptive: Some(no_delay), ..Default::default() };
        let ext = Arc::new(RemoteSamplingExtension::with_id("remote_sampling".into(), &tracegate_core::testing::validated(&cfg)).unwrap());
        p.start(Arc::new(HostWith(vec![file_ext, ext.clone()]))).await.unwrap();
        p.consume(batch("svc", vec![span("GET", &[], vec![])])).await.unwrap();
        let sampling = ext.adaptive().unwrap();
        sampling.tick(Instant::now() + Duration::from_secs(600));
        assert!(ext.strategy_for("svc").operation_sampling.unwrap().per_operation_strategies.iter().any(|o| o.operation == "GET"));
        p.shutdown().await.unwrap();
        p.shutdown().await.unwrap();
    }

    #[test]
    fn registered_as_adaptive_sampling_with_no_settings() {
        let reg = tracegate_core::factory::Registry::builtin();
        assert!(reg.get(tracegate_core::Kind::Processor, "adaptive_sampling").is_some());
        let err = tracegate_core::testing::parse_config_messages::<AdaptiveSamplingConfig>("x: 1").unwrap_err();
        assert!(err[0].contains("unknown field `x`"), "{err:?}");
    }
}
