//! Jaeger's metrics query API, what the Monitor tab (service performance monitoring) reads:
//! `GET /api/metrics/{calls,errors,latencies,minstep}` (`cmd/query/app/http_handler.go`),
//! answered from the store's own RED metrics ([`tracegate_core::red`]) instead of Prometheus.
//!
//! Parameters and their error texts are Jaeger's (`parseMetricsQueryParams`): `service`
//! (repeatable, required), `spanKind` (repeatable: unspecified, internal, server, client,
//! producer, consumer; default server), `groupByOperation`, `endTs` (Unix ms, default now),
//! `lookback` (ms, default 1 h), `step` (ms, default 5 s), `ratePer` (ms, default 10 min), and
//! for latencies `quantile` (parsed first). A parameter error answers 400 in Jaeger's envelope;
//! a store without metrics answers 501 `metrics querying is currently disabled`, as Jaeger with
//! no metrics storage; a query Prometheus would refuse (step <= 0, more than 11,000 points)
//! answers 500 with Prometheus' text, as Jaeger passes it on.
//!
//! The answer is the `MetricFamily` of jaeger-idl's `api_v2/metrics/openmetrics.proto` as
//! Jaeger's gogo `jsonpb` marshaler writes it: camelCase names, the enum by name, empty lists
//! left out, `gaugeValue.doubleValue` numbers as Go's `encoding/json` prints a float64, and
//! timestamps in RFC 3339 with 0, 3, 6 or 9 fraction digits. `minstep` answers in the usual
//! envelope with the store's resolution in ms (one minute).

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::Query;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use tracegate_core::red::{evaluate, Family, Measure, MetricsQuery, MetricsReader};

use crate::api::{error, to_json, RawParams, SharedState};
use crate::params::{param_error, Params};

/// Jaeger's `defaultMetricsQuery*` values, in ms.
const DEFAULT_LOOKBACK_MS: i64 = 3_600_000;
const DEFAULT_STEP_MS: i64 = 5_000;
const DEFAULT_RATE_PER_MS: i64 = 600_000;

/// Jaeger's `disabled.ErrDisabled`.
const DISABLED: &str = "metrics querying is currently disabled";

/// Go's `strconv.ParseBool`.
fn parse_bool(params: &Params, name: &str) -> Result<bool, String> {
    match params.get(name) {
        None => Ok(false),
        Some("1" | "t" | "T" | "TRUE" | "true" | "True") => Ok(true),
        Some("0" | "f" | "F" | "FALSE" | "false" | "False") => Ok(false),
        Some(v) => Err(param_error(name, &format!("strconv.ParseBool: parsing \"{v}\": invalid syntax"))),
    }
}

/// `strconv.ParseInt(s, 10, 64)` as milliseconds, or the default when absent.
fn parse_ms(params: &Params, name: &str, default: i64) -> Result<i64, String> {
    let Some(raw) = params.get(name) else { return Ok(default) };
    let digits = raw.strip_prefix('+').unwrap_or(raw);
    match digits.parse::<i128>() {
        Ok(v) if !digits.starts_with('+') && i64::try_from(v).is_ok() => Ok(v as i64),
        Ok(_) => Err(param_error(name, &format!("strconv.ParseInt: parsing \"{raw}\": value out of range"))),
        Err(_) => Err(param_error(name, &format!("strconv.ParseInt: parsing \"{raw}\": invalid syntax"))),
    }
}

/// Jaeger's span kind names -> OTLP kinds.
fn span_kind(name: &str) -> Option<u8> {
    Some(match name {
        "unspecified" => 0,
        "internal" => 1,
        "server" => 2,
        "client" => 3,
        "producer" => 4,
        "consumer" => 5,
        _ => return None,
    })
}

/// `parseMetricsQueryParams`, in Jaeger's order.
fn parse_query(params: &Params, now_ms: i64) -> Result<MetricsQuery, String> {
    let services: Vec<String> = params.0.iter().filter(|(k, _)| k == "service").map(|(_, v)| v.clone()).collect();
    if services.is_empty() {
        return Err(param_error("service", "please provide at least one service name"));
    }
    let group_by_operation = parse_bool(params, "groupByOperation")?;
    let kinds: Vec<&str> = params.all("spanKind").collect();
    let span_kinds = if kinds.is_empty() && !params.0.iter().any(|(k, _)| k == "spanKind") {
        vec![2]
    } else {
        kinds
            .iter()
            .map(|k| span_kind(k).ok_or_else(|| param_error("spanKind", &format!("unsupported span kind: '{k}'"))))
            .collect::<Result<_, _>>()?
    };
    let end_ms = parse_ms(params, "endTs", now_ms)?;
    let lookback_ms = parse_ms(params, "lookback", DEFAULT_LOOKBACK_MS)?;
    let step_ms = parse_ms(params, "step", DEFAULT_STEP_MS)?;
    let rate_per_ms = parse_ms(params, "ratePer", DEFAULT_RATE_PER_MS)?;
    Ok(MetricsQuery { services, span_kinds, group_by_operation, end_ms, lookback_ms, step_ms, rate_per_ms, now_ms })
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn bad_request(msg: String) -> Response {
    error(StatusCode::BAD_REQUEST, msg)
}

fn reader(state: &SharedState) -> Option<Arc<dyn MetricsReader>> {
    state.0.reader.metrics()
}

fn disabled() -> Response {
    error(StatusCode::NOT_IMPLEMENTED, DISABLED)
}

pub async fn calls(state: SharedState, Query(q): RawParams) -> Response {
    answer(state, Params(q), Measure::Calls).await
}

pub async fn errors(state: SharedState, Query(q): RawParams) -> Response {
    answer(state, Params(q), Measure::Errors).await
}

pub async fn latencies(state: SharedState, Query(q): RawParams) -> Response {
    let params = Params(q);
    let raw = params.get("quantile").unwrap_or("");
    let quantile = match raw.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => v,
        Ok(_) => return bad_request(param_error("quantile", &format!("{raw} is not between 0 and 1"))),
        Err(_) => return bad_request(param_error("quantile", &format!("strconv.ParseFloat: parsing \"{raw}\": invalid syntax"))),
    };
    answer(state, params, Measure::Latency(quantile)).await
}

pub async fn min_step(state: SharedState, Query(q): RawParams) -> Response {
    let Some(metrics) = reader(&state) else { return disabled() };
    /// Jaeger's `structuredResponse`, fields in its order.
    #[derive(serde::Serialize)]
    struct Envelope {
        data: i64,
        total: usize,
        limit: usize,
        offset: usize,
        errors: Option<()>,
    }
    let body = Envelope { data: metrics.min_step_ms(), total: 0, limit: 0, offset: 0, errors: None };
    let pretty = Params(q).get("prettyPrint").is_some_and(|v| v != "false");
    ([(header::CONTENT_TYPE, "application/json")], to_json(&body, pretty)).into_response()
}

async fn answer(state: SharedState, params: Params, measure: Measure) -> Response {
    let query = match parse_query(&params, now_ms()) {
        Ok(q) => q,
        Err(msg) => return bad_request(msg),
    };
    let Some(metrics) = reader(&state) else { return disabled() };
    let failed = |msg: String| {
        let msg = format!("failed executing metrics query: {msg}");
        let msg = if measure == Measure::Errors { format!("failed getting error metrics: {msg}") } else { msg };
        error(StatusCode::INTERNAL_SERVER_ERROR, msg)
    };
    if let Err(e) = query.check() {
        return failed(format!("bad_data: {e}"));
    }
    let rows = match metrics.rows(&query.rows()).await {
        Ok(rows) => rows,
        Err(e) => return failed(e.to_string()),
    };
    let evaluated = tokio::task::spawn_blocking(move || evaluate(&query, measure, &rows)).await;
    match evaluated {
        Ok(Ok(family)) => ([(header::CONTENT_TYPE, "application/json")], family_json(&family)).into_response(),
        Ok(Err(e)) => failed(format!("bad_data: {e}")),
        Err(e) => failed(e.to_string()),
    }
}

/// A float64 as Go's `encoding/json` writes it: shortest round-trip digits, exponent form
/// below 1e-6 and from 1e21 (`1e-7`, `1e+21`).
fn go_float(v: f64) -> String {
    let abs = v.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{v:e}");
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
            _ => s,
        }
    } else {
        format!("{v}")
    }
}

/// A `google.protobuf.Timestamp` as gogo's jsonpb writes it: the fraction in groups of three
/// digits, dropped when zero.
fn timestamp(ms: i64) -> String {
    let ms = ms.max(0) as u64;
    let whole = tracegate_core::timefmt::rfc3339_nanos((ms / 1000) * 1_000_000_000);
    let frac = ms % 1000;
    match whole.strip_suffix('Z') {
        Some(base) if frac != 0 => format!("{base}.{frac:03}Z"),
        _ => whole,
    }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// The family as Jaeger's `jsonpb` marshaler writes `metrics.MetricFamily`.
pub fn family_json(f: &Family) -> String {
    let mut out = String::with_capacity(256 + f.series.iter().map(|s| s.points.len() * 64).sum::<usize>());
    let _ = write!(out, "{{\"name\":{},\"type\":\"GAUGE\",\"help\":{}", json_str(&f.name), json_str(&f.help));
    if !f.series.is_empty() {
        out.push_str(",\"metrics\":[");
        for (i, s) in f.series.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('{');
            if !s.labels.is_empty() {
                out.push_str("\"labels\":[");
                for (j, (name, value)) in s.labels.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{{\"name\":{},\"value\":{}}}", json_str(name), json_str(value));
                }
                out.push(']');
            }
            if !s.points.is_empty() {
                if !s.labels.is_empty() {
                    out.push(',');
                }
                out.push_str("\"metricPoints\":[");
                for (j, (t, v)) in s.points.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{{\"gaugeValue\":{{\"doubleValue\":{}}},\"timestamp\":\"{}\"}}", go_float(*v), timestamp(*t));
                }
                out.push(']');
            }
            out.push('}');
        }
        out.push(']');
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_and_timestamps_print_as_go_does() {
        assert_eq!(go_float(0.0), "0");
        assert_eq!(go_float(0.25), "0.25");
        assert_eq!(go_float(120.0), "120");
        assert_eq!(go_float(1e-7), "1e-7");
        assert_eq!(go_float(2.5e21), "2.5e+21");
        assert_eq!(timestamp(1_700_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(timestamp(1_700_000_000_120), "2023-11-14T22:13:20.120Z");
    }

    #[test]
    fn parameters_parse_and_fail_with_jaegers_texts() {
        let p = |pairs: &[(&str, &str)]| Params(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
        assert_eq!(parse_query(&p(&[]), 0), Err("unable to parse param 'service': please provide at least one service name".into()));
        let q = parse_query(&p(&[("service", "a"), ("service", "b")]), 99).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((q.services.len(), q.span_kinds.clone(), q.end_ms, q.lookback_ms, q.step_ms, q.rate_per_ms), (2, vec![2], 99, 3_600_000, 5_000, 600_000));
        assert_eq!(
            parse_query(&p(&[("service", "a"), ("spanKind", "server"), ("spanKind", "bogus")]), 0),
            Err("unable to parse param 'spanKind': unsupported span kind: 'bogus'".into())
        );
        assert_eq!(
            parse_query(&p(&[("service", "a"), ("groupByOperation", "yes")]), 0),
            Err("unable to parse param 'groupByOperation': strconv.ParseBool: parsing \"yes\": invalid syntax".into())
        );
        assert_eq!(
            parse_query(&p(&[("service", "a"), ("step", "5s")]), 0),
            Err("unable to parse param 'step': strconv.ParseInt: parsing \"5s\": invalid syntax".into())
        );
    }
}
