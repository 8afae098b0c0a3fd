//! Access monitoring on ClickHouse: the context tables and the rules' aggregations (see
//! [`crate::access`]). The SQL keeps to what 18.16 runs: one JOIN per SELECT (nested for more),
//! `USING` joins, `LIMIT 1 BY Seq` against replayed rows, no window functions.

use super::ClickHouseStore;
use crate::access::*;
use crate::AccessMonitoring;
use crate::StoreError;

/// The tables' and queries' rows.
mod rows;
use rows::*;

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
    // The newest directory, each person with the teams written under its version.
    let newest_staff = "(SELECT max(Version) FROM staff_directory)";
    let staff = format!(
        "SELECT * FROM ({care}) AS e ANY LEFT JOIN (SELECT UserId AS user_id, SurnameKey AS StaffSurname, \
         AddressKey AS StaffAddress, NhsNumber AS StaffNhs, Teams FROM staff_directory ANY LEFT JOIN \
         (SELECT UserId, groupArray(TeamKey) AS Teams FROM staff_teams WHERE Version = {newest_staff} \
         GROUP BY UserId) AS t USING UserId WHERE Version = {newest_staff}) AS s USING user_id"
    );
    let active = "tupleElement(x, 1) <= last_ns AND (tupleElement(x, 2) = 0 OR tupleElement(x, 2) > first_ns)";
    // The newest index, each patient with the next of kin written under its version.
    let newest_index = "(SELECT max(Version) FROM patient_index)";
    let patient = format!(
        "SELECT * FROM ({staff}) AS es ANY LEFT JOIN (SELECT NhsNumber AS nhs_number, SurnameKey AS PatientSurname, \
         AddressKey AS PatientAddress, Vip, Restricted, DeceasedNs, NextOfKin FROM patient_index ANY LEFT JOIN \
         (SELECT NhsNumber, NextOfKin FROM patient_next_of_kin WHERE Version = {newest_index}) AS k USING NhsNumber \
         WHERE Version = {newest_index}) AS p USING nhs_number"
    );
    format!(
        "SELECT user_id, role, organisation, nhs_number, day, events, first_ns, last_ns, first_seq, explained, \
         explained_org, self_access, same_surname, same_address, vip, restricted, deceased, surname_key, care_teams, \
         user_teams, next_of_kin FROM (\
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
         toUInt8(StaffAddress != '' AND StaffAddress = PatientAddress) AS same_address, \
         toUInt8(Vip) AS vip, toUInt8(Restricted) AS restricted, \
         toUInt8(DeceasedNs > 0 AND last_ns >= DeceasedNs) AS deceased, PatientSurname AS surname_key, \
         toUInt8(StaffNhs != '' AND NextOfKin = StaffNhs) AS next_of_kin \
         FROM ({patient})) \
         WHERE explained = 0 OR self_access = 1 OR same_surname = 1 OR same_address = 1 OR vip = 1 \
         OR restricted = 1 OR deceased = 1 OR next_of_kin = 1 ORDER BY user_id, day, nhs_number"
    )
}

/// The households (distinct addresses; a person without one alone) of the newest patient index and
/// staff directory:
/// all of them, or per surname for `surname_keys`.
pub fn surname_households(surname_keys: Option<&[String]>) -> String {
    // The newest patient index and staff directory together: a household is an address, or a
    // person without one.
    let people = "(SELECT SurnameKey, if(AddressKey != '', AddressKey, concat('patient:', NhsNumber)) AS Household \
         FROM patient_index WHERE Version = (SELECT max(Version) FROM patient_index) \
         UNION ALL SELECT SurnameKey, if(AddressKey != '', AddressKey, concat('staff:', UserId)) AS Household \
         FROM staff_directory WHERE Version = (SELECT max(Version) FROM staff_directory))";
    match surname_keys {
        None => format!("SELECT uniqExact(Household) AS households FROM {people}"),
        Some(keys) => {
            let list: Vec<String> = keys.iter().map(|k| super::quote(k)).collect();
            format!(
                "SELECT SurnameKey AS surname_key, uniqExact(Household) AS households FROM {people} \
                 WHERE SurnameKey IN ({}) GROUP BY surname_key",
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
        fields = super::AUDIT_FIELDS
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
        ("households", surname_households(None)),
        ("surname_households", surname_households(Some(&["smith".to_string(), "o'neill".to_string()]))),
    ]
}

impl ClickHouseStore {
    async fn next_version(&self, table: &str) -> Result<u64, StoreError> {
        let newest: u64 = self.client.query_raw(&newest_version(table)).fetch_one().await?;
        Ok(newest + 1)
    }

    async fn drop_versions_before(&self, table: &str, version: u64) -> Result<(), StoreError> {
        let partitions: Vec<String> = self
            .client
            .query_raw(&super::sql::partitions(&self.database, &self.layout.parts_table(table)))
            .fetch_all()
            .await?;
        for p in partitions {
            if let Ok(v) = p.trim_matches('\'').parse::<u64>() {
                if v < version {
                    let target = self.layout.alter_target(table);
                    self.client.query_raw(&format!("ALTER TABLE {target} DROP PARTITION {v}")).execute().await?;
                }
            }
        }
        Ok(())
    }

    pub(super) async fn ch_arrivals_after(&self, after_seq: u64) -> Result<Option<Arrivals>, StoreError> {
        let r: ArrivalsRow = self.client.query_raw(&arrivals_after(after_seq)).fetch_one().await?;
        Ok((r.events > 0).then_some(Arrivals {
            events: r.events,
            last_seq: r.last_seq,
            earliest_occurred_ns: r.earliest,
            latest_occurred_ns: r.latest,
        }))
    }
}

impl AccessMonitoring for ClickHouseStore {
    async fn replace_staff_directory(&self, staff: &[StaffMember]) -> Result<(), StoreError> {
        // Past both tables' newest: teams left by a load whose directory never arrived are not
        // mixed into this one's.
        let version = self.next_version("staff_directory").await?.max(self.next_version("staff_teams").await?);
        // The teams first, under the directory's version: readers take the newest directory's.
        let teams: Vec<StaffTeamRow> = staff
            .iter()
            .flat_map(|s| {
                s.teams.iter().map(|t| StaffTeamRow { version, user_id: s.user_id.clone(), team_key: match_key(t) })
            })
            .filter(|t| !t.team_key.is_empty())
            .collect();
        if !teams.is_empty() {
            let mut insert = self.client.insert::<StaffTeamRow>("staff_teams").await?;
            for t in &teams {
                insert.write(t).await?;
            }
            insert.end().await?;
        }
        if !staff.is_empty() {
            let mut insert = self.client.insert::<StaffRow>("staff_directory").await?;
            for s in staff {
                insert
                    .write(&StaffRow {
                        version,
                        user_id: s.user_id.clone(),
                        surname_key: match_key(&s.surname),
                        address_key: match_key(&s.address),
                        nhs_number: s.nhs_number.clone(),
                    })
                    .await?;
            }
            insert.end().await?;
        }
        self.drop_versions_before("staff_directory", version).await?;
        self.drop_versions_before("staff_teams", version).await
    }

    async fn replace_patient_index(&self, patients: &[PatientRecord]) -> Result<(), StoreError> {
        // Past both tables' newest; the next of kin first, under the index's version.
        let version = self.next_version("patient_index").await?.max(self.next_version("patient_next_of_kin").await?);
        let kin: Vec<&PatientRecord> = patients.iter().filter(|p| !p.next_of_kin.is_empty()).collect();
        if !kin.is_empty() {
            let mut insert = self.client.insert::<NextOfKinRow>("patient_next_of_kin").await?;
            for p in kin {
                let row =
                    NextOfKinRow { version, nhs_number: p.nhs_number.clone(), next_of_kin: p.next_of_kin.clone() };
                insert.write(&row).await?;
            }
            insert.end().await?;
        }
        if !patients.is_empty() {
            let mut insert = self.client.insert::<PatientRow>("patient_index").await?;
            for p in patients {
                insert
                    .write(&PatientRow {
                        version,
                        nhs_number: p.nhs_number.clone(),
                        surname_key: match_key(&p.surname),
                        address_key: match_key(&p.address),
                        vip: u8::from(p.vip),
                        restricted: u8::from(p.restricted),
                        deceased_ns: p.deceased_ns,
                    })
                    .await?;
            }
            insert.end().await?;
        }
        self.drop_versions_before("patient_index", version).await?;
        self.drop_versions_before("patient_next_of_kin", version).await
    }

    async fn add_care_relationships(&self, relationships: &[CareRelationship]) -> Result<(), StoreError> {
        let (scoped, whole): (Vec<&CareRelationship>, Vec<&CareRelationship>) =
            relationships.iter().partition(|r| r.is_scoped());
        if !scoped.is_empty() {
            let mut insert = self.client.insert::<TeamRelationshipRow>("care_team_relationships").await?;
            for r in scoped {
                insert
                    .write(&TeamRelationshipRow {
                        organisation: r.organisation.clone(),
                        nhs_number: r.nhs_number.clone(),
                        team_key: match_key(&r.team),
                        clinician: r.clinician.clone(),
                        kind: r.kind.clone(),
                        from_ns: r.from_ns,
                        to_ns: r.to_ns,
                    })
                    .await?;
            }
            insert.end().await?;
        }
        if whole.is_empty() {
            return Ok(());
        }
        let mut insert = self.client.insert::<RelationshipRow>("care_relationships").await?;
        for r in whole {
            insert
                .write(&RelationshipRow {
                    organisation: r.organisation.clone(),
                    nhs_number: r.nhs_number.clone(),
                    kind: r.kind.clone(),
                    from_ns: r.from_ns,
                    to_ns: r.to_ns,
                })
                .await?;
        }
        insert.end().await?;
        Ok(())
    }

    async fn user_activity(&self, q: &ActivityQuery) -> Result<Vec<UserActivity>, StoreError> {
        let rows: Vec<ActivityRow> = self.client.query_raw(&user_activity(q)).fetch_all().await?;
        Ok(rows
            .into_iter()
            .map(|r| UserActivity {
                user_id: r.user_id,
                role: r.role,
                organisation: r.organisation,
                bucket: r.bucket,
                events: r.events,
                patients: r.patients,
                exports: r.exports,
                prints: r.prints,
                searches: r.searches,
                break_glass: r.break_glass,
                failed: r.failed,
                off_hours: r.off_hours,
                first_seq: r.first_seq,
                first_ns: r.first_ns,
                last_ns: r.last_ns,
            })
            .collect())
    }

    async fn hour_profiles(
        &self,
        from_ns: u64,
        to_ns: u64,
        clock: &LocalClock,
    ) -> Result<Vec<HourProfile>, StoreError> {
        let rows: Vec<ProfileRow> = self.client.query_raw(&hour_profiles(from_ns, to_ns, clock)).fetch_all().await?;
        Ok(rows
            .into_iter()
            .map(|r| HourProfile { user_id: r.user_id, organisation: r.organisation, hour: r.hour, events: r.events })
            .collect())
    }

    async fn patient_access(&self, q: &PatientAccessQuery) -> Result<Vec<PatientAccess>, StoreError> {
        let rows: Vec<AccessRow> = self.client.query_raw(&patient_access(q)).fetch_all().await?;
        Ok(rows
            .into_iter()
            .map(|r| PatientAccess {
                user_id: r.user_id,
                role: r.role,
                organisation: r.organisation,
                nhs_number: r.nhs_number,
                day: r.day,
                events: r.events,
                first_ns: r.first_ns,
                last_ns: r.last_ns,
                first_seq: r.first_seq,
                explained: r.explained != 0,
                explained_org: r.explained_org != 0,
                care_teams: crate::access::team_list(&r.care_teams),
                user_teams: crate::access::team_list(&r.user_teams),
                next_of_kin: r.next_of_kin != 0,
                self_access: r.self_access != 0,
                same_surname: r.same_surname != 0,
                same_address: r.same_address != 0,
                vip: r.vip != 0,
                restricted: r.restricted != 0,
                deceased: r.deceased != 0,
                surname_key: r.surname_key,
            })
            .collect())
    }

    async fn surname_households(&self, surname_keys: &[String]) -> Result<SurnameHouseholds, StoreError> {
        let total: Vec<HouseholdsRow> = self.client.query_raw(&surname_households(None)).fetch_all().await?;
        let mut keys: Vec<String> = surname_keys.iter().filter(|k| !k.is_empty()).cloned().collect();
        keys.sort();
        keys.dedup();
        let mut by_surname = std::collections::HashMap::new();
        for chunk in keys.chunks(500) {
            let rows: Vec<SurnameRow> = self.client.query_raw(&surname_households(Some(chunk))).fetch_all().await?;
            by_surname.extend(rows.into_iter().map(|r| (r.surname_key, r.households)));
        }
        Ok(SurnameHouseholds { households: total.first().map_or(0, |r| r.households), by_surname })
    }

    async fn sample_events(&self, q: &SampleQuery) -> Result<Vec<crate::model::StoredAuditEvent>, StoreError> {
        self.audit(&sample_events(q)).await
    }

    async fn sample_users(&self, q: &SampleQuery) -> Result<Vec<SampledUser>, StoreError> {
        let rows: Vec<SampledUserRow> = self.client.query_raw(&sample_users(q)).fetch_all().await?;
        Ok(rows
            .into_iter()
            .map(|r| SampledUser {
                user_id: r.user_id,
                role: r.role,
                organisation: r.organisation,
                events: r.events,
                first_seq: r.first_seq,
            })
            .collect())
    }

    async fn stratum_counts(&self, from_ns: u64, to_ns: u64) -> Result<Vec<StratumCount>, StoreError> {
        let rows: Vec<StratumRow> = self.client.query_raw(&stratum_counts(from_ns, to_ns)).fetch_all().await?;
        Ok(rows
            .into_iter()
            .map(|r| StratumCount { organisation: r.organisation, role: r.role, action: r.action, events: r.events })
            .collect())
    }
}
