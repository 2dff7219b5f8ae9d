//! What the unit tests share: a consumer that records batches or fails on purpose, small
//! OTLP requests, a receiver started on 127.0.0.1 port 0, and a plain HTTP client.

#![allow(clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use tracegate_core::config::Endpoint;
use tracegate_core::telemetry::Telemetry;
use tracegate_core::{ComponentId, Host, Lifecycle};

use crate::config::{Config, GrpcConfig, HttpConfig};
use crate::OtlpReceiver;

pub use tracegate_core::testing::RecordingConsumer;

/// A span with valid, non-zero ids.
pub fn span(name: &str) -> Span {
    Span {
        trace_id: vec![0x5b; 16],
        span_id: vec![0x05; 8],
        name: name.to_string(),
        kind: 2,
        start_time_unix_nano: 1_544_712_660_000_000_000,
        end_time_unix_nano: 1_544_712_661_000_000_000,
        ..Default::default()
    }
}

/// One resource (`service.name=test`) with one scope holding `spans`.
pub fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("test".into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// The OTLP spec's example trace, with the spec's encodings: hex ids, `kind` as a number,
/// 64-bit integers as strings (timestamps, `intValue`) and once as a bare number.
pub const SPEC_EXAMPLE: &str = r#"{
  "resourceSpans": [{
    "resource": { "attributes": [
      { "key": "service.name", "value": { "stringValue": "my.service" } }
    ] },
    "scopeSpans": [{
      "scope": { "name": "my.library", "version": "1.0.0",
                 "attributes": [{ "key": "my.scope.attribute", "value": { "stringValue": "some scope attribute" } }] },
      "spans": [{
        "traceId": "5B8EFFF798038103D269B633813FC60C",
        "spanId": "EEE19B7EC3C1B174",
        "parentSpanId": "EEE19B7EC3C1B173",
        "name": "I'm a server span",
        "startTimeUnixNano": "1544712660000000000",
        "endTimeUnixNano": 1544712661000000000,
        "kind": 2,
        "attributes": [
          { "key": "my.span.attr", "value": { "stringValue": "some value" } },
          { "key": "count", "value": { "intValue": "42" } },
          { "key": "small", "value": { "intValue": 7 } },
          { "key": "ratio", "value": { "doubleValue": 0.5 } },
          { "key": "ok", "value": { "boolValue": true } },
          { "key": "list", "value": { "arrayValue": { "values": [{ "stringValue": "a" }] } } }
        ],
        "events": [{ "timeUnixNano": "1544712660500000000", "name": "evt" }],
        "status": { "code": 2, "message": "boom" },
        "unknownFieldFromTheFuture": { "ignored": true }
      }]
    }]
  }]
}"#;

/// A host with nothing in it but a status, which is all the receiver asks of it.
pub fn host() -> Arc<dyn Host> {
    tracegate_core::testing::TestHost::new()
}

/// Both protocols on 127.0.0.1 with OS-chosen ports.
pub fn local_config() -> Config {
    let mut config = Config::default();
    config.protocols.grpc = Some(GrpcConfig {
        endpoint: Endpoint::new("127.0.0.1", 0),
        ..Default::default()
    });
    config.protocols.http = Some(HttpConfig {
        endpoint: Endpoint::new("127.0.0.1", 0),
        ..Default::default()
    });
    config
}

/// A started receiver with the consumer and telemetry it reports to. Tests call
/// `receiver.shutdown()` themselves before they end.
pub struct Running {
    pub receiver: OtlpReceiver,
    pub telemetry: Arc<Telemetry>,
    pub next: Arc<RecordingConsumer>,
}

impl Running {
    pub fn grpc_url(&self) -> String {
        format!(
            "http://{}",
            self.receiver.grpc_addr().expect("grpc started")
        )
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.receiver.http_addr().expect("http started")
    }

    /// (accepted, refused) for one transport.
    pub fn counts(&self, transport: &str) -> (u64, u64) {
        let m = self.telemetry.metrics.receiver("otlp", transport);
        (m.accepted.get(), m.refused.get())
    }
}

pub async fn start(config: Config, next: Arc<RecordingConsumer>) -> Running {
    let telemetry = Telemetry::new();
    let receiver = OtlpReceiver::new(
        ComponentId::new("otlp", None),
        config,
        next.clone(),
        &telemetry,
    );
    receiver
        .start(host())
        .await
        .expect("receiver starts on port 0");
    Running {
        receiver,
        telemetry,
        next,
    }
}

/// A plain HTTP/1.1 exchange with the receiver.
pub async fn http_call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (http::StatusCode, http::HeaderMap, Bytes) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let mut req = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(Bytes::from(body)))
        .expect("valid test request");
    let resp = client.request(req).await.expect("HTTP exchange");
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.expect("response body").to_bytes();
    (parts.status, parts.headers, body)
}
