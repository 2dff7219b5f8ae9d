//! The shape of one realistic trace: which service does what under which parent, when, for
//! how long, and whether it failed. `realistic` turns these nodes into OTLP spans.
//!
//! - Size: exactly the number of spans asked for; `trace_size` draws it from a log-normal
//!   distribution (median 6, σ = 1, clamped to 2..=200), so most traces are small and about
//!   1.7% have more than 50 spans.
//! - Structure: a SERVER span in an entry service, then spans added one at a time under a
//!   random SERVER span (later ones favoured, so traces grow deep as well as wide). Under a
//!   service that calls others, 60% of additions are a call: a CLIENT span in the caller with
//!   a SERVER span of the callee as its only child; the rest is local work (a database query,
//!   a CLIENT span with no child, or an INTERNAL span), a leaf.
//! - Time: each span's own work is log-normal (median 4 ms for endpoints, 2 ms for queries,
//!   1 ms for internal work, σ = 0.8), except that 1% of them take 1-10 s (log-uniform); a
//!   call adds 0.3-3 ms of network. A parent lasts its own work plus its children, run one
//!   after another (or, for 30% of endpoints, in parallel), so children nest inside their
//!   parent's time range. The trace ends up to 200 ms before `end_ns`.
//! - Errors: 2% of endpoints, queries and internal spans fail; a call fails when its callee's
//!   endpoint did, or on its own (1%, a timeout: no status code). About 2.2% of spans overall.

use rand::Rng;

use crate::topology::{OpKind, Topology};

pub const MAX_TRACE_SPANS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Server,
    Client,
    Internal,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub service: usize,
    pub op: usize,
    pub kind: NodeKind,
    pub parent: Option<usize>,
    pub start_ns: u64,
    pub duration_ns: u64,
    pub error: bool,
    /// HTTP status of endpoints and calls; 0 when there is none.
    pub status_code: i64,
}

/// A standard normal draw (Box-Muller).
fn normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Spans in the next trace: log-normal, median 6, clamped to 2..=200.
pub fn trace_size(rng: &mut impl Rng) -> usize {
    let size = (6.0 * normal(rng).exp()).round();
    (size as usize).clamp(2, MAX_TRACE_SPANS)
}

/// A span's own work in ns: log-normal around `median_ns`, or 1-10 s for 1% of spans.
fn work(median_ns: f64, rng: &mut impl Rng) -> u64 {
    if rng.random_ratio(1, 100) {
        return rng.random_range(1e9f64.ln()..1e10f64.ln()).exp() as u64;
    }
    (median_ns * (0.8 * normal(rng)).exp()).clamp(20_000.0, 900_000_000.0) as u64
}

/// Builds a trace of exactly `size` spans (at least 1) that ends by `end_ns`.
pub fn build(topology: &Topology, size: usize, end_ns: u64, rng: &mut impl Rng) -> Vec<Node> {
    let nodes = structure(topology, size.max(1), rng);
    let mut nodes = timed(topology, nodes, end_ns, rng);
    mark_errors(topology, &mut nodes, rng);
    nodes
}

fn node(service: usize, op: usize, kind: NodeKind, parent: Option<usize>) -> Node {
    Node {
        service,
        op,
        kind,
        parent,
        start_ns: 0,
        duration_ns: 0,
        error: false,
        status_code: 0,
    }
}

fn structure(topology: &Topology, size: usize, rng: &mut impl Rng) -> Vec<Node> {
    let entry = rng.random_range(0..topology.entries.max(1));
    let endpoints = topology.services[entry].endpoints;
    // Popular endpoints first: the first few take most requests.
    let endpoint = (endpoints as f64 * rng.random::<f64>().powi(2)) as usize;
    let mut nodes = vec![node(
        entry,
        endpoint.min(endpoints - 1),
        NodeKind::Server,
        None,
    )];
    let mut servers = vec![0];
    while nodes.len() < size {
        let left = size - nodes.len();
        let pick = rng
            .random_range(0..servers.len())
            .max(rng.random_range(0..servers.len()));
        let parent = servers[pick];
        let service = &topology.services[nodes[parent].service];
        // Calls to other services are most of what a service does, when it has any.
        let op = if service.local_from > service.endpoints && rng.random_ratio(3, 5) {
            rng.random_range(service.endpoints..service.local_from)
        } else {
            rng.random_range(service.local_from..service.ops.len())
        };
        match service.ops[op].kind {
            OpKind::Call {
                service: callee,
                endpoint,
            } if left >= 2 => {
                nodes.push(node(
                    nodes[parent].service,
                    op,
                    NodeKind::Client,
                    Some(parent),
                ));
                let client = nodes.len() - 1;
                nodes.push(node(callee, endpoint, NodeKind::Server, Some(client)));
                servers.push(nodes.len() - 1);
            }
            _ => {
                let op = if op < service.local_from {
                    rng.random_range(service.local_from..service.ops.len())
                } else {
                    op
                };
                let kind = match service.ops[op].kind {
                    OpKind::Query { .. } => NodeKind::Client,
                    _ => NodeKind::Internal,
                };
                nodes.push(node(nodes[parent].service, op, kind, Some(parent)));
            }
        }
    }
    nodes
}

fn timed(topology: &Topology, mut nodes: Vec<Node>, end_ns: u64, rng: &mut impl Rng) -> Vec<Node> {
    let n = nodes.len();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, node) in nodes.iter().enumerate() {
        if let Some(p) = node.parent {
            children[p].push(i);
        }
    }
    let mut own = vec![0u64; n];
    let mut before_children = vec![0u64; n];
    let mut gap = vec![0u64; n];
    let mut parallel = vec![false; n];
    for (i, node) in nodes.iter().enumerate() {
        let kind = &topology.services[node.service].ops[node.op].kind;
        own[i] = match kind {
            OpKind::Endpoint { .. } => work(4e6, rng),
            OpKind::Call { .. } => rng.random_range(300_000..3_000_000),
            OpKind::Query { .. } => work(2e6, rng),
            OpKind::Internal => work(1e6, rng),
        };
        before_children[i] = match kind {
            OpKind::Call { .. } => own[i] / 2,
            _ => (own[i] as f64 * rng.random_range(0.1..0.6)) as u64,
        };
        gap[i] = match node.kind {
            // A callee's endpoint starts as the request arrives.
            NodeKind::Server if node.parent.is_some() => 0,
            _ => rng.random_range(20_000..300_000),
        };
        parallel[i] = matches!(kind, OpKind::Endpoint { .. }) && rng.random_ratio(3, 10);
    }
    // Children come after their parent, so one pass from the end sees every child first.
    for i in (0..n).rev() {
        let extents = children[i].iter().map(|&c| gap[c] + nodes[c].duration_ns);
        let children_time = if parallel[i] {
            extents.max().unwrap_or(0)
        } else {
            extents.sum()
        };
        nodes[i].duration_ns = own[i] + children_time;
    }
    let jitter = rng.random_range(0..200_000_000);
    nodes[0].start_ns = end_ns.saturating_sub(nodes[0].duration_ns + jitter);
    for i in 0..n {
        let mut cursor = nodes[i].start_ns + before_children[i];
        for &c in &children[i] {
            nodes[c].start_ns = cursor + gap[c];
            if !parallel[i] {
                cursor = nodes[c].start_ns + nodes[c].duration_ns;
            }
        }
    }
    nodes
}

fn mark_errors(topology: &Topology, nodes: &mut [Node], rng: &mut impl Rng) {
    // A call's endpoint comes right after it, so going backwards settles the endpoint first.
    for i in (0..nodes.len()).rev() {
        let kind = &topology.services[nodes[i].service].ops[nodes[i].op].kind;
        match kind {
            OpKind::Endpoint { .. } => {
                nodes[i].error = rng.random_ratio(1, 50);
                nodes[i].status_code = if nodes[i].error {
                    [500, 502, 503, 504][rng.random_range(0..4)]
                } else {
                    [200, 200, 200, 200, 200, 200, 200, 201, 204][rng.random_range(0..9)]
                };
            }
            OpKind::Call { .. } => {
                let callee = nodes.get(i + 1).filter(|c| c.parent == Some(i));
                match callee {
                    Some(c) if c.error => {
                        (nodes[i].error, nodes[i].status_code) = (true, c.status_code)
                    }
                    _ if rng.random_ratio(1, 100) => {
                        (nodes[i].error, nodes[i].status_code) = (true, 0)
                    }
                    Some(c) => nodes[i].status_code = c.status_code,
                    None => {}
                }
            }
            OpKind::Query { .. } | OpKind::Internal => nodes[i].error = rng.random_ratio(1, 50),
        }
    }
}
