//! Settings of the `kafka` receiver, in the Collector's kafkareceiver shape (`brokers`,
//! `topic`, `encoding`, `group_id`, `client_id`, `initial_offset`, `session_timeout`,
//! `heartbeat_interval`, fetch sizes, `autocommit`, `auth`), plus `max_batch_spans` and
//! `librdkafka_options`.
//!
//! Unlike the Collector (whose default marks a message before the pipeline saw it), offsets
//! are always marked after the pipeline accepted the data: that is the point of the receiver.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tracegate_core::config::{ConfigProblem, GoDuration};
use tracegate_core::factory::ComponentConfig;
use tracegate_kafka::client::{Auth, Connection, Tls};
use tracegate_kafka::check_topic;
use tracegate_kafka::{Encoding, TracesSignal};

/// `initial_offset`: where a group with no committed offset starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitialOffset {
    #[default]
    Latest,
    Earliest,
}

/// `autocommit:`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Autocommit {
    /// true: offsets of accepted data are committed every `interval` (and at shutdown and
    /// rebalance); false: after every accepted batch.
    pub enable: bool,
    pub interval: GoDuration,
}

impl Default for Autocommit {
    fn default() -> Self {
        Self { enable: true, interval: GoDuration::from_secs(1) }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub brokers: Vec<String>,
    pub topic: String,
    pub encoding: Encoding,
    pub group_id: String,
    pub client_id: String,
    pub initial_offset: InitialOffset,
    pub session_timeout: GoDuration,
    pub heartbeat_interval: GoDuration,
    /// Bytes the broker gathers before answering a fetch (librdkafka `fetch.min.bytes`).
    pub min_fetch_size: u32,
    /// Bytes asked for per partition per fetch (`fetch.max.bytes` per partition).
    pub default_fetch_size: u32,
    /// Largest fetch response; 0 leaves librdkafka's default.
    pub max_fetch_size: u32,
    pub autocommit: Autocommit,
    /// Messages already fetched are gathered into one pipeline batch up to this many spans
    /// (the Jaeger encodings carry one span per message).
    pub max_batch_spans: usize,
    pub auth: Auth,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub librdkafka_options: BTreeMap<String, String>,
    /// The Collector's newer `traces: { topics: [one], encoding }` (Jaeger v2's configs); read
    /// through [`Config::topic`] and [`Config::encoding`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traces: Option<TracesSignal>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            brokers: vec!["localhost:9092".to_string()],
            topic: "otlp_spans".to_string(),
            encoding: Encoding::OtlpProto,
            group_id: "otel-collector".to_string(),
            client_id: "tracegate".to_string(),
            initial_offset: InitialOffset::Latest,
            session_timeout: GoDuration::from_secs(10),
            heartbeat_interval: GoDuration::from_secs(3),
            min_fetch_size: 1,
            default_fetch_size: 1_048_576,
            max_fetch_size: 0,
            autocommit: Autocommit::default(),
            max_batch_spans: 8192,
            auth: Auth::default(),
            tls: None,
            librdkafka_options: BTreeMap::new(),
            traces: None,
        }
    }
}

impl Config {
    /// The topic read: `traces.topics[0]` / `traces.topic`, else `topic`.
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
            let key = if self.traces.as_ref().and_then(TracesSignal::topic).is_some() { "traces::topics" } else { "topic" };
            problems.push(ConfigProblem::new(key, why));
        }
        if let Some(traces) = &self.traces {
            problems.extend(traces.validate(&self.topic, &Config::default().topic, self.encoding, true));
        }
        if self.group_id.trim().is_empty() {
            problems.push(ConfigProblem::new("group_id", "is required: the consumer group whose offsets this receiver commits"));
        }
        let (session, heartbeat) = (self.session_timeout.get(), self.heartbeat_interval.get());
        if session.as_millis() < 1000 || session.as_secs() > 3600 {
            problems.push(ConfigProblem::new("session_timeout", "must be between 1s and 1h"));
        }
        if heartbeat.is_zero() || heartbeat >= session {
            problems.push(ConfigProblem::new("heartbeat_interval", "must be greater than 0 and less than session_timeout"));
        }
        if self.min_fetch_size == 0 || self.default_fetch_size == 0 {
            problems.push(ConfigProblem::new("min_fetch_size", "min_fetch_size and default_fetch_size must be greater than 0"));
        }
        if self.max_fetch_size != 0 && self.max_fetch_size < self.min_fetch_size {
            problems.push(ConfigProblem::new("max_fetch_size", "must be 0 (librdkafka's default) or at least min_fetch_size"));
        }
        if self.autocommit.enable && self.autocommit.interval.is_zero() {
            problems.push(ConfigProblem::new("autocommit::interval", "must be greater than 0"));
        }
        if self.max_batch_spans == 0 {
            problems.push(ConfigProblem::new("max_batch_spans", "must be greater than 0"));
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
        assert_eq!((c.topic.as_str(), c.group_id.as_str()), ("otlp_spans", "otel-collector"));
        assert_eq!((c.encoding, c.initial_offset), (Encoding::OtlpProto, InitialOffset::Latest));
        assert!(c.autocommit.enable);
    }

    #[test]
    fn jaeger_v2s_traces_block_names_the_topic_and_encoding() {
        let c = parse("{brokers: [localhost:9092], traces: {topics: [jaeger-spans], encoding: jaeger_proto}, initial_offset: earliest}").expect("valid");
        assert_eq!((c.topic(), c.encoding(), c.initial_offset), ("jaeger-spans", Encoding::JaegerProto, InitialOffset::Earliest));
        assert_eq!(parse("{}").expect("flat").topic(), "otlp_spans");
        let err = parse("traces: {topics: [a, b]}").expect_err("two topics");
        assert!(err[0].starts_with("traces::topics: 2 topics: a kafka receiver reads one topic"), "{err:?}");
        let err = parse("{topic: a, traces: {topics: [b]}}").expect_err("disagree");
        assert!(err[0].contains("disagree"), "{err:?}");
    }

    #[test]
    fn the_jaeger_ingester_shape_parses() {
        let c = parse(
            "{brokers: [kafka:9092], topic: jaeger-spans, group_id: jaeger-ingester, encoding: jaeger_proto, initial_offset: earliest, \
             autocommit: {enable: false}, auth: {sasl: {username: u, password: p, mechanism: SCRAM-SHA-512}}}",
        )
        .expect("valid");
        assert_eq!((c.encoding, c.initial_offset, c.autocommit.enable), (Encoding::JaegerProto, InitialOffset::Earliest, false));
    }

    #[test]
    fn bad_values_are_reported_with_their_path() {
        let err = parse("{group_id: '', topic: '', heartbeat_interval: 20s, max_batch_spans: 0, brokers: [x]}").expect_err("invalid");
        for path in ["group_id:", "topic:", "heartbeat_interval:", "max_batch_spans:", "brokers::0:"] {
            assert!(err.iter().any(|e| e.starts_with(path)), "{path} missing in {err:?}");
        }
        let err = parse("initial_offset: middle").expect_err("unknown offset");
        assert!(err[0].starts_with("initial_offset: unknown variant"), "{err:?}");
    }
}
