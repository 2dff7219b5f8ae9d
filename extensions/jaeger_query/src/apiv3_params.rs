//! The query parameters of Jaeger's api_v3 HTTP gateway, read as `apiv3/query_parser.go` and
//! `http_gateway.go` (jaegertracing/jaeger, 2.x) read them, with the same names, defaults and
//! error texts, since scripts written against Jaeger compare them.
//!
//! - Names: the canonical camelCase spelling (`query.serviceName`, `spanKind`, `startTime`)
//!   is read first, the deprecated snake_case one (`query.service_name`, ...) when it is
//!   absent or empty; an error names the spelling that was read, as Jaeger's `getQueryParam`.
//! - A search needs `query.startTimeMin` before `query.startTimeMax`; `query.searchDepth`
//!   (or `query.search_depth`, or the older `query.num_traces`) defaults to 100.
//! - `query.filter` (Jaeger's expression search) is refused with Jaeger's text for a
//!   deployment whose filter is disabled: tracegate does not evaluate expressions, and
//!   ignoring one would answer a different question.
//! - `query.attributes` takes Jaeger's JSON object; repeated `key:value` pairs are accepted
//!   too (an older tracegate spelling), since no JSON object starts without `{`.
//! - Trace ids: hex as Jaeger's `model.TraceIDFromString`, else (up to 24 characters)
//!   standard or URL-safe base64, padded or not, of 8 or 16 bytes, as `TraceIDFromString` of
//!   the gateway; the error is the hex parser's unless a base64 decoding succeeded with a
//!   wrong length.

use std::collections::BTreeMap;
use std::time::SystemTime;

use base64::alphabet::{Alphabet, STANDARD, URL_SAFE};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use tracegate_core::storage::{TraceId, TraceQuery};

use crate::params::{parse_duration, parse_trace_id, Params};
use crate::rfc3339::parse_rfc3339;

/// Jaeger's api_v3 `defaultSearchDepth`.
pub const DEFAULT_SEARCH_DEPTH: usize = 100;

/// Jaeger's `ErrFilterDisabled` text: what a Jaeger whose expression filter is off answers.
pub const FILTER_DISABLED: &str = "the structured query filter is disabled";

/// The value of `canonical`, else of `deprecated`, with the name that was read (Jaeger's
/// `getQueryParam`: when neither is set, the deprecated name).
pub fn param<'a>(params: &'a Params, canonical: &'static str, deprecated: &'static str) -> (Option<&'a str>, &'static str) {
    match params.get(canonical) {
        Some(v) => (Some(v), canonical),
        None => (params.get(deprecated), deprecated),
    }
}

/// `malformed parameter NAME: ERR`, the gateway's text for a value it cannot read.
pub fn malformed(name: &str, err: &str) -> String {
    format!("malformed parameter {name}: {err}")
}

/// Go's `strconv.ParseBool`.
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("strconv.ParseBool: parsing \"{s}\": invalid syntax")),
    }
}

/// Go's `strconv.Atoi` on a 64-bit machine.
fn atoi(s: &str) -> Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.Atoi: parsing \"{s}\": invalid syntax"));
    }
    s.parse::<i64>().map_err(|_| format!("strconv.Atoi: parsing \"{s}\": value out of range"))
}

/// A decoder as Go's `base64.Encoding` decodes: padding as the encoding says, and non-zero
/// bits after the last byte tolerated (Go's decoders are not strict unless asked to be).
fn go_base64(alphabet: &Alphabet, padded: bool) -> GeneralPurpose {
    let padding = if padded { DecodePaddingMode::RequireCanonical } else { DecodePaddingMode::RequireNone };
    GeneralPurpose::new(alphabet, GeneralPurposeConfig::new().with_decode_padding_mode(padding).with_decode_allow_trailing_bits(true))
}

/// The gateway's `TraceIDFromString`: hex first, then base64 of up to 24 characters.
pub fn trace_id_from_string(s: &str) -> Result<TraceId, String> {
    let hex_error = match parse_trace_id(s) {
        Ok(id) => return Ok(id),
        Err(e) => e,
    };
    if s.len() > 24 {
        return Err(hex_error);
    }
    // Go's StdEncoding, URLEncoding, RawStdEncoding, RawURLEncoding, in the gateway's order.
    let engines = [go_base64(&STANDARD, true), go_base64(&URL_SAFE, true), go_base64(&STANDARD, false), go_base64(&URL_SAFE, false)];
    for engine in engines {
        if let Ok(bytes) = engine.decode(s) {
            // The first decoding that succeeds decides, as in Jaeger (`TraceIDFromBytes`).
            let mut id = [0u8; 16];
            return match bytes.len() {
                16 => {
                    id.copy_from_slice(&bytes);
                    Ok(id)
                }
                8 => {
                    id[8..].copy_from_slice(&bytes);
                    Ok(id)
                }
                _ => Err("invalid length for TraceID".to_string()),
            };
        }
    }
    Err(hex_error)
}

/// The optional parameters of GetTrace (`startTime`, `endTime`, `rawTraces`), checked as
/// Jaeger checks them. tracegate looks a trace up by id alone and serves api_v3 traces as
/// stored (no adjusters run on them), so the values change nothing once they are valid.
pub fn check_trace_params(params: &Params) -> Result<(), String> {
    for (canonical, deprecated) in [("startTime", "start_time"), ("endTime", "end_time")] {
        if let (Some(raw), name) = param(params, canonical, deprecated) {
            parse_rfc3339(raw).map_err(|e| malformed(name, &e))?;
        }
    }
    if let (Some(raw), name) = param(params, "rawTraces", "raw_traces") {
        parse_bool(raw).map_err(|e| malformed(name, &e))?;
    }
    Ok(())
}

fn parse_attributes(params: &Params) -> Result<BTreeMap<String, String>, String> {
    let mut tags = BTreeMap::new();
    for raw in params.all("query.attributes").filter(|raw| !raw.is_empty()) {
        if raw.trim_start().starts_with('{') {
            let map: BTreeMap<String, String> = serde_json::from_str(raw).map_err(|e| e.to_string())?;
            tags.extend(map);
        } else if let Some((k, v)) = raw.split_once(':') {
            tags.insert(k.to_string(), v.to_string());
        } else {
            return Err(format!("expecting a JSON object or key:value, received: {raw}"));
        }
    }
    Ok(tags)
}

/// A FindTraces / FindTraceSummaries query as the store reads it, or the gateway's 400 text.
/// Checks run in Jaeger's order, so the first error reported is Jaeger's.
pub(crate) fn parse_query(params: &Params) -> Result<TraceQuery, String> {
    let tags = parse_attributes(params).map_err(|e| malformed("query.attributes", &e))?;
    if params.get("query.filter").is_some() {
        return Err(FILTER_DISABLED.to_string());
    }
    let (min, min_name) = param(params, "query.startTimeMin", "query.start_time_min");
    let (max, max_name) = param(params, "query.startTimeMax", "query.start_time_max");
    let (Some(min), Some(max)) = (min, max) else {
        return Err("query.startTimeMin and query.startTimeMax are required".to_string());
    };
    let time = |name: &str, raw: &str| -> Result<SystemTime, String> { parse_rfc3339(raw).map_err(|e| malformed(name, &e)) };
    let (start_min, start_max) = (time(min_name, min)?, time(max_name, max)?);
    if start_min >= start_max {
        return Err("query.startTimeMin must be before query.startTimeMax".to_string());
    }
    let (depth, mut depth_name) = param(params, "query.searchDepth", "query.search_depth");
    let depth = depth.or_else(|| {
        depth_name = "query.num_traces";
        params.get("query.num_traces")
    });
    let limit = match depth {
        None => DEFAULT_SEARCH_DEPTH,
        // Jaeger hands 0 or a negative depth to the store; here they mean the store's default.
        Some(raw) => usize::try_from(atoi(raw).map_err(|e| malformed(depth_name, &e))?).unwrap_or(0),
    };
    let duration = |canonical: &'static str, deprecated: &'static str| match param(params, canonical, deprecated) {
        (None, _) => Ok(None),
        (Some(raw), name) => parse_duration(raw).map_err(|e| malformed(name, &e)),
    };
    let duration_min = duration("query.durationMin", "query.duration_min")?;
    let duration_max = duration("query.durationMax", "query.duration_max")?;
    if let (Some(raw), name) = param(params, "query.rawTraces", "query.raw_traces") {
        // Valid or not as in Jaeger; tracegate's api_v3 serves traces as stored either way.
        parse_bool(raw).map_err(|e| malformed(name, &e))?;
    }
    Ok(TraceQuery {
        service: param(params, "query.serviceName", "query.service_name").0.unwrap_or_default().to_string(),
        operation: param(params, "query.operationName", "query.operation_name").0.map(str::to_string),
        tags,
        start_min: Some(start_min),
        start_max: Some(start_max),
        duration_min,
        duration_max,
        limit,
    })
}
