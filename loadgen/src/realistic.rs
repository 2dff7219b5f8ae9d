//! `--shape realistic`: production-shaped OTLP requests from many services.
//!
//! A request holds whole traces (see `trace_tree` for their size, structure, timing and errors)
//! from the services of a fixed [`Topology`], grouped as a collector forwards them: one
//! `ResourceSpans` per service present, each with that service's resource and scope.
//!
//! Attributes follow the (pre-1.21) HTTP and database semantic conventions the default shape
//! uses. Endpoints (SERVER): `http.method`, `http.route`, `http.scheme`, `http.status_code`
//! (int), `net.host.name`, `net.host.port`, the trace's `order.id` and `user.id`, and at the
//! entry also `http.user_agent` and `http.client_ip`. Calls (CLIENT): `http.method`, `http.url`,
//! `net.peer.name`, `net.peer.port`, `peer.service`, `http.status_code` (unless timed out).
//! Queries (CLIENT): `db.system`, `db.name`, `db.operation`, `db.statement`, `net.peer.name`,
//! `net.peer.port`. Internal spans: `code.namespace`, `code.function`. Failed spans have status
//! ERROR with a message and an `exception` event (`exception.type`, `exception.message`).
//!
//! `order.id` (`ord-` and 16 hex digits) is drawn per trace; `user.id` (`user-` and 5 hex
//! digits) per trace from 2^17 = 131,072 users. Both are patched with the round's mask at each
//! send, like trace ids (see [`masked_value_needle`]), so they stay unique per trace, and the
//! users a run shows are not limited to the pool's.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};
use rand::Rng;

use crate::encoded::{IdEncoding, Needle};
use crate::topology::{int_kv, str_kv, OpKind, Service, Topology};
use crate::trace_tree::{self, Node, NodeKind, MAX_TRACE_SPANS};
use crate::vocabulary::{
    CALL_ERRORS, ENDPOINT_ERRORS, INTERNAL_ERRORS, LANGUAGES, QUERY_ERRORS, USER_AGENTS,
};

/// Attribute values that are ids: key, where the patched hex digits start, how many there are.
/// `user.id` keeps its first digit so patched ids stay below 2^17.
const MASKED_VALUES: &[(&str, usize, usize)] = &[("order.id", 4, 16), ("user.id", 6, 4)];
/// Distinct `user.id` values.
pub const USERS: u32 = 1 << 17;

/// The needle for an id-like attribute value, if `key` is one (see [`MASKED_VALUES`]).
pub fn masked_value_needle(key: &str, value: &str) -> Option<Needle> {
    let &(_, at, len) = MASKED_VALUES.iter().find(|m| m.0 == key)?;
    (value.len() >= at + len)
        .then(|| Needle::id(value.as_bytes().to_vec(), at, len, IdEncoding::Hex))
}

pub struct Realistic {
    topology: Topology,
}

/// What all spans of one trace share.
struct TraceContext {
    trace_id: Vec<u8>,
    order_id: String,
    user_id: String,
}

impl Realistic {
    pub fn new(services: usize, seed: u64) -> Self {
        Self {
            topology: Topology::new(services, seed),
        }
    }

    #[cfg(test)]
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// One request of exactly `spans` spans in whole traces (a trace is cut down to what is
    /// left, never to a single span unless `spans` is 1), all ending by `now_ns`.
    pub fn request(
        &self,
        spans: usize,
        now_ns: u64,
        rng: &mut impl Rng,
    ) -> ExportTraceServiceRequest {
        let mut by_service: BTreeMap<usize, Vec<Span>> = BTreeMap::new();
        let mut left = spans;
        while left > 0 {
            let mut size = trace_tree::trace_size(rng).min(left);
            if left - size == 1 {
                size = if size < MAX_TRACE_SPANS {
                    size + 1
                } else {
                    size - 1
                };
            }
            let nodes = trace_tree::build(&self.topology, size, now_ns, rng);
            let ctx = TraceContext {
                trace_id: rng.random::<[u8; 16]>().to_vec(),
                order_id: format!("ord-{:016x}", rng.random::<u64>()),
                user_id: format!("user-{:05x}", rng.random_range(0..USERS)),
            };
            let ids: Vec<[u8; 8]> = nodes.iter().map(|_| rng.random()).collect();
            for (i, node) in nodes.iter().enumerate() {
                let span = self.span(node, &ids, i, &ctx, rng);
                by_service.entry(node.service).or_default().push(span);
            }
            left -= size;
        }
        let resource_spans = by_service
            .into_iter()
            .map(|(service, spans)| {
                let s = &self.topology.services[service];
                ResourceSpans {
                    resource: Some(s.resource.clone()),
                    scope_spans: vec![ScopeSpans {
                        scope: Some(s.scope.clone()),
                        spans,
                        schema_url: String::new(),
                    }],
                    schema_url: "https://opentelemetry.io/schemas/1.26.0".to_owned(),
                }
            })
            .collect();
        ExportTraceServiceRequest { resource_spans }
    }

    fn span(
        &self,
        node: &Node,
        ids: &[[u8; 8]],
        i: usize,
        ctx: &TraceContext,
        rng: &mut impl Rng,
    ) -> Span {
        let service = &self.topology.services[node.service];
        let op = &service.ops[node.op];
        let end = node.start_ns + node.duration_ns;
        let mut s = Span {
            trace_id: ctx.trace_id.clone(),
            span_id: ids[i].to_vec(),
            parent_span_id: node.parent.map(|p| ids[p].to_vec()).unwrap_or_default(),
            name: op.name.clone(),
            kind: match node.kind {
                NodeKind::Server => span::SpanKind::Server,
                NodeKind::Client => span::SpanKind::Client,
                NodeKind::Internal => span::SpanKind::Internal,
            } as i32,
            start_time_unix_nano: node.start_ns,
            end_time_unix_nano: end,
            attributes: self.attributes(service, node, ctx, rng),
            // SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK, plus IS_REMOTE under a call from elsewhere.
            flags: if node.kind == NodeKind::Server && node.parent.is_some() {
                0x300
            } else {
                0x100
            },
            ..Default::default()
        };
        if node.error {
            let errors = match op.kind {
                OpKind::Endpoint { .. } => ENDPOINT_ERRORS,
                OpKind::Call { .. } => CALL_ERRORS,
                OpKind::Query { .. } => QUERY_ERRORS,
                OpKind::Internal => INTERNAL_ERRORS,
            };
            let (kind, message) = errors[rng.random_range(0..errors.len())];
            s.status = Some(Status {
                code: status::StatusCode::Error as i32,
                message: message.to_owned(),
            });
            s.events.push(span::Event {
                time_unix_nano: end
                    .saturating_sub(rng.random_range(0..=node.duration_ns.min(1_000_000))),
                name: "exception".to_owned(),
                attributes: vec![
                    str_kv("exception.type", kind),
                    str_kv("exception.message", message),
                ],
                dropped_attributes_count: 0,
            });
        }
        s
    }

    fn attributes(
        &self,
        service: &Service,
        node: &Node,
        ctx: &TraceContext,
        rng: &mut impl Rng,
    ) -> Vec<KeyValue> {
        let status = (node.status_code != 0).then(|| int_kv("http.status_code", node.status_code));
        match &service.ops[node.op].kind {
            OpKind::Endpoint { method, route } => {
                let mut a = vec![
                    str_kv("http.method", method),
                    str_kv("http.route", route),
                    str_kv("http.scheme", "http"),
                    int_kv("http.status_code", node.status_code),
                    str_kv("net.host.name", &service.name),
                    int_kv("net.host.port", 8080),
                ];
                if node.parent.is_none() {
                    a.push(str_kv(
                        "http.user_agent",
                        USER_AGENTS[rng.random_range(0..USER_AGENTS.len())],
                    ));
                    let ip: [u8; 4] = rng.random();
                    a.push(str_kv(
                        "http.client_ip",
                        &format!("{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3]),
                    ));
                }
                // order.id before user.id: the encoders' needles expect that order.
                a.push(str_kv("order.id", &ctx.order_id));
                a.push(str_kv("user.id", &ctx.user_id));
                a
            }
            OpKind::Call {
                service: callee,
                endpoint,
            } => {
                let target = &self.topology.services[*callee];
                let (method, route) = match &target.ops[*endpoint].kind {
                    OpKind::Endpoint { method, route } => (*method, route.as_str()),
                    _ => ("GET", "/"),
                };
                let mut a = vec![
                    str_kv("http.method", method),
                    str_kv("http.url", &format!("http://{}:8080{route}", target.name)),
                    str_kv("net.peer.name", &target.name),
                    int_kv("net.peer.port", 8080),
                    str_kv("peer.service", &target.name),
                ];
                a.extend(status);
                a
            }
            OpKind::Query {
                operation,
                statement,
            } => match &service.database {
                Some(db) => vec![
                    str_kv("db.system", db.system),
                    str_kv("db.name", &db.name),
                    str_kv("db.operation", operation),
                    str_kv("db.statement", statement),
                    str_kv("net.peer.name", &db.peer),
                    int_kv("net.peer.port", db.port),
                ],
                None => Vec::new(),
            },
            OpKind::Internal => vec![
                str_kv(
                    "code.namespace",
                    &format!("{}.{}", LANGUAGES[service.language].0, service.name),
                ),
                str_kv("code.function", &service.ops[node.op].name),
            ],
        }
    }
}

#[cfg(test)]
#[path = "realistic_tests.rs"]
mod tests;
