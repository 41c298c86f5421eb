//! RFC 3339 timestamps without a calendar dependency.

use picket_model::Timestamp;

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (Howard Hinnant's
/// `civil_from_days`).
const fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

/// `2023-11-14T22:13:20.1234567Z` (100 ns precision, UTC). Times before 1970 clamp to it.
#[must_use]
pub fn iso8601(time: Timestamp) -> String {
    let ticks = time.0.saturating_sub(Timestamp::UNIX_EPOCH_TICKS);
    let secs = ticks / 10_000_000;
    let frac = ticks % 10_000_000;
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{frac:07}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(
            iso8601(Timestamp::from_unix_nanos(0)),
            "1970-01-01T00:00:00.0000000Z"
        );
        assert_eq!(
            iso8601(Timestamp::from_unix_nanos(1_700_000_000_123_456_700)),
            "2023-11-14T22:13:20.1234567Z"
        );
        // A leap day.
        assert_eq!(
            iso8601(Timestamp::from_unix_nanos(951_782_400_000_000_000)),
            "2000-02-29T00:00:00.0000000Z"
        );
    }
}
