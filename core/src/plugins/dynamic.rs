//! A loaded plugin component as a [`DynFactory`]: the graph cannot tell it from a built-in.
//!
//! Config goes to the plugin as JSON (the plugin validates it, also at `tracegate validate`),
//! batches as OTLP protobuf encoded straight from the shared `Traces` (no clone), and every
//! call runs on a blocking thread.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use serde_yaml_ng::Value;
use tracegate_plugin_abi::{CallError, CallStatus, LoadedComponent, PluginInstance};

use crate::component::{ComponentError, ConsumeError, Consumer, Exporter, Lifecycle, Processor};
use crate::config::ConfigProblem;
use crate::data::Traces;
use crate::factory::{Built, CreateContext, DynFactory, Origin, ParsedConfig, Stability};
use crate::id::{ComponentId, Kind};

/// The config a plugin accepted, as the JSON it will be created from.
struct JsonConfig(Vec<u8>);

/// A component type provided by a loaded plugin library.
pub struct DynamicFactory {
    kind: Kind,
    component: LoadedComponent,
    path: PathBuf,
    plugin: String,
}

impl DynamicFactory {
    pub fn new(kind: Kind, component: LoadedComponent, path: PathBuf, plugin: &str) -> Self {
        Self {
            kind,
            component,
            path,
            plugin: plugin.to_string(),
        }
    }

    /// The plugin's own name and version, e.g. "my-plugin 0.3.1".
    pub fn plugin_name(&self) -> &str {
        &self.plugin
    }
}

impl DynFactory for DynamicFactory {
    fn kind(&self) -> Kind {
        self.kind
    }

    fn type_name(&self) -> &str {
        self.component.type_name()
    }

    fn stability(&self) -> Stability {
        Stability::Development
    }

    fn origin(&self) -> Origin {
        Origin::Loaded(self.path.clone())
    }

    fn parse_config(&self, raw: Option<&Value>) -> Result<ParsedConfig, Vec<ConfigProblem>> {
        let raw = raw.cloned().unwrap_or(Value::Null);
        let json = serde_json::to_vec(&raw).map_err(|e| {
            vec![ConfigProblem::new(
                "",
                format!("cannot pass this config to the plugin as JSON: {e}"),
            )]
        })?;
        let report = self.component.validate(&json).map_err(|e| {
            vec![ConfigProblem::new(
                "",
                format!(
                    "the plugin {} failed to validate its config: {e}",
                    self.path.display()
                ),
            )]
        })?;
        if !report.problems.is_empty() {
            return Err(report
                .problems
                .into_iter()
                .map(|p| ConfigProblem::new(p.path, p.message))
                .collect());
        }
        let effective = serde_yaml_ng::to_value(&report.effective).unwrap_or(raw);
        Ok(ParsedConfig {
            typed: Arc::new(JsonConfig(json)),
            effective,
            warnings: Vec::new(),
            offered_names: Vec::new(),
            references: Vec::new(),
        })
    }

    fn create(
        &self,
        ctx: CreateContext,
        config: &ParsedConfig,
        next: Option<Arc<dyn Consumer>>,
    ) -> Result<Built, ComponentError> {
        let json = config
            .typed
            .downcast_ref::<JsonConfig>()
            .ok_or_else(|| ComponentError::other("config was parsed by another factory"))?;
        let instance = Arc::new(
            self.component
                .create(&json.0)
                .map_err(|e| ComponentError::Config(e.message))?,
        );
        match self.kind {
            Kind::Processor => {
                let next = next
                    .ok_or_else(|| ComponentError::other("engine bug: no next consumer given"))?;
                let dropped = ctx.processor_metrics().dropped;
                Ok(Built::Processor(Arc::new(DynamicProcessor {
                    id: ctx.id,
                    instance,
                    next,
                    dropped,
                })))
            }
            Kind::Exporter => Ok(Built::Exporter(Arc::new(DynamicExporter {
                id: ctx.id,
                instance,
            }))),
            other => Err(ComponentError::other(format!(
                "plugins cannot provide a {other}"
            ))),
        }
    }
}

/// The batch as an `ExportTraceServiceRequest` in protobuf, encoded from the shared batch:
/// the request's only field is `repeated ResourceSpans resource_spans = 1`.
pub fn encode_request(traces: &Traces) -> Vec<u8> {
    let spans = traces.resource_spans();
    let len = spans
        .iter()
        .map(|rs| prost::encoding::message::encoded_len(1, rs))
        .sum();
    let mut buf = Vec::with_capacity(len);
    for rs in spans {
        prost::encoding::message::encode(1, rs, &mut buf);
    }
    buf
}

fn consume_error(id: &ComponentId, e: CallError) -> ConsumeError {
    let message = format!("{id}: {}", e.message);
    match e.status {
        CallStatus::Retryable => ConsumeError::Retryable(message),
        CallStatus::Permanent => ConsumeError::Permanent(message),
        CallStatus::Panic => {
            tracing::error!(component = %id, "{}; the batch is refused and the gateway goes on", e.message);
            ConsumeError::Permanent(message)
        }
    }
}

/// Runs one call into the plugin on a blocking thread; `then` post-processes its output there.
async fn call_blocking<T: Send + 'static>(
    id: &ComponentId,
    instance: &Arc<PluginInstance>,
    request: Vec<u8>,
    then: impl FnOnce(&[u8]) -> Result<T, ConsumeError> + Send + 'static,
) -> Result<T, ConsumeError> {
    let instance = instance.clone();
    let task_id = id.clone();
    tokio::task::spawn_blocking(move || {
        let out = instance
            .call(&request)
            .map_err(|e| consume_error(&task_id, e))?;
        then(&out)
    })
    .await
    .map_err(|e| ConsumeError::permanent(format!("{id}: plugin call did not finish: {e}")))?
}

struct DynamicProcessor {
    id: ComponentId,
    instance: Arc<PluginInstance>,
    next: Arc<dyn Consumer>,
    dropped: prometheus::IntCounter,
}

#[async_trait]
impl Lifecycle for DynamicProcessor {}

impl Processor for DynamicProcessor {}

#[async_trait]
impl Consumer for DynamicProcessor {
    async fn consume(&self, traces: Traces) -> Result<(), ConsumeError> {
        let incoming = traces.span_count();
        // Only OTLP bytes cross the ABI; the tenant stays on this side and goes on with the result.
        let tenant = traces.tenant().cloned();
        let request = encode_request(&traces);
        drop(traces);
        let id = self.id.clone();
        let out = call_blocking(&self.id, &self.instance, request, move |bytes| {
            ExportTraceServiceRequest::decode(bytes)
                .map(Traces::from)
                .map_err(|e| {
                    ConsumeError::permanent(format!(
                        "{id}: the plugin returned a batch that does not decode: {e}"
                    ))
                })
        })
        .await?
        .with_tenant(tenant);
        let outgoing = out.span_count();
        self.dropped
            .inc_by(incoming.saturating_sub(outgoing) as u64);
        if outgoing == 0 {
            return Ok(());
        }
        self.next.consume(out).await
    }
}

struct DynamicExporter {
    id: ComponentId,
    instance: Arc<PluginInstance>,
}

#[async_trait]
impl Lifecycle for DynamicExporter {}

#[async_trait]
impl Exporter for DynamicExporter {
    async fn export(&self, traces: Traces) -> Result<(), ConsumeError> {
        let request = encode_request(&traces);
        drop(traces);
        call_blocking(&self.id, &self.instance, request, |_| Ok(())).await
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
