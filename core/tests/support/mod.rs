//! Test components for the engine tests: they record what happens to them in one shared log.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tracegate_core::component::*;
use tracegate_core::config::ConfigProblem;
use tracegate_core::data::Traces;
use tracegate_core::factory::*;
use tracegate_core::telemetry::Telemetry;

pub type Log = Arc<Mutex<Vec<String>>>;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TestConfig {
    /// Exporters: how each export behaves: "ok", "retryable", "permanent", "throttle:<ms>", "hang".
    pub behaviour: Vec<String>,
    /// Processors: whether they change the batch.
    pub mutate: bool,
}

impl ComponentConfig for TestConfig {
    type Validated = Self;

    fn validate(&self) -> Vec<ConfigProblem> {
        Vec::new()
    }
}

// ---- receiver: hands its `next` to the test ----
pub struct TestReceiver {
    pub id: String,
    pub next: Arc<dyn Consumer>,
    log: Log,
}
#[async_trait]
impl Lifecycle for TestReceiver {
    async fn start(&self, _: Arc<dyn Host>) -> Result<(), ComponentError> {
        self.log
            .lock()
            .unwrap()
            .push(format!("start receiver {}", self.id));
        Ok(())
    }
    async fn shutdown(&self) -> Result<(), ComponentError> {
        self.log
            .lock()
            .unwrap()
            .push(format!("stop receiver {}", self.id));
        Ok(())
    }
}
impl Receiver for TestReceiver {}

#[derive(Clone, Default)]
pub struct Receivers(pub Arc<Mutex<Vec<Arc<TestReceiver>>>>);

pub struct TestReceiverFactory(pub Log, pub Receivers);
impl ReceiverFactory for TestReceiverFactory {
    const TYPE: &'static str = "test";
    const STABILITY: Stability = Stability::Development;
    type Config = TestConfig;
    fn create(
        &self,
        ctx: CreateContext,
        _: TestConfig,
        next: Arc<dyn Consumer>,
    ) -> Result<Arc<dyn Receiver>, ComponentError> {
        let r = Arc::new(TestReceiver {
            id: ctx.id.to_string(),
            next,
            log: self.0.clone(),
        });
        self.1 .0.lock().unwrap().push(r.clone());
        Ok(r)
    }
}

// ---- processor: logs, optionally mutates ----
pub struct TestProcessor {
    id: String,
    next: Arc<dyn Consumer>,
    mutate: bool,
    log: Log,
}
#[async_trait]
impl Consumer for TestProcessor {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            mutates_data: self.mutate,
        }
    }
    async fn consume(&self, mut t: Traces) -> Result<(), ConsumeError> {
        self.log
            .lock()
            .unwrap()
            .push(format!("process {}", self.id));
        if self.mutate {
            t.make_mut()[0].schema_url = self.id.clone();
        }
        self.next.consume(t).await
    }
}
#[async_trait]
impl Lifecycle for TestProcessor {
    async fn start(&self, _: Arc<dyn Host>) -> Result<(), ComponentError> {
        self.log
            .lock()
            .unwrap()
            .push(format!("start processor {}", self.id));
        Ok(())
    }
    async fn shutdown(&self) -> Result<(), ComponentError> {
        self.log
            .lock()
            .unwrap()
            .push(format!("stop processor {}", self.id));
        Ok(())
    }
}
impl Processor for TestProcessor {}

pub struct TestProcessorFactory(pub Log);
impl ProcessorFactory for TestProcessorFactory {
    const TYPE: &'static str = "test";
    const STABILITY: Stability = Stability::Development;
    type Config = TestConfig;
    fn create(
        &self,
        ctx: CreateContext,
        cfg: TestConfig,
        next: Arc<dyn Consumer>,
    ) -> Result<Arc<dyn Processor>, ComponentError> {
        Ok(Arc::new(TestProcessor {
            id: ctx.id.to_string(),
            next,
            mutate: cfg.mutate,
            log: self.0.clone(),
        }))
    }
}

// ---- exporter: scripted outcomes, records what it got ----
pub struct TestExporter {
    pub id: String,
    behaviour: Mutex<Vec<String>>,
    pub received: Mutex<Vec<Traces>>,
    pub attempts: Mutex<Vec<tokio::time::Instant>>,
    log: Log,
}
impl TestExporter {
    pub fn spans(&self) -> usize {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(Traces::span_count)
            .sum()
    }
}
#[async_trait]
impl Exporter for TestExporter {
    async fn export(&self, t: Traces) -> Result<(), ConsumeError> {
        self.attempts
            .lock()
            .unwrap()
            .push(tokio::time::Instant::now());
        let step = {
            let mut b = self.behaviour.lock().unwrap();
            if b.len() > 1 {
                b.remove(0)
            } else {
                b.first().cloned().unwrap_or_else(|| "ok".into())
            }
        };
        match step.as_str() {
            "retryable" => Err(ConsumeError::retryable("backend down")),
            "permanent" => Err(ConsumeError::permanent("bad data")),
            "hang" => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(())
            }
            s if s.starts_with("throttle:") => {
                let ms = s["throttle:".len()..].parse().unwrap();
                Err(ConsumeError::Throttled {
                    retry_after: Some(Duration::from_millis(ms)),
                    message: "slow down".into(),
                })
            }
            _ => {
                self.log
                    .lock()
                    .unwrap()
                    .push(format!("export {} {}", self.id, t.span_count()));
                self.received.lock().unwrap().push(t);
                Ok(())
            }
        }
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
#[async_trait]
impl Lifecycle for TestExporter {
    async fn start(&self, _: Arc<dyn Host>) -> Result<(), ComponentError> {
        self.log
            .lock()
            .unwrap()
            .push(format!("start exporter {}", self.id));
        Ok(())
    }
    async fn shutdown(&self) -> Result<(), ComponentError> {
        self.log
            .lock()
            .unwrap()
            .push(format!("stop exporter {}", self.id));
        Ok(())
    }
}

#[derive(Clone, Default)]
pub struct Exporters(pub Arc<Mutex<Vec<Arc<TestExporter>>>>);
impl Exporters {
    pub fn get(&self, id: &str) -> Arc<TestExporter> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .find(|e| e.id == id)
            .cloned()
            .expect("exporter created")
    }
    pub fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

pub struct TestExporterFactory(pub Log, pub Exporters);
impl ExporterFactory for TestExporterFactory {
    const TYPE: &'static str = "test";
    const STABILITY: Stability = Stability::Development;
    type Config = TestConfig;
    fn create(
        &self,
        ctx: CreateContext,
        cfg: TestConfig,
    ) -> Result<Arc<dyn Exporter>, ComponentError> {
        let e = Arc::new(TestExporter {
            id: ctx.id.to_string(),
            behaviour: Mutex::new(cfg.behaviour),
            received: Mutex::new(Vec::new()),
            attempts: Mutex::new(Vec::new()),
            log: self.0.clone(),
        });
        self.1 .0.lock().unwrap().push(e.clone());
        Ok(e)
    }
}

/// A registry of the test components plus handles to what they create.
pub struct World {
    pub registry: Registry,
    pub log: Log,
    pub receivers: Receivers,
    pub exporters: Exporters,
    pub telemetry: Arc<Telemetry>,
}

impl World {
    pub fn new() -> Self {
        let log: Log = Default::default();
        let receivers = Receivers::default();
        let exporters = Exporters::default();
        let mut registry = Registry::default();
        registry
            .add(Arc::new(ReceiverAdapter(TestReceiverFactory(
                log.clone(),
                receivers.clone(),
            ))))
            .unwrap();
        registry
            .add(Arc::new(ProcessorAdapter(TestProcessorFactory(
                log.clone(),
            ))))
            .unwrap();
        registry
            .add(Arc::new(ExporterAdapter(TestExporterFactory(
                log.clone(),
                exporters.clone(),
            ))))
            .unwrap();
        registry
            .add(Arc::new(tracegate_core::factory::ExtensionAdapter(
                tracegate_extension_file_storage::FileStorageFactory,
            )))
            .unwrap();
        Self {
            registry,
            log,
            receivers,
            exporters,
            telemetry: Telemetry::new(),
        }
    }

    pub fn config(
        &self,
        yaml: &str,
    ) -> Result<tracegate_core::config::ValidConfig, Vec<ConfigProblem>> {
        let root = tracegate_core::config::parse_yaml(yaml, "test.yaml").map_err(|e| vec![e])?;
        tracegate_core::config::validate(&root, &self.registry)
    }

    pub fn receiver(&self, id: &str) -> Arc<TestReceiver> {
        self.receivers
            .0
            .lock()
            .unwrap()
            .iter()
            .find(|r| r.id == id)
            .cloned()
            .expect("receiver created")
    }

    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    pub fn metric(&self, line_prefix: &str) -> f64 {
        let text = self.telemetry.metrics.render();
        text.lines()
            .find(|l| l.starts_with(line_prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }
}
