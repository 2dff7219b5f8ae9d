//! The per-request half of [`ListenerGuard`](super::limits::ListenerGuard): a layer in front of
//! every listener's router that bounds the request bytes in flight across the listener and
//! the time a client may take to send a request.
//!
//! A request that declares its length reserves it before anything is read; one that does not
//! (chunked HTTP/1, gRPC over HTTP/2) reserves each chunk as it arrives. When a reservation
//! would pass the listener's bound, the request is answered 503 with `Retry-After` (gRPC:
//! `RESOURCE_EXHAUSTED`, which SDKs retry) and its bytes are never buffered. The body stream
//! also ends with an error at the read deadline, so an upload (or a gRPC request stream) that
//! stalls is answered 408 / `DEADLINE_EXCEEDED` and its bytes freed. Reservations are
//! released when the response is ready, by which time the handler has dropped the body.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::limits::{ListenerGuard, Shed};

/// `RESOURCE_EXHAUSTED` and `DEADLINE_EXCEEDED` in gRPC's status codes.
const GRPC_RESOURCE_EXHAUSTED: &str = "8";
const GRPC_DEADLINE_EXCEEDED: &str = "4";
/// What a refused client is told to wait before retrying, in seconds.
const RETRY_AFTER_SECS: &str = "1";

/// `app` behind the listener's byte bound and read deadline.
pub(crate) fn guard(app: Router, guard: Arc<ListenerGuard>) -> Router {
    app.layer(axum::middleware::from_fn_with_state(guard, check))
}

/// What a request's body ran into, if anything.
const FINE: u8 = 0;
const OVER_BUDGET: u8 = 1;
const TIMED_OUT: u8 = 2;

/// The bytes one request holds of the listener's bound; released on drop.
struct Reservation {
    guard: Arc<ListenerGuard>,
    held: AtomicUsize,
    outcome: AtomicU8,
}

impl Reservation {
    fn take(&self, n: usize) -> bool {
        if n == 0 {
            return true;
        }
        if self.guard.try_reserve(n) {
            self.held.fetch_add(n, Ordering::AcqRel);
            true
        } else {
            false
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.guard.release(*self.held.get_mut());
    }
}

async fn check(State(guard): State<Arc<ListenerGuard>>, request: Request, next: Next) -> Response {
    let grpc = is_grpc(&request);
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let reservation = Arc::new(Reservation {
        guard: guard.clone(),
        held: AtomicUsize::new(0),
        outcome: AtomicU8::new(FINE),
    });
    if let Some(n) = declared {
        if !reservation.take(n) {
            guard.shed(Shed::BytesInFlight);
            return refusal(grpc, OVER_BUDGET);
        }
    }
    let deadline = Instant::now() + guard.limits.read_timeout();
    let (parts, body) = request.into_parts();
    let body = Body::new(GuardedBody {
        inner: body,
        reservation: reservation.clone(),
        // Chunks of a declared length are already paid for.
        pay_per_chunk: declared.is_none(),
        deadline: Box::pin(tokio::time::sleep_until(deadline)),
    });
    let response = next.run(Request::from_parts(parts, body)).await;
    match reservation.outcome.load(Ordering::Acquire) {
        FINE => response,
        why => {
            guard.shed(if why == OVER_BUDGET { Shed::BytesInFlight } else { Shed::ReadTimeout });
            refusal(grpc, why)
        }
    }
}

fn is_grpc(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

/// The answer to a request shed for `why`, in the caller's protocol.
fn refusal(grpc: bool, why: u8) -> Response {
    let (status, grpc_status, message) = match why {
        OVER_BUDGET => (
            StatusCode::SERVICE_UNAVAILABLE,
            GRPC_RESOURCE_EXHAUSTED,
            "too many request bytes in flight on this listener; retry later",
        ),
        _ => (
            StatusCode::REQUEST_TIMEOUT,
            GRPC_DEADLINE_EXCEEDED,
            "the request was not sent within the listener's read_timeout",
        ),
    };
    if grpc {
        // Trailers-only: gRPC clients read grpc-status, not the HTTP code.
        let mut response = StatusCode::OK.into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert("grpc-status", HeaderValue::from_static(grpc_status));
        headers.insert("grpc-message", HeaderValue::from_static(message));
        return response;
    }
    let mut response = (status, message).into_response();
    if why == OVER_BUDGET {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
    }
    response
}

/// A request body that pays for its chunks and ends at the read deadline.
struct GuardedBody {
    inner: Body,
    reservation: Arc<Reservation>,
    pay_per_chunk: bool,
    deadline: Pin<Box<Sleep>>,
}

impl HttpBody for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if this.deadline.as_mut().poll(cx).is_ready() && !this.inner.is_end_stream() {
            this.reservation.outcome.store(TIMED_OUT, Ordering::Release);
            return Poll::Ready(Some(Err(axum::Error::new("request not sent within read_timeout"))));
        }
        let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            other => return other,
        };
        if this.pay_per_chunk {
            let n = frame.data_ref().map_or(0, |d| d.len());
            if !this.reservation.take(n) {
                this.reservation.outcome.store(OVER_BUDGET, Ordering::Release);
                return Poll::Ready(Some(Err(axum::Error::new("too many request bytes in flight"))));
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
