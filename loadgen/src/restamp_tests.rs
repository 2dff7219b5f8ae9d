//! Sends re-stamp times and patch ids in every protocol's bytes, for both shapes: decoding a
//! pool body (prost for OTLP, the translator's Thrift decoders for Jaeger, JSON for Zipkin)
//! shows times moved by exactly the time since generation and ids patched consistently.

use std::collections::HashMap;
use std::io::Read;
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use prost::Message;
use tracegate_translator_jaeger::{decode_batch_binary, decode_emit_batch_compact};

use super::*;

/// Three hours and a bit, not a whole number of microseconds.
const OFFSET_NS: u64 = 3 * 3600 * 1_000_000_000 + 123_456;

/// One decoded span: what must move with the clock (`times`), what must stay (`fixed`), and
/// the patched ids.
#[derive(Debug, Clone, PartialEq)]
struct Rec {
    trace: String,
    times: Vec<i64>,
    fixed: String,
    order: Option<String>,
    user: Option<String>,
}

fn cfg(protocol: Protocol, shape: Shape, compression: Compression) -> RunConfig {
    RunConfig {
        backdate: None,
        endpoint: String::new(),
        protocol,
        shape,
        services: 20,
        seed: 3,
        rate: None,
        stop: StopAfter::Duration(Duration::from_secs(1)),
        connections: 1,
        spans_per_trace: 10,
        attributes: 10,
        span_size: None,
        batch_spans: 100,
        max_packet_size: 8_000,
        compression,
        metrics_url: None,
        progress: false,
    }
}

fn text(kv: &KeyValue) -> Option<String> {
    match kv.value.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

fn otlp(bytes: &[u8]) -> Vec<Rec> {
    let req = ExportTraceServiceRequest::decode(bytes).expect("OTLP decodes");
    crate::otlp::spans(&req)
        .map(|s| {
            let attr = |k: &str| s.attributes.iter().find(|kv| kv.key == k).and_then(text);
            let times = [s.start_time_unix_nano, s.end_time_unix_nano]
                .into_iter()
                .chain(s.events.iter().map(|e| e.time_unix_nano));
            Rec {
                trace: format!("{:02x?}", s.trace_id),
                times: times.map(|t| t as i64).collect(),
                fixed: format!("{:?} {:?} {}", s.span_id, s.parent_span_id, s.name),
                order: attr("order.id"),
                user: attr("user.id"),
            }
        })
        .collect()
}

fn jaeger(batch: &Batch) -> Vec<Rec> {
    batch
        .spans
        .iter()
        .map(|s| {
            let tag = |k: &str| {
                s.tags
                    .iter()
                    .find(|t| t.key == k)
                    .and_then(|t| t.v_str.clone())
            };
            Rec {
                trace: format!("{:x}{:x}", s.trace_id_high, s.trace_id_low),
                times: std::iter::once(s.start_time)
                    .chain(s.logs.iter().map(|l| l.timestamp))
                    .collect(),
                fixed: format!(
                    "{} {} {} {}",
                    s.span_id, s.parent_span_id, s.duration, s.operation_name
                ),
                order: tag("order.id"),
                user: tag("user.id"),
            }
        })
        .collect()
}

fn zipkin(bytes: &[u8]) -> Vec<Rec> {
    let spans: Vec<serde_json::Value> = serde_json::from_slice(bytes).expect("JSON list");
    spans
        .iter()
        .map(|s| {
            let annotations = s["annotations"].as_array().into_iter().flatten();
            let times =
                std::iter::once(&s["timestamp"]).chain(annotations.map(|a| &a["timestamp"]));
            let tag = |k: &str| s["tags"][k].as_str().map(str::to_owned);
            Rec {
                trace: s["traceId"].to_string(),
                times: times.map(|t| t.as_i64().unwrap_or(-1)).collect(),
                fixed: format!(
                    "{} {} {} {}",
                    s["id"], s["parentId"], s["duration"], s["name"]
                ),
                order: tag("order.id"),
                user: tag("user.id"),
            }
        })
        .collect()
}

fn decode(protocol: Protocol, body: &[u8]) -> Vec<Rec> {
    match protocol {
        Protocol::Grpc => otlp(body),
        Protocol::Http => {
            let mut raw = Vec::new();
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut raw)
                .expect("gzip");
            otlp(&raw)
        }
        Protocol::JaegerHttp => jaeger(&decode_batch_binary(body).expect("binary Thrift")),
        Protocol::JaegerUdpCompact => {
            jaeger(&decode_emit_batch_compact(body).expect("compact Thrift"))
        }
        Protocol::ZipkinJson => zipkin(body),
    }
}

const CASES: &[(Protocol, Compression)] = &[
    (Protocol::Grpc, Compression::None),
    (Protocol::Http, Compression::Gzip),
    (Protocol::JaegerHttp, Compression::None),
    (Protocol::JaegerUdpCompact, Compression::None),
    (Protocol::ZipkinJson, Compression::None),
];

/// Ticket `k` of the pool sent at `epoch + after_ns`, decoded.
fn sent(pool: &Pool, protocol: Protocol, k: u64, after_ns: u64) -> Vec<Rec> {
    let (body, spans) = pool.body_at(k, pool.epoch_ns + after_ns).expect("a body");
    let recs = decode(protocol, &body);
    assert_eq!(recs.len() as u64, spans);
    recs
}

#[test]
fn every_protocol_and_shape_moves_times_by_exactly_the_offset() {
    for &(protocol, compression) in CASES {
        for shape in [Shape::Default, Shape::Realistic] {
            let pool = Pool::build(&cfg(protocol, shape, compression), 100).expect("pool");
            let unit = if matches!(protocol, Protocol::Grpc | Protocol::Http) {
                1
            } else {
                1000
            };
            let mut events = 0;
            let round = pool.batches.len() as u64;
            for k in (0..round).chain([round + 3]) {
                let before = sent(&pool, protocol, k, 0);
                let after = sent(&pool, protocol, k, OFFSET_NS);
                for (a, b) in before.iter().zip(&after) {
                    let moved: Vec<i64> = a
                        .times
                        .iter()
                        .map(|t| t + (OFFSET_NS / unit) as i64)
                        .collect();
                    assert_eq!(b.times, moved, "{protocol:?} {shape:?} ticket {k}");
                    assert_eq!(
                        (&a.trace, &a.fixed, &a.order, &a.user),
                        (&b.trace, &b.fixed, &b.order, &b.user)
                    );
                    events += a.times.len() - if unit == 1 { 2 } else { 1 };
                }
            }
            if shape == Shape::Realistic {
                assert!(events > 0, "{protocol:?}: event times are re-stamped too");
            }
        }
    }
}

/// Values of round 0 mapped to round 1 must be a function: one new value per old one.
fn consistent(pairs: impl Iterator<Item = (String, String)>) -> usize {
    let mut map: HashMap<String, String> = HashMap::new();
    for (old, new) in pairs {
        assert_ne!(old, new, "patched");
        assert_eq!(
            map.entry(old.clone()).or_insert(new.clone()),
            &new,
            "{old} maps to one value"
        );
    }
    map.len()
}

#[test]
fn a_new_round_patches_trace_ids_order_ids_and_user_ids_consistently() {
    for &(protocol, compression) in CASES {
        let pool = Pool::build(&cfg(protocol, Shape::Realistic, compression), 100).expect("pool");
        let round = pool.batches.len() as u64;
        let (mut traces, mut orders, mut users) = (Vec::new(), Vec::new(), Vec::new());
        for k in 0..round {
            let first = sent(&pool, protocol, k, 5_000);
            let second = sent(&pool, protocol, k + round, 5_000);
            for (a, b) in first.into_iter().zip(second) {
                assert_eq!(
                    (&a.times, &a.fixed),
                    (&b.times, &b.fixed),
                    "only ids change"
                );
                traces.push((a.trace.clone(), b.trace));
                orders.extend(a.order.zip(b.order));
                users.extend(a.user.zip(b.user));
            }
        }
        assert!(consistent(traces.into_iter()) > 50, "{protocol:?}");
        assert!(
            consistent(orders.into_iter()) > 50,
            "one order.id per trace"
        );
        let fresh_users: Vec<String> = users.iter().map(|u| u.1.clone()).collect();
        consistent(users.into_iter());
        for u in fresh_users {
            let n = u
                .strip_prefix("user-")
                .and_then(|h| u32::from_str_radix(h, 16).ok());
            assert!(n.is_some_and(|n| n < crate::realistic::USERS), "{u}");
        }
    }
}
