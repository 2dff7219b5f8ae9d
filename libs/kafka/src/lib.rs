//! What the `kafka` exporter and the `kafka` receiver share, so the two sides of Jaeger's
//! scale-out topology cannot disagree (a library, not a component; both component crates
//! depend on it and neither on the other):
//!
//! - [`encoding`]: the four message encodings (`otlp_proto`, `otlp_json`, `jaeger_proto`,
//!   `jaeger_json`), both directions, with [`jaeger_json`] for Jaeger's JSON span.
//! - [`client`]: brokers, client id, SASL, TLS and librdkafka pass-through options, validated
//!   and turned into librdkafka settings.
//! - [`context`]: librdkafka's log lines and errors into `tracing`, rate-limited.
//! - [`check_topic`]: Kafka's topic name rule; [`TracesSignal`]: the Collector's newer
//!   `traces: { topic(s), encoding }` block, read by both.

pub mod client;
pub mod context;
pub mod encoding;
#[doc(hidden)]
pub mod fuzzing;
pub mod jaeger_json;
mod signal;
mod topic;

pub use encoding::Encoding;
pub use signal::TracesSignal;
pub use topic::check_topic;
