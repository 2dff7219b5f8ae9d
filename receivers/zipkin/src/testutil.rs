//! What the unit tests share: a consumer that records batches or fails on purpose, a receiver
//! started on 127.0.0.1 port 0, a plain HTTP client, gzip, attribute look-ups, and a Zipkin
//! v1 Thrift encoder (the receiver only decodes; reporters encode).

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use opentelemetry_proto::tonic::common::v1::{any_value::Value, KeyValue};
use thrift::protocol::{TBinaryOutputProtocol, TFieldIdentifier, TListIdentifier, TOutputProtocol, TStructIdentifier, TType};
use tracegate_core::config::Endpoint;
use tracegate_core::telemetry::Telemetry;
use tracegate_core::{ComponentId, Lifecycle};

use crate::{Config, ZipkinReceiver};

pub use tracegate_core::testing::RecordingConsumer;

pub struct Running {
    pub receiver: ZipkinReceiver,
    pub telemetry: Arc<Telemetry>,
    pub next: Arc<RecordingConsumer>,
}

impl Running {
    pub fn addr(&self) -> SocketAddr {
        self.receiver.local_addr().expect("started")
    }

    /// (accepted, refused) spans on the `http` transport.
    pub fn counts(&self) -> (u64, u64) {
        let m = self.telemetry.metrics.receiver("zipkin", "http");
        (m.accepted.get(), m.refused.get())
    }

    /// (malformed, too large) bodies dropped on the `http` transport.
    pub fn dropped(&self) -> (u64, u64) {
        let m = self.telemetry.metrics.receiver("zipkin", "http");
        (m.dropped_malformed.get(), m.dropped_too_large.get())
    }

    pub async fn post(&self, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (http::StatusCode, http::HeaderMap, String) {
        let (status, headers, body) = http_call(self.addr(), "POST", path, headers, body).await;
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    }
}

pub fn local_config() -> Config {
    Config { endpoint: Endpoint::new("127.0.0.1", 0), ..Default::default() }
}

pub async fn start(config: Config, next: Arc<RecordingConsumer>) -> Running {
    let telemetry = Telemetry::new();
    let receiver = ZipkinReceiver::new(ComponentId::new("zipkin", None), config, next.clone(), &telemetry);
    receiver.start(tracegate_core::testing::TestHost::new()).await.expect("receiver starts on port 0");
    Running { receiver, telemetry, next }
}

/// A plain HTTP/1.1 exchange.
pub async fn http_call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (http::StatusCode, http::HeaderMap, Bytes) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let mut req = http::Request::builder().method(method).uri(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client.request(req.body(Full::new(Bytes::from(body))).unwrap()).await.expect("HTTP exchange");
    let (parts, body) = resp.into_parts();
    (parts.status, parts.headers, body.collect().await.expect("response body").to_bytes())
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// An attribute's value by key.
pub fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

pub fn str_attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    match attr(attrs, key) {
        Some(Value::StringValue(s)) => Some(s.clone()),
        _ => None,
    }
}

// --- Zipkin v1 Thrift encoding (zipkincore.thrift), for building test bodies ---------------

#[derive(Clone, Default)]
pub struct TEndpoint {
    pub ipv4: i32,
    pub port: i16,
    pub service_name: String,
    pub ipv6: Option<Vec<u8>>,
}

#[derive(Clone, Default)]
pub struct TAnnotation {
    pub timestamp: i64,
    pub value: String,
    pub host: Option<TEndpoint>,
}

#[derive(Clone, Default)]
pub struct TBinaryAnnotation {
    pub key: String,
    pub value: Vec<u8>,
    pub annotation_type: i32,
    pub host: Option<TEndpoint>,
}

#[derive(Clone, Default)]
pub struct TSpan {
    pub trace_id: i64,
    pub name: String,
    pub id: i64,
    pub parent_id: Option<i64>,
    pub annotations: Vec<TAnnotation>,
    pub binary_annotations: Vec<TBinaryAnnotation>,
    pub debug: Option<bool>,
    pub timestamp: Option<i64>,
    pub duration: Option<i64>,
    pub trace_id_high: Option<i64>,
}

type Out<'a> = TBinaryOutputProtocol<&'a mut Vec<u8>>;

fn field(p: &mut Out, id: i16, ty: TType) {
    p.write_field_begin(&TFieldIdentifier::new::<Option<String>, String, i16>(None, ty, id)).unwrap();
}

fn write_endpoint(p: &mut Out, id: i16, e: &TEndpoint) {
    field(p, id, TType::Struct);
    p.write_struct_begin(&TStructIdentifier::new("Endpoint")).unwrap();
    field(p, 1, TType::I32);
    p.write_i32(e.ipv4).unwrap();
    field(p, 2, TType::I16);
    p.write_i16(e.port).unwrap();
    field(p, 3, TType::String);
    p.write_string(&e.service_name).unwrap();
    if let Some(v6) = &e.ipv6 {
        field(p, 4, TType::String);
        p.write_bytes(v6).unwrap();
    }
    p.write_field_stop().unwrap();
    p.write_struct_end().unwrap();
}

fn write_span(p: &mut Out, s: &TSpan) {
    p.write_struct_begin(&TStructIdentifier::new("Span")).unwrap();
    field(p, 1, TType::I64);
    p.write_i64(s.trace_id).unwrap();
    field(p, 3, TType::String);
    p.write_string(&s.name).unwrap();
    field(p, 4, TType::I64);
    p.write_i64(s.id).unwrap();
    if let Some(v) = s.parent_id {
        field(p, 5, TType::I64);
        p.write_i64(v).unwrap();
    }
    field(p, 6, TType::List);
    p.write_list_begin(&TListIdentifier::new(TType::Struct, s.annotations.len() as i32)).unwrap();
    for a in &s.annotations {
        p.write_struct_begin(&TStructIdentifier::new("Annotation")).unwrap();
        field(p, 1, TType::I64);
        p.write_i64(a.timestamp).unwrap();
        field(p, 2, TType::String);
        p.write_string(&a.value).unwrap();
        if let Some(h) = &a.host {
            write_endpoint(p, 3, h);
        }
        p.write_field_stop().unwrap();
        p.write_struct_end().unwrap();
    }
    field(p, 8, TType::List);
    p.write_list_begin(&TListIdentifier::new(TType::Struct, s.binary_annotations.len() as i32)).unwrap();
    for b in &s.binary_annotations {
        p.write_struct_begin(&TStructIdentifier::new("BinaryAnnotation")).unwrap();
        field(p, 1, TType::String);
        p.write_string(&b.key).unwrap();
        field(p, 2, TType::String);
        p.write_bytes(&b.value).unwrap();
        field(p, 3, TType::I32);
        p.write_i32(b.annotation_type).unwrap();
        if let Some(h) = &b.host {
            write_endpoint(p, 4, h);
        }
        p.write_field_stop().unwrap();
        p.write_struct_end().unwrap();
    }
    for (id, v) in [(10, s.timestamp), (11, s.duration), (12, s.trace_id_high)] {
        if let Some(v) = v {
            field(p, id, TType::I64);
            p.write_i64(v).unwrap();
        }
    }
    if let Some(d) = s.debug {
        field(p, 9, TType::Bool);
        p.write_bool(d).unwrap();
    }
    p.write_field_stop().unwrap();
    p.write_struct_end().unwrap();
}

/// A list of spans in the binary protocol, as Zipkin v1 reporters POST it.
pub fn thrift_spans(spans: &[TSpan]) -> Vec<u8> {
    let mut buf = Vec::new();
    {
        let mut p = TBinaryOutputProtocol::new(&mut buf, true);
        p.write_list_begin(&TListIdentifier::new(TType::Struct, spans.len() as i32)).unwrap();
        for s in spans {
            write_span(&mut p, s);
        }
        p.write_list_end().unwrap();
        p.flush().unwrap();
    }
    buf
}
