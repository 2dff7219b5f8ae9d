//! Cuts a batch into one batch per backend, by routing key.
//!
//! Most batches reach the load balancer as the request bytes the OTLP receiver checked
//! ([`Traces::encoded_parts`]), and the backends' `otlp` exporters send bytes too, so decoding
//! the spans here would be all cost and no use. A batch of bytes is cut as bytes: the request
//! is walked down to each span's first field (the trace id; encoders write it first), and each
//! backend's request is written from slices of the received buffer, re-framed (each resource
//! and scope message keeps its fields, with only the spans that backend owns). A request whose
//! spans all belong to one backend, the common case when routing by service or when a client
//! sends one trace per request, is passed on as it is, without a copy.
//!
//! A batch that a processor changed is already decoded; it is cut as structs, moving the spans.
//!
//! A resource without `service.name` routes as the empty name when routing by service (the
//! Collector refuses such a batch; tracegate keeps the spans, all on one backend).

use bytes::Bytes;
use opentelemetry_proto::tonic::common::v1::any_value;
use tracegate_core::data::{ResourceSpans, ScopeSpans};
use tracegate_pdata::validate::RequestSummary;
use tracegate_pdata::view::{FromWire, ResourceView, ValueView, ViewError};
use tracegate_pdata::wire::{Reader, Value as Wire, WireError};
use tracegate_core::Traces;

use crate::config::RoutingKey;
use crate::ring::Ring;

/// The resource attribute routing by service reads.
const SERVICE_NAME: &str = "service.name";

/// `batch` as one batch per backend that owns some of its spans: `(index into
/// ring.backends(), batch)`. Empty when the ring is.
pub fn split(batch: Traces, ring: &Ring, key: RoutingKey) -> Vec<(usize, Traces)> {
    if ring.is_empty() || batch.is_empty() {
        return Vec::new();
    }
    let tenant = batch.tenant().cloned();
    let by_backend = match batch.encoded_parts().map(|parts| split_encoded(parts, ring, key)) {
        Some(Ok(pieces)) => pieces,
        // Checked bytes that a walk here cannot read (a view refuses what prost would merge):
        // the decoded form routes them the same way.
        Some(Err(e)) => {
            tracing::debug!(error = %e, "cutting the batch as decoded spans");
            split_decoded(batch, ring, key)
        }
        None => split_decoded(batch, ring, key),
    };
    by_backend
        .into_iter()
        .map(|(i, t)| (i, t.with_tenant(tenant.clone())))
        .collect()
}

/// A message's fields, each with its bytes as on the wire (key and length included).
fn fields(message: &[u8]) -> impl Iterator<Item = Result<(u32, Wire<'_>, &[u8]), WireError>> {
    let mut reader = Reader::new(message);
    std::iter::from_fn(move || match reader.field_with_bytes() {
        Ok(field) => field.map(|(f, whole)| Ok((f.number, f.value, whole))),
        Err(e) => {
            reader.finish();
            Some(Err(e))
        }
    })
}

/// Who owns the spans of one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    Nobody,
    One(usize),
    Mixed,
}

impl Owner {
    fn add(self, backend: usize) -> Owner {
        match self {
            Owner::Nobody => Owner::One(backend),
            Owner::One(b) if b == backend => self,
            _ => Owner::Mixed,
        }
    }

    fn join(self, other: Owner) -> Owner {
        match (self, other) {
            (a, Owner::Nobody) => a,
            (Owner::Nobody, b) => b,
            (a, Owner::One(b)) => a.add(b),
            _ => Owner::Mixed,
        }
    }
}

/// A scope's spans, located.
struct ScopePiece<'a> {
    /// Its fields other than spans (the scope, schema_url), as on the wire.
    other: Vec<&'a [u8]>,
    /// Each span as on the wire, with its owner.
    spans: Vec<(usize, &'a [u8])>,
}

/// A resource's spans, located.
struct ResourcePiece<'a> {
    /// The whole `ResourceSpans` field of the request, as on the wire.
    whole: &'a [u8],
    /// Its fields other than scope_spans (the resource, schema_url), as on the wire.
    other: Vec<&'a [u8]>,
    scopes: Vec<ScopePiece<'a>>,
    owner: Owner,
    spans: usize,
}

fn wire_error(e: WireError) -> ViewError {
    ViewError::Wire(e)
}

/// The trace id of a span: its first field 1 (encoders write it first, so this reads one
/// field; prost would take the last of several, which no encoder writes).
fn trace_id(span: &[u8]) -> Result<&[u8], ViewError> {
    for field in fields(span) {
        let (number, value, _) = field.map_err(wire_error)?;
        if number == 1 {
            if let Wire::Bytes(id) = value {
                return Ok(id);
            }
        }
    }
    Ok(&[])
}

fn service_of_resource(resource: &[u8]) -> Result<&str, ViewError> {
    let view = ResourceView::from_wire(resource)?;
    for kv in view.attributes.iter() {
        let kv = kv?;
        if kv.key == SERVICE_NAME {
            if let Some(ValueView::Str(name)) = kv.value.map(|v| v.value) {
                return Ok(name);
            }
        }
    }
    Ok("")
}

fn locate_resource<'a>(whole: &'a [u8], body: &'a [u8], ring: &Ring, key: RoutingKey) -> Result<ResourcePiece<'a>, ViewError> {
    let mut piece = ResourcePiece { whole, other: Vec::new(), scopes: Vec::new(), owner: Owner::Nobody, spans: 0 };
    let mut service = "";
    for field in fields(body) {
        let (number, value, field_bytes) = field.map_err(wire_error)?;
        match (number, value) {
            (2, Wire::Bytes(scope)) => piece.scopes.push(locate_scope(scope, ring, key)?),
            (1, Wire::Bytes(resource)) => {
                if key == RoutingKey::Service {
                    service = service_of_resource(resource)?;
                }
                piece.other.push(field_bytes);
            }
            _ => piece.other.push(field_bytes),
        }
    }
    piece.spans = piece.scopes.iter().map(|s| s.spans.len()).sum();
    piece.owner = match key {
        RoutingKey::Service => ring.owner(service.as_bytes()).map_or(Owner::Nobody, Owner::One),
        RoutingKey::TraceId => piece
            .scopes
            .iter()
            .flat_map(|s| s.spans.iter())
            .fold(Owner::Nobody, |o, (b, _)| o.add(*b)),
    };
    if let (RoutingKey::Service, Owner::One(b)) = (key, piece.owner) {
        for scope in &mut piece.scopes {
            scope.spans.iter_mut().for_each(|s| s.0 = b);
        }
    }
    Ok(piece)
}

fn locate_scope<'a>(body: &'a [u8], ring: &Ring, key: RoutingKey) -> Result<ScopePiece<'a>, ViewError> {
    let mut piece = ScopePiece { other: Vec::new(), spans: Vec::new() };
    for field in fields(body) {
        let (number, value, field_bytes) = field.map_err(wire_error)?;
        match (number, value) {
            (2, Wire::Bytes(span)) => {
                let owner = match key {
                    // Filled in by the resource, which knows the service.
                    RoutingKey::Service => 0,
                    RoutingKey::TraceId => ring.owner(trace_id(span)?).unwrap_or(0),
                };
                piece.spans.push((owner, field_bytes));
            }
            _ => piece.other.push(field_bytes),
        }
    }
    Ok(piece)
}

/// Appends a length-delimited field's key and length.
fn put_header(out: &mut Vec<u8>, number: u32, len: usize) {
    prost::encoding::encode_key(number, prost::encoding::WireType::LengthDelimited, out);
    prost::encoding::encode_varint(len as u64, out);
}

fn header_len(number: u32, len: usize) -> usize {
    prost::encoding::key_len(number) + prost::encoding::encoded_len_varint(len as u64)
}

/// Appends to `out` the `ResourceSpans` field holding only `backend`'s spans of `piece`.
fn write_resource_for(out: &mut Vec<u8>, piece: &ResourcePiece<'_>, backend: usize) -> usize {
    let mine = |s: &ScopePiece<'_>| s.spans.iter().filter(|(b, _)| *b == backend).map(|(_, bytes)| bytes.len()).sum::<usize>();
    let scope_len = |s: &ScopePiece<'_>, spans: usize| s.other.iter().map(|f| f.len()).sum::<usize>() + spans;
    let mut body_len: usize = piece.other.iter().map(|f| f.len()).sum();
    for scope in &piece.scopes {
        let spans = mine(scope);
        if spans > 0 {
            body_len += header_len(2, scope_len(scope, spans)) + scope_len(scope, spans);
        }
    }
    put_header(out, 1, body_len);
    piece.other.iter().for_each(|f| out.extend_from_slice(f));
    let mut count = 0;
    for scope in &piece.scopes {
        let spans = mine(scope);
        if spans == 0 {
            continue;
        }
        put_header(out, 2, scope_len(scope, spans));
        scope.other.iter().for_each(|f| out.extend_from_slice(f));
        for (_, span) in scope.spans.iter().filter(|(b, _)| *b == backend) {
            out.extend_from_slice(span);
            count += 1;
        }
    }
    count
}

/// A checked request's bytes (or a re-framed part of one) as a batch.
fn piece(bytes: Bytes, spans: usize, resource_spans: usize) -> Traces {
    Traces::from_checked(bytes, RequestSummary { spans, resource_spans, ..RequestSummary::default() })
}

fn split_encoded(parts: &[tracegate_core::data::EncodedPart], ring: &Ring, key: RoutingKey) -> Result<Vec<(usize, Traces)>, ViewError> {
    let backends = ring.backends().len();
    let mut pieces: Vec<Vec<Traces>> = vec![Vec::new(); backends];
    for part in parts {
        let mut resources = Vec::new();
        for field in fields(&part.bytes) {
            // Fields other than resource_spans carry nothing a backend needs.
            if let (1, Wire::Bytes(body), whole) = field.map_err(wire_error)? {
                resources.push(locate_resource(whole, body, ring, key)?);
            }
        }
        match resources.iter().fold(Owner::Nobody, |o, r| o.join(r.owner)) {
            Owner::Nobody => {}
            Owner::One(b) => pieces[b].push(piece(part.bytes.clone(), part.spans, resources.len())),
            Owner::Mixed => {
                let mut requests: Vec<(Vec<u8>, usize, usize)> = vec![(Vec::new(), 0, 0); backends];
                for resource in &resources {
                    match resource.owner {
                        Owner::Nobody => {}
                        Owner::One(b) => {
                            requests[b].0.extend_from_slice(resource.whole);
                            requests[b].1 += resource.spans;
                            requests[b].2 += 1;
                        }
                        Owner::Mixed => {
                            for (b, request) in requests.iter_mut().enumerate() {
                                let owns = resource.scopes.iter().any(|s| s.spans.iter().any(|(o, _)| *o == b));
                                if owns {
                                    request.1 += write_resource_for(&mut request.0, resource, b);
                                    request.2 += 1;
                                }
                            }
                        }
                    }
                }
                for (b, (bytes, spans, resource_spans)) in requests.into_iter().enumerate() {
                    if spans > 0 {
                        pieces[b].push(piece(Bytes::from(bytes), spans, resource_spans));
                    }
                }
            }
        }
    }
    Ok(pieces
        .into_iter()
        .enumerate()
        .filter(|(_, p)| !p.is_empty())
        .map(|(b, p)| (b, Traces::concat(p)))
        .collect())
}

fn service_of(rs: &ResourceSpans) -> &str {
    let attributes = rs.resource.as_ref().map(|r| r.attributes.as_slice()).unwrap_or_default();
    attributes
        .iter()
        .find(|kv| kv.key == SERVICE_NAME)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        })
        .unwrap_or("")
}

fn split_decoded(batch: Traces, ring: &Ring, key: RoutingKey) -> Vec<(usize, Traces)> {
    let backends = ring.backends().len();
    let mut out: Vec<Vec<ResourceSpans>> = vec![Vec::new(); backends];
    for rs in batch.into_resource_spans() {
        let owner = match key {
            RoutingKey::Service => ring.owner(service_of(&rs).as_bytes()).map_or(Owner::Nobody, Owner::One),
            RoutingKey::TraceId => rs
                .scope_spans
                .iter()
                .flat_map(|s| &s.spans)
                .filter_map(|s| ring.owner(&s.trace_id))
                .fold(Owner::Nobody, Owner::add),
        };
        match owner {
            Owner::Nobody => {}
            Owner::One(b) => out[b].push(rs),
            Owner::Mixed => {
                let ResourceSpans { resource, scope_spans, schema_url } = rs;
                let mut mine: Vec<Option<ResourceSpans>> = vec![None; backends];
                for ss in scope_spans {
                    let ScopeSpans { scope, spans, schema_url: scope_url } = ss;
                    let mut scopes: Vec<Option<ScopeSpans>> = vec![None; backends];
                    for span in spans {
                        let b = ring.owner(&span.trace_id).unwrap_or(0);
                        scopes[b]
                            .get_or_insert_with(|| ScopeSpans { scope: scope.clone(), spans: Vec::new(), schema_url: scope_url.clone() })
                            .spans
                            .push(span);
                    }
                    for (b, scope) in scopes.into_iter().enumerate() {
                        if let Some(scope) = scope {
                            mine[b]
                                .get_or_insert_with(|| ResourceSpans { resource: resource.clone(), scope_spans: Vec::new(), schema_url: schema_url.clone() })
                                .scope_spans
                                .push(scope);
                        }
                    }
                }
                for (b, rs) in mine.into_iter().enumerate() {
                    out[b].extend(rs);
                }
            }
        }
    }
    out.into_iter()
        .enumerate()
        .filter(|(_, rs)| !rs.is_empty())
        .map(|(b, rs)| (b, Traces::new(rs)))
        .collect()
}

#[cfg(test)]
#[path = "route_tests.rs"]
mod tests;
