//! The exporter: one librdkafka producer per exporter, shared by the engine's queue workers,
//! so their messages go out in the same produce requests.
//!
//! `export` encodes the batch, hands every message to librdkafka and waits for every delivery
//! report: the batch is accepted only when the broker acknowledged all of it (per
//! `required_acks`). If any message failed, the whole batch fails and the engine's retry sends
//! it again; messages that had made it are then written twice, which the Jaeger/OTLP readers
//! downstream tolerate (at-least-once). Failures are classified for the engine: a message
//! the broker can never take (too large, invalid) is permanent, anything else (broker down,
//! leader moving, timeouts, authorization that an operator can still fix) is retryable.
//!
//! Measured with `loadgen/bench-kafka.sh 15` (tansu in memory, 4 partitions, loadgen spans
//! of 10 attributes, 1000 per request; OTLP/gRPC -> batch -> kafka, `otlp_proto`): nothing is
//! decoded or encoded on the way (the receiver checks a request in place, the batch processor
//! joins requests as bytes, a big request becomes a message with no copy). Final figures,
//! quiet 2-core machine (`limits` otlp_decode 320k spans/s in the same window):
//!
//! | compression | spans/s per gateway core | B/span to the broker |
//! | --- | --- | --- |
//! | zstd (default level 3) | 523k | 59.4 |
//! | lz4 | 796k | 75.9 |
//!
//! zstd is then a third of the gateway's CPU and the receiver's check a fifth. The kafka
//! receiver keeps OTLP messages as bytes too: 834k-1.24M spans/s per core into `nop`. How the
//! figures got there, with the profiles: `docs/perf/kafka-exporter-history.md`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use rdkafka::ClientConfig;
use tracegate_core::{
    ComponentError, ComponentId, ConsumeError, Exporter, Host, Lifecycle, Traces,
};

use crate::config::Config;
use tracegate_kafka::context::LogContext;
use tracegate_kafka::encoding::{encode, Record};

/// Room left in `max_message_bytes` for Kafka's per-message framing and headers.
const FRAMING_ALLOWANCE: usize = 512;

/// How long `shutdown` waits for messages still in librdkafka's queue.
const FLUSH_AT_SHUTDOWN: Duration = Duration::from_secs(5);

pub struct KafkaExporter {
    id: ComponentId,
    config: Config,
    producer: Mutex<Option<FutureProducer<LogContext>>>,
}

impl KafkaExporter {
    pub fn new(id: ComponentId, config: Config) -> Self {
        Self {
            id,
            config,
            producer: Mutex::new(None),
        }
    }

    /// The librdkafka producer settings this config asks for.
    pub fn client_config(config: &Config) -> ClientConfig {
        let connection = config.connection();
        let mut c = connection.client_config();
        let p = &config.producer;
        c.set("acks", p.required_acks.to_string());
        c.set("compression.codec", p.compression.as_str());
        if p.compression_params.level != -1 {
            c.set("compression.level", p.compression_params.level.to_string());
        }
        c.set(
            "linger.ms",
            format!("{}", p.linger.get().as_secs_f64() * 1000.0),
        );
        // librdkafka's limit applies to a message with its framing; the encoder keeps payloads
        // FRAMING_ALLOWANCE under it.
        c.set("message.max.bytes", p.max_message_bytes.to_string());
        if p.flush_max_messages > 0 {
            c.set("batch.num.messages", p.flush_max_messages.to_string());
        }
        c.set(
            "message.timeout.ms",
            p.message_timeout.get().as_millis().to_string(),
        );
        connection.apply_overrides(&mut c);
        c
    }

    fn producer(&self) -> Option<FutureProducer<LogContext>> {
        self.producer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn encode(&self, traces: &Traces) -> Result<Vec<Record>, ConsumeError> {
        let c = &self.config;
        let max = c
            .producer
            .max_message_bytes
            .saturating_sub(FRAMING_ALLOWANCE);
        // The same batch would fail the same way again.
        encode(c.encoding(), traces, c.partition_traces_by_id, max)
            .map_err(|e| ConsumeError::permanent(e.to_string()))
    }
}

/// Permanent only when the message itself is the problem.
pub fn classify(error: &KafkaError) -> ConsumeError {
    use RDKafkaErrorCode as C;
    let permanent = matches!(
        error.rdkafka_error_code(),
        Some(
            C::MessageSizeTooLarge
                | C::InvalidMessageSize
                | C::InvalidMessage
                | C::InvalidRecord
                | C::UnsupportedCompressionType
                | C::InvalidTopic
        )
    );
    let message = match error.rdkafka_error_code() {
        Some(C::MessageTimedOut) => format!("{error} (the broker did not acknowledge in producer.message_timeout: down, unreachable or overloaded?)"),
        _ => error.to_string(),
    };
    if permanent {
        ConsumeError::Permanent(message)
    } else {
        ConsumeError::Retryable(message)
    }
}

#[async_trait]
impl Lifecycle for KafkaExporter {
    async fn start(&self, _host: Arc<dyn Host>) -> Result<(), ComponentError> {
        if self.producer().is_some() {
            return Ok(());
        }
        // Creating the producer only starts librdkafka's threads; it connects in the
        // background, so a broker that is down at start delays delivery instead of failing it.
        let producer: FutureProducer<LogContext> = Self::client_config(&self.config)
            .create_with_context(LogContext::default())
            .map_err(|e| ComponentError::Config(format!("kafka producer: {e}")))?;
        tracing::info!(exporter = %self.id, brokers = ?self.config.brokers, topic = %self.config.topic(), "kafka producer created");
        *self.producer.lock().unwrap_or_else(|p| p.into_inner()) = Some(producer);
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ComponentError> {
        let Some(producer) = self
            .producer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        else {
            return Ok(());
        };
        // `flush` blocks its thread until the queue is empty or the time is up.
        let id = self.id.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = producer.flush(Timeout::After(FLUSH_AT_SHUTDOWN)) {
                tracing::warn!(exporter = %id, "messages still undelivered at shutdown: {e}");
            }
        })
        .await
        .map_err(ComponentError::other)
    }
}

#[async_trait]
impl Exporter for KafkaExporter {
    async fn export(&self, traces: Traces) -> Result<(), ConsumeError> {
        let Some(producer) = self.producer() else {
            return Err(ConsumeError::permanent(
                "kafka exporter is not running (not started or already shut down)",
            ));
        };
        if traces.is_empty() {
            return Ok(());
        }
        let records = self.encode(&traces)?;
        let topic = self.config.topic();
        let deliveries = records.iter().map(|r| {
            let mut record: FutureRecord<'_, [u8], [u8]> =
                FutureRecord::to(topic).payload(r.payload.as_ref());
            if let Some(key) = &r.key {
                record = record.key(key.as_slice());
            }
            // Never: while librdkafka's local queue is full this waits for room; the engine's
            // timeout bounds the whole export.
            producer.send(record, Timeout::Never)
        });
        let results = futures::future::join_all(deliveries).await;
        let mut failure: Option<ConsumeError> = None;
        let mut failed = 0usize;
        for (result, record) in results.iter().zip(&records) {
            if let Err((e, _)) = result {
                failed += record.spans;
                let err = classify(e);
                // A retryable failure wins: retrying the batch can still deliver it all.
                if failure
                    .as_ref()
                    .is_none_or(|f| f.is_permanent() && !err.is_permanent())
                {
                    failure = Some(err);
                }
            }
        }
        match failure {
            None => Ok(()),
            Some(err) => {
                tracing::debug!(exporter = %self.id, failed, of = traces.span_count(), error = %err, "kafka delivery failed");
                Err(err)
            }
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Compression;

    #[test]
    fn producer_settings_follow_the_config() {
        let mut config = Config::default();
        config.producer.compression = Compression::Zstd;
        config.producer.compression_params.level = 5;
        config.producer.required_acks = -1;
        config.producer.flush_max_messages = 100;
        config
            .librdkafka_options
            .insert("linger.ms".into(), "50".into());
        let c = KafkaExporter::client_config(&config);
        assert_eq!(c.get("acks"), Some("-1"));
        assert_eq!(c.get("compression.codec"), Some("zstd"));
        assert_eq!(c.get("compression.level"), Some("5"));
        assert_eq!(c.get("batch.num.messages"), Some("100"));
        assert_eq!(c.get("message.timeout.ms"), Some("5000"));
        assert_eq!(c.get("linger.ms"), Some("50"), "librdkafka_options win");
    }

    #[test]
    fn only_a_bad_message_is_permanent() {
        use RDKafkaErrorCode as C;
        let produce = |c| KafkaError::MessageProduction(c);
        assert!(classify(&produce(C::MessageSizeTooLarge)).is_permanent());
        for code in [
            C::MessageTimedOut,
            C::AllBrokersDown,
            C::UnknownTopicOrPartition,
            C::TopicAuthorizationFailed,
            C::QueueFull,
        ] {
            assert!(!classify(&produce(code)).is_permanent(), "{code:?}");
        }
        assert!(classify(&produce(C::MessageTimedOut))
            .to_string()
            .contains("message_timeout"));
    }

    #[tokio::test]
    async fn lifecycle_edges_are_safe() {
        let exporter =
            KafkaExporter::new(ComponentId::parse("kafka").expect("id"), Config::default());
        exporter.shutdown().await.expect("shutdown without start");
        let err = exporter
            .export(Traces::default())
            .await
            .expect_err("not started");
        assert!(err.is_permanent(), "{err}");
        // No broker is needed to start: librdkafka connects in the background.
        exporter
            .start(tracegate_core::testing::TestHost::new())
            .await
            .expect("start");
        exporter.shutdown().await.expect("shutdown");
        exporter.shutdown().await.expect("second shutdown");
        assert!(
            exporter.export(Traces::default()).await.is_err(),
            "stopped after shutdown"
        );
    }

    #[tokio::test]
    async fn an_unknown_librdkafka_option_fails_start_with_its_name() {
        let mut config = Config::default();
        config
            .librdkafka_options
            .insert("no.such.property".into(), "1".into());
        let exporter = KafkaExporter::new(ComponentId::parse("kafka").expect("id"), config);
        let err = exporter
            .start(tracegate_core::testing::TestHost::new())
            .await
            .expect_err("bad option");
        assert!(err.to_string().contains("no.such.property"), "{err}");
    }
}
