//! Batch builders and a recording consumer for the unit tests.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Status;
use tracegate_core::component::{ConsumeError, Consumer};
use tracegate_core::data::{ResourceSpans, ScopeSpans, Span, Traces};

use crate::value::kv;

pub fn s(v: &str) -> V {
    V::StringValue(v.to_string())
}

pub fn span(name: &str, trace: u8, attrs: &[(&str, V)]) -> Span {
    Span {
        name: name.to_string(),
        trace_id: vec![trace; 16],
        span_id: vec![1; 8],
        kind: 2,
        start_time_unix_nano: 1_000,
        end_time_unix_nano: 2_000,
        attributes: attrs.iter().map(|(k, v)| kv(k, v.clone())).collect(),
        ..Default::default()
    }
}

pub fn with_status(mut sp: Span, code: i32) -> Span {
    sp.status = Some(Status { code, message: String::new() });
    sp
}

pub fn batch(service: &str, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource { attributes: vec![kv("service.name", s(service))], ..Default::default() }),
        scope_spans: vec![ScopeSpans {
            scope: Some(InstrumentationScope { name: "lib".into(), version: "1.0".into(), ..Default::default() }),
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }
}

pub fn get<'a>(a: &'a [KeyValue], key: &str) -> Option<&'a V> {
    crate::value::find(a, key).and_then(crate::value::value_of)
}

pub fn names(t: &Traces) -> Vec<String> {
    t.resource_spans().iter().flat_map(|rs| &rs.scope_spans).flat_map(|ss| &ss.spans).map(|s| s.name.clone()).collect()
}

/// Records every batch it is given.
#[derive(Default)]
pub struct Sink(pub Mutex<Vec<Traces>>);

impl Sink {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
    pub fn batches(&self) -> Vec<Traces> {
        self.0.lock().map(|b| b.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Consumer for Sink {
    async fn consume(&self, traces: Traces) -> Result<(), ConsumeError> {
        if let Ok(mut b) = self.0.lock() {
            b.push(traces);
        }
        Ok(())
    }
}
