//! The gRPC query port (Jaeger's 16685): `jaeger.api_v2.QueryService` and
//! `jaeger.api_v3.QueryService` on one listener, as Jaeger serves both. Kiali, Jaeger's own
//! tools (`jaeger-query`'s gRPC clients, the remote storage) and Go programs using the IDL
//! reach Jaeger through this port rather than the HTTP API.
//!
//! The services read the same [`ApiState`] as the HTTP API: the same store, the same
//! conversions (`model::jaeger_spans`, the clock-skew adjuster) and the same bounds. A search
//! or trace takes a query slot, has `query_timeout`, and its answer is built within
//! `max_response_bytes` (the encoded size of the messages) before the first message is sent:
//! a search that would exceed it sends the newest traces that fit and stops (logged and
//! counted as `truncated{reason="max_response_bytes"}`, since a gRPC stream has no place for
//! a note), one trace that does not fit alone is RESOURCE_EXHAUSTED with the reason.
//! `search_depth` is clamped to `max_limit`.
//!
//! Errors follow Jaeger's `grpc_handler.go` (api_v2) and `apiv3/grpc_handler.go`: the same
//! codes and texts for missing parameters and unknown traces. The bounds' refusals map to
//! UNAVAILABLE (no slot: retry later), DEADLINE_EXCEEDED (past `query_timeout`) and
//! RESOURCE_EXHAUSTED (over the byte budget).

mod api_v2;
mod api_v3;
pub mod proto_v3;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tonic::service::Routes;
use tonic::{Code, Status};
use tracegate_core::storage::{StorageError, TraceId};
use tracegate_core::Traces;

use crate::api::{render, ApiState};
use crate::bounds::{Budget, Unanswered};
use crate::model::trace_id_string;

pub use api_v2::QueryServiceV2;
pub use api_v3::QueryServiceV3;

/// The gRPC port's routes, for `ServerSet::grpc`: both query services, and UNIMPLEMENTED for
/// every other method.
pub fn routes(state: Arc<ApiState>) -> axum::Router {
    let v2 = tracegate_translator_jaeger::proto::query_service_server::QueryServiceServer::new(QueryServiceV2::new(state.clone()));
    let v3 = proto_v3::query_service_server::QueryServiceServer::new(QueryServiceV3::new(state));
    Routes::new(v2).add_service(v3).prepare().into_axum_router()
}

/// GetServices of both APIs, with Jaeger's error text.
async fn services(state: &ApiState) -> Result<Vec<String>, Status> {
    state.reader.services().await.map_err(|e| storage_status(e, "failed to fetch services"))
}

/// GetOperations of both APIs: a service's operations, of one span kind unless `span_kind`
/// is empty, with Jaeger's error text.
async fn operations(state: &ApiState, service: &str, span_kind: String) -> Result<Vec<tracegate_core::storage::Operation>, Status> {
    let kind = non_empty(span_kind);
    state.reader.operations(service, kind.as_deref()).await.map_err(|e| storage_status(e, "failed to fetch operations"))
}

/// A store's error as Jaeger's handlers answer it: a query the store cannot run is the
/// client's (INVALID_ARGUMENT, as Jaeger's `ErrServiceNameRequired`), anything else INTERNAL
/// with `context` before the reason.
fn storage_status(e: StorageError, context: &str) -> Status {
    match e {
        StorageError::BadQuery(msg) => Status::invalid_argument(msg),
        e @ StorageError::Backend(_) => {
            tracing::error!(error = %e, "{context}");
            Status::internal(format!("{context}: {e}"))
        }
    }
}

/// A bounded query's failure as a gRPC status.
fn unanswered_status(u: Unanswered, context: &str) -> Status {
    match u {
        Unanswered::Busy { message, .. } => Status::unavailable(message),
        Unanswered::TimedOut(msg) => Status::deadline_exceeded(msg),
        Unanswered::Expired => Status::deadline_exceeded("the query ran past query_timeout"),
        Unanswered::TooLarge(msg) => Status::resource_exhausted(msg),
        Unanswered::NotFound | Unanswered::NoMatch => Status::not_found("trace not found"),
        Unanswered::Storage(e) => storage_status(e, context),
        Unanswered::Failed(msg) => Status::new(Code::Internal, msg),
    }
}

/// A protobuf timestamp as a time; `None` when unset or at the epoch (Go's zero time is what
/// an unset `stdtime` field decodes to, and Jaeger treats both as "not given").
fn time_of(t: Option<&prost_types::Timestamp>) -> Option<SystemTime> {
    let t = t?;
    if t.seconds <= 0 && t.nanos <= 0 {
        return None;
    }
    let secs = u64::try_from(t.seconds).ok()?;
    let nanos = u32::try_from(t.nanos.clamp(0, 999_999_999)).ok()?;
    UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

/// A protobuf duration; `None` when unset, zero or negative (which bound nothing).
fn duration_of(d: Option<&prost_types::Duration>) -> Option<Duration> {
    let d = d?;
    let secs = u64::try_from(d.seconds).ok()?;
    let nanos = u32::try_from(d.nanos).ok()?;
    let d = Duration::new(secs, nanos.min(999_999_999));
    (!d.is_zero()).then_some(d)
}

/// `Some(s)` unless `s` is empty: proto3 has no unset string.
fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// Encodes a search's traces (newest first) as messages until `budget.max_bytes` of encoded
/// messages are used: what fits is sent, the rest is dropped, logged and counted (the stream
/// has no place for a note). The first trace not fitting alone ends the answer too, as the
/// HTTP search does.
fn search_within<M: prost::Message>(
    state: &ApiState,
    endpoint: &str,
    budget: &Budget,
    traces: Vec<Traces>,
    mut to_messages: impl FnMut(&Traces) -> Vec<M>,
) -> Result<Vec<M>, Unanswered> {
    let (found, mut used, mut out) = (traces.len(), 0usize, Vec::new());
    for (served, trace) in traces.iter().enumerate() {
        if budget.expired() {
            return Err(Unanswered::Expired);
        }
        let messages = to_messages(trace);
        let size: usize = messages.iter().map(prost::Message::encoded_len).sum();
        if used.saturating_add(size) > budget.max_bytes {
            tracing::warn!(endpoint, "{}", state.bounds.cut_note(served, found));
            state.bounds.metrics.truncated(endpoint, "max_response_bytes");
            break;
        }
        used += size;
        out.extend(messages);
    }
    Ok(out)
}

/// GetTrace of both APIs, which differ only in the messages a trace becomes (`to_messages`):
/// the stored trace within the bounds (a query slot, `query_timeout`, `max_response_bytes`),
/// NOT_FOUND "trace not found" when no span of it is stored, Jaeger's text for a store fault.
async fn get_trace<M>(
    state: &Arc<ApiState>,
    endpoint: &'static str,
    id: TraceId,
    to_messages: impl FnOnce(&Traces, &ApiState) -> Vec<M> + Send + 'static,
) -> Result<Messages<M>, Status>
where
    M: prost::Message + Send + 'static,
{
    let work_state = state.clone();
    let messages = state
        .bounds
        .run(endpoint, move |budget| async move {
            let trace = work_state.reader.get_trace(id).await?.ok_or(Unanswered::NotFound)?;
            render(move || {
                let messages = to_messages(&trace, &work_state);
                trace_within(&work_state, &budget, &id, &trace, messages)
            })
            .await
        })
        .await
        .map_err(|u| unanswered_status(u, "failed to fetch spans from the backend"))?;
    Ok(stream_of(messages))
}

/// Encodes one trace as messages, or [`Unanswered::TooLarge`] if they exceed the budget.
fn trace_within<M: prost::Message>(state: &ApiState, budget: &Budget, id: &TraceId, trace: &Traces, messages: Vec<M>) -> Result<Vec<M>, Unanswered> {
    let size: usize = messages.iter().map(prost::Message::encoded_len).sum();
    if size > budget.max_bytes {
        return Err(state.bounds.too_large(&trace_id_string(id), trace.span_count()));
    }
    Ok(messages)
}

/// A finished answer as the stream tonic sends.
type Messages<M> = futures::stream::Iter<std::vec::IntoIter<Result<M, Status>>>;

fn stream_of<M>(messages: Vec<M>) -> Messages<M> {
    futures::stream::iter(messages.into_iter().map(Ok).collect::<Vec<_>>())
}

