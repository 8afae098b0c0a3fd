//! The explaining context as operators supply it: CSV files for the staff directory, the patient
//! index and care relationships. Every error names the line and the column; nothing is loaded
//! from a file with an error in it.
//!
//! - staff: `user_id,surname,address,nhs_number`, optionally `teams` (`;`-separated) and `postcode`
//!   (empty: one at the end of the address is used; not a UK postcode: unknown, and counted)
//! - patients: `nhs_number,surname,address,vip,restricted,deceased` (deceased: empty, a date
//!   `2026-10-01` or an RFC 3339 time; vip/restricted: true/false, yes/no, 1/0 or empty),
//!   optionally `next_of_kin` (an NHS number) and `postcode` (as for staff)
//! - relationships: `organisation,nhs_number,kind,from,to` (to: empty for open-ended)

use std::collections::HashMap;
use std::io::Read;

use audit_store::{CareRelationship, PatientRecord, StaffMember};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use domain::NhsNumber;

/// A CSV row as a map from header to value, with the line it came from.
type Line = (u64, HashMap<String, String>);

/// One CSV file's rows.
fn rows<R: Read>(what: &str, input: R, required: &[&str]) -> Result<Vec<Line>, String> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(input);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| format!("{what}: cannot read the header line: {e}"))?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    if let Some(missing) = required.iter().find(|r| !headers.iter().any(|h| h == *r)) {
        return Err(format!("{what}: the header line has no {missing:?} column (expected {})", required.join(",")));
    }
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            format!("{what} line {line}: {e}")
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let map = headers.iter().cloned().zip(record.iter().map(str::to_string)).collect();
        out.push((line, map));
    }
    Ok(out)
}

fn field<'a>(map: &'a HashMap<String, String>, key: &str) -> &'a str {
    map.get(key).map_or("", String::as_str)
}

fn nhs(what: &str, line: u64, column: &str, text: &str, required: bool) -> Result<String, String> {
    if text.is_empty() && !required {
        return Ok(String::new());
    }
    NhsNumber::parse(text)
        .map(|n| n.as_str().to_string())
        .map_err(|e| format!("{what} line {line}, column {column}: {text:?} is not an NHS number: {e}"))
}

/// How many of some `postcode` column values are neither empty nor a UK postcode: HR and PAS files
/// hold "TBC" and "N/A", which are loaded as unknown rather than refusing the whole file (a postcode
/// is evidence to weigh, not a key).
pub fn unusable_postcodes<'a>(values: impl Iterator<Item = &'a str>) -> usize {
    values.filter(|v| !v.trim().is_empty() && !audit_store::places::is_postcode(v)).count()
}

fn flag(what: &str, line: u64, column: &str, text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "" | "false" | "no" | "0" | "n" => Ok(false),
        "true" | "yes" | "1" | "y" => Ok(true),
        other => Err(format!("{what} line {line}, column {column}: {other:?} is not true/false, yes/no or 1/0")),
    }
}

/// A date (midnight UTC) or an RFC 3339 time, in Unix ns; empty gives `None`.
/// A date (midnight UTC) or an RFC 3339 time as Unix ns: how every audit tool reads a time
/// (files, the command line, the search form). None when it is neither, or before 1970.
pub fn parse_instant(text: &str) -> Option<u64> {
    let text = text.trim();
    let parsed = DateTime::parse_from_rfc3339(text).map(|t| t.to_utc()).ok().or_else(|| {
        // chrono's `%Y-%m-%d` also takes `2026-1-5`, short years and spaces: only the strict shape (an
        // optional sign, then 4, 2 and 2 digits) is a date here.
        let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
        let strict = digits.len() == 10
            && digits.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
        if !strict {
            return None;
        }
        NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().map(|d| d.and_time(NaiveTime::MIN).and_utc())
    });
    // Through i128: times from 2262 to 2554 fit u64 ns but not i64.
    parsed.and_then(|t: DateTime<Utc>| {
        // A leap second (`:60`) is the last instant of its minute.
        let subsec = t.timestamp_subsec_nanos().min(999_999_999);
        u64::try_from(i128::from(t.timestamp()) * 1_000_000_000 + i128::from(subsec)).ok()
    })
}

fn instant(what: &str, line: u64, column: &str, text: &str) -> Result<Option<u64>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    parse_instant(text).map(Some).ok_or_else(|| {
        format!("{what} line {line}, column {column}: {text:?} is not a date (2026-11-23) or an RFC 3339 time")
    })
}

pub fn staff<R: Read>(what: &str, input: R) -> Result<Vec<StaffMember>, String> {
    rows(what, input, &["user_id", "surname", "address", "nhs_number"])?
        .into_iter()
        .map(|(line, m)| {
            let user_id = field(&m, "user_id").to_string();
            if user_id.is_empty() {
                return Err(format!("{what} line {line}, column user_id: empty"));
            }
            Ok(StaffMember {
                user_id,
                surname: field(&m, "surname").into(),
                address: field(&m, "address").into(),
                nhs_number: nhs(what, line, "nhs_number", field(&m, "nhs_number"), false)?,
                // Optional: the teams (wards, clinics, services) they work in, separated by ";".
                teams: field(&m, "teams")
                    .split(';')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(String::from)
                    .collect(),
                // Optional: else taken from the end of the address.
                postcode: field(&m, "postcode").into(),
            })
        })
        .collect()
}

pub fn patients<R: Read>(what: &str, input: R) -> Result<Vec<PatientRecord>, String> {
    rows(what, input, &["nhs_number", "surname", "address", "vip", "restricted", "deceased"])?
        .into_iter()
        .map(|(line, m)| {
            Ok(PatientRecord {
                nhs_number: nhs(what, line, "nhs_number", field(&m, "nhs_number"), true)?,
                surname: field(&m, "surname").into(),
                address: field(&m, "address").into(),
                vip: flag(what, line, "vip", field(&m, "vip"))?,
                restricted: flag(what, line, "restricted", field(&m, "restricted"))?,
                deceased_ns: instant(what, line, "deceased", field(&m, "deceased"))?.unwrap_or(0),
                // Optional: the NHS number of the patient's next of kin.
                next_of_kin: nhs(what, line, "next_of_kin", field(&m, "next_of_kin"), false)?,
                // Optional: else taken from the end of the address.
                postcode: field(&m, "postcode").into(),
            })
        })
        .collect()
}

pub fn relationships<R: Read>(what: &str, input: R) -> Result<Vec<CareRelationship>, String> {
    rows(what, input, &["organisation", "nhs_number", "kind", "from", "to"])?
        .into_iter()
        .map(|(line, m)| {
            let organisation = field(&m, "organisation").to_string();
            if organisation.is_empty() {
                return Err(format!("{what} line {line}, column organisation: empty"));
            }
            let from_ns = instant(what, line, "from", field(&m, "from"))?
                .ok_or_else(|| format!("{what} line {line}, column from: empty (when did the relationship start?)"))?;
            let to_ns = instant(what, line, "to", field(&m, "to"))?.unwrap_or(0);
            if to_ns != 0 && to_ns <= from_ns {
                return Err(format!("{what} line {line}, column to: the relationship ends before it starts"));
            }
            let kind = field(&m, "kind");
            Ok(CareRelationship {
                organisation,
                nhs_number: nhs(what, line, "nhs_number", field(&m, "nhs_number"), true)?,
                kind: if kind.is_empty() { "relationship".into() } else { kind.into() },
                from_ns,
                to_ns,
                // Optional: the team caring for the patient and the clinician (a user id).
                team: field(&m, "team").trim().into(),
                clinician: field(&m, "clinician").trim().into(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_file_and_names_the_line_and_column_of_an_error() {
        let staff = staff(
            "staff.csv",
            "user_id,surname,address,nhs_number\nu1, Okafor ,\"1 High St, Town\",9000000009\nu2,Lee,,\n".as_bytes(),
        )
        .unwrap();
        assert_eq!(staff[0].surname, "Okafor");
        assert_eq!(staff[0].address, "1 High St, Town");
        assert_eq!(staff[1].nhs_number, "");
        let err = super::staff("staff.csv", "user_id,surname,address,nhs_number\nu1,A,B,9000000008\n".as_bytes())
            .unwrap_err();
        assert!(err.starts_with("staff.csv line 2, column nhs_number: \"9000000008\" is not an NHS number"), "{err}");
        let err = super::staff("staff.csv", "user,surname\n".as_bytes()).unwrap_err();
        assert!(err.contains("no \"user_id\" column"), "{err}");

        let p = patients(
            "patients.csv",
            "nhs_number,surname,address,vip,restricted,deceased,next_of_kin\n9000000009,A,,yes,,2026-10-01,9000000017\n"
                .as_bytes(),
        )
        .unwrap();
        assert!(p[0].vip && !p[0].restricted);
        assert_eq!(p[0].next_of_kin, "9000000017");
        assert_eq!(p[0].deceased_ns, 1_790_812_800 * 1_000_000_000);
        let err = patients(
            "patients.csv",
            "nhs_number,surname,address,vip,restricted,deceased\n9000000009,A,,maybe,,\n".as_bytes(),
        )
        .unwrap_err();
        assert!(err.contains("line 2, column vip: \"maybe\""), "{err}");

        // An optional postcode column: checked, and empty where it is.
        let p = patients(
            "patients.csv",
            "nhs_number,surname,address,vip,restricted,deceased,postcode\n9000000009,A,,,,,ls18 5ab\n\
             9000000017,B,\"1 Park Rd, LS18 5AB\",,,,\n"
                .as_bytes(),
        )
        .unwrap();
        assert_eq!((p[0].postcode.as_str(), p[1].postcode.as_str()), ("ls18 5ab", ""));
        // Not a postcode ("TBC"): loaded as it is, and counted as unknown (`unusable_postcodes`).
        let staff = super::staff("staff.csv", "user_id,surname,address,nhs_number,postcode\nu1,A,,,TBC\n".as_bytes());
        assert_eq!(unusable_postcodes(staff.unwrap().iter().map(|s| s.postcode.as_str())), 1);

        let r = relationships(
            "rel.csv",
            "organisation,nhs_number,kind,from,to\nA81001,9000000009,registration,2020-01-01,\n".as_bytes(),
        )
        .unwrap();
        assert_eq!((r[0].kind.as_str(), r[0].to_ns), ("registration", 0));
        let err = relationships(
            "rel.csv",
            "organisation,nhs_number,kind,from,to\nA81001,9000000009,x,2020-01-01,2019-01-01\n".as_bytes(),
        )
        .unwrap_err();
        assert!(err.contains("line 2, column to: the relationship ends before it starts"), "{err}");
        let err = relationships("rel.csv", "organisation,nhs_number,kind,from,to\nA81001,9000000009,x,,\n".as_bytes())
            .unwrap_err();
        assert!(err.contains("column from: empty"), "{err}");

        // Optional columns: a person's teams, a relationship's team and clinician.
        let staff = super::staff(
            "staff.csv",
            "user_id,surname,address,nhs_number,teams\nu1,A,,, Ward 3 ;Theatres;\nu2,B,,,\n".as_bytes(),
        )
        .unwrap();
        assert_eq!((staff[0].teams.clone(), staff[1].teams.len()), (vec!["Ward 3".to_string(), "Theatres".into()], 0));
        let r = relationships(
            "rel.csv",
            "organisation,nhs_number,kind,from,to,team,clinician\nA1,9000000009,admission,2020-01-01,,Ward 3,dr-1\n"
                .as_bytes(),
        )
        .unwrap();
        assert_eq!((r[0].team.as_str(), r[0].clinician.as_str(), r[0].is_scoped()), ("Ward 3", "dr-1", true));
    }
}
