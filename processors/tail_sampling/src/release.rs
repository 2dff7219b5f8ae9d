//! Sampled traces leave as OTLP request bytes: one `ExportTraceServiceRequest` per tenant (cut
//! at about [`MAX_REQUEST_BYTES`]), its spans regrouped by resource and scope, built by copying
//! the held heads and span payloads, with nothing decoded or re-encoded. The result is a
//! `Traces` of bytes (`Traces::from_checked`), so an exporter that forwards OTLP sends it as
//! it is, and one that reads spans decodes it once, as any received batch.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use tracegate_core::data::Traces;
use tracegate_pdata::validate::validate_request;

use crate::heads::Heads;
use crate::held::{frame_span, HeldTrace};

/// A request is closed at a trace boundary once it passes this size, so a tick that samples
/// many traces sends several requests of a size every OTLP receiver accepts (4 MiB is gRPC's
/// usual limit).
pub const MAX_REQUEST_BYTES: usize = 2 << 20;

#[derive(Default)]
struct ScopeOut {
    head: Vec<u8>,
    payload: Vec<u8>,
}

#[derive(Default)]
struct ResourceOut {
    head: Vec<u8>,
    scopes: Vec<ScopeOut>,
}

struct Request {
    tenant: Option<Arc<str>>,
    resources: Vec<ResourceOut>,
    by_head: HashMap<Vec<u8>, usize>,
    bytes: usize,
    spans: usize,
}

impl Request {
    fn new(tenant: Option<Arc<str>>) -> Self {
        Self { tenant, resources: Vec::new(), by_head: HashMap::new(), bytes: 0, spans: 0 }
    }

    fn payload(&mut self, resource: &[u8], scope: &[u8]) -> &mut Vec<u8> {
        let ri = match self.by_head.get(resource) {
            Some(&i) => i,
            None => {
                self.resources.push(ResourceOut { head: resource.to_vec(), scopes: Vec::new() });
                self.by_head.insert(resource.to_vec(), self.resources.len() - 1);
                self.bytes += resource.len() + 8;
                self.resources.len() - 1
            }
        };
        let scopes = &mut self.resources[ri].scopes;
        let si = match scopes.iter().position(|s| s.head == scope) {
            Some(i) => i,
            None => {
                scopes.push(ScopeOut { head: scope.to_vec(), payload: Vec::new() });
                self.bytes += scope.len() + 8;
                scopes.len() - 1
            }
        };
        &mut scopes[si].payload
    }

    fn encode(self) -> (Option<Arc<str>>, Vec<u8>) {
        let key_len = |n: usize| 1 + prost::encoding::encoded_len_varint(n as u64) + n;
        let scope_len = |s: &ScopeOut| s.head.len() + s.payload.len();
        let resource_len = |r: &ResourceOut| r.head.len() + r.scopes.iter().map(|s| key_len(scope_len(s))).sum::<usize>();
        let total: usize = self.resources.iter().map(|r| key_len(resource_len(r))).sum();
        let mut out = Vec::with_capacity(total);
        for r in &self.resources {
            out.push(0x0a);
            prost::encoding::encode_varint(resource_len(r) as u64, &mut out);
            out.extend_from_slice(&r.head);
            for s in &r.scopes {
                out.push(0x12);
                prost::encoding::encode_varint(scope_len(s) as u64, &mut out);
                out.extend_from_slice(&s.head);
                out.extend_from_slice(&s.payload);
            }
        }
        (self.tenant, out)
    }
}

/// Collects sampled spans and builds the outgoing batches.
#[derive(Default)]
pub struct ReleaseBuilder {
    open: Vec<Request>,
    done: Vec<(Option<Arc<str>>, Vec<u8>, usize)>,
}

impl ReleaseBuilder {
    fn request(&mut self, tenant: Option<&Arc<str>>) -> &mut Request {
        let i = match self.open.iter().position(|r| r.tenant.as_ref() == tenant) {
            Some(i) => i,
            None => {
                self.open.push(Request::new(tenant.cloned()));
                self.open.len() - 1
            }
        };
        &mut self.open[i]
    }

    /// Closes the tenant's open request if it is full; called before a trace is added, so a
    /// trace is not cut between two requests.
    fn close_if_full(&mut self, tenant: Option<&Arc<str>>) {
        let Some(i) = self.open.iter().position(|r| r.tenant.as_ref() == tenant) else { return };
        if self.open[i].bytes >= MAX_REQUEST_BYTES {
            let full = self.open.swap_remove(i);
            let spans = full.spans;
            let (tenant, bytes) = full.encode();
            self.done.push((tenant, bytes, spans));
        }
    }

    /// A held trace, whole. Its records normally share one tenant; should two tenants have
    /// sent spans with one trace id, each record leaves in its own tenant's request.
    pub fn add_trace(&mut self, trace: &HeldTrace, resources: &Heads, scopes: &Heads) {
        let Some(first) = trace.records().next() else { return };
        self.close_if_full(resources.tenant_of(first.resource));
        for r in trace.records() {
            let req = self.request(resources.tenant_of(r.resource));
            let payload = req.payload(resources.bytes_of(r.resource), scopes.bytes_of(r.scope));
            payload.extend_from_slice(r.payload);
            req.bytes += r.payload.len();
            req.spans += r.spans as usize;
        }
    }

    /// Spans passed on as they arrive (late spans of a sampled trace), with their heads.
    pub fn add_spans(&mut self, tenant: Option<&Arc<str>>, resource: &[u8], scope: &[u8], spans: &[&[u8]]) {
        self.close_if_full(tenant);
        let req = self.request(tenant);
        let payload = req.payload(resource, scope);
        let before = payload.len();
        for s in spans {
            frame_span(payload, s);
        }
        let added = payload.len() - before;
        req.bytes += added;
        req.spans += spans.len();
    }

    /// Bytes collected so far.
    pub fn bytes(&self) -> usize {
        self.done.iter().map(|(_, b, _)| b.len()).sum::<usize>() + self.open.iter().map(|r| r.bytes).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.done.is_empty() && self.open.iter().all(|r| r.spans == 0)
    }

    /// The batches, each with its span count. Bytes that do not pass the receivers' check
    /// (impossible: they are cut from checked requests) are logged and left out.
    pub fn finish(mut self) -> Vec<(Traces, usize)> {
        for req in std::mem::take(&mut self.open) {
            let spans = req.spans;
            let (tenant, bytes) = req.encode();
            self.done.push((tenant, bytes, spans));
        }
        let mut out = Vec::with_capacity(self.done.len());
        for (tenant, bytes, spans) in self.done {
            if spans == 0 {
                continue;
            }
            let bytes = Bytes::from(bytes);
            match validate_request(&bytes) {
                Ok(summary) => out.push((Traces::from_checked(bytes, summary).with_tenant(tenant), spans)),
                Err(_) => match Traces::from_protobuf(bytes) {
                    Ok(t) => out.push((t.with_tenant(tenant), spans)),
                    Err(e) => tracing::error!(spans, error = %e, "tail_sampling built a batch that does not decode; spans lost"),
                },
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::ingest::head;
    use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::Span;
    use prost::Message;

    fn span(trace: u8, name: &str) -> Vec<u8> {
        Span { trace_id: vec![trace; 16], span_id: vec![1; 8], name: name.into(), ..Default::default() }.encode_to_vec()
    }

    #[test]
    fn traces_regroup_by_resource_and_scope_and_decode_as_sent() {
        let (mut res, mut scopes) = (Heads::default(), Heads::default());
        let r1 = head(Some(&Resource { dropped_attributes_count: 1, ..Default::default() }.encode_to_vec()), "u");
        let s1 = head(Some(&InstrumentationScope { name: "lib".into(), ..Default::default() }.encode_to_vec()), "");
        let (a, b) = (res.intern(None, &r1), scopes.intern(None, &s1));
        let mut t1 = HeldTrace::default();
        t1.push_spans(a, b, &[&span(1, "x")]);
        let mut t2 = HeldTrace::default();
        t2.push_spans(res.intern(None, &r1), scopes.intern(None, &s1), &[&span(2, "y"), &span(2, "z")]);
        let mut out = ReleaseBuilder::default();
        out.add_trace(&t1, &res, &scopes);
        out.add_trace(&t2, &res, &scopes);
        out.add_spans(None, &r1, &s1, &[&span(3, "late")]);
        let batches = out.finish();
        assert_eq!(batches.len(), 1);
        let (traces, spans) = &batches[0];
        assert_eq!(*spans, 4);
        assert!(traces.is_encoded(), "leaves as bytes");
        assert_eq!(traces.span_count(), 4);
        let rs = traces.resource_spans();
        assert_eq!(rs.len(), 1, "one resource");
        assert_eq!(rs[0].schema_url, "u");
        assert_eq!(rs[0].resource.as_ref().unwrap().dropped_attributes_count, 1);
        assert_eq!(rs[0].scope_spans.len(), 1, "one scope");
        let names: Vec<_> = rs[0].scope_spans[0].spans.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["x", "y", "z", "late"]);
    }

    #[test]
    fn tenants_leave_apart_and_large_releases_are_cut() {
        let (mut res, scopes) = (Heads::default(), Heads::default());
        let acme: Arc<str> = Arc::from("acme");
        let big = vec![b'x'; 100_000];
        let mut out = ReleaseBuilder::default();
        for i in 0..50u8 {
            let mut t = HeldTrace::default();
            let tenant = (i % 2 == 0).then_some(&acme);
            t.push_spans(res.intern(tenant, b""), 0, &[&Span { trace_id: vec![i + 1; 16], name: String::from_utf8(big.clone()).unwrap(), ..Default::default() }.encode_to_vec()]);
            out.add_trace(&t, &res, &scopes);
        }
        let batches = out.finish();
        assert!(batches.len() >= 4, "{} batches", batches.len());
        assert!(batches.iter().all(|(t, _)| t.encoded_len() <= MAX_REQUEST_BYTES + 200_000));
        let acme_spans: usize = batches.iter().filter(|(t, _)| t.tenant().is_some()).map(|(_, n)| n).sum();
        assert_eq!(acme_spans, 25);
        assert_eq!(batches.iter().map(|(t, _)| t.span_count()).sum::<usize>(), 50);
    }
}
