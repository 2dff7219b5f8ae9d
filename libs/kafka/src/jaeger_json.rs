//! Jaeger's `json` Kafka encoding: an api_v2 `model.Span` in protobuf JSON (`jsonpb`), as
//! Jaeger's collector writes it with `--kafka.producer.encoding=json` and its ingester reads it.
//!
//! The rules are gogo `jsonpb`'s with Jaeger's id types: lowerCamelCase keys, zero values
//! left out (so `vType` STRING and `refType` CHILD_OF never appear), enums by name, 64-bit
//! integers as strings, `bytes` and the ids as standard base64 (the trace id as its 16
//! big-endian bytes, the span id as 8), timestamps as RFC 3339 with 0, 3, 6 or 9 fraction
//! digits and durations as seconds (`"0.000139s"`). Reading is lenient where jsonpb is:
//! original snake_case keys, enums as numbers, integers as numbers, any base64 alphabet.
//!
//! Hand-written on serde rather than a generated protobuf-JSON mapping: the model is small
//! and fixed, and the id encoding is Jaeger's own, not protobuf's. The file is past 400 lines
//! because jsonpb's timestamps and durations (both directions) are here with the mapping that
//! uses them: they follow jsonpb's rules (0, 3, 6 or 9 fraction digits, lenient reading),
//! not `core::timefmt`'s Go printing.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use prost_types::{Duration, Timestamp};
use serde::{Deserialize, Serialize};
use tracegate_translator_jaeger::proto;

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct JsonSpan {
    #[serde(default, alias = "trace_id", skip_serializing_if = "String::is_empty")]
    trace_id: String,
    #[serde(default, alias = "span_id", skip_serializing_if = "String::is_empty")]
    span_id: String,
    #[serde(
        default,
        alias = "operation_name",
        skip_serializing_if = "String::is_empty"
    )]
    operation_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    references: Vec<JsonRef>,
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    flags: u32,
    #[serde(default, alias = "start_time", skip_serializing_if = "Option::is_none")]
    start_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    duration: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tags: Vec<JsonKeyValue>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    logs: Vec<JsonLog>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    process: Option<JsonProcess>,
    #[serde(
        default,
        alias = "process_id",
        skip_serializing_if = "String::is_empty"
    )]
    process_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct JsonRef {
    #[serde(default, alias = "trace_id", skip_serializing_if = "String::is_empty")]
    trace_id: String,
    #[serde(default, alias = "span_id", skip_serializing_if = "String::is_empty")]
    span_id: String,
    #[serde(default, alias = "ref_type", skip_serializing_if = "Option::is_none")]
    ref_type: Option<EnumValue>,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct JsonKeyValue {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    key: String,
    #[serde(default, alias = "v_type", skip_serializing_if = "Option::is_none")]
    v_type: Option<EnumValue>,
    #[serde(default, alias = "v_str", skip_serializing_if = "String::is_empty")]
    v_str: String,
    #[serde(default, alias = "v_bool", skip_serializing_if = "is_false")]
    v_bool: bool,
    #[serde(default, alias = "v_int64", skip_serializing_if = "Option::is_none")]
    v_int64: Option<Number>,
    #[serde(default, alias = "v_float64", skip_serializing_if = "Option::is_none")]
    v_float64: Option<Number>,
    #[serde(default, alias = "v_binary", skip_serializing_if = "String::is_empty")]
    v_binary: String,
}

#[derive(Serialize, Deserialize, Default)]
struct JsonLog {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    fields: Vec<JsonKeyValue>,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct JsonProcess {
    #[serde(
        default,
        alias = "service_name",
        skip_serializing_if = "String::is_empty"
    )]
    service_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tags: Vec<JsonKeyValue>,
}

/// An enum by name (written) or by name or number (read).
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum EnumValue {
    Name(String),
    Number(i32),
}

/// A number as jsonpb writes 64-bit integers and special floats (a string) or as a plain
/// JSON number; both are read.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Number {
    Text(String),
    Int(i64),
    Float(f64),
}

fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

fn is_false(v: &bool) -> bool {
    !*v
}

/// The JSON bytes of one span.
pub fn encode_span(span: &proto::Span) -> Result<Vec<u8>, String> {
    let json = JsonSpan {
        trace_id: b64(&span.trace_id),
        span_id: b64(&span.span_id),
        operation_name: span.operation_name.clone(),
        references: span
            .references
            .iter()
            .map(|r| JsonRef {
                trace_id: b64(&r.trace_id),
                span_id: b64(&r.span_id),
                ref_type: enum_name(r.ref_type, |v| {
                    proto::SpanRefType::try_from(v)
                        .ok()
                        .map(|t| t.as_str_name())
                }),
            })
            .collect(),
        flags: span.flags,
        start_time: span.start_time.as_ref().map(format_timestamp).transpose()?,
        duration: span.duration.as_ref().map(format_duration),
        tags: span.tags.iter().map(kv_to_json).collect(),
        logs: span
            .logs
            .iter()
            .map(|l| {
                Ok(JsonLog {
                    timestamp: l.timestamp.as_ref().map(format_timestamp).transpose()?,
                    fields: l.fields.iter().map(kv_to_json).collect(),
                })
            })
            .collect::<Result<_, String>>()?,
        process: span.process.as_ref().map(|p| JsonProcess {
            service_name: p.service_name.clone(),
            tags: p.tags.iter().map(kv_to_json).collect(),
        }),
        process_id: span.process_id.clone(),
        warnings: span.warnings.clone(),
    };
    serde_json::to_vec(&json).map_err(|e| e.to_string())
}

/// One span from its JSON bytes.
pub fn decode_span(bytes: &[u8]) -> Result<proto::Span, String> {
    // serde would also read a struct from a JSON array; a span is an object.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err("not a JSON object".into());
    }
    let json: JsonSpan = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let references = json
        .references
        .into_iter()
        .map(|r| {
            Ok(proto::SpanRef {
                trace_id: unb64(&r.trace_id, "references.traceId")?,
                span_id: unb64(&r.span_id, "references.spanId")?,
                ref_type: enum_value(
                    r.ref_type,
                    |s| proto::SpanRefType::from_str_name(s).map(|t| t as i32),
                    "refType",
                )?,
            })
        })
        .collect::<Result<_, String>>()?;
    let logs = json
        .logs
        .into_iter()
        .map(|l| {
            Ok(proto::Log {
                timestamp: l.timestamp.as_deref().map(parse_timestamp).transpose()?,
                fields: kvs_from_json(l.fields)?,
            })
        })
        .collect::<Result<_, String>>()?;
    let process = json
        .process
        .map(|p| {
            Ok::<_, String>(proto::Process {
                service_name: p.service_name,
                tags: kvs_from_json(p.tags)?,
            })
        })
        .transpose()?;
    Ok(proto::Span {
        trace_id: unb64(&json.trace_id, "traceId")?,
        span_id: unb64(&json.span_id, "spanId")?,
        operation_name: json.operation_name,
        references,
        flags: json.flags,
        start_time: json
            .start_time
            .as_deref()
            .map(parse_timestamp)
            .transpose()?,
        duration: json.duration.as_deref().map(parse_duration).transpose()?,
        tags: kvs_from_json(json.tags)?,
        logs,
        process,
        process_id: json.process_id,
        warnings: json.warnings,
    })
}

fn kv_to_json(kv: &proto::KeyValue) -> JsonKeyValue {
    JsonKeyValue {
        key: kv.key.clone(),
        v_type: enum_name(kv.v_type, |v| {
            proto::ValueType::try_from(v).ok().map(|t| t.as_str_name())
        }),
        v_str: kv.v_str.clone(),
        v_bool: kv.v_bool,
        v_int64: (kv.v_int64 != 0).then(|| Number::Text(kv.v_int64.to_string())),
        v_float64: (kv.v_float64 != 0.0).then(|| float_json(kv.v_float64)),
        v_binary: b64(&kv.v_binary),
    }
}

fn kvs_from_json(kvs: Vec<JsonKeyValue>) -> Result<Vec<proto::KeyValue>, String> {
    kvs.into_iter()
        .map(|kv| {
            Ok(proto::KeyValue {
                v_type: enum_value(
                    kv.v_type,
                    |s| proto::ValueType::from_str_name(s).map(|t| t as i32),
                    "vType",
                )?,
                v_int64: kv.v_int64.map(int_from_json).transpose()?.unwrap_or(0),
                v_float64: kv
                    .v_float64
                    .map(float_from_json)
                    .transpose()?
                    .unwrap_or(0.0),
                v_binary: unb64(&kv.v_binary, "vBinary")?,
                key: kv.key,
                v_str: kv.v_str,
                v_bool: kv.v_bool,
            })
        })
        .collect()
}

/// jsonpb leaves out an enum's zero value; an unknown number is written as a number.
fn enum_name(value: i32, name: impl Fn(i32) -> Option<&'static str>) -> Option<EnumValue> {
    (value != 0)
        .then(|| name(value).map_or(EnumValue::Number(value), |n| EnumValue::Name(n.to_string())))
}

fn enum_value(
    value: Option<EnumValue>,
    by_name: impl Fn(&str) -> Option<i32>,
    field: &str,
) -> Result<i32, String> {
    match value {
        None => Ok(0),
        Some(EnumValue::Number(n)) => Ok(n),
        Some(EnumValue::Name(s)) => {
            by_name(&s).ok_or_else(|| format!("{field}: unknown value {s:?}"))
        }
    }
}

fn float_json(f: f64) -> Number {
    if f.is_nan() {
        Number::Text("NaN".into())
    } else if f.is_infinite() {
        Number::Text(if f > 0.0 { "Infinity" } else { "-Infinity" }.into())
    } else {
        Number::Float(f)
    }
}

fn int_from_json(n: Number) -> Result<i64, String> {
    match n {
        Number::Int(i) => Ok(i),
        Number::Text(s) => s
            .parse()
            .map_err(|_| format!("vInt64: {s:?} is not a 64-bit integer")),
        Number::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
        Number::Float(f) => Err(format!("vInt64: {f} is not an integer")),
    }
}

fn float_from_json(n: Number) -> Result<f64, String> {
    match n {
        Number::Int(i) => Ok(i as f64),
        Number::Float(f) => Ok(f),
        Number::Text(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            _ => s
                .parse()
                .map_err(|_| format!("vFloat64: {s:?} is not a number")),
        },
    }
}

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

fn unb64(text: &str, field: &str) -> Result<Vec<u8>, String> {
    [&STANDARD, &URL_SAFE, &STANDARD_NO_PAD, &URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
        .ok_or_else(|| format!("{field}: {text:?} is not base64"))
}

/// Fraction digits as jsonpb writes them: none, 3, 6 or 9.
fn fraction(nanos: u32) -> String {
    if nanos == 0 {
        String::new()
    } else if nanos.is_multiple_of(1_000_000) {
        format!(".{:03}", nanos / 1_000_000)
    } else if nanos.is_multiple_of(1_000) {
        format!(".{:06}", nanos / 1_000)
    } else {
        format!(".{nanos:09}")
    }
}

fn format_timestamp(ts: &Timestamp) -> Result<String, String> {
    let nanos = u32::try_from(ts.nanos).ok().filter(|n| *n < 1_000_000_000);
    let Some(nanos) = nanos.filter(|_| (-62_135_596_800..253_402_300_800).contains(&ts.seconds))
    else {
        return Err(format!(
            "timestamp {}s {}ns is outside 0001..9999",
            ts.seconds, ts.nanos
        ));
    };
    let (days, rem) = (ts.seconds.div_euclid(86_400), ts.seconds.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    Ok(format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        fraction(nanos)
    ))
}

fn format_duration(d: &Duration) -> String {
    let negative = d.seconds < 0 || d.nanos < 0;
    let sign = if negative { "-" } else { "" };
    format!(
        "{sign}{}{}s",
        d.seconds.unsigned_abs(),
        fraction(d.nanos.unsigned_abs())
    )
}

/// `[-]S[.fffffffff]s`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("duration: {text:?} is not like \"1.5s\"");
    let body = text.strip_suffix('s').ok_or_else(bad)?;
    let (negative, body) = match body.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, body),
    };
    let (secs, frac) = body.split_once('.').unwrap_or((body, ""));
    let seconds: i64 = digits(secs).ok_or_else(bad)?;
    let nanos = parse_fraction(frac).ok_or_else(bad)?;
    let sign = if negative { -1 } else { 1 };
    Ok(Duration {
        seconds: sign * seconds,
        nanos: sign as i32 * nanos as i32,
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.f]` then `Z` or `±HH:MM`.
fn parse_timestamp(text: &str) -> Result<Timestamp, String> {
    let bad = || format!("timestamp: {text:?} is not RFC 3339");
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad());
    }
    let num =
        |range: std::ops::Range<usize>| text.get(range).and_then(digits::<i64>).ok_or_else(bad);
    let (y, mo, d, h, mi, s) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return Err(bad());
    }
    let rest = &text[19..];
    let (frac, zone) = match rest.strip_prefix('.') {
        Some(r) => {
            let end = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
            (&r[..end], &r[end..])
        }
        None => ("", rest),
    };
    let nanos = parse_fraction(frac).ok_or_else(bad)?;
    let offset = match zone {
        "Z" | "z" => 0,
        z if z.len() == 6 && matches!(&z[..1], "+" | "-") && &z[3..4] == ":" => {
            let (oh, om) = (
                z.get(1..3).and_then(digits::<i64>),
                z.get(4..6).and_then(digits::<i64>),
            );
            let minutes = oh.zip(om).map(|(h, m)| h * 60 + m).ok_or_else(bad)?;
            if z.starts_with('-') {
                -minutes * 60
            } else {
                minutes * 60
            }
        }
        _ => return Err(bad()),
    };
    let seconds =
        days_from_civil(y, mo as u32, d as u32) * 86_400 + h * 3600 + mi * 60 + s - offset;
    Ok(Timestamp {
        seconds,
        nanos: nanos as i32,
    })
}

fn digits<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) || s.len() > 18 {
        return None;
    }
    s.parse().ok()
}

fn parse_fraction(frac: &str) -> Option<u32> {
    if frac.is_empty() {
        return Some(0);
    }
    if frac.len() > 9 || !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let n: u32 = frac.parse().ok()?;
    Some(n * 10u32.pow(9 - frac.len() as u32))
}

/// Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Howard Hinnant's `days_from_civil`.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
#[path = "jaeger_json_tests.rs"]
mod tests;
