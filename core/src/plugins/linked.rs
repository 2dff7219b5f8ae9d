//! Plugin crates linked into a custom build: their [`PluginProcessor`] / [`PluginExporter`]
//! as ordinary typed factories, registered with `inventory` like the built-in components.
//!
//! No FFI and no protobuf here: the batch is handed over as an `ExportTraceServiceRequest`
//! (a move, cloned only if the batch is shared). The plugin still runs on a blocking thread
//! and a panic still costs only its batch, so a crate behaves the same linked or loaded.

use std::marker::PhantomData;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tracegate_plugin_abi::{PluginComponent, PluginError, PluginExporter, PluginProcessor};

use crate::component::{ComponentError, ConsumeError, Consumer, Exporter, Lifecycle, Processor};
use crate::config::ConfigProblem;
use crate::data::Traces;
use crate::factory::{
    ComponentConfig, CreateContext, ExporterFactory, ProcessorFactory, Stability,
};
use crate::id::ComponentId;

/// A plugin's config type as a [`ComponentConfig`]: `validate` is the plugin's.
pub struct PluginConfig<C: PluginComponent>(pub C::Config);

impl<C: PluginComponent> Clone for PluginConfig<C> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<C: PluginComponent> Default for PluginConfig<C> {
    fn default() -> Self {
        Self(C::Config::default())
    }
}

impl<C: PluginComponent> Serialize for PluginConfig<C> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de, C: PluginComponent> Deserialize<'de> for PluginConfig<C> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        C::Config::deserialize(d).map(Self)
    }
}

impl<C: PluginComponent> ComponentConfig for PluginConfig<C> {
    type Validated = Self;

    fn validate(&self) -> Vec<ConfigProblem> {
        C::validate(&self.0)
            .into_iter()
            .map(|i| ConfigProblem::new(i.path, i.message))
            .collect()
    }
}

fn component_error(e: PluginError) -> ComponentError {
    ComponentError::Config(e.to_string())
}

fn consume_error(id: &ComponentId, e: PluginError) -> ConsumeError {
    match e {
        PluginError::Retryable(m) => ConsumeError::Retryable(format!("{id}: {m}")),
        PluginError::Permanent(m) => ConsumeError::Permanent(format!("{id}: {m}")),
    }
}

/// Runs `f` on a blocking thread; a panic in it becomes a permanent error for this batch.
async fn blocking<T: Send + 'static>(
    id: &ComponentId,
    f: impl FnOnce() -> Result<T, PluginError> + Send + 'static,
) -> Result<T, ConsumeError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(|e| consume_error(id, e)),
        Err(e) if e.is_panic() => {
            let payload = e.into_panic();
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(component = %id, "plugin panicked: {text}; the batch is refused and the gateway goes on");
            Err(ConsumeError::permanent(format!(
                "{id}: plugin panicked: {text}"
            )))
        }
        Err(e) => Err(ConsumeError::permanent(format!(
            "{id}: plugin call did not finish: {e}"
        ))),
    }
}

/// A linked [`PluginProcessor`] as a [`ProcessorFactory`].
pub struct LinkedProcessorFactory<P>(PhantomData<fn() -> P>);

impl<P> LinkedProcessorFactory<P> {
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

impl<P> Default for LinkedProcessorFactory<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: PluginProcessor> ProcessorFactory for LinkedProcessorFactory<P> {
    const TYPE: &'static str = P::TYPE;
    const STABILITY: Stability = Stability::Development;
    type Config = PluginConfig<P>;

    fn create(
        &self,
        ctx: CreateContext,
        config: PluginConfig<P>,
        next: Arc<dyn Consumer>,
    ) -> Result<Arc<dyn Processor>, ComponentError> {
        let plugin = Arc::new(P::new(config.0).map_err(component_error)?);
        let dropped = ctx.processor_metrics().dropped;
        Ok(Arc::new(LinkedProcessor {
            id: ctx.id,
            plugin,
            next,
            dropped,
        }))
    }
}

struct LinkedProcessor<P> {
    id: ComponentId,
    plugin: Arc<P>,
    next: Arc<dyn Consumer>,
    dropped: prometheus::IntCounter,
}

#[async_trait]
impl<P: PluginProcessor> Lifecycle for LinkedProcessor<P> {}

impl<P: PluginProcessor> Processor for LinkedProcessor<P> {}

#[async_trait]
impl<P: PluginProcessor> Consumer for LinkedProcessor<P> {
    async fn consume(&self, traces: Traces) -> Result<(), ConsumeError> {
        let incoming = traces.span_count();
        // The plugin sees OTLP only; the tenant stays on this side and goes on with its result.
        let tenant = traces.tenant().cloned();
        let request = traces.into_request();
        let plugin = self.plugin.clone();
        let out = Traces::from(blocking(&self.id, move || plugin.process(request)).await?).with_tenant(tenant);
        let outgoing = out.span_count();
        self.dropped
            .inc_by(incoming.saturating_sub(outgoing) as u64);
        if outgoing == 0 {
            return Ok(());
        }
        self.next.consume(out).await
    }
}

/// A linked [`PluginExporter`] as an [`ExporterFactory`].
pub struct LinkedExporterFactory<E>(PhantomData<fn() -> E>);

impl<E> LinkedExporterFactory<E> {
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

impl<E> Default for LinkedExporterFactory<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: PluginExporter> ExporterFactory for LinkedExporterFactory<E> {
    const TYPE: &'static str = E::TYPE;
    const STABILITY: Stability = Stability::Development;
    type Config = PluginConfig<E>;

    fn create(
        &self,
        ctx: CreateContext,
        config: PluginConfig<E>,
    ) -> Result<Arc<dyn Exporter>, ComponentError> {
        let plugin = Arc::new(E::new(config.0).map_err(component_error)?);
        Ok(Arc::new(LinkedExporter { id: ctx.id, plugin }))
    }
}

struct LinkedExporter<E> {
    id: ComponentId,
    plugin: Arc<E>,
}

#[async_trait]
impl<E: PluginExporter> Lifecycle for LinkedExporter<E> {}

#[async_trait]
impl<E: PluginExporter> Exporter for LinkedExporter<E> {
    async fn export(&self, traces: Traces) -> Result<(), ConsumeError> {
        // The queue may hold this batch for a retry, so it is shared: this clones once.
        let request = traces.to_request();
        let plugin = self.plugin.clone();
        blocking(&self.id, move || plugin.export(request)).await
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Registers a [`PluginProcessor`] type linked into this build as a processor, so it appears
/// in `tracegate components` and works in configs like a built-in one.
#[macro_export]
macro_rules! register_plugin_processor {
    ($ty:ty) => {
        $crate::register_processor!($crate::plugins::linked::LinkedProcessorFactory::<$ty>::new());
    };
}

/// Registers a [`PluginExporter`] type linked into this build as an exporter.
#[macro_export]
macro_rules! register_plugin_exporter {
    ($ty:ty) => {
        $crate::register_exporter!($crate::plugins::linked::LinkedExporterFactory::<$ty>::new());
    };
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use serde::{Deserialize, Serialize};
    use tracegate_plugin_abi::{ConfigIssue, ExportTraceServiceRequest};

    use super::*;
    use crate::factory::{Built, DynFactory, ProcessorAdapter};
    use crate::telemetry::Telemetry;

    #[derive(Clone, Debug, Default, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct KeepConfig {
        keep: usize,
    }

    /// Keeps the first `keep` spans of each scope; panics on a span named "boom".
    struct Keep(usize);

    impl PluginComponent for Keep {
        const TYPE: &'static str = "keep";
        type Config = KeepConfig;

        fn validate(config: &KeepConfig) -> Vec<ConfigIssue> {
            if config.keep == 0 {
                return vec![ConfigIssue::new("keep", "must be at least 1")];
            }
            Vec::new()
        }

        fn new(config: KeepConfig) -> Result<Self, PluginError> {
            Ok(Self(config.keep))
        }
    }

    impl PluginProcessor for Keep {
        fn process(
            &self,
            mut req: ExportTraceServiceRequest,
        ) -> Result<ExportTraceServiceRequest, PluginError> {
            for ss in req
                .resource_spans
                .iter_mut()
                .flat_map(|rs| rs.scope_spans.iter_mut())
            {
                assert!(ss.spans.iter().all(|s| s.name != "boom"), "span named boom");
                ss.spans.truncate(self.0);
            }
            Ok(req)
        }
    }

    #[derive(Default)]
    struct Sink(Mutex<Vec<Traces>>);

    #[async_trait]
    impl Consumer for Sink {
        async fn consume(&self, traces: Traces) -> Result<(), ConsumeError> {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(traces);
            Ok(())
        }
    }

    fn batch(names: &[&str]) -> Traces {
        let spans = names
            .iter()
            .map(|n| Span {
                name: n.to_string(),
                ..Default::default()
            })
            .collect();
        Traces::new(vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }])
    }

    #[tokio::test]
    async fn a_linked_processor_works_like_a_builtin_and_contains_panics() {
        let factory = ProcessorAdapter(LinkedProcessorFactory::<Keep>::new());
        assert_eq!(factory.type_name(), "keep");
        let bad = factory
            .parse_config(Some(&serde_yaml_ng::from_str("keep: 0").expect("yaml")))
            .err()
            .expect("invalid");
        assert_eq!(bad[0].to_string(), "keep: must be at least 1");
        let config = factory
            .parse_config(Some(&serde_yaml_ng::from_str("keep: 2").expect("yaml")))
            .expect("valid");

        let telemetry = Telemetry::new();
        let ctx = CreateContext {
            pipeline: Some("traces".into()),
            ..CreateContext::new(ComponentId::new("keep", None), telemetry.clone())
        };
        let sink = Arc::new(Sink::default());
        let Ok(Built::Processor(p)) = factory.create(ctx.clone(), &config, Some(sink.clone()))
        else {
            panic!("a processor is built");
        };
        p.consume(batch(&["a", "b", "c"])).await.expect("consumed");
        assert_eq!(
            sink.0.lock().expect("sink").last().map(Traces::span_count),
            Some(2)
        );
        assert_eq!(ctx.processor_metrics().dropped.get(), 1);

        let e = p
            .consume(batch(&["boom"]))
            .await
            .expect_err("a panic fails the batch");
        assert!(
            e.is_permanent() && e.to_string().contains("plugin panicked: span named boom"),
            "{e}"
        );
        p.consume(batch(&["d"]))
            .await
            .expect("the processor goes on");
        assert_eq!(sink.0.lock().expect("sink").len(), 2);
    }
}
