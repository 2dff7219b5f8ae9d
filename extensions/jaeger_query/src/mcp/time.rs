//! The time arguments of the MCP tools, as Jaeger's `parseTimeParam` reads them: `now`, a
//! relative `-<Go duration>` (`-1h`, `-30m`) before now, or an RFC 3339 time.

use std::time::SystemTime;

use crate::params::parse_duration;
use crate::rfc3339::parse_rfc3339;

/// `input` as a time; `default` when it is empty.
pub fn parse_time_arg(input: &str, default: SystemTime, now: SystemTime) -> Result<SystemTime, String> {
    let input = input.trim();
    if input.is_empty() {
        return Ok(default);
    }
    if input == "now" {
        return Ok(now);
    }
    if let Some(ago) = input.strip_prefix('-') {
        let ago = parse_duration(ago).map_err(|e| format!("invalid relative time format: {e}"))?.unwrap_or_default();
        return Ok(now.checked_sub(ago).unwrap_or(SystemTime::UNIX_EPOCH));
    }
    parse_rfc3339(input).map_err(|e| format!("time must be RFC3339 or relative format (e.g., '-1h', 'now'): {e}"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn now_relative_and_rfc3339() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(10_000);
        let default = SystemTime::UNIX_EPOCH;
        assert_eq!(parse_time_arg("", default, now), Ok(default));
        assert_eq!(parse_time_arg(" now ", default, now), Ok(now));
        assert_eq!(parse_time_arg("-1h", default, now), Ok(now - Duration::from_secs(3600)));
        assert_eq!(parse_time_arg("-1m30s", default, now), Ok(now - Duration::from_secs(90)));
        assert_eq!(parse_time_arg("1970-01-01T00:01:40Z", default, now), Ok(SystemTime::UNIX_EPOCH + Duration::from_secs(100)));
        assert!(parse_time_arg("-1 hour", default, now).expect_err("bad").starts_with("invalid relative time format"));
        assert!(parse_time_arg("yesterday", default, now).expect_err("bad").starts_with("time must be RFC3339"));
    }
}
