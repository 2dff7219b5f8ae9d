//! The pipeline's currency: [`Traces`], a cheap handle over OTLP `ResourceSpans`.
//!
//! Receivers translate every protocol into OTLP once, at the edge. A batch is then shared, not
//! copied: cloning a `Traces` clones an `Arc`.
//!
//! A batch is in one of two forms. *Bytes*: the OTLP receiver checks a protobuf request in
//! place (`tracegate_pdata::validate`) instead of decoding it and hands on the request bytes;
//! decoding is most of the cost of a span a gateway only forwards, so this is the difference
//! between being bound by prost and being bound by the network. *Structs*: what Jaeger,
//! Zipkin and OTLP/JSON are translated into, and what a processor that changed spans holds.
//!
//! A component takes a batch in by one of three ways, whatever its form:
//!
//! - **read** ([`Traces::read`]): the spans through the view traits of `tracegate_pdata::read`,
//!   bytes read in place and structs borrowed; nothing is decoded or encoded. For a component
//!   that only looks (a store, a matcher, a router).
//! - **forward** ([`Traces::encoded_parts`], [`Traces::encode_request`],
//!   [`Traces::split_encoded`]): the request bytes as they arrived, without a copy; a batch of
//!   structs is encoded once, here. For a component that sends OTLP protobuf on (Kafka,
//!   another collector, the persistent queue).
//! - **change** ([`Traces::make_mut`]): decode once (a batch of bytes), then mutate the
//!   structs; the bytes are dropped, since they no longer say what the batch holds. The copy
//!   is made only when someone else still holds the same batch, so a fan-out to three
//!   read-only exporters costs three pointer copies.
//!
//! [`Traces::resource_spans`] also gives the structs for reading, decoding a batch of bytes
//! once (the decode is kept); it is the way for code written against `opentelemetry-proto`
//! types, and the one to move to `read` when it matters.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
pub use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

use tracegate_pdata::validate::{count_resource_spans, validate_request, RequestSummary};
use tracegate_pdata::read::{PartsRead, ViewError};
use tracegate_pdata::wire::Reader;

/// A batch of spans grouped by resource and scope, as OTLP carries them.
///
/// A batch may carry its *tenant* ([`Traces::tenant`]), decided by the receiver that took it
/// in ([`crate::tenancy`]): metadata beside the spans, not in them, so a batch that is still
/// bytes stays bytes. Changing the spans keeps it; [`Traces::concat`] joins only batches of
/// one tenant.
#[derive(Clone, Default, Debug)]
pub struct Traces {
    repr: Repr,
    /// Shared, not copied: cloning a batch of a tenant costs a reference count.
    tenant: Option<Arc<str>>,
}

#[derive(Clone, Debug)]
enum Repr {
    Decoded(Arc<Vec<ResourceSpans>>),
    Encoded(Arc<Encoded>),
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Decoded(Arc::default())
    }
}

/// A batch as the protobuf bytes of export requests, each already checked by
/// [`validate_request`], decoded only if someone asks.
///
/// Requests joined by [`Traces::concat`] stay separate parts. Their concatenation would be
/// the joined request (a request's only field is repeated, and protobuf merges concatenated
/// messages), but building it copies every byte into a fresh buffer of megabytes, whose
/// first touch alone (the kernel zeroing new pages) cost a forwarding gateway a tenth of its
/// CPU, only for the consumer to copy the bytes again: librdkafka copies each message,
/// tonic copies into its frame buffer, sled reads spans out of them.
#[derive(Debug)]
struct Encoded {
    parts: Vec<EncodedPart>,
    spans: usize,
    decoded: OnceLock<Vec<ResourceSpans>>,
}

/// One checked export request of a batch that is still bytes.
#[derive(Debug, Clone)]
pub struct EncodedPart {
    pub bytes: Bytes,
    pub spans: usize,
    /// No span of `bytes` starts before this (ns); 0 when not known. From the check
    /// (`RequestSummary::oldest_start_ns`), so a store can tell that no span is past its
    /// retention without reading the spans.
    pub oldest_start_ns: u64,
}

impl Encoded {
    fn new(parts: Vec<EncodedPart>) -> Self {
        let spans = parts.iter().map(|p| p.spans).sum();
        Self { parts, spans, decoded: OnceLock::new() }
    }

    fn decoded(&self) -> &Vec<ResourceSpans> {
        self.decoded.get_or_init(|| {
            let mut out = Vec::new();
            for part in &self.parts {
                match ExportTraceServiceRequest::decode(part.bytes.as_ref()) {
                    Ok(request) => out.extend(request.resource_spans),
                    // `from_checked` only takes bytes the checker accepted, and the checker
                    // accepts nothing prost refuses (a property test holds it to that). Should
                    // the two ever disagree, losing the request loudly beats a panic on input.
                    Err(e) => {
                        tracing::error!(error = %e, spans = part.spans, "checked OTLP bytes failed to decode; request lost");
                    }
                }
            }
            out
        })
    }
}

impl Traces {
    pub fn new(resource_spans: Vec<ResourceSpans>) -> Self {
        Self {
            repr: Repr::Decoded(Arc::new(resource_spans)),
            tenant: None,
        }
    }

    /// This batch as belonging to `tenant` (`None`: the untenanted default).
    pub fn with_tenant(mut self, tenant: Option<Arc<str>>) -> Self {
        self.tenant = tenant;
        self
    }

    /// The tenant this batch belongs to; `None` when tenancy is off where it was received.
    pub fn tenant(&self) -> Option<&Arc<str>> {
        self.tenant.as_ref()
    }

    /// A batch kept as the request bytes it arrived in. `summary` must be what
    /// `validate_request` returned for exactly these bytes: decoding is deferred until a
    /// component reads the spans, and exporters that forward OTLP protobuf send the bytes as
    /// they are (see [`Traces::encoded_parts`]).
    pub fn from_checked(bytes: Bytes, summary: RequestSummary) -> Self {
        Self::from_parts(vec![EncodedPart { bytes, spans: summary.spans, oldest_start_ns: summary.oldest_start_ns }])
    }

    fn from_parts(parts: Vec<EncodedPart>) -> Self {
        Self { repr: Repr::Encoded(Arc::new(Encoded::new(parts))), tenant: None }
    }

    /// An `ExportTraceServiceRequest` (or `TracesData`) in protobuf, checked in place and kept
    /// as bytes; decoded by prost only when the checker declines (deep nesting, groups), so
    /// the error, if any, is prost's.
    pub fn from_protobuf(bytes: Bytes) -> Result<Traces, prost::DecodeError> {
        match validate_request(&bytes) {
            Ok(summary) => Ok(Traces::from_checked(bytes, summary)),
            Err(_) => ExportTraceServiceRequest::decode(bytes).map(Traces::from),
        }
    }

    /// Read: the spans through the view traits, in the batch's own form: each received
    /// request's bytes read in place (`tracegate_pdata::view`), or the structs borrowed.
    /// Nothing is decoded or encoded. A view's refusal (bytes whose singular field repeats,
    /// which prost would merge) is the error; the structs never fail.
    pub fn read<R: PartsRead>(&self, reader: &mut R) -> Result<(), ViewError> {
        match &self.repr {
            Repr::Encoded(e) => {
                for part in &e.parts {
                    reader.part(tracegate_pdata::view::resource_spans(&part.bytes)?)?;
                }
                Ok(())
            }
            Repr::Decoded(rs) => reader.part(rs.as_slice()),
        }
    }

    /// The spans as structs; decodes a batch that is still bytes (once, then kept).
    pub fn resource_spans(&self) -> &[ResourceSpans] {
        match &self.repr {
            Repr::Decoded(rs) => rs,
            Repr::Encoded(e) => e.decoded(),
        }
    }

    /// The checked requests this batch arrived as, in order, while nobody changed it.
    pub fn encoded_parts(&self) -> Option<&[EncodedPart]> {
        match &self.repr {
            Repr::Encoded(e) => Some(&e.parts),
            Repr::Decoded(_) => None,
        }
    }

    /// Still the bytes it arrived as (nothing changed it).
    pub fn is_encoded(&self) -> bool {
        matches!(self.repr, Repr::Encoded(_))
    }

    /// The batch as `ExportTraceServiceRequest` protobuf: a batch of one received request
    /// gives its bytes (a reference count, no copy); several are joined; a decoded batch is
    /// encoded now.
    pub fn encode_request(&self) -> Bytes {
        match &self.repr {
            Repr::Encoded(e) => match e.parts.as_slice() {
                [one] => one.bytes.clone(),
                parts => {
                    let mut joined = Vec::with_capacity(parts.iter().map(|p| p.bytes.len()).sum());
                    for part in parts {
                        joined.extend_from_slice(&part.bytes);
                    }
                    Bytes::from(joined)
                }
            },
            Repr::Decoded(rs) => Bytes::from(encode_resource_spans(rs)),
        }
    }

    /// The size of [`Traces::encode_request`]'s bytes, without encoding: the received bytes'
    /// length for a batch still in them, else computed from the spans (a walk, no allocation).
    /// What the `bytes` sizer of a sending queue and the pipeline's memory account count.
    pub fn encoded_len(&self) -> usize {
        match &self.repr {
            Repr::Encoded(e) => e.parts.iter().map(|p| p.bytes.len()).sum(),
            Repr::Decoded(rs) => rs.iter().map(|r| prost::encoding::message::encoded_len(1, r)).sum(),
        }
    }

    /// Cuts a batch that is still bytes into pieces of at most `max_bytes` each (one Kafka
    /// message, say), without decoding. A received request of at least a quarter of the limit
    /// is a piece by itself, no copy: joining it to others would copy it for a message at
    /// most four times larger. Smaller ones are grouped up to the limit (joined by
    /// [`Traces::encode_request`]); a request over the limit is cut at resource boundaries
    /// into slices of its buffer. None when the batch is decoded or one resource alone is
    /// over the limit; the caller then splits the decoded spans.
    pub fn split_encoded(&self, max_bytes: usize) -> Option<Vec<Traces>> {
        let parts = self.encoded_parts()?;
        let mut pieces = Vec::new();
        let (mut group, mut group_len): (Vec<EncodedPart>, usize) = (Vec::new(), 0);
        for part in parts {
            let len = part.bytes.len();
            let alone = len >= max_bytes / 4;
            if !group.is_empty() && (alone || group_len + len > max_bytes) {
                pieces.push(Traces::from_parts(std::mem::take(&mut group)));
                group_len = 0;
            }
            if len > max_bytes {
                pieces.extend(cut_at_resources(part, max_bytes)?);
            } else if alone {
                pieces.push(Traces::from_parts(vec![part.clone()]));
            } else {
                group.push(part.clone());
                group_len += len;
            }
        }
        if !group.is_empty() {
            pieces.push(Traces::from_parts(group));
        }
        Some(pieces.into_iter().map(|p| p.with_tenant(self.tenant.clone())).collect())
    }

    /// Mutable access; clones the batch only if another holder shares it. A batch that was
    /// still bytes is decoded and stops being bytes: what is changed must be re-encoded.
    pub fn make_mut(&mut self) -> &mut Vec<ResourceSpans> {
        if let Repr::Encoded(e) = &mut self.repr {
            let spans = match Arc::get_mut(e) {
                Some(sole) => {
                    sole.decoded();
                    sole.decoded.take().unwrap_or_default()
                }
                None => e.decoded().clone(),
            };
            self.repr = Repr::Decoded(Arc::new(spans));
        }
        match &mut self.repr {
            Repr::Decoded(rs) => Arc::make_mut(rs),
            Repr::Encoded(_) => unreachable!("decoded just above"),
        }
    }

    /// Takes the spans out, cloning only if the batch is shared.
    pub fn into_resource_spans(mut self) -> Vec<ResourceSpans> {
        std::mem::take(self.make_mut())
    }

    /// Number of spans in the batch (walks the resource/scope tree; no allocation, no decode).
    pub fn span_count(&self) -> usize {
        match &self.repr {
            Repr::Encoded(e) => e.spans,
            Repr::Decoded(rs) => rs
                .iter()
                .flat_map(|r| r.scope_spans.iter())
                .map(|ss| ss.spans.len())
                .sum(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.span_count() == 0
    }

    /// True when both handles point at the same batch (no copy was made).
    pub fn shares_with(&self, other: &Traces) -> bool {
        match (&self.repr, &other.repr) {
            (Repr::Decoded(a), Repr::Decoded(b)) => Arc::ptr_eq(a, b),
            (Repr::Encoded(a), Repr::Encoded(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// Joins batches into one. Batches that are all still bytes stay bytes, as the list of
    /// their requests: batching costs neither a decode nor a copy.
    ///
    /// The parts must be of one tenant (group them with [`Traces::group_by_tenant`] first);
    /// the joined batch is of the first part's tenant.
    pub fn concat(parts: Vec<Traces>) -> Traces {
        if parts.len() == 1 {
            return parts.into_iter().next().unwrap_or_default();
        }
        let tenant = parts.first().and_then(|p| p.tenant.clone());
        debug_assert!(parts.iter().all(|p| p.tenant == tenant), "Traces::concat joined batches of different tenants");
        if parts.iter().all(Traces::is_encoded) {
            let requests = parts.iter().filter_map(Traces::encoded_parts).flatten().cloned().collect();
            return Traces::from_parts(requests).with_tenant(tenant);
        }
        let mut out = Vec::new();
        for part in parts {
            out.extend(part.into_resource_spans());
        }
        Traces::new(out).with_tenant(tenant)
    }

    /// `parts` grouped by tenant, in the order each tenant first appears, each group in its
    /// original order: what may be joined with [`Traces::concat`]. One group (no allocation
    /// beyond the outer list) when all are of one tenant, the common case.
    pub fn group_by_tenant(parts: Vec<Traces>) -> Vec<Vec<Traces>> {
        let first = parts.first().and_then(|p| p.tenant.clone());
        if parts.iter().all(|p| p.tenant == first) {
            return vec![parts];
        }
        let mut groups: Vec<(Option<Arc<str>>, Vec<Traces>)> = Vec::new();
        for part in parts {
            match groups.iter_mut().find(|(t, _)| *t == part.tenant) {
                Some((_, group)) => group.push(part),
                None => groups.push((part.tenant.clone(), vec![part])),
            }
        }
        groups.into_iter().map(|(_, g)| g).collect()
    }

    pub fn into_request(self) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: self.into_resource_spans(),
        }
    }

    pub fn to_request(&self) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: self.resource_spans().to_vec(),
        }
    }
}

/// One request over `max_bytes` cut at resource boundaries into slices of its buffer, each
/// at most `max_bytes`; None if the bytes are not well formed or one resource is too large.
fn cut_at_resources(part: &EncodedPart, max_bytes: usize) -> Option<Vec<Traces>> {
    let (bytes, oldest_start_ns) = (&part.bytes, part.oldest_start_ns);
    let mut pieces = Vec::new();
    let (mut start, mut end, mut spans) = (0usize, 0usize, 0usize);
    let mut rest: &[u8] = bytes;
    // A piece's oldest start is no earlier than the whole request's.
    let piece = |a: usize, b: usize, spans: usize| Traces::from_parts(vec![EncodedPart { bytes: bytes.slice(a..b), spans, oldest_start_ns }]);
    while !rest.is_empty() {
        let mut fields = Reader::new(rest);
        let (field, whole) = fields.field_with_bytes().ok()??;
        let consumed = whole.len();
        rest = fields.remainder();
        if consumed > max_bytes {
            return None;
        }
        if end - start + consumed > max_bytes && end > start {
            pieces.push(piece(start, end, spans));
            (start, spans) = (end, 0);
        }
        if field.number == 1 {
            spans += count_resource_spans(field.bytes().ok()?)?;
        }
        end += consumed;
    }
    if end > start {
        pieces.push(piece(start, end, spans));
    }
    Some(pieces)
}

/// The `ExportTraceServiceRequest` encoding of `resource_spans`, written without building the
/// request: its only field is `repeated ResourceSpans = 1`, so each resource written as field
/// 1 gives the very bytes prost's encode of the request writes.
pub fn encode_resource_spans(resource_spans: &[ResourceSpans]) -> Vec<u8> {
    let len = resource_spans.iter().map(|r| prost::encoding::message::encoded_len(1, r)).sum();
    let mut out = Vec::with_capacity(len);
    for r in resource_spans {
        prost::encoding::message::encode(1, r, &mut out);
    }
    out
}

impl From<ExportTraceServiceRequest> for Traces {
    fn from(req: ExportTraceServiceRequest) -> Self {
        Self::new(req.resource_spans)
    }
}

impl From<Vec<ResourceSpans>> for Traces {
    fn from(rs: Vec<ResourceSpans>) -> Self {
        Self::new(rs)
    }
}

#[cfg(test)]
#[path = "data_tests.rs"]
mod tests;
