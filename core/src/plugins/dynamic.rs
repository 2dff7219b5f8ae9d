//! A loaded plugin component as a [`DynFactory`]: the graph cannot tell it from a built-in.
//!
//! Config goes to the plugin as JSON (the plugin validates it, also at `tracegate validate`),
//! batches as OTLP protobuf, and every call runs on a blocking thread. A batch is handed over
//! by the *forward* way in of [`Traces`] ([`request_bytes`]): a batch that is still the bytes
//! it was received as goes to the plugin as those bytes (a reference count, no decode, no
//! encode); only a decoded batch (Jaeger, Zipkin, OTLP/JSON, or one a processor changed) is
//! encoded, once, straight from the shared structs (no clone). A processor's result is
//! checked in place and goes on as bytes (`Traces::from_protobuf`), not decoded.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
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

/// The batch as the `ExportTraceServiceRequest` protobuf a plugin is called with: the
/// received request bytes while the batch is bytes (several received requests are joined,
/// which protobuf reads as one request), else the structs encoded once.
pub fn request_bytes(traces: &Traces) -> Bytes {
    traces.encode_request()
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
    request: Bytes,
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
        let request = request_bytes(&traces);
        drop(traces);
        let id = self.id.clone();
        // The result goes on as bytes too, checked in place: an exporter that forwards OTLP
        // sends them as they are, and nobody decodes them unless a component changes them.
        let out = call_blocking(&self.id, &self.instance, request, move |bytes| {
            Traces::from_protobuf(Bytes::copy_from_slice(bytes))
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
        let request = request_bytes(&traces);
        drop(traces);
        call_blocking(&self.id, &self.instance, request, |_| Ok(())).await
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use crate::data::{ResourceSpans, ScopeSpans, Span};

    fn batch() -> Traces {
        let span = Span { name: "a".into(), trace_id: vec![1; 16], span_id: vec![2; 8], ..Default::default() };
        Traces::new(vec![ResourceSpans {
            scope_spans: vec![ScopeSpans { spans: vec![span], ..Default::default() }],
            ..Default::default()
        }])
    }

    #[test]
    fn a_batch_of_bytes_reaches_the_plugin_as_received() {
        // Valid OTLP that prost would not write back the same way: the request ends in a field
        // of a later version (number 2, a varint), which a decode drops and an encode omits.
        let mut received = batch().encode_request().to_vec();
        received.extend_from_slice(&[0x10, 0x01]);
        let received = Bytes::from(received);
        let traces = Traces::from_protobuf(received.clone()).expect("valid OTLP");
        assert!(traces.is_encoded(), "kept as bytes");
        let handed = request_bytes(&traces);
        assert_eq!(handed, received, "byte-identical, not re-encoded");
        assert_eq!(handed.as_ptr(), received.as_ptr(), "the received buffer itself");
    }

    #[test]
    fn a_decoded_batch_is_encoded_once_as_prost_would() {
        let traces = batch();
        assert_eq!(request_bytes(&traces), traces.to_request().encode_to_vec());
    }
}
