//! Trace summaries (Jaeger 2.19's `FindTraceSummaries`): per trace, its root span's service and
//! name, time span, span, error and orphan counts, and per-service counts, so a search list
//! can be drawn without shipping every span. Computed from the stored trace as Jaeger's
//! `querysvc/summary.go` does for stores without native summaries: the root is the earliest
//! span without a parent, an orphan is a span whose parent is not in the trace, an error span
//! has status ERROR, and services are sorted by name.

use std::collections::{BTreeMap, HashSet};

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use tracegate_core::Traces;

/// One service's share of a trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceSummary {
    pub name: String,
    pub span_count: usize,
    pub error_span_count: usize,
}

/// What a search list shows of one trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceSummary {
    pub trace_id: Vec<u8>,
    pub root_service_name: String,
    pub root_operation_name: String,
    pub min_start_time_unix_nano: u64,
    pub max_end_time_unix_nano: u64,
    pub span_count: usize,
    pub error_span_count: usize,
    pub orphan_span_count: usize,
    /// Sorted by name.
    pub services: Vec<ServiceSummary>,
}

impl TraceSummary {
    /// The trace id as Jaeger writes it in a summary (`pcommon.TraceID.String()`): always
    /// 32 lowercase hex characters, unlike the Jaeger model's short form; empty for none.
    pub fn trace_id_hex(&self) -> String {
        if self.trace_id.iter().all(|b| *b == 0) {
            return String::new();
        }
        crate::model::hex(&self.trace_id)
    }
}

/// The summary of one stored trace.
pub fn summarize(trace: &Traces) -> TraceSummary {
    let resource_spans = trace.resource_spans();
    let spans = || resource_spans.iter().flat_map(|rs| rs.scope_spans.iter().flat_map(move |ss| ss.spans.iter().map(move |s| (rs, s))));
    let ids: HashSet<&[u8]> = spans().map(|(_, s)| s.span_id.as_slice()).collect();
    let mut out = TraceSummary::default();
    let mut services: BTreeMap<String, ServiceSummary> = BTreeMap::new();
    let mut root_start: Option<u64> = None;
    for (rs, span) in spans() {
        let service = rs
            .resource
            .as_ref()
            .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
            .map(|v| match v {
                Value::StringValue(s) => s.clone(),
                _ => String::new(),
            })
            .unwrap_or_default();
        if out.trace_id.is_empty() {
            out.trace_id = span.trace_id.clone();
        }
        let entry = services.entry(service.clone()).or_insert_with(|| ServiceSummary { name: service.clone(), ..Default::default() });
        entry.span_count += 1;
        out.span_count += 1;
        if span.status.as_ref().is_some_and(|s| s.code == StatusCode::Error as i32) {
            entry.error_span_count += 1;
            out.error_span_count += 1;
        }
        let (start, end) = (span.start_time_unix_nano, span.end_time_unix_nano);
        if out.min_start_time_unix_nano == 0 || start < out.min_start_time_unix_nano {
            out.min_start_time_unix_nano = start;
        }
        out.max_end_time_unix_nano = out.max_end_time_unix_nano.max(end);
        if span.parent_span_id.is_empty() || span.parent_span_id.iter().all(|b| *b == 0) {
            if root_start.is_none_or(|r| start < r) {
                root_start = Some(start);
                out.root_service_name = service;
                out.root_operation_name = span.name.clone();
            }
        } else if !ids.contains(span.parent_span_id.as_slice()) {
            out.orphan_span_count += 1;
        }
    }
    out.services = services.into_values().collect();
    out
}
