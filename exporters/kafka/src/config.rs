//! Settings of the `kafka` exporter, in the Collector's kafkaexporter shape: `brokers`,
//! `topic`, `encoding`, `partition_traces_by_id`, `client_id`, `producer: {...}`, `auth:`;
//! plus `producer.linger`/`message_timeout` and `librdkafka_options`, which librdkafka needs
//! and sarama hid. `sending_queue`, `retry_on_failure` and `timeout` belong to the engine.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tracegate_core::config::{ConfigProblem, GoDuration};
use tracegate_core::factory::ComponentConfig;

use tracegate_kafka::client::{Auth, Connection, Tls};
use tracegate_kafka::{check_topic, Encoding, TracesSignal};

/// `producer.compression`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// `producer.compression_params`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompressionParams {
    /// The codec's level; -1 is the codec's default.
    pub level: i32,
}

impl Default for CompressionParams {
    fn default() -> Self {
        Self { level: -1 }
    }
}

/// `producer:`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Producer {
    /// Largest message the broker accepts; a bigger encoded batch is split (OTLP encodings)
    /// or refused as permanent (one Jaeger span bigger than this).
    pub max_message_bytes: usize,
    /// Broker acknowledgements per message: 0 (none), 1 (the leader) or -1 (all in-sync
    /// replicas).
    pub required_acks: i16,
    pub compression: Compression,
    pub compression_params: CompressionParams,
    /// Most messages in one produce request; 0 leaves librdkafka's default (10000).
    pub flush_max_messages: usize,
    /// How long librdkafka waits to fill a batch before sending it.
    pub linger: GoDuration,
    /// How long librdkafka keeps trying to deliver one message before `export` fails (and
    /// the engine's retry takes over). Keep it at or under the exporter's `timeout`.
    pub message_timeout: GoDuration,
}

impl Default for Producer {
    fn default() -> Self {
        Self {
            max_message_bytes: 1_000_000,
            required_acks: 1,
            compression: Compression::None,
            compression_params: CompressionParams::default(),
            flush_max_messages: 0,
            linger: GoDuration::from_millis(5),
            message_timeout: GoDuration::from_secs(5),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub brokers: Vec<String>,
    pub topic: String,
    pub encoding: Encoding,
    /// Key OTLP messages by trace id, one message per trace, so a trace stays on one
    /// partition (the Jaeger encodings always do this, one span per message).
    pub partition_traces_by_id: bool,
    pub client_id: String,
    pub producer: Producer,
    pub auth: Auth,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
    /// Extra librdkafka producer properties, applied last.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub librdkafka_options: BTreeMap<String, String>,
    /// The Collector's newer `traces: { topic, encoding }` (Jaeger v2's configs); read through
    /// [`Config::topic`] and [`Config::encoding`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traces: Option<TracesSignal>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            brokers: vec!["localhost:9092".to_string()],
            topic: "otlp_spans".to_string(),
            encoding: Encoding::OtlpProto,
            partition_traces_by_id: false,
            client_id: "tracegate".to_string(),
            producer: Producer::default(),
            auth: Auth::default(),
            tls: None,
            librdkafka_options: BTreeMap::new(),
            traces: None,
        }
    }
}

impl Config {
    /// The topic written: `traces.topic`, else `topic`.
    pub fn topic(&self) -> &str {
        self.traces.as_ref().and_then(TracesSignal::topic).unwrap_or(&self.topic)
    }

    /// The message encoding: `traces.encoding`, else `encoding`.
    pub fn encoding(&self) -> Encoding {
        self.traces.as_ref().and_then(|t| t.encoding).unwrap_or(self.encoding)
    }

    pub fn connection(&self) -> Connection<'_> {
        Connection {
            brokers: &self.brokers,
            client_id: &self.client_id,
            auth: &self.auth,
            tls: self.tls.as_ref(),
            librdkafka_options: &self.librdkafka_options,
        }
    }
}

impl ComponentConfig for Config {
    type Validated = Self;

    fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = self.connection().validate();
        if let Err(why) = check_topic(self.topic()) {
            let key = if self.traces.as_ref().and_then(TracesSignal::topic).is_some() { "traces::topic" } else { "topic" };
            problems.push(ConfigProblem::new(key, why));
        }
        if let Some(traces) = &self.traces {
            problems.extend(traces.validate(&self.topic, &Config::default().topic, self.encoding, false));
        }
        let p = &self.producer;
        if ![-1, 0, 1].contains(&p.required_acks) {
            problems.push(ConfigProblem::new(
                "producer::required_acks",
                "must be 0 (none), 1 (leader) or -1 (all replicas)",
            ));
        }
        if !(1000..=1_000_000_000).contains(&p.max_message_bytes) {
            problems.push(ConfigProblem::new(
                "producer::max_message_bytes",
                "must be between 1000 and 1000000000",
            ));
        }
        let level = p.compression_params.level;
        let range = match p.compression {
            Compression::None | Compression::Snappy => -1..=-1,
            Compression::Gzip => -1..=9,
            Compression::Lz4 => -1..=12,
            Compression::Zstd => -1..=22,
        };
        if !range.contains(&level) {
            problems.push(ConfigProblem::new(
                "producer::compression_params::level",
                format!(
                    "{level} is out of range for {} ({}..={})",
                    p.compression.as_str(),
                    range.start(),
                    range.end()
                ),
            ));
        }
        if p.linger.get() > std::time::Duration::from_secs(900) {
            problems.push(ConfigProblem::new(
                "producer::linger",
                "must be at most 15m",
            ));
        }
        if p.message_timeout.is_zero() {
            problems.push(ConfigProblem::new(
                "producer::message_timeout",
                "must be greater than 0",
            ));
        }
        if p.flush_max_messages > 1_000_000 {
            problems.push(ConfigProblem::new(
                "producer::flush_max_messages",
                "must be at most 1000000",
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<Config, Vec<String>> {
        tracegate_core::testing::parse_config_messages::<Config>(yaml)
    }

    #[test]
    fn defaults_are_the_collectors() {
        let c = parse("{}").expect("defaults are valid");
        assert_eq!(c.brokers, vec!["localhost:9092"]);
        assert_eq!(
            (c.topic.as_str(), c.encoding, c.partition_traces_by_id),
            ("otlp_spans", Encoding::OtlpProto, false)
        );
        assert_eq!(
            (c.producer.required_acks, c.producer.max_message_bytes),
            (1, 1_000_000)
        );
        assert_eq!(c.producer.compression, Compression::None);
    }

    #[test]
    fn jaeger_v2s_traces_block_names_the_topic_and_encoding() {
        let c = parse("{brokers: [localhost:9092], traces: {topic: jaeger-spans, encoding: otlp_json}}").expect("valid");
        assert_eq!((c.topic(), c.encoding()), ("jaeger-spans", Encoding::OtlpJson));
        let err = parse("traces: {topics: [a]}").expect_err("an exporter writes one topic");
        assert!(err[0].starts_with("traces::topics: an exporter writes to one topic"), "{err:?}");
        let err = parse("traces: {topic: 'bad topic'}").expect_err("bad name");
        assert!(err[0].starts_with("traces::topic:"), "{err:?}");
    }

    #[test]
    fn a_collector_config_parses() {
        let c = parse(
            "brokers: [kafka:9092]\ntopic: jaeger-spans\nencoding: jaeger_json\npartition_traces_by_id: true\n\
             producer: {compression: zstd, compression_params: {level: 3}, required_acks: -1, flush_max_messages: 500, linger: 20ms}\n\
             auth: {sasl: {username: u, password: p, mechanism: SCRAM-SHA-256}, tls: {ca_file: /ca.pem}}",
        )
        .expect("valid");
        assert_eq!(c.encoding, Encoding::JaegerJson);
        assert_eq!(
            (
                c.producer.compression,
                c.producer.compression_params.level,
                c.producer.required_acks
            ),
            (Compression::Zstd, 3, -1)
        );
        assert_eq!(c.producer.linger, GoDuration::from_millis(20));
        for enc in ["otlp_proto", "otlp_json", "jaeger_proto", "jaeger_json"] {
            assert_eq!(
                parse(&format!("encoding: {enc}")).map(|c| c.encoding.as_str()),
                Ok(enc)
            );
        }
        for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
            assert!(
                parse(&format!("producer: {{compression: {codec}}}")).is_ok(),
                "{codec}"
            );
        }
    }

    #[test]
    fn bad_values_are_reported_with_their_path() {
        let err = parse("{topic: 'a b', producer: {required_acks: 2, compression: gzip, compression_params: {level: 12}, message_timeout: 0s}}")
            .expect_err("invalid");
        for path in [
            "topic:",
            "producer::required_acks:",
            "producer::compression_params::level:",
            "producer::message_timeout:",
        ] {
            assert!(
                err.iter().any(|e| e.starts_with(path)),
                "{path} missing in {err:?}"
            );
        }
        let err = parse("encoding: avro").expect_err("unknown encoding");
        assert!(
            err[0].starts_with("encoding: unknown variant `avro`"),
            "{err:?}"
        );
        let err = parse("producer: {compression: brotli}").expect_err("unknown codec");
        assert!(
            err[0].starts_with("producer::compression: unknown variant"),
            "{err:?}"
        );
        let err = parse("sending_queue_x: 1").expect_err("unknown key");
        assert!(
            err[0].contains("unknown field `sending_queue_x`"),
            "{err:?}"
        );
        let err = parse("brokers: []").expect_err("no brokers");
        assert!(err[0].starts_with("brokers: is required"), "{err:?}");
    }
}
