//! Cost per span of the `attributes` processor (5 actions) on 10-attribute spans, in batches
//! of 1000 spans that the processor owns alone (as after a receiver), plus the pass-through
//! cost when nothing matches. `cargo bench -p tracegate-processor-attributes`
//!
//! Measured on the shared 2-core dev box (noisy, 8 builds running), per span: 5 actions (hash,
//! delete, extract with 3 groups, convert, insert) ~2.8 us; an `include` that matches nothing
//! ~49 ns (no copy). The `filter` processor has its own bench in its crate.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tracegate_core::testing::validated_config;
use tracegate_processor_attributes::{AttributesConfig, AttributesProcessor};
use tracegate_span_rules::testing::{bench_batch, owned, Sink};

const SPANS: usize = 1000;

fn attributes(yaml: &str) -> AttributesProcessor {
    let rules = validated_config::<AttributesConfig>(yaml).unwrap_or_else(|e| panic!("{e:?}"));
    AttributesProcessor::new(rules, Arc::new(Sink::default()))
}

fn bench(c: &mut Criterion) {
    let template = bench_batch(SPANS);
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
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
