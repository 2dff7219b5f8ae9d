//! Cost per span of the `filter` processor with 3 OTTL conditions on 10-attribute spans, in
//! batches of 1000 spans that the processor owns alone (as after a receiver): when 10% are
//! dropped, and when none matches. `cargo bench -p tracegate-processor-filter`
//!
//! Measured on the shared 2-core dev box (noisy, 8 builds running), per span: ~258 ns when
//! none matches (no copy), ~417 ns when 10% are dropped (one copy-free retain pass).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tracegate_core::testing::validated_config;
use tracegate_processor_filter::{FilterConfig, FilterRules};
use tracegate_span_rules::testing::{bench_batch, owned};

const SPANS: usize = 1000;

fn filter(yaml: &str) -> FilterRules {
    validated_config::<FilterConfig>(yaml).unwrap_or_else(|e| panic!("{e:?}"))
}

fn bench(c: &mut Criterion) {
    let template = bench_batch(SPANS);
    let mut g = c.benchmark_group("per_span");
    g.throughput(Throughput::Elements(SPANS as u64));
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
