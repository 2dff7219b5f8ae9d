//! Time stamps as Go prints them, which is what Collector and Jaeger users (and their tools)
//! expect to read: RFC 3339 with the fraction's trailing zeros dropped, and Go's
//! `time.Time.String()` form. Hand-written: a date library for two formats is not worth a
//! dependency, and the calendar arithmetic is a few exact lines.

/// Go's zero `time.Time` in RFC 3339, what Go prints for "never".
pub const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// `2020-11-11T04:12:31.6847174Z` for Unix nanoseconds.
pub fn rfc3339_nanos(unix_nanos: u64) -> String {
    let (date, time, frac) = parts(unix_nanos);
    format!("{date}T{time}{frac}Z")
}

/// `2020-02-11 20:26:12.000000321 +0000 UTC`, as Go prints a UTC `time.Time`.
pub fn go_time_string(unix_nanos: u64) -> String {
    let (date, time, frac) = parts(unix_nanos);
    format!("{date} {time}{frac} +0000 UTC")
}

fn parts(unix_nanos: u64) -> (String, String, String) {
    let secs = unix_nanos / 1_000_000_000;
    let nanos = unix_nanos % 1_000_000_000;
    let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    let frac = if nanos == 0 {
        String::new()
    } else {
        format!(".{}", format!("{nanos:09}").trim_end_matches('0'))
    };
    (
        format!("{y:04}-{mo:02}-{d:02}"),
        format!("{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60),
        frac,
    )
}

/// Days since 1970-01-01 to (year, month, day): Howard Hinnant's `civil_from_days`, exact for
/// every day a u64 of nanoseconds can reach.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        assert_eq!(rfc3339_nanos(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_nanos(1_605_067_951_684_717_400),
            "2020-11-11T04:12:31.6847174Z"
        );
        assert_eq!(
            rfc3339_nanos(951_782_400_000_000_005),
            "2000-02-29T00:00:00.000000005Z"
        );
        assert_eq!(
            go_time_string(1_581_452_772_000_000_321),
            "2020-02-11 20:26:12.000000321 +0000 UTC"
        );
    }
}
