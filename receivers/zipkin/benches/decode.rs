//! Decode + translate throughput of the Zipkin receiver, in spans per second: 1000 realistic
//! spans (Brave-shaped: client/server kinds, both endpoints, an annotation, 10 string tags) as
//! one v2 JSON body and as one v2 protobuf body, from bytes to OTLP `ResourceSpans`.
//!
//! `cargo bench -p tracegate-receiver-zipkin --bench decode`
//!
//! It runs on mimalloc, the allocator of the tracegate binary: about a fifth of the time
//! is allocation, so glibc's malloc would measure something the gateway does not do.

use std::collections::BTreeMap;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use prost::Message;
use tracegate_receiver_zipkin::v2_proto::proto;
use tracegate_receiver_zipkin::{translate, Format, Options};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SPANS: usize = 1000;

fn tags(i: usize) -> BTreeMap<String, String> {
    [
        ("http.method", "GET".to_string()),
        ("http.path", format!("/api/v1/orders/{}", i % 97)),
        ("http.status_code", "200".to_string()),
        ("http.url", format!("http://orders.internal:8080/api/v1/orders/{}?expand=items", i % 97)),
        ("component", "spring-webmvc".to_string()),
        ("mvc.controller.class", "OrderController".to_string()),
        ("mvc.controller.method", "getOrder".to_string()),
        ("peer.hostname", "orders-7d9f8b6c5-x2k4q".to_string()),
        ("user.id", format!("user-{}", i % 1013)),
        ("region", "eu-west-1".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn json_body() -> Vec<u8> {
    let spans: Vec<serde_json::Value> = (0..SPANS)
        .map(|i| {
            serde_json::json!({
                "traceId": format!("{:016x}{:016x}", 0x463ac35c9f6413adu64, i / 10 + 1),
                "parentId": format!("{:016x}", i + 1),
                "id": format!("{:016x}", i + 2),
                "kind": if i % 2 == 0 { "SERVER" } else { "CLIENT" },
                "name": "get /api/v1/orders/{id}",
                "timestamp": 1_700_000_000_000_000u64 + i as u64 * 1000,
                "duration": 1431 + i as u64,
                "localEndpoint": { "serviceName": "orders", "ipv4": "10.1.2.3", "port": 8080 },
                "remoteEndpoint": { "serviceName": "frontend", "ipv4": "10.1.2.4", "port": 43210 },
                "annotations": [{ "timestamp": 1_700_000_000_000_500u64 + i as u64 * 1000, "value": "wr" }],
                "tags": tags(i),
            })
        })
        .collect();
    serde_json::to_vec(&spans).unwrap_or_default()
}

fn proto_body() -> Vec<u8> {
    let endpoint = |name: &str, ip: [u8; 4], port: i32| proto::Endpoint {
        service_name: name.to_string(),
        ipv4: ip.to_vec(),
        ipv6: Vec::new(),
        port,
    };
    let spans = (0..SPANS)
        .map(|i| proto::Span {
            trace_id: [0x463ac35c9f6413adu64.to_be_bytes(), (i as u64 / 10 + 1).to_be_bytes()].concat(),
            parent_id: (i as u64 + 1).to_be_bytes().to_vec(),
            id: (i as u64 + 2).to_be_bytes().to_vec(),
            kind: if i % 2 == 0 { 2 } else { 1 },
            name: "get /api/v1/orders/{id}".to_string(),
            timestamp: 1_700_000_000_000_000 + i as u64 * 1000,
            duration: 1431 + i as u64,
            local_endpoint: Some(endpoint("orders", [10, 1, 2, 3], 8080)),
            remote_endpoint: Some(endpoint("frontend", [10, 1, 2, 4], 43210)),
            annotations: vec![proto::Annotation { timestamp: 1_700_000_000_000_500 + i as u64 * 1000, value: "wr".into() }],
            tags: tags(i),
            debug: false,
            shared: false,
        })
        .collect();
    proto::ListOfSpans { spans }.encode_to_vec()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("zipkin_decode_translate");
    group.throughput(Throughput::Elements(SPANS as u64));
    for (name, format, body) in [("v2_json", Format::V2Json, json_body()), ("v2_proto", Format::V2Proto, proto_body())] {
        let check = translate(format, &body, Options::default()).map(|rs| rs.iter().map(|r| r.scope_spans[0].spans.len()).sum::<usize>());
        assert_eq!(check, Ok(SPANS), "{name} body must translate");
        group.bench_function(name, |b| b.iter(|| translate(format, std::hint::black_box(&body), Options::default())));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
