//! Wall-clock helpers in the formats the APIs use. The only place that reads the clock, so the formats
//! stay consistent (FHIR instants, MESH's compact timestamps).

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

/// Seconds since the Unix epoch.
pub fn now_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Now as an RFC 3339 / FHIR instant, UTC, whole seconds: `2026-11-23T05:02:05Z`.
pub fn rfc3339_now() -> String {
    rfc3339(Utc::now())
}

pub fn rfc3339(at: DateTime<Utc>) -> String {
    // `Secs` drops the fraction (truncating, never rounding up); `true` writes UTC as `Z`.
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// MESH's `yyyyMMddHHmmss` status timestamp.
pub fn mesh_timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y%m%d%H%M%S").to_string()
}

/// HTTP date (`Last-Modified`): `Mon, 23 Nov 2026 05:02:05 GMT`.
pub fn http_date(at: DateTime<Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// A FHIR date, `YYYY-MM-DD` exactly.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    // chrono's `%Y-%m-%d` also takes `2026-1-5`, short years and spaces: only the strict shape (an
    // optional sign, then 4, 2 and 2 digits) is a date here.
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    let strict = digits.len() == 10
        && digits.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    if !strict {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert_eq!(rfc3339(at), "2023-11-14T22:13:20Z");
        assert_eq!(mesh_timestamp(at), "20231114221320");
        assert_eq!(http_date(at), "Tue, 14 Nov 2023 22:13:20 GMT");
    }
}
