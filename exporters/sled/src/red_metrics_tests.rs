//! RED metrics of spans with known durations and errors, stored, read back through the
//! reader's `metrics()`, surviving a reopen and dropped with their partition.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode, ResourceSpans, ScopeSpans, Span, Status};
use tracegate_core::config::GoDuration;
use tracegate_core::red::{evaluate, Measure, MetricsQuery};
use tracegate_core::storage::TraceReader;
use tracegate_core::{Exporter, Lifecycle, Traces};

use crate::{Config, SledExporter};

fn minute_start(t: SystemTime) -> u64 {
    let secs = t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    secs - secs % 60
}

/// `n` spans of `op` starting in the minute at `minute_secs`, the i-th (from 1) lasting i ms;
/// the first `errors` of them failed.
fn spans(service: &str, op: &str, kind: SpanKind, minute_secs: u64, n: u64, errors: u64, seed: u8) -> Traces {
    let spans = (1..=n)
        .map(|i| {
            let start = minute_secs * 1_000_000_000 + i * 1_000_000;
            Span {
                trace_id: [[seed; 8], i.to_be_bytes()].concat(),
                span_id: i.to_be_bytes().to_vec(),
                name: op.into(),
                kind: kind as i32,
                start_time_unix_nano: start,
                end_time_unix_nano: start + i * 1_000_000,
                status: (i <= errors).then(|| Status { code: StatusCode::Error as i32, ..Default::default() }),
                ..Default::default()
            }
        })
        .collect();
    let service = KeyValue { key: "service.name".into(), value: Some(AnyValue { value: Some(any_value::Value::StringValue(service.into())) }), ..Default::default() };
    Traces::new(vec![ResourceSpans {
        resource: Some(Resource { attributes: vec![service], ..Default::default() }),
        scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
        ..Default::default()
    }])
}

fn query(end_secs: u64, services: &[&str]) -> MetricsQuery {
    MetricsQuery {
        services: services.iter().map(|s| s.to_string()).collect(),
        span_kinds: vec![2],
        group_by_operation: false,
        end_ms: end_secs as i64 * 1000,
        lookback_ms: 30 * 60_000,
        step_ms: 60_000,
        rate_per_ms: 60 * 60_000,
        now_ms: end_secs as i64 * 1000,
    }
}

async fn family(reader: &dyn TraceReader, q: &MetricsQuery, measure: Measure) -> tracegate_core::red::Family {
    let metrics = reader.metrics().expect("sled keeps metrics");
    let rows = metrics.rows(&q.rows()).await.expect("rows");
    evaluate(q, measure, &rows).expect("evaluate")
}

fn last(f: &tracegate_core::red::Family) -> f64 {
    f.series.first().and_then(|s| s.points.last()).map_or(f64::NAN, |p| p.1)
}

#[tokio::test]
async fn calls_errors_and_quantiles_of_known_spans_survive_a_reopen_and_expire_with_the_spans() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config {
        path: dir.path().join("db"),
        retention: GoDuration::from_secs(3600),
        partition: GoDuration::from_secs(600),
        ..Config::default()
    };
    let now = SystemTime::now();
    let old = minute_start(now - Duration::from_secs(10 * 60));
    let recent = minute_start(now);
    let exporter = SledExporter::open(config.clone()).expect("open");
    // Ten minutes ago: 100 server spans of 1..=100 ms, 10 failed; a client span that the
    // default kind (server) leaves out; another service.
    exporter.export(spans("shop", "GET /cart", SpanKind::Server, old, 100, 10, 1)).await.expect("export");
    exporter.export(spans("shop", "call db", SpanKind::Client, old, 50, 50, 2)).await.expect("export");
    exporter.export(spans("auth", "login", SpanKind::Server, old, 7, 0, 3)).await.expect("export");
    // This minute (still in memory): 20 more server spans of 1..=20 ms.
    exporter.export(spans("shop", "PUT /cart", SpanKind::Server, recent, 20, 0, 4)).await.expect("export");

    let reader = exporter.reader();
    let end = recent + 59;
    let q = query(end, &["shop"]);
    let calls = family(&reader, &q, Measure::Calls).await;
    assert_eq!(calls.series.len(), 1);
    assert_eq!(calls.series[0].labels, vec![("service_name", "shop".to_string())]);
    // An hour's window at the last point holds all 120 server calls.
    assert!((last(&calls) - 120.0 / 3600.0).abs() < 1e-12, "{}", last(&calls));
    let errors = family(&reader, &q, Measure::Errors).await;
    assert!((last(&errors) - 10.0 / 120.0).abs() < 1e-12, "{}", last(&errors));
    // The 120 durations: 1..=100 and 1..=20 ms. Their p50 is the 60th smallest: 40 ms.
    let p50 = last(&family(&reader, &q, Measure::Latency(0.5)).await);
    assert!((p50 - 40.0).abs() / 40.0 <= 0.125, "p50 {p50}");
    let p95 = last(&family(&reader, &q, Measure::Latency(0.95)).await);
    assert!((p95 - 94.0).abs() / 94.0 <= 0.125, "p95 {p95}");

    // Grouped by operation, per operation; the auth service answers on its own.
    let by_op = family(&reader, &MetricsQuery { group_by_operation: true, ..q.clone() }, Measure::Calls).await;
    let ops: Vec<(String, f64)> = by_op.series.iter().map(|s| (s.labels[1].1.clone(), s.points.last().map_or(0.0, |p| p.1 * 3600.0))).collect();
    assert_eq!(ops.len(), 2);
    assert_eq!(ops[0].0, "GET /cart");
    assert!((ops[0].1 - 100.0).abs() < 1e-9 && (ops[1].1 - 20.0).abs() < 1e-9, "{ops:?}");
    let auth = family(&reader, &query(end, &["auth"]), Measure::Calls).await;
    assert!((last(&auth) * 3600.0 - 7.0).abs() < 1e-9);

    // A clean shutdown writes what was in memory; a reopened store answers the same.
    exporter.shutdown().await.expect("shutdown");
    drop(reader);
    drop(exporter);
    let exporter = SledExporter::open(config).expect("reopen");
    let reader = exporter.reader();
    let again = family(&reader, &q, Measure::Calls).await;
    assert!((last(&again) - 120.0 / 3600.0).abs() < 1e-12, "after reopen {}", last(&again));

    // Retention drops the metrics with the spans' partitions.
    exporter.drop_expired(now + Duration::from_secs(3 * 3600)).expect("sweep");
    let gone = family(&reader, &q, Measure::Calls).await;
    assert!(gone.series.is_empty(), "{gone:?}");
    exporter.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn long_windows_read_ten_minute_roll_ups_and_answer_as_the_minutes_do() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config { path: dir.path().join("db"), retention: GoDuration::from_secs(6 * 3600), ..Config::default() };
    let now = SystemTime::now();
    let exporter = SledExporter::open(config).expect("open");
    // Spans in 37 of the last 110 minutes (stored), and in this minute (still in memory).
    for (i, back) in (0..110u64).step_by(3).enumerate() {
        let minute = minute_start(now - Duration::from_secs(back * 60 + 60));
        let n = 5 + (back % 7);
        exporter.export(spans("shop", "GET /cart", SpanKind::Server, minute, n, back % 3, i as u8)).await.expect("export");
        exporter.export(spans("shop", "PUT /cart", SpanKind::Server, minute, 2, 1, 100 + i as u8)).await.expect("export");
    }
    exporter.export(spans("shop", "GET /cart", SpanKind::Server, minute_start(now), 9, 2, 250)).await.expect("export");

    let reader = exporter.reader();
    let metrics = reader.metrics().expect("sled keeps metrics");
    // The built-in Monitor page's long windows: every edge on a ten-minute boundary.
    let block_secs = 600;
    let end = minute_start(now) - minute_start(now) % block_secs + block_secs;
    let q = MetricsQuery { lookback_ms: 2 * 3600 * 1000, step_ms: 600_000, rate_per_ms: 1_800_000, ..query(end, &["shop"]) };
    assert_eq!(q.block_minutes(), 10);
    let mut read = Vec::new();
    for by_op in [false, true] {
        let q = MetricsQuery { group_by_operation: by_op, ..q.clone() };
        let blocks = q.rows();
        let minutes = tracegate_core::red::RowRequest { block_minutes: 1, ..blocks.clone() };
        let block_rows = metrics.rows(&blocks).await.expect("block rows");
        let minute_rows = metrics.rows(&minutes).await.expect("minute rows");
        read.push((block_rows.len(), minute_rows.len()));
        for measure in [Measure::Calls, Measure::Errors, Measure::Latency(0.95)] {
            let from_blocks = evaluate(&q, measure, &block_rows).expect("evaluate");
            let from_minutes = evaluate(&q, measure, &minute_rows).expect("evaluate");
            assert!(!from_blocks.series.is_empty());
            assert_eq!(from_blocks, from_minutes, "{measure:?}, by operation {by_op}");
        }
    }
    // Blocks hold a tenth of the minutes (here spans come every third minute: a third), and
    // fewer again summed over the two operations (the minutes still in memory stay minutes).
    let [(service_blocks, minutes), (blocks, _)] = read[..] else { panic!("{read:?}") };
    assert!(blocks * 2 < minutes && service_blocks < blocks, "{read:?}");
    let block_rows = metrics.rows(&q.rows()).await.expect("block rows");
    let calls = evaluate(&q, Measure::Calls, &block_rows).expect("evaluate");
    let total: f64 = calls.series[0].points.iter().filter(|p| p.0 % 1_800_000 == end as i64 * 1000 % 1_800_000).map(|p| p.1 * 1800.0).sum();
    let sent: u64 = (0..110u64).step_by(3).map(|back| 5 + back % 7 + 2).sum::<u64>() + 9;
    assert!((total - sent as f64).abs() < 1e-6, "{total} calls in the non-overlapping windows, {sent} sent");
    exporter.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_store_with_span_metrics_off_has_no_metrics_reader() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config { path: dir.path().join("db"), ..Config::default() };
    config.span_metrics.enabled = false;
    let exporter = SledExporter::open(config).expect("open");
    let reader: Arc<dyn TraceReader> = Arc::new(exporter.reader());
    assert!(reader.metrics().is_none());
    exporter.shutdown().await.expect("shutdown");
}
