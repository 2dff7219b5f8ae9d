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
//! Measured with `loadgen/bench-kafka.sh` (tansu in memory, 4 partitions, loadgen spans of
//! 10 attributes, 468 B each as OTLP, 1000 per request; a 2-core machine shared with other
//! builds, load 2-6). Before batches could stay bytes, OTLP/gRPC -> batch -> kafka with zstd
//! ran at ~103k spans/s per core of gateway CPU: the gateway decoded every request, encoded
//! it again and compressed it. Now the OTLP receiver only checks a request in place, the
//! batch processor joins requests as bytes and `otlp_proto` produces those bytes (cut at
//! resource boundaries to fit `max_message_bytes`), so nothing is decoded or encoded on the
//! way (2026-11-24, `limits` otlp_decode 254k spans/s in the same window):
//!
//! | compression | spans/s per core | B/span to the broker |
//! | --- | --- | --- |
//! | zstd (default level 3) | 300-320k | 59.5 |
//! | zstd level 1 | 348k | 60.4 |
//! | lz4 | 444k | 75.9 |
//!
//! Profile then (zstd): the receiver's in-place check ~38%, zstd ~32%, copies and the kernel
//! zeroing fresh pages ~25% (tonic's frame buffer, the batch join into a new multi-megabyte
//! buffer, librdkafka's copy of each payload), the rest loopback TCP. Two changes since:
//! the check got ~2.9x faster (`tracegate_core::otlp_wire::validate`), and a joined batch
//! keeps its requests as separate buffers, so a big request becomes a message with no copy
//! at all (`Traces::split_encoded`). 09:19 window, quiet machine (`limits` otlp_decode 275k,
//! thrift_compact_decode 243k, udp 1400 B 295k packets/s), `loadgen/bench-kafka.sh 15`:
//!
//! | compression | spans/s per core | spans/s wall | B/span to the broker |
//! | --- | --- | --- | --- |
//! | zstd (default level 3) | 476-523k | 884k-1.08M | 59.4 |
//! | zstd level 1 | 538k | 967k | 60.1 |
//! | lz4 | 791k | 971k | 75.9 |
//!
//! With zstd at its default level, zstd's own work is a third of the gateway's CPU and the
//! check a fifth (its samples sit on loads of the request, which it reads once, just after
//! tonic copied it). The kafka receiver keeps OTLP messages as bytes too: 796-817k spans/s per
//! core into `nop`. Later runs: 09:36 (`limits` otlp_decode 281k) zstd 514k per core; 10:25
//! (otlp_decode 320k, the final code) zstd 523k, lz4 796k, kafka -> nop 834k-1.24M.

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
use crate::context::LogContext;
use crate::encoding::{encode, Record};

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
        encode(c.encoding, traces, c.partition_traces_by_id, max)
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
        tracing::info!(exporter = %self.id, brokers = ?self.config.brokers, topic = %self.config.topic, "kafka producer created");
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
        let topic = self.config.topic.as_str();
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
