//! Timestamps: parse ISO 8601 with a UTC offset into Unix seconds, and write them canonically.
//!
//! Accepted: `YYYY-MM-DD`, then `T` or a space, then `HH:MM:SS`, an optional fraction
//! (`.` or `,` and digits, dropped), then an offset: `Z`, `±HH:MM`, `±HHMM` or `±HH`.
//! An offset-less time is refused ([`TimeProblem::NoOffset`]): its meaning depends on the
//! uploader's time zone, and a wrong guess silently shifts every order by hours.
//! Written form: `YYYY-MM-DDTHH:MM:SS+00:00`, always UTC, as consumers expect.
//!
//! Hand-written rather than a date crate: it is on the per-order hot path (every order has an
//! `issueDate`), the format is fixed, and the civil-date arithmetic is a dozen lines
//! (days-from-civil, after H. Hinnant's public-domain algorithm).

use crate::reject::TimeProblem;

/// Seconds since 1970-01-01T00:00:00Z.
pub type UnixSeconds = i64;

/// Years outside 0001..=9999 cannot be written as `YYYY`.
const YEAR_MIN: i64 = 1;
const YEAR_MAX: i64 = 9999;

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

#[inline]
fn digits<const N: usize>(b: &[u8], at: usize) -> Option<i64> {
    let s = b.get(at..at + N)?;
    let mut v = 0i64;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(v)
}

/// Parse a timestamp; see the module docs for the forms accepted.
pub fn parse(s: &str) -> Result<UnixSeconds, TimeProblem> {
    let b = s.as_bytes();
    let syntax = TimeProblem::Syntax;
    let year = digits::<4>(b, 0).ok_or(syntax)?;
    let month = digits::<2>(b, 5).ok_or(syntax)?;
    let day = digits::<2>(b, 8).ok_or(syntax)?;
    let hour = digits::<2>(b, 11).ok_or(syntax)?;
    let minute = digits::<2>(b, 14).ok_or(syntax)?;
    let second = digits::<2>(b, 17).ok_or(syntax)?;
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return Err(syntax);
    }
    if b[13] != b':' || b[16] != b':' {
        return Err(syntax);
    }
    let mut i = 19;
    if matches!(b.get(i), Some(b'.' | b',')) {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return Err(syntax);
        }
    }
    let offset_s = match b.get(i) {
        None => return Err(TimeProblem::NoOffset),
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let oh = digits::<2>(b, i + 1).ok_or(syntax)?;
            let rest = &b[i + 3..];
            let om = match rest {
                [] => 0,
                [b':', ..] if rest.len() == 3 => digits::<2>(b, i + 4).ok_or(syntax)?,
                _ if rest.len() == 2 => digits::<2>(b, i + 3).ok_or(syntax)?,
                _ => return Err(syntax),
            };
            if oh > 23 || om > 59 {
                return Err(TimeProblem::OutOfRange);
            }
            let o = oh * 3600 + om * 60;
            if sign == b'-' {
                -o
            } else {
                o
            }
        }
        Some(_) => return Err(syntax),
    };
    if !(YEAR_MIN..=YEAR_MAX).contains(&year)
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(TimeProblem::OutOfRange);
    }
    let local = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    let utc = local - offset_s;
    // An offset may carry 0001-01-01 or 9999-12-31 out of the writable years (only those two
    // years can be carried out: offsets are under a day).
    if year == YEAR_MIN || year == YEAR_MAX {
        let (y, _, _) = civil_from_days(utc.div_euclid(86_400));
        if !(YEAR_MIN..=YEAR_MAX).contains(&y) {
            return Err(TimeProblem::OutOfRange);
        }
    }
    Ok(utc)
}

/// The canonical text of a time: 25 bytes, `YYYY-MM-DDTHH:MM:SS+00:00`.
pub fn format(t: UnixSeconds) -> [u8; 25] {
    let (y, m, d) = civil_from_days(t.div_euclid(86_400));
    let secs = t.rem_euclid(86_400);
    let (hh, mm, ss) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = *b"0000-00-00T00:00:00+00:00";
    let y = y.clamp(0, 9999);
    let put = |out: &mut [u8; 25], at: usize, v: i64, n: usize| {
        let mut v = v;
        for k in (0..n).rev() {
            out[at + k] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(&mut out, 0, y, 4);
    put(&mut out, 5, m, 2);
    put(&mut out, 8, d, 2);
    put(&mut out, 11, hh, 2);
    put(&mut out, 14, mm, 2);
    put(&mut out, 17, ss, 2);
    out
}

/// Convenience for tests and tools: the canonical text as a `String`.
pub fn to_string(t: UnixSeconds) -> String {
    String::from_utf8_lossy(&format(t)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_normalise_to_utc() {
        let utc = parse("2011-10-22T15:46:00+00:00").unwrap();
        assert_eq!(utc, 1_319_298_360);
        for s in [
            "2011-10-22T15:46:00Z",
            "2011-10-22T15:46:00+0000",
            "2011-10-22 15:46:00+00:00",
            "2011-10-22T17:46:00+02:00",
            "2011-10-22T10:46:00-0500",
            "2011-10-22T17:46:00+02",
            "2011-10-22T15:46:00.123456+00:00",
            "2011-10-22T15:46:00,5Z",
        ] {
            assert_eq!(parse(s), Ok(utc), "{s}");
        }
        assert_eq!(to_string(utc), "2011-10-22T15:46:00+00:00");
    }

    #[test]
    fn offsets_cross_day_and_year_boundaries() {
        assert_eq!(
            to_string(parse("2012-01-01T01:30:00+02:00").unwrap()),
            "2011-12-31T23:30:00+00:00"
        );
        assert_eq!(
            to_string(parse("2012-02-28T23:00:00-02:00").unwrap()),
            "2012-02-29T01:00:00+00:00"
        );
    }

    #[test]
    fn offsetless_and_malformed_times_are_refused() {
        assert_eq!(parse("2011-10-22T15:46:00"), Err(TimeProblem::NoOffset));
        assert_eq!(parse("2011-10-22T15:46:00.5"), Err(TimeProblem::NoOffset));
        for s in [
            "",
            "2011-10-22",
            "2011/10/22T15:46:00Z",
            "2011-10-22X15:46:00Z",
            "2011-10-22T15:46Z",
            "2011-10-22T15:46:00+1",
            "2011-10-22T15:46:00+01:0",
            "2011-10-22T15:46:00Zjunk",
            "2011-10-22T15:46:00.Z",
            "２０１１-10-22T15:46:00Z",
        ] {
            assert_eq!(parse(s), Err(TimeProblem::Syntax), "{s:?}");
        }
        for s in [
            "2011-13-22T15:46:00Z",
            "2011-02-29T15:46:00Z",
            "2011-10-22T24:00:00Z",
            "2011-10-22T15:60:00Z",
            "2011-10-22T15:46:60Z",
            "2011-10-22T15:46:00+24:00",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:00:00-02:00",
        ] {
            assert_eq!(parse(s), Err(TimeProblem::OutOfRange), "{s:?}");
        }
        assert_eq!(
            to_string(parse("2012-02-29T00:00:00Z").unwrap()),
            "2012-02-29T00:00:00+00:00"
        );
    }

    #[test]
    fn format_round_trips_across_the_calendar() {
        let mut t = parse("0001-01-01T00:00:00Z").unwrap();
        let end = parse("9999-12-31T23:59:59Z").unwrap();
        while t < end {
            let s = to_string(t);
            assert_eq!(parse(&s), Ok(t), "{s}");
            t += 86_400 * 37 + 3_601;
        }
        assert_eq!(to_string(end), "9999-12-31T23:59:59+00:00");
    }
}
