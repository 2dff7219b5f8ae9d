//! Query-string parsing with the error texts Jaeger's `query_parser.go` produces (Go's
//! `strconv` and `time.ParseDuration` messages included), because scripts and the UI show
//! them to users as they are.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracegate_core::config::{parse_go_duration, DurationError};
use tracegate_core::storage::TraceId;

/// Query parameters in order; repeated keys kept.
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// The first value, as Go's `FormValue`; absent and empty are the same.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// `strconv.ParseInt(s, 10, bits)`'s error text.
fn parse_int(s: &str, bits: u32) -> Result<i64, String> {
    let value: i128 = s
        .strip_prefix('+')
        .unwrap_or(s)
        .parse()
        .ok()
        .filter(|_| !s.is_empty() && !s.starts_with("+-") && !s.starts_with("++"))
        .ok_or_else(|| format!("strconv.ParseInt: parsing \"{s}\": invalid syntax"))?;
    let bound = 1i128 << (bits - 1);
    if value < -bound || value >= bound {
        return Err(format!("strconv.ParseInt: parsing \"{s}\": value out of range"));
    }
    Ok(value as i64)
}

/// `strconv.ParseUint(s, 16, 64)`'s error text.
fn parse_hex_u64(s: &str) -> Result<u64, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("strconv.ParseUint: parsing \"{s}\": invalid syntax"));
    }
    u64::from_str_radix(s, 16).map_err(|_| format!("strconv.ParseUint: parsing \"{s}\": value out of range"))
}

/// Jaeger's `model.TraceIDFromString`: up to 32 hex characters, the low half last.
pub fn parse_trace_id(s: &str) -> Result<TraceId, String> {
    let (high, low) = if s.len() > 32 {
        return Err(format!("TraceID cannot be longer than 32 hex characters: {s}"));
    } else if s.len() > 16 {
        let split = s.len() - 16;
        // Splitting inside a multi-byte character cannot yield hex digits anyway.
        let (h, l) = (s.get(..split).unwrap_or(s), s.get(split..).unwrap_or(s));
        (parse_hex_u64(h)?, parse_hex_u64(l)?)
    } else {
        (0, parse_hex_u64(s)?)
    };
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&high.to_be_bytes());
    id[8..].copy_from_slice(&low.to_be_bytes());
    Ok(id)
}

/// `time.ParseDuration`'s error texts. A negative duration (which Go accepts) bounds nothing.
pub fn parse_duration(s: &str) -> Result<Option<Duration>, String> {
    match parse_go_duration(s) {
        Ok(d) => Ok(Some(d)),
        Err(DurationError::Negative(_)) => Ok(None),
        Err(DurationError::MissingUnit(_)) => Err(format!("time: missing unit in duration \"{s}\"")),
        Err(DurationError::UnknownUnit(_, unit)) => Err(format!("time: unknown unit \"{unit}\" in duration \"{s}\"")),
        Err(_) => Err(format!("time: invalid duration \"{s}\"")),
    }
}

pub fn param_error(name: &str, err: &str) -> String {
    format!("unable to parse param '{name}': {err}")
}

/// A time given as an integer count of `unit` since the epoch; `None` when absent.
pub fn parse_time(params: &Params, name: &str, unit: Duration) -> Result<Option<SystemTime>, String> {
    let Some(raw) = params.get(name) else { return Ok(None) };
    let n = parse_int(raw, 64).map_err(|e| param_error(name, &e))?;
    let nanos = i128::from(n) * i128::try_from(unit.as_nanos()).unwrap_or(i128::MAX / 2);
    let offset = Duration::from_nanos(u64::try_from(nanos.unsigned_abs()).unwrap_or(u64::MAX));
    let at = if nanos >= 0 { UNIX_EPOCH.checked_add(offset) } else { UNIX_EPOCH.checked_sub(offset) };
    Ok(Some(at.unwrap_or(UNIX_EPOCH)))
}

pub fn parse_limit(params: &Params, name: &str, default: usize) -> Result<usize, String> {
    match params.get(name) {
        None => Ok(default),
        // Jaeger's message for a bad limit is strconv's alone, without the parameter name.
        Some(raw) => parse_int(raw, 32).map(|n| usize::try_from(n).unwrap_or(0)),
    }
}

/// `tag=k:v` (repeated) and `tags={"k":"v"}` into one map; JSON wins on duplicates.
pub fn parse_tags<'a>(
    simple: impl Iterator<Item = &'a str>,
    json: impl Iterator<Item = &'a str>,
) -> Result<BTreeMap<String, String>, String> {
    let mut tags = BTreeMap::new();
    for tag in simple {
        let Some((k, v)) = tag.split_once(':') else {
            return Err(format!("malformed 'tag' parameter, expecting key:value, received: {tag}"));
        };
        tags.insert(k.to_string(), v.to_string());
    }
    for raw in json {
        let map: BTreeMap<String, String> = serde_json::from_str(raw)
            .map_err(|e| format!("malformed 'tags' parameter, cannot unmarshal JSON: {e}"))?;
        tags.extend(map);
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_parse_like_jaeger() {
        let id = parse_trace_id("1").expect("short");
        assert_eq!(id[15], 1);
        assert_eq!(id[..15], [0; 15]);
        let id = parse_trace_id("10000000000000002").expect("17 chars");
        assert_eq!((id[7], id[15]), (1, 2));
        assert_eq!(parse_trace_id("xyz").expect_err("bad"), "strconv.ParseUint: parsing \"xyz\": invalid syntax");
        assert_eq!(parse_trace_id("").expect_err("empty"), "strconv.ParseUint: parsing \"\": invalid syntax");
        let long = "1".repeat(33);
        assert_eq!(parse_trace_id(&long).expect_err("long"), format!("TraceID cannot be longer than 32 hex characters: {long}"));
    }

    #[test]
    fn go_error_texts() {
        assert_eq!(parse_duration("10").expect_err("unit"), "time: missing unit in duration \"10\"");
        assert_eq!(parse_duration("10x").expect_err("unit"), "time: unknown unit \"x\" in duration \"10x\"");
        assert_eq!(parse_duration("abc").expect_err("bad"), "time: invalid duration \"abc\"");
        assert_eq!(parse_duration("1.5ms").expect("ok"), Some(Duration::from_micros(1500)));
        assert_eq!(parse_int("1x", 32).expect_err("bad"), "strconv.ParseInt: parsing \"1x\": invalid syntax");
        assert_eq!(parse_int("3000000000", 32).expect_err("big"), "strconv.ParseInt: parsing \"3000000000\": value out of range");
        let params = Params(vec![("start".into(), "1500".into())]);
        assert_eq!(parse_time(&params, "start", Duration::from_micros(1)).expect("ok"), Some(UNIX_EPOCH + Duration::from_micros(1500)));
        let err = parse_tags(["a"].into_iter(), std::iter::empty()).expect_err("no colon");
        assert_eq!(err, "malformed 'tag' parameter, expecting key:value, received: a");
        let tags = parse_tags(["a:b:c", "x:1"].into_iter(), [r#"{"x":"2"}"#].into_iter()).expect("ok");
        assert_eq!(tags.into_iter().collect::<Vec<_>>(), [("a".into(), "b:c".into()), ("x".into(), "2".into())]);
    }
}
