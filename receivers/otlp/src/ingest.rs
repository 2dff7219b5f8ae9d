//! What happens to a decoded export request, whichever transport brought it: spans that can
//! never be stored are cut out (OTLP partial success), the rest goes to the pipeline, and the
//! outcome is counted and turned into an `ExportTraceServiceResponse` or a [`Refusal`].
//!
//! Keeping this in one place is what makes gRPC and HTTP answer alike.

use std::sync::Arc;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, Span};
use prost::Message;
use tracegate_pdata::validate::validate_request;
use tracegate_core::telemetry::ReceiverMetrics;
use tracegate_core::{Consumer, Traces};

use crate::status::Refusal;

/// An export request as a transport hands it over.
pub enum Incoming {
    /// Protobuf checked in place, every span acceptable: passed on as its bytes.
    Checked(Traces),
    Decoded(ExportTraceServiceRequest),
}

impl From<ExportTraceServiceRequest> for Incoming {
    fn from(request: ExportTraceServiceRequest) -> Self {
        Incoming::Decoded(request)
    }
}

/// A protobuf request body. The common case, every span acceptable, is checked in place and
/// never decoded here (see `tracegate_pdata`). Spans to cut out, or a shape the
/// checker leaves to prost (deep nesting, groups), take the decoding path; prost's verdict is
/// the one reported for a body that is not a request at all.
pub fn check_protobuf(body: Bytes) -> Result<Incoming, prost::DecodeError> {
    match validate_request(&body) {
        Ok(summary) if !summary.has_invalid_ids => {
            Ok(Incoming::Checked(Traces::from_checked(body, summary)))
        }
        _ => ExportTraceServiceRequest::decode(body).map(Incoming::Decoded),
    }
}

/// Hands requests of one transport to the pipeline.
#[derive(Clone)]
pub struct Ingest {
    next: Arc<dyn Consumer>,
    metrics: ReceiverMetrics,
}

impl Ingest {
    pub fn new(next: Arc<dyn Consumer>, metrics: ReceiverMetrics) -> Self {
        Self { next, metrics }
    }

    /// Counts a request body that never became spans (undecodable or over the limit).
    pub fn count_dropped_body(&self, too_large: bool) {
        if too_large {
            self.metrics.dropped_too_large.inc();
        } else {
            self.metrics.dropped_malformed.inc();
        }
    }

    pub async fn export(
        &self,
        request: impl Into<Incoming>,
    ) -> Result<ExportTraceServiceResponse, Refusal> {
        let (traces, rejected) = match request.into() {
            Incoming::Checked(traces) => (traces, None),
            Incoming::Decoded(request) => {
                let mut resource_spans = request.resource_spans;
                let rejected = drop_invalid_spans(&mut resource_spans);
                if let Some(r) = &rejected {
                    self.metrics.refused.inc_by(r.count);
                    tracing::debug!(rejected = r.count, reason = %r.first_reason, "rejected spans");
                }
                (Traces::new(resource_spans), rejected)
            }
        };
        let spans = traces.span_count();
        // An empty export is legal OTLP (some SDKs send them as keep-alives); there is
        // nothing to push, and the pipeline should not see empty batches.
        if spans > 0 {
            let outcome = self.next.consume(traces).await;
            self.metrics.record(spans, &outcome);
            if let Err(e) = outcome {
                tracing::debug!(spans, error = %e, "pipeline refused spans");
                return Err(Refusal::from(&e));
            }
        }
        Ok(ExportTraceServiceResponse {
            partial_success: rejected.map(|r| ExportTracePartialSuccess {
                rejected_spans: i64::try_from(r.count).unwrap_or(i64::MAX),
                error_message: format!("{} span(s) rejected; first: {}", r.count, r.first_reason),
            }),
        })
    }
}

struct Rejected {
    count: u64,
    first_reason: String,
}

/// Why a span cannot be accepted, or None. Ids of the wrong size cannot be stored or looked
/// up, and an all-zero id is "invalid" by the OTel spec: storing it would merge unrelated
/// spans into one trace.
fn invalid_reason(span: &Span) -> Option<String> {
    if span.trace_id.len() != 16 {
        return Some(format!(
            "trace_id must be 16 bytes, got {}",
            span.trace_id.len()
        ));
    }
    if span.trace_id.iter().all(|b| *b == 0) {
        return Some("trace_id is all zeros".to_string());
    }
    if span.span_id.len() != 8 {
        return Some(format!(
            "span_id must be 8 bytes, got {}",
            span.span_id.len()
        ));
    }
    if span.span_id.iter().all(|b| *b == 0) {
        return Some("span_id is all zeros".to_string());
    }
    if !span.parent_span_id.is_empty() && span.parent_span_id.len() != 8 {
        return Some(format!(
            "parent_span_id must be empty or 8 bytes, got {}",
            span.parent_span_id.len()
        ));
    }
    None
}

/// Removes unacceptable spans, and the scopes and resources they leave empty, so the pipeline
/// never sees a hollow batch. Scopes and resources that arrived empty are left as they were.
fn drop_invalid_spans(resource_spans: &mut Vec<ResourceSpans>) -> Option<Rejected> {
    let mut count = 0u64;
    let mut first_reason = None;
    resource_spans.retain_mut(|rs| {
        let mut emptied_scope = false;
        rs.scope_spans.retain_mut(|ss| {
            let before = ss.spans.len();
            ss.spans.retain(|span| match invalid_reason(span) {
                None => true,
                Some(reason) => {
                    count += 1;
                    first_reason.get_or_insert(format!("span \"{}\": {reason}", span.name));
                    false
                }
            });
            let emptied = before > 0 && ss.spans.is_empty();
            emptied_scope |= emptied;
            !emptied
        });
        !(emptied_scope && rs.scope_spans.is_empty())
    });
    first_reason.map(|first_reason| Rejected {
        count,
        first_reason,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::testutil::{request, span, RecordingConsumer};
    use tracegate_core::telemetry::Metrics;
    use tracegate_core::ConsumeError;

    fn ingest(next: Arc<RecordingConsumer>) -> (Ingest, ReceiverMetrics) {
        let metrics = Metrics::new().receiver("otlp", "grpc");
        (Ingest::new(next, metrics.clone()), metrics)
    }

    #[tokio::test]
    async fn bad_spans_are_cut_out_and_reported() {
        let next = RecordingConsumer::ok();
        let (ingest, metrics) = ingest(next.clone());
        let mut short = span("short");
        short.trace_id = vec![1, 2, 3];
        let mut zero = span("zero");
        zero.span_id = vec![0; 8];
        // The second resource holds only bad spans and must vanish.
        let mut req = request(vec![span("good"), short]);
        req.resource_spans
            .extend(request(vec![zero]).resource_spans);

        let resp = ingest.export(req).await.unwrap();
        let ps = resp.partial_success.unwrap();
        assert_eq!(ps.rejected_spans, 2);
        assert!(ps
            .error_message
            .contains("span \"short\": trace_id must be 16 bytes, got 3"));
        let batches = next.batches();
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].resource_spans().len(), 1);
        assert_eq!(batches[0].span_count(), 1);
        assert_eq!((metrics.accepted.get(), metrics.refused.get()), (1, 2));
    }

    #[tokio::test]
    async fn empty_or_all_rejected_requests_skip_the_pipeline() {
        let next = RecordingConsumer::failing(ConsumeError::permanent("must not be called"));
        let (ingest, _) = ingest(next.clone());
        let resp = ingest
            .export(ExportTraceServiceRequest::default())
            .await
            .unwrap();
        assert_eq!(resp.partial_success, None);
        let mut bad = span("bad");
        bad.span_id.clear();
        let resp = ingest.export(request(vec![bad])).await.unwrap();
        assert_eq!(resp.partial_success.unwrap().rejected_spans, 1);
        assert!(next.batches().is_empty());
    }

    #[tokio::test]
    async fn pipeline_errors_become_refusals_and_count_as_refused() {
        let next = RecordingConsumer::failing(ConsumeError::retryable("queue full"));
        let (ingest, metrics) = ingest(next);
        let refusal = ingest
            .export(request(vec![span("a"), span("b")]))
            .await
            .unwrap_err();
        assert_eq!(refusal.grpc_code, tonic::Code::Unavailable);
        assert_eq!(refusal.message, "queue full");
        assert_eq!((metrics.accepted.get(), metrics.refused.get()), (0, 2));
    }
}
