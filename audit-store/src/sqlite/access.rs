//! Access monitoring on SQLite: the context tables and the rules' aggregations (see [`crate::access`]).
//! Every aggregation is one statement over the audit table's time index; nothing is pulled raw.

use sqlx::{AssertSqlSafe, QueryBuilder, Row, Sqlite};

use super::audit::{audit_from_row, AUDIT_COLUMNS};
use super::SqliteStore;
use crate::access::*;
use crate::model::StoredAuditEvent;
use crate::places::Place;
use crate::sequencer::to_i64;
use crate::AccessMonitoring;
use crate::StoreError;

const D: Dialect = Dialect::Sqlite;
/// Rows per multi-row INSERT, under SQLite's bound-parameter limit (32,766) at up to eight columns
/// (tables with more take half as many).
const ROWS_PER_STATEMENT: usize = 4_000;

pub(super) fn count(row: &sqlx::sqlite::SqliteRow, column: &str) -> Result<u64, StoreError> {
    Ok(row.try_get::<i64, _>(column)?.max(0) as u64)
}

/// A sample's strata as a window's `PARTITION BY` and the leading `ORDER BY` columns. An empty
/// column name is a stratum the unit has not (users have no action).
fn strata(q: &SampleQuery, columns: [&str; 3]) -> (String, String) {
    let on: Vec<&str> = [(q.by_organisation, columns[0]), (q.by_role, columns[1]), (q.by_action, columns[2])]
        .into_iter()
        .filter(|(on, c)| *on && !c.is_empty())
        .map(|(_, c)| c)
        .collect();
    let partition = if on.is_empty() { String::new() } else { format!("PARTITION BY {}", on.join(", ")) };
    (partition, on.iter().map(|c| format!("{c}, ")).collect())
}

impl AccessMonitoring for SqliteStore {
    async fn replace_staff_directory(&self, staff: &[StaffMember]) -> Result<(), StoreError> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("DELETE FROM staff_directory").execute(&mut *tx).await?;
        sqlx::query("DELETE FROM staff_teams").execute(&mut *tx).await?;
        let teams: Vec<(&str, String)> = staff
            .iter()
            .flat_map(|s| s.teams.iter().map(|t| (s.user_id.as_str(), match_key(t))))
            .filter(|(_, t)| !t.is_empty())
            .collect();
        for chunk in teams.chunks(ROWS_PER_STATEMENT) {
            let mut q: QueryBuilder<Sqlite> =
                QueryBuilder::new("INSERT OR REPLACE INTO staff_teams (user_id, team_key) ");
            q.push_values(chunk, |mut b, (user, team)| {
                b.push_bind(user.to_string()).push_bind(team.clone());
            });
            q.build().execute(&mut *tx).await?;
        }
        for chunk in staff.chunks(ROWS_PER_STATEMENT) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT OR REPLACE INTO staff_directory \
                 (user_id, surname_key, address_key, nhs_number, line_key, postcode_key, sector_key) ",
            );
            q.push_values(chunk, |mut b, s| {
                let place = Place::of(&s.address, &s.postcode);
                b.push_bind(s.user_id.clone())
                    .push_bind(match_key(&s.surname))
                    .push_bind(crate::places::address_key(&s.address, &s.postcode))
                    .push_bind(s.nhs_number.clone())
                    .push_bind(place.line)
                    .push_bind(place.postcode)
                    .push_bind(place.sector);
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn replace_patient_index(&self, patients: &[PatientRecord]) -> Result<(), StoreError> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("DELETE FROM patient_index").execute(&mut *tx).await?;
        // Ten columns a row.
        for chunk in patients.chunks(ROWS_PER_STATEMENT / 2) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT OR REPLACE INTO patient_index \
                 (nhs_number, surname_key, address_key, vip, restricted, deceased_ns, next_of_kin, \
                  line_key, postcode_key, sector_key) ",
            );
            let mut bad = None;
            q.push_values(chunk, |mut b, p| {
                let deceased = to_i64(p.deceased_ns).unwrap_or_else(|e| {
                    bad = Some(e);
                    0
                });
                b.push_bind(p.nhs_number.clone())
                    .push_bind(match_key(&p.surname))
                    .push_bind(crate::places::address_key(&p.address, &p.postcode))
                    .push_bind(p.vip)
                    .push_bind(p.restricted)
                    .push_bind(deceased)
                    .push_bind(p.next_of_kin.clone());
                let place = Place::of(&p.address, &p.postcode);
                b.push_bind(place.line).push_bind(place.postcode).push_bind(place.sector);
            });
            if let Some(e) = bad {
                return Err(e);
            }
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn add_care_relationships(&self, relationships: &[CareRelationship]) -> Result<(), StoreError> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let (scoped, whole): (Vec<&CareRelationship>, Vec<&CareRelationship>) =
            relationships.iter().partition(|r| r.is_scoped());
        // A team's or a clinician's care: their own table, keyed by both.
        for chunk in scoped.chunks(ROWS_PER_STATEMENT / 2) {
            let rows = chunk
                .iter()
                .map(|r| Ok((*r, to_i64(r.from_ns)?, to_i64(r.to_ns)?)))
                .collect::<Result<Vec<_>, StoreError>>()?;
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT OR REPLACE INTO care_team_relationships \
                 (organisation, nhs_number, team_key, clinician, kind, from_ns, to_ns) ",
            );
            q.push_values(rows, |mut b, (r, from, to)| {
                b.push_bind(r.organisation.clone())
                    .push_bind(r.nhs_number.clone())
                    .push_bind(match_key(&r.team))
                    .push_bind(r.clinician.clone())
                    .push_bind(r.kind.clone())
                    .push_bind(from)
                    .push_bind(to);
            });
            q.build().execute(&mut *tx).await?;
        }
        for chunk in whole.chunks(ROWS_PER_STATEMENT / 2) {
            let rows = chunk
                .iter()
                .map(|r| Ok((*r, to_i64(r.from_ns)?, to_i64(r.to_ns)?)))
                .collect::<Result<Vec<_>, StoreError>>()?;
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT OR REPLACE INTO care_relationships (organisation, nhs_number, kind, from_ns, to_ns) ",
            );
            q.push_values(rows, |mut b, (r, from, to)| {
                b.push_bind(r.organisation.clone())
                    .push_bind(r.nhs_number.clone())
                    .push_bind(r.kind.clone())
                    .push_bind(from)
                    .push_bind(to);
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn user_activity(&self, q: &ActivityQuery) -> Result<Vec<UserActivity>, StoreError> {
        let bucket = D.bucket(&q.clock, "occurred_ns", q.bucket_ns, q.bucket_offset_ns);
        let off = D.off_hours(&q.clock, &q.working, "occurred_ns");
        let mut only_off = if q.only_off_hours { format!("AND {off}") } else { String::new() };
        if q.only_failed {
            only_off.push_str(" AND outcome <> 'success'");
        }
        let off_count = if q.count_off_hours { format!("sum({off})") } else { "0".to_string() };
        let sql = format!(
            "SELECT actor_user_id, max(actor_role) AS role, actor_org, {bucket} AS bucket, count(*) AS events,
                    count(DISTINCT NULLIF(nhs_number, '')) AS patients, sum(action = 'export') AS exports,
                    sum(action = 'print') AS prints, sum(action = 'search') AS searches,
                    sum(action = 'break-glass') AS break_glass, sum(outcome <> 'success') AS failed,
                    {off_count} AS off_hours, min(seq) AS first_seq, min(occurred_ns) AS first_ns,
                    max(occurred_ns) AS last_ns
             FROM audit_events
             WHERE occurred_ns >= ?1 AND occurred_ns < ?2 AND actor_user_id <> '' AND source_system <> '{AUDITOR_SOURCE}' {only_off}
             GROUP BY actor_user_id, actor_org, bucket
             HAVING sum(outcome <> 'success') >= ?3
             ORDER BY actor_user_id, actor_org, bucket"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(to_i64(q.from_ns)?)
            .bind(to_i64(q.to_ns)?)
            .bind(to_i64(q.min_failed)?)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(UserActivity {
                    user_id: r.try_get("actor_user_id")?,
                    role: r.try_get("role")?,
                    organisation: r.try_get("actor_org")?,
                    bucket: r.try_get("bucket")?,
                    events: count(r, "events")?,
                    patients: count(r, "patients")?,
                    exports: count(r, "exports")?,
                    prints: count(r, "prints")?,
                    searches: count(r, "searches")?,
                    break_glass: count(r, "break_glass")?,
                    failed: count(r, "failed")?,
                    off_hours: count(r, "off_hours")?,
                    first_seq: count(r, "first_seq")?,
                    first_ns: count(r, "first_ns")?,
                    last_ns: count(r, "last_ns")?,
                })
            })
            .collect()
    }

    async fn hour_profiles(
        &self,
        from_ns: u64,
        to_ns: u64,
        clock: &LocalClock,
    ) -> Result<Vec<HourProfile>, StoreError> {
        let hour = D.local_hour(clock, "occurred_ns");
        let sql = format!(
            "SELECT actor_user_id, actor_org, {hour} AS hour, count(*) AS events FROM audit_events
             WHERE occurred_ns >= ?1 AND occurred_ns < ?2 AND actor_user_id <> '' AND source_system <> '{AUDITOR_SOURCE}'
             GROUP BY actor_user_id, actor_org, hour ORDER BY actor_user_id, actor_org, hour"
        );
        let rows =
            sqlx::query(AssertSqlSafe(sql)).bind(to_i64(from_ns)?).bind(to_i64(to_ns)?).fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(HourProfile {
                    user_id: r.try_get("actor_user_id")?,
                    organisation: r.try_get("actor_org")?,
                    hour: r.try_get::<i64, _>("hour")? as u8,
                    events: count(r, "events")?,
                })
            })
            .collect()
    }

    async fn patient_access(&self, q: &PatientAccessQuery) -> Result<Vec<PatientAccess>, StoreError> {
        let day = D.shifted_day(&q.clock, "occurred_ns", q.day_starts_hour);
        // Grouped first, so each (user, patient, day) is explained once rather than each event.
        let sql = format!(
            "WITH g AS (
                SELECT actor_user_id AS user_id, actor_org AS org, nhs_number, {day} AS day, max(actor_role) AS role,
                       count(*) AS events, min(occurred_ns) AS first_ns, max(occurred_ns) AS last_ns, min(seq) AS first_seq
                FROM audit_events
                WHERE occurred_ns >= ?1 AND occurred_ns < ?2 AND nhs_number <> '' AND actor_user_id <> '' AND source_system <> '{AUDITOR_SOURCE}'
                GROUP BY actor_user_id, actor_org, nhs_number, day
             ), t AS (
                SELECT g.*,
                  EXISTS (SELECT 1 FROM care_relationships r
                          WHERE r.organisation = g.org AND r.nhs_number = g.nhs_number
                            AND r.from_ns <= g.last_ns AND (r.to_ns = 0 OR r.to_ns > g.first_ns)) AS org_care,
                  EXISTS (SELECT 1 FROM care_team_relationships r
                          WHERE r.organisation = g.org AND r.nhs_number = g.nhs_number
                            AND r.from_ns <= g.last_ns AND (r.to_ns = 0 OR r.to_ns > g.first_ns)) AS scoped,
                  EXISTS (SELECT 1 FROM care_team_relationships r
                          WHERE r.organisation = g.org AND r.nhs_number = g.nhs_number
                            AND r.from_ns <= g.last_ns AND (r.to_ns = 0 OR r.to_ns > g.first_ns)
                            AND ((r.team_key <> '' AND r.team_key IN
                                   (SELECT team_key FROM staff_teams st WHERE st.user_id = g.user_id))
                                 OR (r.clinician <> '' AND r.clinician = g.user_id))) AS team_match,
                  EXISTS (SELECT 1 FROM staff_teams st WHERE st.user_id = g.user_id) AS has_teams
                FROM g
             ), a AS (
                SELECT t.*,
                  org_care OR scoped AS explained_org,
                  CASE WHEN scoped AND (has_teams OR team_match) THEN team_match ELSE org_care OR scoped END
                    AS explained,
                  coalesce(s.nhs_number = t.nhs_number, 0) AS self_access,
                  coalesce(s.surname_key <> '' AND s.surname_key = p.surname_key, 0) AS same_surname,
                  coalesce(s.address_key <> '' AND s.address_key = p.address_key
                           AND (s.postcode_key = '' OR p.postcode_key = '' OR s.postcode_key = p.postcode_key), 0)
                    AS same_address,
                  coalesce(s.line_key <> '' AND s.line_key = p.line_key AND s.postcode_key || p.postcode_key <> ''
                           AND (s.postcode_key = '' OR p.postcode_key = '' OR s.postcode_key = p.postcode_key), 0)
                    AS same_line,
                  coalesce(s.postcode_key <> '' AND s.postcode_key = p.postcode_key, 0) AS same_postcode,
                  coalesce(s.sector_key <> '' AND s.sector_key = p.sector_key, 0) AS same_sector,
                  coalesce(p.sector_key, '') AS sector_key,
                  coalesce(p.vip, 0) AS vip, coalesce(p.restricted, 0) AS restricted,
                  coalesce(p.deceased_ns > 0 AND t.last_ns >= p.deceased_ns, 0) AS deceased,
                  coalesce(s.nhs_number <> '' AND p.next_of_kin = s.nhs_number, 0) AS next_of_kin,
                  coalesce(p.surname_key, '') AS surname_key
                FROM t
                LEFT JOIN staff_directory s ON s.user_id = t.user_id
                LEFT JOIN patient_index p ON p.nhs_number = t.nhs_number
             )
             SELECT user_id, role, org, nhs_number, day, events, first_ns, last_ns, first_seq,
                    explained, explained_org, self_access, same_surname, same_address, vip, restricted, deceased, surname_key,
                    next_of_kin, same_line, same_postcode, same_sector, sector_key,
                    CASE WHEN explained_org AND NOT explained THEN
                      (SELECT group_concat(DISTINCT r.team_key) FROM care_team_relationships r
                       WHERE r.organisation = a.org AND r.nhs_number = a.nhs_number AND r.team_key <> ''
                         AND r.from_ns <= a.last_ns AND (r.to_ns = 0 OR r.to_ns > a.first_ns))
                    ELSE '' END AS care_teams,
                    (SELECT group_concat(st.team_key) FROM staff_teams st WHERE st.user_id = a.user_id) AS user_teams
             FROM a
             WHERE NOT explained OR self_access OR same_surname OR same_address OR vip OR restricted OR deceased
               OR next_of_kin OR same_line OR same_postcode
             ORDER BY user_id, day, nhs_number"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(to_i64(q.from_ns)?)
            .bind(to_i64(q.to_ns)?)
            .fetch_all(self.pool())
            .await?;
        let flag = |r: &sqlx::sqlite::SqliteRow, column: &str| -> Result<bool, StoreError> {
            Ok(r.try_get::<i64, _>(column)? != 0)
        };
        rows.iter()
            .map(|r| {
                Ok(PatientAccess {
                    user_id: r.try_get("user_id")?,
                    role: r.try_get("role")?,
                    organisation: r.try_get("org")?,
                    nhs_number: r.try_get("nhs_number")?,
                    day: r.try_get("day")?,
                    events: count(r, "events")?,
                    first_ns: count(r, "first_ns")?,
                    last_ns: count(r, "last_ns")?,
                    first_seq: count(r, "first_seq")?,
                    explained: flag(r, "explained")?,
                    explained_org: flag(r, "explained_org")?,
                    care_teams: team_list(&r.try_get::<Option<String>, _>("care_teams")?.unwrap_or_default()),
                    user_teams: team_list(&r.try_get::<Option<String>, _>("user_teams")?.unwrap_or_default()),
                    next_of_kin: flag(r, "next_of_kin")?,
                    self_access: flag(r, "self_access")?,
                    same_surname: flag(r, "same_surname")?,
                    same_address: flag(r, "same_address")?,
                    same_line: flag(r, "same_line")?,
                    same_postcode: flag(r, "same_postcode")?,
                    same_sector: flag(r, "same_sector")?,
                    vip: flag(r, "vip")?,
                    restricted: flag(r, "restricted")?,
                    deceased: flag(r, "deceased")?,
                    surname_key: r.try_get("surname_key")?,
                    sector_key: r.try_get("sector_key")?,
                })
            })
            .collect()
    }

    async fn surname_households(&self, surname_keys: &[String]) -> Result<SurnameHouseholds, StoreError> {
        // The patient index and the staff directory together: a household is an address, or a
        // person without one.
        const PEOPLE: &str = "(SELECT surname_key, sector_key, CASE WHEN address_key <> '' \
             THEN address_key || '|' || postcode_key ELSE 'patient:' || nhs_number END AS household FROM patient_index \
             UNION ALL SELECT surname_key, sector_key, CASE WHEN address_key <> '' \
             THEN address_key || '|' || postcode_key ELSE 'staff:' || user_id END FROM staff_directory)";
        let households: i64 =
            sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(DISTINCT household) FROM {PEOPLE}")))
                .fetch_one(self.pool())
                .await?;
        let mut keys: Vec<&String> = surname_keys.iter().filter(|k| !k.is_empty()).collect();
        keys.sort();
        keys.dedup();
        let mut found = SurnameHouseholds { households: households.max(0) as u64, ..Default::default() };
        for chunk in keys.chunks(500) {
            // In all, then per sector (grouping sets are not SQLite's).
            for by_sector in [false, true] {
                let (sector, group) = if by_sector { ("sector_key", ", sector_key") } else { ("''", "") };
                let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
                    "SELECT surname_key, {sector} AS sector_key, count(DISTINCT household) AS n FROM {PEOPLE} \
                     WHERE surname_key IN ("
                ));
                let mut list = q.separated(", ");
                for key in chunk {
                    list.push_bind((*key).clone());
                }
                let having = if by_sector { " HAVING sector_key <> ''" } else { "" };
                q.push(format!(") GROUP BY surname_key{group}{having}"));
                for r in q.build().fetch_all(self.pool()).await? {
                    let (surname, n) = (r.try_get::<String, _>("surname_key")?, count(&r, "n")?);
                    if by_sector {
                        found.by_surname_sector.insert((surname, r.try_get("sector_key")?), n);
                    } else {
                        found.by_surname.insert(surname, n);
                    }
                }
            }
        }
        Ok(found)
    }

    async fn sample_events(&self, q: &SampleQuery) -> Result<Vec<StoredAuditEvent>, StoreError> {
        let (partition, order) = strata(q, ["actor_org", "actor_role", "action"]);
        let key = D.sample_key(q.seed, "seq");
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM (
                SELECT *, ROW_NUMBER() OVER ({partition} ORDER BY sample_key, seq) AS rn FROM (
                    SELECT *, {key} AS sample_key FROM audit_events
                    WHERE occurred_ns >= ?1 AND occurred_ns < ?2 AND source_system <> '{AUDITOR_SOURCE}'))
             WHERE rn <= ?3 ORDER BY {order}sample_key, seq"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(to_i64(q.from_ns)?)
            .bind(to_i64(q.to_ns)?)
            .bind(i64::from(q.per_stratum))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn sample_users(&self, q: &SampleQuery) -> Result<Vec<SampledUser>, StoreError> {
        let (partition, order) = strata(q, ["org", "role", ""]);
        let key = D.sample_key(q.seed, "first_seq");
        let sql = format!(
            "SELECT user_id, role, org, events, first_seq FROM (
                SELECT *, ROW_NUMBER() OVER ({partition} ORDER BY sample_key, first_seq) AS rn FROM (
                    SELECT *, {key} AS sample_key FROM (
                        SELECT actor_user_id AS user_id, max(actor_role) AS role, max(actor_org) AS org,
                               count(*) AS events, min(seq) AS first_seq
                        FROM audit_events
                        WHERE occurred_ns >= ?1 AND occurred_ns < ?2 AND actor_user_id <> ''
                          AND source_system <> '{AUDITOR_SOURCE}'
                        GROUP BY actor_user_id)))
             WHERE rn <= ?3 ORDER BY {order}sample_key, first_seq"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(to_i64(q.from_ns)?)
            .bind(to_i64(q.to_ns)?)
            .bind(i64::from(q.per_stratum))
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(SampledUser {
                    user_id: r.try_get("user_id")?,
                    role: r.try_get("role")?,
                    organisation: r.try_get("org")?,
                    events: count(r, "events")?,
                    first_seq: count(r, "first_seq")?,
                })
            })
            .collect()
    }

    async fn stratum_counts(&self, from_ns: u64, to_ns: u64) -> Result<Vec<StratumCount>, StoreError> {
        let sql = format!(
            "SELECT actor_org, actor_role, action, count(*) AS events FROM audit_events
             WHERE occurred_ns >= ?1 AND occurred_ns < ?2 AND source_system <> '{AUDITOR_SOURCE}'
             GROUP BY actor_org, actor_role, action ORDER BY actor_org, actor_role, action"
        );
        let rows =
            sqlx::query(AssertSqlSafe(sql)).bind(to_i64(from_ns)?).bind(to_i64(to_ns)?).fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(StratumCount {
                    organisation: r.try_get("actor_org")?,
                    role: r.try_get("actor_role")?,
                    action: r.try_get("action")?,
                    events: count(r, "events")?,
                })
            })
            .collect()
    }
}
