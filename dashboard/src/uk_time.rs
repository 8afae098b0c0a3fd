//! Times as people in the UK read them: Europe/London (GMT, or BST from 01:00 UTC on the last
//! Sunday of March to 01:00 UTC on the last Sunday of October), always with the zone.

use chrono::{DateTime, Duration, TimeZone, Utc};

/// Whether British Summer Time is in force at `at`.
/// The rule itself is the store's (`LocalClock::europe_london`), which the audit rules use too.
pub fn is_bst(at: DateTime<Utc>) -> bool {
    let ns = at.timestamp_nanos_opt().unwrap_or(0).max(0) as u64;
    audit_store::LocalClock::europe_london(ns, ns + 1).offset_at(ns) == 3600
}

/// `23 Nov 2026, 06:10 GMT` for a time in nanoseconds since the epoch.
pub fn format_ns(ns: u64) -> String {
    let at = Utc.timestamp_nanos(ns.min(i64::MAX as u64) as i64);
    let (offset, zone) = if is_bst(at) { (Duration::hours(1), "BST") } else { (Duration::zero(), "GMT") };
    format!("{} {zone}", (at + offset).format("%-d %b %Y, %H:%M"))
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
    }
}
