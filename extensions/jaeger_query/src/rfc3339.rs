//! RFC 3339 time stamps in, as Go's `time.Parse(time.RFC3339Nano, ...)` reads them:
//! `2006-01-02T15:04:05.999999999Z07:00` with an optional fraction and `Z` or `±hh:mm`.
//! Hand-written for one format, as core's `timefmt` is for the other direction.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const LAYOUT: &str = "2006-01-02T15:04:05.999999999Z07:00";

/// Days from 1970-01-01 to a civil date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub fn parse_rfc3339(s: &str) -> Result<SystemTime, String> {
    let bad = || format!("parsing time \"{s}\" as \"{LAYOUT}\": cannot parse \"{s}\" as RFC 3339");
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Result<i64, String> {
        let part = s.get(from..from + len).ok_or_else(bad)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse().map_err(|_| bad())
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') || b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let (y, mo, d, h, mi, sec) = (num(0, 4)?, num(5, 2)?, num(8, 2)?, num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 59 {
        return Err(bad());
    }
    let mut i = 19;
    let mut nanos: i64 = 0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let digits = &s[start..i];
        if digits.is_empty() || digits.len() > 9 {
            return Err(bad());
        }
        nanos = format!("{digits:0<9}").parse().map_err(|_| bad())?;
    }
    let offset = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let secs = num(i + 1, 2)? * 3600 + num(i + 4, 2)? * 60;
            if *sign == b'+' {
                secs
            } else {
                -secs
            }
        }
        _ => return Err(bad()),
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset;
    let total = i128::from(secs) * 1_000_000_000 + i128::from(nanos);
    let d = Duration::from_nanos(u64::try_from(total.unsigned_abs()).map_err(|_| bad())?);
    let t = if total >= 0 { UNIX_EPOCH.checked_add(d) } else { UNIX_EPOCH.checked_sub(d) };
    t.ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_go() {
        let at = |s| parse_rfc3339(s).expect(s).duration_since(UNIX_EPOCH).expect("after 1970").as_nanos();
        assert_eq!(at("1970-01-01T00:00:00Z"), 0);
        assert_eq!(at("2020-11-11T04:12:31.6847174Z"), 1_605_067_951_684_717_400);
        assert_eq!(at("2020-11-11T06:12:31.5+02:00"), 1_605_067_951_500_000_000);
        for bad in ["", "2020-11-11", "2020-11-11T04:12:31", "2020-13-11T04:12:31Z", "2020-11-11T04:12:31.Z", "2020-11-11T04:12:31+0200"] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
    }
}
