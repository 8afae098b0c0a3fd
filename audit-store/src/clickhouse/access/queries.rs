//! The SQL of access monitoring on ClickHouse, built in one place so the current-ClickHouse check
//! (`examples/clickhouse_queries.rs`) runs every statement ([`examples`]). The SQL keeps to what
//! 18.16 runs: one JOIN per SELECT (nested for more), `USING` joins, `LIMIT 1 BY Seq` against
//! replayed rows, no window functions.

use crate::access::*;

const D: Dialect = Dialect::ClickHouse;

/// The period's audit events with the columns the rules read. A replayed event may appear twice
/// until its parts merge: every count below is therefore `uniqExact(Seq)` (min and max are not
/// changed by a duplicate), which costs far less than removing duplicates first (`LIMIT 1 BY Seq`).
fn events(from_ns: u64, to_ns: u64, extra: &str) -> String {
    format!(
        "(SELECT Seq, OccurredNs, ActorUserId, ActorRole, ActorOrg, Action, NhsNumber, Outcome FROM audit_events \
         WHERE OccurredNs >= {from_ns} AND OccurredNs < {to_ns} AND ActorUserId != '' \
         AND SourceSystem != '{AUDITOR_SOURCE}' {extra})"
    )
}

pub fn user_activity(q: &ActivityQuery) -> String {
    let bucket = D.bucket(&q.clock, "OccurredNs", q.bucket_ns, q.bucket_offset_ns);
    let off = D.off_hours(&q.clock, &q.working, "OccurredNs");
    let mut filter = if q.only_off_hours { format!("AND {off}") } else { String::new() };
    if q.only_failed {
        filter.push_str(" AND Outcome != 'success'");
    }
    let off_count = if q.count_off_hours { format!("uniqExactIf(Seq, {off})") } else { "toUInt64(0)".to_string() };
    format!(
        "SELECT ActorUserId AS user_id, max(ActorRole) AS role, ActorOrg AS organisation, {bucket} AS bucket, \
         uniqExact(Seq) AS events, uniqExactIf(NhsNumber, NhsNumber != '') AS patients, \
         uniqExactIf(Seq, Action = 'export') AS exports, uniqExactIf(Seq, Action = 'print') AS prints, \
         uniqExactIf(Seq, Action = 'search') AS searches, uniqExactIf(Seq, Action = 'break-glass') AS break_glass, \
         uniqExactIf(Seq, Outcome != 'success') AS failed, {off_count} AS off_hours, min(Seq) AS first_seq, \
         min(OccurredNs) AS first_ns, max(OccurredNs) AS last_ns \
         FROM {} GROUP BY user_id, organisation, bucket HAVING failed >= {} ORDER BY user_id, organisation, bucket",
        events(q.from_ns, q.to_ns, &filter),
        q.min_failed
    )
}

pub fn hour_profiles(from_ns: u64, to_ns: u64, clock: &LocalClock) -> String {
    format!(
        "SELECT ActorUserId AS user_id, ActorOrg AS organisation, toUInt8({}) AS hour, uniqExact(Seq) AS events \
         FROM {} GROUP BY user_id, organisation, hour ORDER BY user_id, organisation, hour",
        D.local_hour(clock, "OccurredNs"),
        events(from_ns, to_ns, "")
    )
}

/// Grouped per (user, organisation, patient, day) first, then joined one table at a time: the care
/// relationships (the pair's intervals as one array), the staff directory, the patient index.
pub fn patient_access(q: &PatientAccessQuery) -> String {
    let day = D.shifted_day(&q.clock, "OccurredNs", q.day_starts_hour);
    let groups = format!(
        "SELECT ActorUserId AS user_id, ActorOrg AS organisation, NhsNumber AS nhs_number, {day} AS day, \
         max(ActorRole) AS role, uniqExact(Seq) AS events, min(OccurredNs) AS first_ns, max(OccurredNs) AS last_ns, \
         min(Seq) AS first_seq FROM {} GROUP BY user_id, organisation, nhs_number, day",
        events(q.from_ns, q.to_ns, "AND NhsNumber != ''")
    );
    // Each (organisation, patient) pair's care as one array of (from, to, team, clinician), the
    // organisation's and its teams' together, joined once: no second grouping over every access group.
    let care = format!(
        "SELECT user_id, organisation, nhs_number, day, role, events, first_ns, last_ns, first_seq, Care \
         FROM ({groups}) AS g ANY LEFT JOIN (SELECT organisation, nhs_number, \
         groupArray((FromNs, ToNs, TeamKey, Clinician)) AS Care FROM (SELECT Organisation AS organisation, \
         NhsNumber AS nhs_number, FromNs, ToNs, materialize('') AS TeamKey, materialize('') AS Clinician \
         FROM care_relationships \
         UNION ALL SELECT Organisation AS organisation, NhsNumber AS nhs_number, FromNs, ToNs, TeamKey, Clinician \
         FROM care_team_relationships) GROUP BY organisation, nhs_number) AS r USING (organisation, nhs_number)"
    );
    // The newest directory, each person with the teams and the place written under its version.
    let newest_staff = "(SELECT max(Version) FROM staff_directory)";
    let staff = format!(
        "SELECT * FROM ({care}) AS e ANY LEFT JOIN (SELECT UserId AS user_id, SurnameKey AS StaffSurname, \
         AddressKey AS StaffAddress, NhsNumber AS StaffNhs, Teams, StaffLine, StaffPostcode, StaffSector FROM \
         (SELECT UserId, SurnameKey, AddressKey, NhsNumber, Teams FROM staff_directory ANY LEFT JOIN \
         (SELECT UserId, groupArray(TeamKey) AS Teams FROM staff_teams WHERE Version = {newest_staff} \
         GROUP BY UserId) AS t USING UserId WHERE Version = {newest_staff}) AS sd ANY LEFT JOIN \
         (SELECT UserId, LineKey AS StaffLine, PostcodeKey AS StaffPostcode, SectorKey AS StaffSector \
         FROM staff_places WHERE Version = {newest_staff}) AS sp USING UserId) AS s USING user_id"
    );
    let active = "tupleElement(x, 1) <= last_ns AND (tupleElement(x, 2) = 0 OR tupleElement(x, 2) > first_ns)";
    // The newest index, each patient with the next of kin and the place written under its version.
    let newest_index = "(SELECT max(Version) FROM patient_index)";
    let patient = format!(
        "SELECT * FROM ({staff}) AS es ANY LEFT JOIN (SELECT NhsNumber AS nhs_number, SurnameKey AS PatientSurname, \
         AddressKey AS PatientAddress, Vip, Restricted, DeceasedNs, NextOfKin, PatientLine, PatientPostcode, \
         PatientSector FROM (SELECT NhsNumber, SurnameKey, AddressKey, Vip, Restricted, DeceasedNs, NextOfKin \
         FROM patient_index ANY LEFT JOIN \
         (SELECT NhsNumber, NextOfKin FROM patient_next_of_kin WHERE Version = {newest_index}) AS k USING NhsNumber \
         WHERE Version = {newest_index}) AS pi ANY LEFT JOIN (SELECT NhsNumber, LineKey AS PatientLine, \
         PostcodeKey AS PatientPostcode, SectorKey AS PatientSector FROM patient_places \
         WHERE Version = {newest_index}) AS pp USING NhsNumber) AS p USING nhs_number"
    );
    format!(
        "SELECT user_id, role, organisation, nhs_number, day, events, first_ns, last_ns, first_seq, explained, \
         explained_org, self_access, same_surname, same_address, vip, restricted, deceased, surname_key, care_teams, \
         user_teams, next_of_kin, same_line, same_postcode, same_sector, sector_key FROM (\
         SELECT user_id, role, organisation, nhs_number, day, events, first_ns, last_ns, first_seq, \
         arrayExists(x -> {active}, Care) AS OrgCare, \
         arrayExists(x -> {active} AND (tupleElement(x, 3) != '' OR tupleElement(x, 4) != ''), Care) AS Scoped, \
         arrayExists(x -> {active} AND ((tupleElement(x, 3) != '' AND has(Teams, tupleElement(x, 3))) \
         OR (tupleElement(x, 4) != '' AND tupleElement(x, 4) = user_id)), Care) AS TeamMatch, \
         toUInt8(if(Scoped AND (notEmpty(Teams) OR TeamMatch), TeamMatch, OrgCare)) AS explained, \
         toUInt8(OrgCare) AS explained_org, toUInt8(StaffNhs != '' AND StaffNhs = nhs_number) AS self_access, \
         if(OrgCare AND NOT explained, arrayStringConcat(arrayMap(x -> tupleElement(x, 3), \
         arrayFilter(x -> {active} AND tupleElement(x, 3) != '', Care)), ','), '') AS care_teams, \
         arrayStringConcat(Teams, ',') AS user_teams, \
         toUInt8(StaffSurname != '' AND StaffSurname = PatientSurname) AS same_surname, \
         toUInt8(StaffAddress != '' AND StaffAddress = PatientAddress AND (StaffPostcode = '' OR PatientPostcode = '' \
         OR StaffPostcode = PatientPostcode)) AS same_address, \
         toUInt8(Vip) AS vip, toUInt8(Restricted) AS restricted, \
         toUInt8(DeceasedNs > 0 AND last_ns >= DeceasedNs) AS deceased, PatientSurname AS surname_key, \
         toUInt8(StaffNhs != '' AND NextOfKin = StaffNhs) AS next_of_kin, \
         toUInt8(StaffLine != '' AND StaffLine = PatientLine AND concat(StaffPostcode, PatientPostcode) != '' \
         AND (StaffPostcode = '' OR PatientPostcode = '' OR StaffPostcode = PatientPostcode)) AS same_line, \
         toUInt8(StaffPostcode != '' AND StaffPostcode = PatientPostcode) AS same_postcode, \
         toUInt8(StaffSector != '' AND StaffSector = PatientSector) AS same_sector, PatientSector AS sector_key \
         FROM ({patient})) \
         WHERE explained = 0 OR self_access = 1 OR same_surname = 1 OR same_address = 1 OR vip = 1 \
         OR restricted = 1 OR deceased = 1 OR next_of_kin = 1 OR same_line = 1 OR same_postcode = 1 \
         ORDER BY user_id, day, nhs_number"
    )
}

/// The households (distinct addresses; a person without one alone) of the newest patient index and
/// staff directory: all of them, or per surname for `surname_keys`, and then per postcode sector too
/// when `by_sector`.
pub fn surname_households(surname_keys: Option<&[String]>, by_sector: bool) -> String {
    // The newest patient index and staff directory together, each person with their sector.
    let newest_index = "(SELECT max(Version) FROM patient_index)";
    let newest_staff = "(SELECT max(Version) FROM staff_directory)";
    let people = format!(
        "(SELECT SurnameKey, SectorKey, if(AddressKey != '', concat(AddressKey, '|', PostcodeKey), \
         concat('patient:', NhsNumber)) AS Household FROM (SELECT NhsNumber, SurnameKey, AddressKey FROM patient_index \
         WHERE Version = {newest_index}) AS pi ANY LEFT JOIN (SELECT NhsNumber, PostcodeKey, SectorKey FROM \
         patient_places WHERE Version = {newest_index}) AS pp USING NhsNumber \
         UNION ALL SELECT SurnameKey, SectorKey, if(AddressKey != '', concat(AddressKey, '|', PostcodeKey), \
         concat('staff:', UserId)) AS Household FROM (SELECT UserId, SurnameKey, AddressKey FROM staff_directory \
         WHERE Version = {newest_staff}) AS sd ANY LEFT JOIN (SELECT UserId, PostcodeKey, SectorKey FROM staff_places \
         WHERE Version = {newest_staff}) AS sp USING UserId)"
    );
    match surname_keys {
        None => format!("SELECT uniqExact(Household) AS households FROM {people}"),
        Some(keys) => {
            let list: Vec<String> = keys.iter().map(|k| crate::clickhouse::quote(k)).collect();
            let (sector, known, group) =
                if by_sector { ("SectorKey", " AND SectorKey != ''", ", sector_key") } else { ("''", "", "") };
            format!(
                "SELECT SurnameKey AS surname_key, {sector} AS sector_key, uniqExact(Household) AS households \
                 FROM {people} WHERE SurnameKey IN ({}){known} GROUP BY surname_key{group}",
                list.join(", ")
            )
        }
    }
}

pub fn arrivals_after(after_seq: u64) -> String {
    let last = crate::chain::chain_last(after_seq);
    format!(
        "SELECT count() AS events, max(Seq) AS last_seq, min(OccurredNs) AS earliest, max(OccurredNs) AS latest \
         FROM (SELECT Seq, OccurredNs FROM audit_events WHERE Seq > {after_seq} AND Seq <= {last} LIMIT 1 BY Seq)"
    )
}

fn strata<'a>(q: &SampleQuery, columns: [&'a str; 3]) -> Vec<&'a str> {
    [(q.by_organisation, columns[0]), (q.by_role, columns[1]), (q.by_action, columns[2])]
        .into_iter()
        .filter(|(on, c)| *on && !c.is_empty())
        .map(|(_, c)| c)
        .collect()
}

pub fn sample_events(q: &SampleQuery) -> String {
    let strata = strata(q, ["ActorOrg", "ActorRole", "Action"]);
    let key = D.sample_key(q.seed, "Seq");
    let order = strata.iter().map(|c| format!("{c}, ")).collect::<String>();
    let limit_by = if strata.is_empty() { String::new() } else { format!(" BY {}", strata.join(", ")) };
    format!(
        "SELECT {fields} FROM (SELECT *, {key} AS SampleKey FROM audit_events \
         WHERE OccurredNs >= {} AND OccurredNs < {} AND SourceSystem != '{AUDITOR_SOURCE}' LIMIT 1 BY Seq) \
         ORDER BY {order}SampleKey, Seq LIMIT {}{limit_by}",
        q.from_ns,
        q.to_ns,
        q.per_stratum,
        fields = crate::clickhouse::AUDIT_FIELDS
    )
}

pub fn sample_users(q: &SampleQuery) -> String {
    let strata = strata(q, ["organisation", "role", ""]);
    let key = D.sample_key(q.seed, "first_seq");
    let order = strata.iter().map(|c| format!("{c}, ")).collect::<String>();
    let limit_by = if strata.is_empty() { String::new() } else { format!(" BY {}", strata.join(", ")) };
    format!(
        "SELECT user_id, role, organisation, events, first_seq FROM (SELECT *, {key} AS SampleKey FROM (\
         SELECT ActorUserId AS user_id, any(ActorRole) AS role, any(ActorOrg) AS organisation, uniqExact(Seq) AS events, \
         min(Seq) AS first_seq FROM {} GROUP BY user_id)) ORDER BY {order}SampleKey, first_seq LIMIT {}{limit_by}",
        events(q.from_ns, q.to_ns, ""),
        q.per_stratum
    )
}

pub fn stratum_counts(from_ns: u64, to_ns: u64) -> String {
    format!(
        "SELECT ActorOrg AS organisation, ActorRole AS role, Action AS action, count() AS events FROM \
         (SELECT Seq, ActorOrg, ActorRole, Action FROM audit_events WHERE OccurredNs >= {from_ns} AND OccurredNs < {to_ns} \
         AND SourceSystem != '{AUDITOR_SOURCE}' LIMIT 1 BY Seq) \
         GROUP BY organisation, role, action ORDER BY organisation, role, action"
    )
}

pub fn newest_version(table: &str) -> String {
    format!("SELECT max(Version) FROM {table}")
}

/// Example statements for the current-ClickHouse check (`examples/clickhouse_queries.rs`).
pub fn examples(t0: u64) -> Vec<(&'static str, String)> {
    let hour = 3_600_000_000_000;
    let clock = LocalClock { base_offset_s: 0, changes: vec![(t0 + hour, 3600)] };
    let activity = ActivityQuery {
        from_ns: t0,
        to_ns: t0 + 24 * hour,
        bucket_ns: 24 * hour,
        bucket_offset_ns: 0,
        clock: clock.clone(),
        working: WorkingHours::default(),
        min_failed: 1,
        only_off_hours: true,
        only_failed: false,
        count_off_hours: true,
    };
    vec![
        ("user_activity", user_activity(&activity)),
        ("hour_profiles", hour_profiles(t0, t0 + 24 * hour, &LocalClock::utc())),
        (
            "patient_access",
            patient_access(&PatientAccessQuery { from_ns: t0, to_ns: t0 + 24 * hour, clock, day_starts_hour: 6 }),
        ),
        ("arrivals_after", arrivals_after(7)),
        ("newest_staff_version", newest_version("staff_directory")),
        (
            "sample_events",
            sample_events(&SampleQuery {
                from_ns: t0,
                to_ns: t0 + 24 * hour,
                seed: 7,
                per_stratum: 5,
                by_organisation: true,
                by_role: true,
                by_action: true,
            }),
        ),
        (
            "sample_events_unstratified",
            sample_events(&SampleQuery {
                from_ns: t0,
                to_ns: t0 + 24 * hour,
                seed: 7,
                per_stratum: 5,
                by_organisation: false,
                by_role: false,
                by_action: false,
            }),
        ),
        (
            "sample_users",
            sample_users(&SampleQuery {
                from_ns: t0,
                to_ns: t0 + 24 * hour,
                seed: 7,
                per_stratum: 5,
                by_organisation: true,
                by_role: false,
                by_action: false,
            }),
        ),
        ("stratum_counts", stratum_counts(t0, t0 + 24 * hour)),
        ("households", surname_households(None, false)),
        ("surname_households", surname_households(Some(&["smith".to_string(), "o'neill".to_string()]), false)),
        ("surname_sector_households", surname_households(Some(&["smith".to_string()]), true)),
    ]
}
