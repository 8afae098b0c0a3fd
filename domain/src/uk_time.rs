//! Times as people in the UK read them: Europe/London (GMT, or BST from 01:00 UTC on the last
//! Sunday of March to 01:00 UTC on the last Sunday of October), always with the zone.
//!
//! The daylight-saving rule is written once here; the audit store's `LocalClock` (hour-of-day
//! questions asked of the database) takes its changes from [`clock_changes`].

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};

/// The instants (Unix ns) the UK's clocks change in `year`, with the offset (seconds east of UTC)
/// in force from each: `[(last Sunday of March 01:00 UTC, 3600), (last Sunday of October 01:00 UTC, 0)]`.
pub fn clock_changes(year: i32) -> Vec<(u64, i64)> {
    [(3, 3600), (10, 0)]
        .into_iter()
        .filter_map(|(month, offset)| Some((last_sunday_1am_utc_ns(year, month)?, offset)))
        .collect()
}

/// The year (UTC) an instant falls in.
pub fn year_of(ns: u64) -> i32 {
    at(ns).year()
}

/// The UK's offset from UTC at `ns`, in seconds (0 or 3600).
pub fn offset_at(ns: u64) -> i64 {
    clock_changes(year_of(ns)).iter().rev().find(|(change, _)| *change <= ns).map_or(0, |(_, offset)| *offset)
}

/// The date in the UK at `at` (a day starts at local midnight, 23:00 UTC in summer).
pub fn date(at: DateTime<Utc>) -> chrono::NaiveDate {
    let offset = if is_bst(at) { chrono::Duration::hours(1) } else { chrono::Duration::zero() };
    (at + offset).date_naive()
}

/// Whether British Summer Time is in force at `at`.
pub fn is_bst(at: DateTime<Utc>) -> bool {
    offset_at(at.timestamp_nanos_opt().unwrap_or(0).max(0) as u64) == 3600
}

/// `23 Nov 2026, 06:10 GMT` for a time in nanoseconds since the epoch.
pub fn format_ns(ns: u64) -> String {
    let at = at(ns);
    let (offset, zone) = if is_bst(at) { (Duration::hours(1), "BST") } else { (Duration::zero(), "GMT") };
    format!("{} {zone}", (at + offset).format("%-d %b %Y, %H:%M"))
}

/// The wall-clock time in the UK at `ns`.
pub fn local(ns: u64) -> chrono::NaiveDateTime {
    (at(ns) + Duration::seconds(offset_at(ns))).naive_utc()
}

/// The instant (Unix ns) the UK's clocks read `wall`: the earlier of the two in the hour that
/// happens twice in October, and for a time in the hour skipped in March, that time in GMT (which
/// the clocks read an hour later, as BST). None before 1970.
pub fn from_local(wall: chrono::NaiveDateTime) -> Option<u64> {
    let as_utc = |offset: i64| {
        let instant = wall.checked_sub_signed(Duration::seconds(offset))?;
        u64::try_from(instant.and_utc().timestamp_nanos_opt()?).ok()
    };
    [3600, 0]
        .into_iter()
        .filter_map(|offset| Some((as_utc(offset)?, offset)))
        .find(|(ns, offset)| offset_at(*ns) == *offset)
        .map(|(ns, _)| ns)
        .or_else(|| as_utc(0))
}

fn at(ns: u64) -> DateTime<Utc> {
    Utc.timestamp_nanos(ns.min(i64::MAX as u64) as i64)
}

/// 01:00 UTC on the last Sunday of `month` in `year`, in Unix nanoseconds.
fn last_sunday_1am_utc_ns(year: i32, month: u32) -> Option<u64> {
    let first_of_next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    let mut day = first_of_next.pred_opt()?;
    while day.weekday() != Weekday::Sun {
        day = day.pred_opt()?;
    }
    let seconds = day.and_hms_opt(1, 0, 0)?.and_utc().timestamp();
    u64::try_from(seconds).ok().map(|s| s * 1_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(text: &str) -> u64 {
        DateTime::parse_from_rfc3339(text).unwrap().timestamp_nanos_opt().unwrap() as u64
    }

    #[test]
    fn clocks_change_at_one_in_the_morning_utc_on_the_last_sundays() {
        // 2026: BST from 29 March to 25 October.
        assert_eq!(format_ns(ns("2026-03-29T00:59:00Z")), "29 Mar 2026, 00:59 GMT");
        assert_eq!(format_ns(ns("2026-03-29T01:00:00Z")), "29 Mar 2026, 02:00 BST");
        assert_eq!(format_ns(ns("2026-10-25T00:59:00Z")), "25 Oct 2026, 01:59 BST");
        assert_eq!(format_ns(ns("2026-10-25T01:00:00Z")), "25 Oct 2026, 01:00 GMT");
        assert_eq!(format_ns(ns("2026-11-23T06:10:00Z")), "23 Nov 2026, 06:10 GMT");
        assert_eq!(format_ns(ns("2026-07-01T12:00:00Z")), "1 Jul 2026, 13:00 BST");
        let wall = |text: &str| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap();
        assert_eq!(local(ns("2026-07-01T12:00:00Z")), wall("2026-07-01 13:00"));
        assert_eq!(from_local(wall("2026-07-01 13:00")), Some(ns("2026-07-01T12:00:00Z")));
        assert_eq!(from_local(wall("2026-12-06 22:00")), Some(ns("2026-12-06T22:00:00Z")));
        assert_eq!(from_local(wall("2026-10-25 01:30")), Some(ns("2026-10-25T00:30:00Z")), "the first of two");
        assert_eq!(from_local(wall("2026-03-29 01:30")), Some(ns("2026-03-29T01:30:00Z")), "skipped: read as GMT");
        assert_eq!(from_local(chrono::NaiveDateTime::MIN), None, "out of range, not a panic");
        assert_eq!(from_local(wall("1969-12-31 23:00")), None, "before 1970");
        assert_eq!(
            clock_changes(2027),
            vec![(ns("2027-03-28T01:00:00Z"), 3600), (ns("2027-10-31T01:00:00Z"), 0)],
            "2027's last Sunday of October is the 31st"
        );
    }
}
