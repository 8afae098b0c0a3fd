//! Wall-clock helpers in the formats the APIs use. The only place that reads the clock, so the formats
//! stay consistent (FHIR instants, MESH's compact timestamps).

use std::time::{SystemTime, UNIX_EPOCH};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Seconds since the Unix epoch.
pub fn now_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Now as an RFC 3339 / FHIR instant, UTC, whole seconds: `2026-11-23T05:02:05Z`.
pub fn rfc3339_now() -> String {
    rfc3339(OffsetDateTime::now_utc())
}

pub fn rfc3339(at: OffsetDateTime) -> String {
    at.replace_nanosecond(0).unwrap_or(at).format(&Rfc3339).unwrap_or_default()
}

/// MESH's `yyyyMMddHHmmss` status timestamp.
pub fn mesh_timestamp(at: OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year][month][day][hour][minute][second]");
    at.format(&format).unwrap_or_default()
}

/// HTTP date (`Last-Modified`): `Mon, 23 Nov 2026 05:02:05 GMT`.
pub fn http_date(at: OffsetDateTime) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    at.to_offset(time::UtcOffset::UTC).format(&format).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        assert_eq!(rfc3339(at), "2023-11-14T22:13:20Z");
        assert_eq!(mesh_timestamp(at), "20231114221320");
        assert_eq!(http_date(at), "Tue, 14 Nov 2023 22:13:20 GMT");
    }
}
