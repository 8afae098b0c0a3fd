//! Access monitoring on ClickHouse: the context tables and the rules' aggregations (see
//! [`crate::access`]); the statements are in `access/queries.rs`.

use super::ClickHouseStore;
use crate::access::*;
use crate::places::Place;
use crate::AccessMonitoring;
use crate::StoreError;

/// The tables' and queries' rows.
mod rows;
use rows::*;
/// The statements.
mod queries;
pub use queries::*;

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

    /// Writes `rows` to `table` in one insert (nothing when there are none).
    async fn insert_all<T: ::clickhouse::RowOwned + ::clickhouse::RowWrite>(
        &self,
        table: &str,
        rows: &[T],
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut insert = self.client.insert::<T>(table).await?;
        for row in rows {
            insert.write(row).await?;
        }
        insert.end().await?;
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
        // Past every table's newest: teams or places left by a load whose directory never arrived
        // are not mixed into this one's.
        let version = self
            .next_version("staff_directory")
            .await?
            .max(self.next_version("staff_teams").await?)
            .max(self.next_version("staff_places").await?);
        let places: Vec<StaffPlaceRow> = staff
            .iter()
            .map(|s| (s, Place::of(&s.address, &s.postcode)))
            .filter(|(_, p)| *p != Place::default())
            .map(|(s, p)| StaffPlaceRow {
                version,
                user_id: s.user_id.clone(),
                line_key: p.line,
                postcode_key: p.postcode,
                sector_key: p.sector,
            })
            .collect();
        self.insert_all("staff_places", &places).await?;
        // The teams first, under the directory's version: readers take the newest directory's.
        let teams: Vec<StaffTeamRow> = staff
            .iter()
            .flat_map(|s| {
                s.teams.iter().map(|t| StaffTeamRow { version, user_id: s.user_id.clone(), team_key: match_key(t) })
            })
            .filter(|t| !t.team_key.is_empty())
            .collect();
        self.insert_all("staff_teams", &teams).await?;
        if !staff.is_empty() {
            let mut insert = self.client.insert::<StaffRow>("staff_directory").await?;
            for s in staff {
                insert
                    .write(&StaffRow {
                        version,
                        user_id: s.user_id.clone(),
                        surname_key: match_key(&s.surname),
                        address_key: crate::places::address_key(&s.address, &s.postcode),
                        nhs_number: s.nhs_number.clone(),
                    })
                    .await?;
            }
            insert.end().await?;
        }
        self.drop_versions_before("staff_directory", version).await?;
        self.drop_versions_before("staff_teams", version).await?;
        self.drop_versions_before("staff_places", version).await
    }

    async fn replace_patient_index(&self, patients: &[PatientRecord]) -> Result<(), StoreError> {
        // Past every table's newest; the next of kin and the places first, under the index's version.
        let version = self
            .next_version("patient_index")
            .await?
            .max(self.next_version("patient_next_of_kin").await?)
            .max(self.next_version("patient_places").await?);
        let places: Vec<PatientPlaceRow> = patients
            .iter()
            .map(|p| (p, Place::of(&p.address, &p.postcode)))
            .filter(|(_, place)| *place != Place::default())
            .map(|(p, place)| PatientPlaceRow {
                version,
                nhs_number: p.nhs_number.clone(),
                line_key: place.line,
                postcode_key: place.postcode,
                sector_key: place.sector,
            })
            .collect();
        self.insert_all("patient_places", &places).await?;
        let kin: Vec<NextOfKinRow> = patients
            .iter()
            .filter(|p| !p.next_of_kin.is_empty())
            .map(|p| NextOfKinRow { version, nhs_number: p.nhs_number.clone(), next_of_kin: p.next_of_kin.clone() })
            .collect();
        self.insert_all("patient_next_of_kin", &kin).await?;
        if !patients.is_empty() {
            let mut insert = self.client.insert::<PatientRow>("patient_index").await?;
            for p in patients {
                insert
                    .write(&PatientRow {
                        version,
                        nhs_number: p.nhs_number.clone(),
                        surname_key: match_key(&p.surname),
                        address_key: crate::places::address_key(&p.address, &p.postcode),
                        vip: u8::from(p.vip),
                        restricted: u8::from(p.restricted),
                        deceased_ns: p.deceased_ns,
                    })
                    .await?;
            }
            insert.end().await?;
        }
        self.drop_versions_before("patient_index", version).await?;
        self.drop_versions_before("patient_next_of_kin", version).await?;
        self.drop_versions_before("patient_places", version).await
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
                same_line: r.same_line != 0,
                same_postcode: r.same_postcode != 0,
                same_sector: r.same_sector != 0,
                vip: r.vip != 0,
                restricted: r.restricted != 0,
                deceased: r.deceased != 0,
                surname_key: r.surname_key,
                sector_key: r.sector_key,
            })
            .collect())
    }

    async fn surname_households(&self, surname_keys: &[String]) -> Result<SurnameHouseholds, StoreError> {
        let total: Vec<HouseholdsRow> = self.client.query_raw(&surname_households(None, false)).fetch_all().await?;
        let mut keys: Vec<String> = surname_keys.iter().filter(|k| !k.is_empty()).cloned().collect();
        keys.sort();
        keys.dedup();
        let mut found =
            SurnameHouseholds { households: total.first().map_or(0, |r| r.households), ..Default::default() };
        for chunk in keys.chunks(500) {
            let rows: Vec<SurnameRow> =
                self.client.query_raw(&surname_households(Some(chunk), false)).fetch_all().await?;
            found.by_surname.extend(rows.into_iter().map(|r| (r.surname_key, r.households)));
            let rows: Vec<SurnameRow> =
                self.client.query_raw(&surname_households(Some(chunk), true)).fetch_all().await?;
            found.by_surname_sector.extend(rows.into_iter().map(|r| ((r.surname_key, r.sector_key), r.households)));
        }
        Ok(found)
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
