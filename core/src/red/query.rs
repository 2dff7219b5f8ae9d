//! The read side of RED metrics: turns a store's per-minute [`Row`]s into the time series of
//! Jaeger's metrics API (`/api/metrics/{calls,errors,latencies}`), with the meaning Jaeger's
//! Prometheus reader gives them:
//!
//! - points at `endTs - lookback`, then every `step`, up to `endTs` (Prometheus `query_range`);
//! - each point looks back `ratePer` (PromQL's `rate(...[ratePer])`): the minutes that start in
//!   `[t - ratePer, t)` (minute resolution: a minute counts whole once it starts in the window,
//!   so at `t = now` the current minute counts, and a minute starting at `t` does not: its
//!   spans come after the point);
//! - calls: calls per second over the window (for a point after now, per second of the part
//!   of its window that has passed, as Prometheus' `rate` measures over the samples it has, so
//!   a page whose last point ends the current ten-minute block shows its calls at their
//!   rate); errors: error calls / calls (0..1); latencies:
//!   the quantile of the window's merged histogram, in milliseconds (within the histogram's
//!   12.5%, see [`super::histogram`]);
//! - one series per service, or per service and operation (`groupByOperation`), over the
//!   requested span kinds, sorted by labels.
//!
//! A calls series starts at its first point with calls and stays (0 once calls stop, as a
//! counter that stopped rising reads); errors and latencies have points only where the window
//! holds calls (Prometheus would answer NaN there, which the Jaeger UI cannot plot).
//!
//! Cost: each row is added to and removed from a sliding window once, and each point reads its
//! quantile from a dense 496-bucket histogram, so a 24 h query at a one-minute step is
//! ~1440 x (rows per minute + 496) steps per series.
//!
//! # Roll-ups
//!
//! A query whose points and windows all fall on [`ROLLUP_MINUTES`] boundaries (step, ratePer
//! and the first point multiples of ten minutes, as the built-in Monitor page asks for windows
//! of 6 h and more) gives the same answer from ten-minute rows as from minute rows: every
//! ten-minute block is wholly inside or wholly outside each window. [`MetricsQuery::rows`]
//! then asks the store for blocks, which a store keeping roll-ups answers with a tenth of the
//! rows (the sled store does; see its `red_metrics` module for the figures). A store may
//! always answer with finer rows: [`evaluate`] files each row under the block it starts in.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::aggregate::{Agg, Row};
use super::histogram::DenseHistogram;

/// What is measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Measure {
    Calls,
    Errors,
    /// The quantile (0..=1).
    Latency(f64),
}

/// A metrics query, as Jaeger's `BaseQueryParameters`.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsQuery {
    pub services: Vec<String>,
    /// OTLP span kinds (0 unspecified .. 5 consumer) to count.
    pub span_kinds: Vec<u8>,
    pub group_by_operation: bool,
    /// Unix milliseconds.
    pub end_ms: i64,
    pub lookback_ms: i64,
    pub step_ms: i64,
    pub rate_per_ms: i64,
    /// The clock when the query was asked (Unix milliseconds): a point after it has seen only
    /// the part of its window up to now, and its rate is per second of that part.
    pub now_ms: i64,
}

/// Prometheus' bound on a query's points per series.
pub const MAX_POINTS: i64 = 11_000;

/// Why a query cannot be answered (Prometheus' texts, which Jaeger passes on).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum QueryError {
    #[error("zero or negative query resolution step widths are not accepted. Try a positive integer")]
    Step,
    #[error("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)")]
    TooManyPoints,
    #[error("zero or negative rate windows are not accepted")]
    RatePer,
}

/// One time series: its labels (`service_name`, then `operation` when grouped) and points
/// (Unix milliseconds, value).
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub labels: Vec<(&'static str, String)>,
    pub points: Vec<(i64, f64)>,
}

/// A metric family as Jaeger names it (`service_call_rate`, ...).
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    pub name: String,
    pub help: String,
    pub series: Vec<Series>,
}

const MINUTE_MS: i64 = 60_000;

/// The length of a roll-up block, in minutes: divides the hour, and the steps the built-in
/// Monitor page picks for long windows are multiples of it.
pub const ROLLUP_MINUTES: u64 = 10;

/// Which rows a query needs from a store.
#[derive(Clone, Debug, PartialEq)]
pub struct RowRequest {
    /// Every service when empty.
    pub services: Vec<String>,
    /// OTLP span kinds; a store may skip rows of other kinds (or return them: they are ignored).
    pub span_kinds: Vec<u8>,
    /// Inclusive, in minutes since the Unix epoch, on `block_minutes` boundaries.
    pub from_minute: u64,
    pub to_minute: u64,
    /// 1, or [`ROLLUP_MINUTES`] when the query can be answered from roll-ups: a store with
    /// roll-ups answers with one row per block, `minute` being the block's first minute.
    pub block_minutes: u64,
    /// Whether rows must keep their operation; when not, a store may answer with rows summed
    /// over operations (operation `""`).
    pub by_operation: bool,
}

/// A series' service and, grouped by operation, its operation.
type Group = (Arc<str>, Option<Arc<str>>);

impl MetricsQuery {
    pub fn start_ms(&self) -> i64 {
        self.end_ms.saturating_sub(self.lookback_ms)
    }

    /// The block length (in minutes) the answer can be computed at: [`ROLLUP_MINUTES`] when
    /// every point and window edge falls on a block boundary, else 1.
    pub fn block_minutes(&self) -> u64 {
        let block_ms = ROLLUP_MINUTES as i64 * MINUTE_MS;
        let aligned = |ms: i64| ms.rem_euclid(block_ms) == 0;
        if aligned(self.step_ms) && aligned(self.rate_per_ms) && aligned(self.start_ms()) {
            ROLLUP_MINUTES
        } else {
            1
        }
    }

    /// The rows a store must read: every block any point's window can reach.
    pub fn rows(&self) -> RowRequest {
        let block = self.block_minutes();
        let first = self.start_ms().saturating_sub(self.rate_per_ms).div_euclid(MINUTE_MS).max(0) as u64;
        let to_minute = self.end_ms.saturating_sub(1).div_euclid(MINUTE_MS).max(0) as u64;
        RowRequest {
            services: self.services.clone(),
            span_kinds: self.span_kinds.clone(),
            from_minute: first - first % block,
            to_minute,
            block_minutes: block,
            by_operation: self.group_by_operation,
        }
    }

    pub fn check(&self) -> Result<(), QueryError> {
        if self.step_ms <= 0 {
            return Err(QueryError::Step);
        }
        if self.rate_per_ms <= 0 {
            return Err(QueryError::RatePer);
        }
        if self.lookback_ms.max(0) / self.step_ms >= MAX_POINTS {
            return Err(QueryError::TooManyPoints);
        }
        Ok(())
    }
}

/// Jaeger's family name and help text for `measure`.
fn family_names(measure: Measure, by_operation: bool) -> (String, String) {
    let (name, help) = match measure {
        Measure::Calls => ("service_call_rate", "calls/sec, grouped by service".to_string()),
        Measure::Errors => (
            "service_error_rate",
            "error rate, computed as a fraction of errors/sec over calls/sec, grouped by service".to_string(),
        ),
        Measure::Latency(q) => ("service_latencies", format!("{q:.2}th quantile latency, grouped by service")),
    };
    if by_operation {
        (name.replacen("service", "service_operation", 1), help + " & operation")
    } else {
        (name.to_string(), help)
    }
}

/// Evaluates `query` over `rows` (which may hold other services, kinds and minutes too).
pub fn evaluate(query: &MetricsQuery, measure: Measure, rows: &[Row]) -> Result<Family, QueryError> {
    evaluate_at(query, measure, rows, query.block_minutes())
}

/// [`evaluate`] with rows filed under blocks of `block` minutes.
fn evaluate_at(query: &MetricsQuery, measure: Measure, rows: &[Row], block: u64) -> Result<Family, QueryError> {
    query.check()?;
    let (name, help) = family_names(measure, query.group_by_operation);
    let mut groups: BTreeMap<Group, BTreeMap<u64, Agg>> = BTreeMap::new();
    let request = query.rows();
    let services: std::collections::HashSet<&str> = query.services.iter().map(String::as_str).collect();
    let latency = matches!(measure, Measure::Latency(_));
    for row in rows {
        if row.minute < request.from_minute || row.minute > request.to_minute || !query.span_kinds.contains(&row.kind) {
            continue;
        }
        if !services.contains(&*row.service) {
            continue;
        }
        let op = query.group_by_operation.then(|| row.operation.clone());
        let slot = groups.entry((row.service.clone(), op)).or_default().entry(row.minute - row.minute % block).or_default();
        if latency {
            slot.merge(&row.agg);
        } else {
            // Calls and errors need no histogram: merging them is most of a long query's work.
            slot.calls = slot.calls.saturating_add(row.agg.calls);
            slot.errors = slot.errors.saturating_add(row.agg.errors);
        }
    }
    let series = groups
        .into_iter()
        .filter_map(|((service, op), minutes)| {
            let points = points(query, measure, &minutes);
            if points.is_empty() {
                return None;
            }
            let mut labels = vec![("service_name", service.to_string())];
            if let Some(op) = op {
                labels.push(("operation", op.to_string()));
            }
            Some(Series { labels, points })
        })
        .collect();
    Ok(Family { name, help, series })
}

fn points(query: &MetricsQuery, measure: Measure, minutes: &BTreeMap<u64, Agg>) -> Vec<(i64, f64)> {
    let rows: Vec<(i64, &Agg)> = minutes.iter().map(|(m, a)| (*m as i64, a)).collect();
    // Calls per second of the part of the window that has passed (at least a second).
    let rate_secs = |t: i64| (query.rate_per_ms - (t - query.now_ms).max(0)).max(1000) as f64 / 1000.0;
    let mut out = Vec::new();
    // The window is rows[lo..hi]: blocks starting in [t - ratePer, t).
    let (mut lo, mut hi) = (0usize, 0usize);
    let (mut calls, mut errors) = (0u64, 0u64);
    let mut dense = matches!(measure, Measure::Latency(_)).then(DenseHistogram::default);
    let mut started = false;
    let mut t = query.start_ms();
    while t <= query.end_ms {
        while let Some((_, agg)) = rows.get(hi).filter(|(m, _)| m * MINUTE_MS < t) {
            calls += agg.calls;
            errors += agg.errors;
            if let Some(d) = dense.as_mut() {
                d.add(&agg.latency);
            }
            hi += 1;
        }
        while let Some((_, agg)) = rows.get(lo).filter(|(m, _)| lo < hi && m * MINUTE_MS < t - query.rate_per_ms) {
            calls -= agg.calls;
            errors -= agg.errors;
            if let Some(d) = dense.as_mut() {
                d.subtract(&agg.latency);
            }
            lo += 1;
        }
        match measure {
            Measure::Calls => {
                started |= calls > 0;
                if started {
                    out.push((t, calls as f64 / rate_secs(t)));
                }
            }
            Measure::Errors if calls > 0 => out.push((t, errors as f64 / calls as f64)),
            Measure::Latency(q) => {
                if let Some(us) = dense.as_ref().and_then(|d| d.quantile(q)) {
                    out.push((t, us / 1000.0));
                }
            }
            Measure::Errors => {}
        }
        t += query.step_ms;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::red::histogram::Histogram;

    fn row(minute: u64, op: &str, kind: u8, calls: u64, errors: u64, ms: &[u64]) -> Row {
        let mut latency = Histogram::default();
        for m in ms {
            latency.observe(m * 1000);
        }
        Row { minute, service: Arc::from("svc"), operation: Arc::from(op), kind, agg: Agg { calls, errors, latency } }
    }

    fn query(end_min: i64, lookback_min: i64, step_min: i64, rate_min: i64, by_op: bool) -> MetricsQuery {
        MetricsQuery {
            services: vec!["svc".into()],
            span_kinds: vec![2],
            group_by_operation: by_op,
            end_ms: end_min * MINUTE_MS,
            lookback_ms: lookback_min * MINUTE_MS,
            step_ms: step_min * MINUTE_MS,
            rate_per_ms: rate_min * MINUTE_MS,
            now_ms: end_min * MINUTE_MS,
        }
    }

    #[test]
    fn calls_errors_and_latencies_over_a_sliding_window() {
        let rows = vec![
            row(100, "GET", 2, 60, 6, &[10; 60]),
            row(101, "GET", 2, 120, 0, &[100; 120]),
            row(101, "PUT", 2, 30, 30, &[1000; 30]),
            // Another kind: not counted with the default server kind.
            row(101, "GET", 3, 1000, 1000, &[5]),
        ];
        let q = query(104, 4, 1, 2, false);
        let calls = evaluate(&q, Measure::Calls, &rows).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(calls.name, "service_call_rate");
        assert_eq!(calls.series.len(), 1);
        // Points at minutes 100..=104; window [t-2m, t): 100 -> {}, 101 -> {100}, 102 -> {100,101}, 103 -> {101}, 104 -> {}.
        let per_sec = |n: f64| n / 120.0;
        assert_eq!(
            calls.series[0].points,
            vec![(101 * MINUTE_MS, per_sec(60.0)), (102 * MINUTE_MS, per_sec(210.0)), (103 * MINUTE_MS, per_sec(150.0)), (104 * MINUTE_MS, 0.0)]
        );
        let errors = evaluate(&q, Measure::Errors, &rows).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(errors.series[0].points, vec![(101 * MINUTE_MS, 0.1), (102 * MINUTE_MS, 36.0 / 210.0), (103 * MINUTE_MS, 0.2)]);
        let p50 = evaluate(&q, Measure::Latency(0.5), &rows).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p50.help, "0.50th quantile latency, grouped by service");
        let values: Vec<f64> = p50.series[0].points.iter().map(|p| p.1).collect();
        for (got, want) in values.iter().zip([10.0, 100.0, 100.0]) {
            assert!((got - want).abs() / want <= 0.125, "{got} against {want}");
        }
        assert_eq!(values.len(), 3);
    }

    #[test]
    fn grouped_by_operation_each_operation_is_a_series() {
        let rows = vec![row(100, "GET", 2, 6, 0, &[1]), row(100, "PUT", 2, 12, 0, &[1])];
        let fam = evaluate(&query(101, 0, 1, 1, true), Measure::Calls, &rows).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(fam.name, "service_operation_call_rate");
        assert_eq!(fam.help, "calls/sec, grouped by service & operation");
        let got: Vec<(Vec<(&str, String)>, f64)> = fam.series.iter().map(|s| (s.labels.clone(), s.points[0].1)).collect();
        assert_eq!(
            got,
            vec![
                (vec![("service_name", "svc".into()), ("operation", "GET".into())], 0.1),
                (vec![("service_name", "svc".into()), ("operation", "PUT".into())], 0.2)
            ]
        );
    }

    /// Rows at minute resolution, as many operations and kinds over three hours.
    fn minute_rows() -> Vec<Row> {
        let mut rows = Vec::new();
        for minute in 1000..1180u64 {
            for (i, op) in ["GET", "PUT", "DELETE"].iter().enumerate() {
                let calls = (minute * 7 + i as u64 * 13) % 50;
                let ms: Vec<u64> = (0..calls).map(|c| 1 + (c * minute) % 900).collect();
                rows.push(row(minute, op, 2 + (i as u8 % 2), calls, calls / 7, &ms));
            }
        }
        rows
    }

    /// `rows` as a store keeping ten-minute roll-ups answers them.
    fn rolled_up(rows: &[Row]) -> Vec<Row> {
        let mut blocks: BTreeMap<(u64, Arc<str>, u8), Agg> = BTreeMap::new();
        for r in rows {
            blocks.entry((r.minute - r.minute % ROLLUP_MINUTES, r.operation.clone(), r.kind)).or_default().merge(&r.agg);
        }
        blocks.into_iter().map(|((minute, operation, kind), agg)| Row { minute, service: Arc::from("svc"), operation, kind, agg }).collect()
    }

    #[test]
    fn aligned_queries_answer_the_same_from_roll_ups_as_from_minutes() {
        let rows = minute_rows();
        let blocks = rolled_up(&rows);
        assert!(blocks.len() * 9 < rows.len(), "{} blocks for {} minutes", blocks.len(), rows.len());
        for (end, lookback, step, rate, by_op) in [(1180, 180, 10, 10, false), (1170, 120, 20, 30, true), (1180, 60, 10, 60, false)] {
            let mut q = query(end, lookback, step, rate, by_op);
            q.span_kinds = vec![2, 3];
            assert_eq!(q.block_minutes(), ROLLUP_MINUTES);
            assert_eq!(q.rows().from_minute % ROLLUP_MINUTES, 0);
            for measure in [Measure::Calls, Measure::Errors, Measure::Latency(0.95)] {
                let fine = evaluate_at(&q, measure, &rows, 1).unwrap_or_else(|e| panic!("{e}"));
                let coarse = evaluate(&q, measure, &blocks).unwrap_or_else(|e| panic!("{e}"));
                assert!(!fine.series.is_empty());
                assert_eq!(fine, coarse, "{measure:?} over {lookback} min at a {step} min step");
            }
        }
    }

    #[test]
    fn a_point_after_now_is_a_rate_over_the_part_of_its_window_that_has_passed() {
        // 60 calls a minute for the last four minutes, and 30 so far in the current one.
        let mut rows: Vec<Row> = (1176..1180).map(|m| row(m, "GET", 2, 60, 0, &[5])).collect();
        rows.push(row(1180, "GET", 2, 30, 0, &[5]));
        // The page's last point ends the current block (1190) while it is 1180:30.
        let mut q = query(1190, 10, 10, 10, false);
        q.now_ms = 1180 * MINUTE_MS + 30_000;
        let calls = evaluate(&q, Measure::Calls, &rows).unwrap_or_else(|e| panic!("{e}"));
        let last = calls.series[0].points.last().copied().unwrap_or_default();
        assert_eq!(last.0, 1190 * MINUTE_MS);
        assert!((last.1 - 1.0).abs() < 1e-9, "30 calls in the 30 s that passed: 1/s, got {}", last.1);
        // The point at 1180 (before now) is over its whole window.
        assert!((calls.series[0].points[0].1 - 240.0 / 600.0).abs() < 1e-9, "{:?}", calls.series[0].points);
    }

    #[test]
    fn unaligned_queries_read_minutes() {
        // The Jaeger UI's own Monitor tab: endTs is now, a one-minute step, ten-minute rates.
        assert_eq!(query(1183, 60, 1, 10, false).block_minutes(), 1);
        assert_eq!(query(1180, 60, 5, 10, false).block_minutes(), 1);
        let mut q = query(1180, 60, 10, 10, false);
        q.end_ms += 1;
        assert_eq!(q.block_minutes(), 1);
        assert_eq!(q.rows().from_minute, 1110);
    }

    #[test]
    fn bad_steps_are_refused_with_prometheus_texts() {
        let mut q = query(100, 60, 1, 1, false);
        q.step_ms = 0;
        assert_eq!(evaluate(&q, Measure::Calls, &[]), Err(QueryError::Step));
        q.step_ms = 1;
        q.lookback_ms = 24 * 3600 * 1000;
        assert_eq!(evaluate(&q, Measure::Calls, &[]), Err(QueryError::TooManyPoints));
    }
}
