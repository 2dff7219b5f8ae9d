//! The `TraceService` gRPC service, written out instead of generated, for one reason: the
//! generated server decodes every request with prost before we see it, and a batch that
//! is only forwarded never needs that (see `tracegate_pdata`). This service takes
//! the request message as bytes ([`RawRequestCodec`]) and hands it to [`check_protobuf`];
//! tonic still does the HTTP/2 framing, decompression and the message size limit.
//!
//! A message over the limit is refused by tonic before the service sees it, with OUT_OF_RANGE
//! (the length prefix is over it) or RESOURCE_EXHAUSTED (it grew past it while decompressing).
//! The OTLP spec lists OUT_OF_RANGE among the codes a client retries, and the Python and Java
//! SDKs retry RESOURCE_EXHAUSTED too (the spec asks them to only with RetryInfo), so the same
//! message would be resent until the client gives up. It can never fit: [`call`] answers
//! INVALID_ARGUMENT instead, which every SDK treats as permanent, and counts the request as
//! `tracegate_receiver_dropped_packets{reason="too_large"}`, as the HTTP port counts a body
//! over its limit (its spans were never decoded, so they cannot be counted as spans).
//!
//! [`call`]: RawTraceService#method.call

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use tonic::body::Body;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{Body as HttpBody, BoxFuture, Service, StdError};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Request, Response, Status};

use crate::ingest::{check_protobuf, Ingest};

const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// OTLP/gRPC trace service over [`Ingest`].
#[derive(Clone)]
pub struct RawTraceService {
    ingest: Arc<Ingest>,
    max_decoding_message_size: usize,
}

impl RawTraceService {
    pub fn new(ingest: Ingest, max_decoding_message_size: usize) -> Self {
        Self {
            ingest: Arc::new(ingest),
            max_decoding_message_size,
        }
    }
}

impl NamedService for RawTraceService {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

impl<B> Service<http::Request<B>> for RawTraceService
where
    B: HttpBody + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if req.uri().path() != EXPORT_PATH {
            return Box::pin(async { Ok(unimplemented()) });
        }
        let called = Arc::new(AtomicBool::new(false));
        let export = Export {
            ingest: self.ingest.clone(),
            called: called.clone(),
        };
        let (ingest, limit) = (self.ingest.clone(), self.max_decoding_message_size);
        let mut grpc = Grpc::new(RawRequestCodec)
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd)
            // Responses are compressed only for clients that advertise support.
            .send_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Zstd)
            .max_decoding_message_size(self.max_decoding_message_size);
        Box::pin(async move {
            let response = grpc.unary(export, req).await;
            if called.load(Ordering::Relaxed) {
                return Ok(response);
            }
            Ok(refuse_oversized(response, &ingest, limit))
        })
    }
}

/// A refusal tonic made before the service was called: a message over the limit becomes
/// a permanent INVALID_ARGUMENT and is counted (see the module docs); anything else passes.
fn refuse_oversized(
    response: http::Response<Body>,
    ingest: &Ingest,
    limit: usize,
) -> http::Response<Body> {
    let Some(status) = Status::from_header_map(response.headers()) else {
        return response;
    };
    if !matches!(
        status.code(),
        tonic::Code::OutOfRange | tonic::Code::ResourceExhausted
    ) {
        return response;
    }
    ingest.count_dropped_body(true);
    tracing::debug!(error = %status.message(), "OTLP/gRPC message over max_recv_msg_size_mib");
    Status::invalid_argument(format!(
        "the message is larger than this receiver accepts ({limit} bytes after decompression, \
         max_recv_msg_size_mib): {}; send smaller batches",
        status.message()
    ))
    .into_http()
}

/// The gRPC answer to a method this service does not have.
fn unimplemented() -> http::Response<Body> {
    let mut response = http::Response::new(Body::default());
    let headers = response.headers_mut();
    headers.insert(
        Status::GRPC_STATUS,
        (tonic::Code::Unimplemented as i32).into(),
    );
    headers.insert(
        http::header::CONTENT_TYPE,
        tonic::metadata::GRPC_CONTENT_TYPE,
    );
    response
}

struct Export {
    ingest: Arc<Ingest>,
    /// Set when tonic hands the decoded message over, so a refusal without it was tonic's.
    called: Arc<AtomicBool>,
}

impl UnaryService<Bytes> for Export {
    type Response = ExportTraceServiceResponse;
    type Future = BoxFuture<Response<Self::Response>, Status>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        self.called.store(true, Ordering::Relaxed);
        let ingest = self.ingest.clone();
        Box::pin(async move {
            let incoming = check_protobuf(request.into_inner()).map_err(|e| {
                ingest.count_dropped_body(false);
                Status::invalid_argument(format!(
                    "cannot decode the protobuf body as ExportTraceServiceRequest: {e}"
                ))
            })?;
            match ingest.export(incoming).await {
                Ok(response) => Ok(Response::new(response)),
                Err(refusal) => Err(refusal.to_grpc()),
            }
        })
    }
}

/// Requests as their bytes, responses encoded with prost.
#[derive(Clone, Copy, Default)]
pub struct RawRequestCodec;

impl Codec for RawRequestCodec {
    type Encode = ExportTraceServiceResponse;
    type Decode = Bytes;
    type Encoder = ResponseEncoder;
    type Decoder = RequestBytes;

    fn encoder(&mut self) -> Self::Encoder {
        ResponseEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        RequestBytes
    }
}

pub struct ResponseEncoder;

impl Encoder for ResponseEncoder {
    type Item = ExportTraceServiceResponse;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|e| Status::internal(format!("cannot encode the response: {e}")))
    }
}

pub struct RequestBytes;

impl Decoder for RequestBytes {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
