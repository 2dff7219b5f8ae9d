//! Cost per span of the `attributes` processor (5 actions) and the `filter` processor on
//! 10-attribute spans, in batches of 1000 spans that the processor owns alone (as after a
//! receiver), plus the pass-through cost when nothing matches.
//!
//! Measured on the shared 2-core dev box (noisy, 8 builds running), per span:
//! attributes with 5 actions (hash, delete, extract with 3 groups, convert, insert) ~2.8 us;
//! attributes whose include matches nothing ~49 ns (no copy); filter with 3 conditions ~258 ns
//! when none matches (no copy), ~417 ns when 10% are dropped (one copy-free retain pass).

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use tracegate_core::data::{ResourceSpans, ScopeSpans, Span, Traces};
use tracegate_core::testing::parse_config;
use tracegate_core::{ConsumeError, Consumer};
use tracegate_processor_attributes::{Actions, AttributesConfig, AttributesProcessor, FilterConfig, FilterRules, SpanMatcher};

const SPANS: usize = 1000;

struct Sink;

#[async_trait::async_trait]
impl Consumer for Sink {
    async fn consume(&self, _t: Traces) -> Result<(), ConsumeError> {
        Ok(())
    }
}

fn kv(key: &str, v: Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(v) }), ..Default::default() }
}

fn batch() -> Traces {
    let spans = (0..SPANS)
        .map(|i| {
            let mut attributes = vec![
                kv("http.method", Value::StringValue("GET".into())),
                kv("http.url", Value::StringValue(format!("https://shop.example/cart/{i}?x=1"))),
                kv("http.status_code", Value::StringValue(if i % 10 == 0 { "500".into() } else { "200".into() })),
                kv("user.email", Value::StringValue(format!("user{i}@example.com"))),
                kv("secret.token", Value::StringValue("t0ps3cret".into())),
            ];
            attributes.extend((5..10).map(|a| kv(&format!("attr.{a}"), Value::StringValue(format!("value-{a}")))));
            Span {
                trace_id: (i as u128 / 5).to_be_bytes().to_vec(),
                span_id: (i as u64 + 1).to_be_bytes().to_vec(),
                name: if i % 10 == 0 { "GET /healthz".into() } else { "GET /cart".into() },
                kind: 2,
                start_time_unix_nano: 1_000_000,
                end_time_unix_nano: 3_000_000,
                attributes,
                ..Default::default()
            }
        })
        .collect();
    let resource = Resource { attributes: vec![kv("service.name", Value::StringValue("checkout".into()))], ..Default::default() };
    Traces::new(vec![ResourceSpans { resource: Some(resource), scope_spans: vec![ScopeSpans { spans, ..Default::default() }], ..Default::default() }])
}

fn attributes(yaml: &str) -> AttributesProcessor {
    let cfg: AttributesConfig = parse_config(yaml).unwrap_or_else(|e| panic!("{e:?}"));
    let actions = Actions::compile(&cfg.actions, "actions").unwrap_or_else(|e| panic!("{e:?}"));
    let matcher = SpanMatcher::compile(cfg.include.as_ref(), cfg.exclude.as_ref(), "").unwrap_or_else(|e| panic!("{e:?}"));
    AttributesProcessor::new(actions, matcher, Arc::new(Sink))
}

fn filter(yaml: &str) -> FilterRules {
    let cfg: FilterConfig = parse_config(yaml).unwrap_or_else(|e| panic!("{e:?}"));
    FilterRules::compile(&cfg).unwrap_or_else(|e| panic!("{e:?}"))
}

/// A batch no one else holds, so `make_mut` does not copy (the copy is not timed).
fn owned(template: &Traces) -> Traces {
    Traces::new(template.resource_spans().to_vec())
}

fn bench(c: &mut Criterion) {
    let template = batch();
    let mut g = c.benchmark_group("per_span");
    g.throughput(Throughput::Elements(SPANS as u64));

    let five = attributes(
        r#"actions:
  - {key: user.email, action: hash}
  - {key: secret.token, action: delete}
  - {key: http.url, pattern: '^(?P<url_scheme>[a-z]+)://(?P<url_host>[^/?]+)(?P<url_path>/[^?]*)?', action: extract}
  - {key: http.status_code, action: convert, converted_type: int}
  - {key: env, value: prod, action: insert}"#,
    );
    g.bench_function("attributes_5_actions", |b| {
        b.iter_batched(|| owned(&template), |mut t| { five.process(&mut t); t }, BatchSize::LargeInput)
    });
    let untouched = attributes("{actions: [{key: env, value: prod, action: insert}], include: {match_type: strict, services: [other]}}");
    g.bench_function("attributes_no_match_passthrough", |b| {
        b.iter_batched(|| template.clone(), |mut t| { untouched.process(&mut t); t }, BatchSize::SmallInput)
    });

    let drop_tenth = filter(
        r#"traces: {span: ['name == "GET /healthz"', 'IsMatch(attributes["http.url"], "^ftp:")', 'end_time_unix_nano - start_time_unix_nano < 1000000']}"#,
    );
    g.bench_function("filter_3_conditions_drop_10pct", |b| {
        b.iter_batched(|| owned(&template), |mut t| { let _ = drop_tenth.apply(&mut t); t }, BatchSize::LargeInput)
    });
    let keep_all = filter(r#"traces: {span: ['name == "nope"', 'attributes["http.method"] == "POST"', 'resource.attributes["service.name"] == "x"']}"#);
    g.bench_function("filter_3_conditions_no_match", |b| {
        b.iter_batched(|| template.clone(), |mut t| { let _ = keep_all.apply(&mut t); t }, BatchSize::SmallInput)
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
