//! What a user of `--shape realistic` would notice: services, trace sizes, cross-service
//! calls, errors, durations, id cardinalities, operations, and determinism from the seed.

use std::collections::{HashMap, HashSet};

use opentelemetry_proto::tonic::common::v1::any_value;
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::*;

const NOW: u64 = 1_760_000_000_000_000_000;

fn sample(
    services: usize,
    seed: u64,
    requests: usize,
    spans: usize,
) -> Vec<ExportTraceServiceRequest> {
    let r = Realistic::new(services, seed);
    let mut rng = StdRng::seed_from_u64(seed + 1);
    (0..requests)
        .map(|_| r.request(spans, NOW, &mut rng))
        .collect()
}

fn service_of(rs: &ResourceSpans) -> String {
    rs.resource
        .iter()
        .flat_map(|r| &r.attributes)
        .find(|kv| kv.key == "service.name")
        .and_then(text)
        .unwrap_or_default()
}

fn text(kv: &KeyValue) -> Option<String> {
    match kv.value.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

fn attr(s: &Span, key: &str) -> Option<String> {
    s.attributes.iter().find(|kv| kv.key == key).and_then(text)
}

/// Every span with its service.
fn spans(reqs: &[ExportTraceServiceRequest]) -> Vec<(String, &Span)> {
    reqs.iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|rs| {
            let service = service_of(rs);
            rs.scope_spans
                .iter()
                .flat_map(|s| &s.spans)
                .map(move |s| (service.clone(), s))
        })
        .collect()
}

fn by_trace<'a>(all: &[(String, &'a Span)]) -> HashMap<Vec<u8>, Vec<(String, &'a Span)>> {
    let mut traces: HashMap<Vec<u8>, Vec<(String, &Span)>> = HashMap::new();
    for (service, s) in all {
        traces
            .entry(s.trace_id.clone())
            .or_default()
            .push((service.clone(), s));
    }
    traces
}

#[test]
fn about_n_services_one_resource_each_per_request() {
    for n in [10, 50] {
        let reqs = sample(n, 1, 40, 1000);
        let services: HashSet<String> = spans(&reqs).into_iter().map(|(s, _)| s).collect();
        assert!(
            services.len() <= n && services.len() >= n * 9 / 10,
            "{n} services: saw {}",
            services.len()
        );
        for req in &reqs {
            let names: Vec<String> = req.resource_spans.iter().map(service_of).collect();
            let distinct: HashSet<&String> = names.iter().collect();
            assert_eq!(distinct.len(), names.len(), "one ResourceSpans per service");
            assert!(names.len() > 3, "a request holds several services");
        }
    }
}

#[test]
fn requests_have_exactly_the_spans_asked_for_in_traces_of_2_to_200() {
    let r = Realistic::new(50, 2);
    let mut rng = StdRng::seed_from_u64(2);
    for n in [1, 2, 3, 7, 100, 1000] {
        let reqs = [r.request(n, NOW, &mut rng)];
        let all = spans(&reqs);
        assert_eq!(all.len(), n);
        let min = by_trace(&all).values().map(Vec::len).min().unwrap_or(0);
        assert!(min >= n.min(2), "no single-span traces unless n = 1");
    }
    let reqs = sample(50, 3, 40, 1000);
    let sizes: Vec<usize> = by_trace(&spans(&reqs)).values().map(Vec::len).collect();
    assert!(sizes.iter().all(|n| (2..=200).contains(n)));
    let mut sorted = sizes.clone();
    sorted.sort_unstable();
    let median = sorted[sorted.len() / 2];
    assert!(
        (3..=10).contains(&median),
        "most traces are small: median {median}"
    );
    assert!(sizes.iter().any(|&n| n > 50), "some traces are large");
}

#[test]
fn calls_are_client_server_pairs_across_services() {
    let reqs = sample(50, 4, 10, 1000);
    let all = spans(&reqs);
    let by_id: HashMap<&[u8], &(String, &Span)> =
        all.iter().map(|e| (e.1.span_id.as_slice(), e)).collect();
    let mut pairs = 0;
    for (service, s) in &all {
        let Some((parent_service, parent)) =
            by_id.get(s.parent_span_id.as_slice()).map(|e| (&e.0, e.1))
        else {
            assert!(
                s.parent_span_id.is_empty(),
                "parents are in the same request"
            );
            continue;
        };
        assert_eq!(parent.trace_id, s.trace_id);
        if s.kind == span::SpanKind::Server as i32 {
            assert_eq!(
                parent.kind,
                span::SpanKind::Client as i32,
                "a SERVER span's parent is a call"
            );
            assert_ne!(parent_service, service, "calls cross services");
            assert_eq!(attr(parent, "peer.service").as_ref(), Some(service));
            pairs += 1;
        } else {
            assert_eq!(parent_service, service, "local work stays in its service");
        }
    }
    assert!(
        pairs > all.len() / 10,
        "{pairs} cross-service pairs in {} spans",
        all.len()
    );
}

#[test]
fn one_to_five_percent_of_spans_fail_with_an_exception_event() {
    let reqs = sample(50, 5, 50, 1000);
    let all = spans(&reqs);
    let failed: Vec<&Span> = all
        .iter()
        .map(|e| e.1)
        .filter(|s| {
            s.status
                .as_ref()
                .is_some_and(|st| st.code == status::StatusCode::Error as i32)
        })
        .collect();
    let ratio = failed.len() as f64 / all.len() as f64;
    assert!((0.01..=0.05).contains(&ratio), "error ratio {ratio}");
    for s in failed {
        let event = s.events.iter().find(|e| e.name == "exception");
        let keys: Vec<&str> = event
            .iter()
            .flat_map(|e| &e.attributes)
            .map(|kv| kv.key.as_str())
            .collect();
        assert!(keys.contains(&"exception.type") && keys.contains(&"exception.message"));
        assert!(event.is_some_and(
            |e| (s.start_time_unix_nano..=s.end_time_unix_nano).contains(&e.time_unix_nano)
        ));
    }
}

#[test]
fn durations_are_mostly_milliseconds_with_a_tail_of_seconds_and_children_nest() {
    let reqs = sample(50, 6, 30, 1000);
    let all = spans(&reqs);
    let mut durations: Vec<u64> = all
        .iter()
        .map(|e| e.1.end_time_unix_nano - e.1.start_time_unix_nano)
        .collect();
    durations.sort_unstable();
    let median = durations[durations.len() / 2];
    assert!(
        (1_000_000..100_000_000).contains(&median),
        "median {median} ns"
    );
    let long = durations.iter().filter(|&&d| d >= 1_000_000_000).count();
    assert!(
        long > 0 && long < all.len() / 10,
        "{long} spans of 1 s or more"
    );
    let by_id: HashMap<&[u8], &Span> = all.iter().map(|e| (e.1.span_id.as_slice(), e.1)).collect();
    for (_, s) in &all {
        assert!(s.end_time_unix_nano <= NOW, "spans have ended when sent");
        if let Some(p) = by_id.get(s.parent_span_id.as_slice()) {
            assert!(
                p.start_time_unix_nano <= s.start_time_unix_nano
                    && s.end_time_unix_nano <= p.end_time_unix_nano
            );
        }
    }
}

#[test]
fn user_ids_are_high_cardinality_and_order_ids_unique_per_trace() {
    let reqs = sample(50, 7, 60, 1000);
    let all = spans(&reqs);
    let traces = by_trace(&all);
    let mut orders = HashSet::new();
    let mut users = HashSet::new();
    for members in traces.values() {
        let order: HashSet<String> = members
            .iter()
            .filter_map(|(_, s)| attr(s, "order.id"))
            .collect();
        let user: HashSet<String> = members
            .iter()
            .filter_map(|(_, s)| attr(s, "user.id"))
            .collect();
        assert_eq!(
            (order.len(), user.len()),
            (1, 1),
            "one order and one user per trace"
        );
        orders.extend(order);
        users.extend(user);
    }
    assert_eq!(orders.len(), traces.len(), "order.id unique per trace");
    let t = traces.len() as f64;
    let expected = f64::from(USERS) * (1.0 - (-t / f64::from(USERS)).exp());
    assert!(
        users.len() as f64 > 0.95 * expected,
        "{} users in {t} traces",
        users.len()
    );
    for u in &users {
        let n = u
            .strip_prefix("user-")
            .and_then(|h| u32::from_str_radix(h, 16).ok());
        assert!(u.len() == 10 && n.is_some_and(|n| n < USERS), "{u}");
    }
}

#[test]
fn services_keep_5_to_30_operations() {
    let r = Realistic::new(50, 8);
    for s in &r.topology().services {
        assert!(
            (5..=30).contains(&s.ops.len()),
            "{}: {}",
            s.name,
            s.ops.len()
        );
    }
    let reqs = sample(50, 8, 20, 1000);
    let mut names: HashMap<String, HashSet<String>> = HashMap::new();
    for (service, s) in spans(&reqs) {
        names.entry(service).or_default().insert(s.name.clone());
    }
    for (service, seen) in names {
        let known = r.topology().services.iter().find(|s| s.name == service);
        let known: HashSet<String> = known
            .iter()
            .flat_map(|s| &s.ops)
            .map(|o| o.name.clone())
            .collect();
        assert!(seen.is_subset(&known), "{service}: only its own operations");
    }
}

#[test]
fn the_seed_decides_the_data() {
    assert_eq!(sample(50, 9, 2, 500), sample(50, 9, 2, 500));
    let ops = |seed| {
        Realistic::new(50, seed)
            .topology()
            .services
            .iter()
            .flat_map(|s| s.ops.iter().map(|o| o.name.clone()))
            .collect::<Vec<_>>()
    };
    assert_ne!(ops(9), ops(10));
}
