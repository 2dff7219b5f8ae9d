//! The receiver's life: a librdkafka consumer in the configured group, subscribed in
//! `start`, read by one task, closed in `shutdown`.
//!
//! The task takes the first message that arrives, then whatever else is already fetched (up
//! to `max_batch_spans`), offers that batch to the pipeline until it is accepted (see
//! [`crate::batch`]), and only then stores the batch's offsets for commit. librdkafka's
//! auto-commit (`enable.auto.offset.store=false`) commits stored offsets only, every
//! `autocommit.interval`, on rebalance and at close; with `autocommit.enable: false` they are
//! committed after every batch. So whatever was committed had been accepted, and a crash at
//! any point replays the uncommitted tail (at-least-once, duplicates possible).
//!
//! One task per receiver: the pipeline behind is where parallelism belongs (queue workers), and
//! one reader keeps the commit order trivially right. Measured with `loadgen/bench-kafka.sh`
//! (kafka -> nop, reading 1.8M spans from the earliest offset on a loaded 2-core machine):
//! 210k spans/s per core of gateway CPU with `otlp_proto` (zstd), 91k with `jaeger_proto`,
//! where every span is its own message and is translated from the Jaeger model.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::FutureExt;
use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::ClientConfig;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracegate_core::telemetry::{ReceiverMetrics, Telemetry};
use tracegate_core::{ComponentError, ComponentId, Consumer, Host, Lifecycle, Receiver};
use tracegate_kafka::context::LogContext;
use tracing::Instrument;

use crate::batch::{deliver, Batch, Delivered, Malformed};
use crate::config::{Config, InitialOffset};

/// Most messages gathered into one batch (besides `max_batch_spans`), so an OTLP message
/// stream of empty batches still makes progress in bounded steps.
const MAX_BATCH_MESSAGES: usize = 10_000;

/// How long `shutdown` waits for the last commit and the group leave.
const CLOSE_DEADLINE: Duration = Duration::from_secs(10);

/// Pause after a consumer error, so a broker that is down is not asked in a hot loop.
const ERROR_PAUSE: Duration = Duration::from_millis(500);

pub struct KafkaReceiver {
    inner: Arc<Inner>,
    running: tokio::sync::Mutex<Option<Running>>,
}

struct Inner {
    id: ComponentId,
    config: Config,
    next: Arc<dyn Consumer>,
    metrics: ReceiverMetrics,
    malformed: Malformed,
}

struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl KafkaReceiver {
    pub fn new(id: ComponentId, config: Config, next: Arc<dyn Consumer>, telemetry: &Telemetry) -> Self {
        let metrics = telemetry.metrics.receiver(&id.to_string(), "kafka");
        let malformed = Malformed::new(&metrics);
        Self { inner: Arc::new(Inner { id, config, next, metrics, malformed }), running: tokio::sync::Mutex::new(None) }
    }

    /// The librdkafka consumer settings this config asks for.
    pub fn client_config(config: &Config) -> ClientConfig {
        let connection = config.connection();
        let mut c = connection.client_config();
        c.set("group.id", &config.group_id);
        c.set("auto.offset.reset", match config.initial_offset {
            InitialOffset::Earliest => "earliest",
            InitialOffset::Latest => "latest",
        });
        // Offsets are stored by hand once the pipeline accepted a batch; auto-commit then only
        // ever commits those.
        c.set("enable.auto.offset.store", "false");
        c.set("enable.auto.commit", config.autocommit.enable.to_string());
        c.set("auto.commit.interval.ms", config.autocommit.interval.get().as_millis().max(1).to_string());
        c.set("session.timeout.ms", config.session_timeout.get().as_millis().to_string());
        c.set("heartbeat.interval.ms", config.heartbeat_interval.get().as_millis().to_string());
        c.set("fetch.min.bytes", config.min_fetch_size.to_string());
        c.set("max.partition.fetch.bytes", config.default_fetch_size.to_string());
        if config.max_fetch_size > 0 {
            c.set("fetch.max.bytes", config.max_fetch_size.to_string());
        }
        connection.apply_overrides(&mut c);
        c
    }
}

impl Inner {
    async fn run(self: Arc<Self>, consumer: Arc<StreamConsumer<LogContext>>, mut stop: watch::Receiver<bool>) {
        let max_spans = self.config.max_batch_spans;
        loop {
            let first = tokio::select! {
                m = consumer.recv() => m,
                _ = stop.wait_for(|s| *s) => break,
            };
            let mut batch = Batch::new(self.config.encoding());
            let mut result = first;
            loop {
                match result {
                    Ok(m) => batch.push(m.partition(), m.offset(), m.payload().unwrap_or_default(), &self.malformed),
                    Err(e) => {
                        self.consumer_error(&e);
                        if batch.messages == 0 {
                            tokio::time::sleep(ERROR_PAUSE).await;
                        }
                        break;
                    }
                }
                if batch.spans() >= max_spans || batch.messages >= MAX_BATCH_MESSAGES {
                    break;
                }
                // Only what is already fetched: never wait for more while holding a batch.
                match consumer.recv().now_or_never() {
                    Some(next) => result = next,
                    None => break,
                }
            }
            if batch.messages == 0 {
                continue;
            }
            let (traces, offsets) = batch.into_traces();
            if deliver(&self.next, traces, &self.metrics, &mut stop).await == Delivered::Stopped {
                break;
            }
            for (partition, offset) in offsets {
                // Stores offset + 1, the next message to read. Fails for a partition this
                // member lost in a rebalance; its new owner reads the batch again.
                if let Err(e) = consumer.store_offset(self.config.topic(), partition, offset) {
                    tracing::debug!(partition, offset, "offset not stored (partition reassigned?): {e}");
                }
            }
            if !self.config.autocommit.enable {
                if let Err(e) = consumer.commit_consumer_state(CommitMode::Async) {
                    if e.rdkafka_error_code() != Some(RDKafkaErrorCode::NoOffset) {
                        tracing::warn!("offset commit failed (retried with the next batch): {e}");
                    }
                }
            }
        }
        // The final synchronous commit and the group leave block their thread.
        let id = self.id.clone();
        let closed = tokio::task::spawn_blocking(move || {
            match consumer.commit_consumer_state(CommitMode::Sync) {
                Err(e) if e.rdkafka_error_code() != Some(RDKafkaErrorCode::NoOffset) => {
                    tracing::warn!(receiver = %id, "final offset commit failed; the last batches will be read again: {e}");
                }
                _ => {}
            }
            drop(consumer);
        });
        let _ = closed.await;
    }

    fn consumer_error(&self, error: &KafkaError) {
        tracing::warn!(receiver = %self.id, topic = %self.config.topic(), "kafka consumer: {error}");
    }
}

#[async_trait]
impl Lifecycle for KafkaReceiver {
    async fn start(&self, host: Arc<dyn Host>) -> Result<(), ComponentError> {
        let mut running = self.running.lock().await;
        if running.is_some() {
            return Ok(());
        }
        let config = &self.inner.config;
        let consumer: StreamConsumer<LogContext> = Self::client_config(config)
            .create_with_context(LogContext::default())
            .map_err(|e| ComponentError::Config(format!("kafka consumer: {e}")))?;
        consumer
            .subscribe(&[config.topic()])
            .map_err(|e| ComponentError::other(format!("cannot subscribe to topic \"{}\": {e}", config.topic())))?;
        tracing::info!(receiver = %self.inner.id, brokers = ?config.brokers, topic = %config.topic(), group = %config.group_id, "kafka consumer subscribed");
        let (stop, stopped) = watch::channel(false);
        let inner = self.inner.clone();
        let (id, status) = (self.inner.id.to_string(), host.status());
        let span = tracing::info_span!("receiver", id = %self.inner.id, transport = "kafka");
        let task = tokio::spawn(
            async move {
                // The loop itself never fails; a panic inside it is reported, not hidden.
                let run = tokio::spawn(inner.run(Arc::new(consumer), stopped));
                if let Err(e) = run.await {
                    status.report_failure(&id, &format!("kafka consumer task ended: {e}"));
                }
            }
            .instrument(span),
        );
        *running = Some(Running { stop, task });
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ComponentError> {
        let Some(running) = self.running.lock().await.take() else {
            return Ok(());
        };
        let _ = running.stop.send(true);
        if tokio::time::timeout(CLOSE_DEADLINE, running.task).await.is_err() {
            tracing::warn!(receiver = %self.inner.id, "kafka consumer did not close within {CLOSE_DEADLINE:?}; leaving it to finish in the background");
        }
        Ok(())
    }
}

impl Receiver for KafkaReceiver {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_settings_follow_the_config() {
        let mut config = Config { group_id: "ingester".into(), initial_offset: InitialOffset::Earliest, ..Config::default() };
        config.autocommit.enable = false;
        config.librdkafka_options.insert("fetch.wait.max.ms".into(), "50".into());
        let c = KafkaReceiver::client_config(&config);
        assert_eq!(c.get("group.id"), Some("ingester"));
        assert_eq!(c.get("auto.offset.reset"), Some("earliest"));
        assert_eq!(c.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(c.get("enable.auto.commit"), Some("false"));
        assert_eq!(c.get("fetch.wait.max.ms"), Some("50"));
    }

    #[tokio::test]
    async fn lifecycle_edges_are_safe_without_a_broker() {
        struct Nop;
        #[async_trait]
        impl Consumer for Nop {
            async fn consume(&self, _t: tracegate_core::Traces) -> Result<(), tracegate_core::ConsumeError> {
                Ok(())
            }
        }
        let telemetry = Telemetry::new();
        // A port nothing listens on: the consumer starts and retries in the background.
        let config = Config { brokers: vec!["127.0.0.1:1".into()], ..Config::default() };
        let receiver = KafkaReceiver::new(ComponentId::parse("kafka").expect("id"), config, Arc::new(Nop), &telemetry);
        receiver.shutdown().await.expect("shutdown without start");
        receiver.start(tracegate_core::testing::TestHost::new()).await.expect("start");
        receiver.start(tracegate_core::testing::TestHost::new()).await.expect("second start is a no-op");
        receiver.shutdown().await.expect("shutdown");
        receiver.shutdown().await.expect("second shutdown");
    }
}
